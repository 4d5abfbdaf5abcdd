// The telemetry contract shared by the agent (which sends) and the control plane (which
// ingests): JSON performance profiles in batches. Validated with zod so bad input is rejected
// with the path of the bad field (`profiles[2].samples[0].values.memoryMiB: ...`).
import { z } from 'zod';

/** Largest plausible quantity: anything above is an error, not data. */
const ABSURD = 1e12;
const quantity = z.number().finite().min(0).max(ABSURD);
const percent = z.number().finite().min(0).max(100);

/** Usage of one instance (or host) over one sampling interval, in canonical units. */
export const metricValuesSchema = z.strictObject({
  cpuMillicores: quantity.optional(),
  memoryMiB: quantity.optional(),
  diskReadKiBps: quantity.optional(),
  diskWriteKiBps: quantity.optional(),
  networkRxKiBps: quantity.optional(),
  networkTxKiBps: quantity.optional(),
  /** Pressure stall information, "some" avg10, percent of time stalled. */
  cpuPressurePct: percent.optional(),
  memoryPressurePct: percent.optional(),
  ioPressurePct: percent.optional(),
});

export const instanceIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : - only');

export const telemetrySampleSchema = z.strictObject({
  /** End of the sampling interval, Unix milliseconds. */
  timestampMs: z.number().int().min(0).max(8.64e15),
  values: metricValuesSchema,
  /** Application metrics (requests/s, queue length...), by name. */
  custom: z.record(z.string().min(1).max(64), z.number().finite()).optional(),
});

/** A rolling window of samples of one instance. */
export const performanceProfileSchema = z.strictObject({
  instanceId: instanceIdSchema,
  /** Sampling interval, ms. */
  intervalMs: z.number().int().min(10).max(86_400_000),
  samples: z.array(telemetrySampleSchema).min(1).max(10_000),
});

/** What an agent POSTs to /v1/telemetry. `sequence` lets the server drop a resent batch. */
export const telemetryBatchSchema = z.strictObject({
  agentId: instanceIdSchema,
  /** Increases by one per batch of this agent; a batch the server already has is acknowledged, not stored twice. */
  sequence: z.number().int().min(0),
  sentAtMs: z.number().int().min(0),
  profiles: z.array(performanceProfileSchema).min(1).max(1000),
});

export type MetricValues = z.infer<typeof metricValuesSchema>;
export type TelemetrySample = z.infer<typeof telemetrySampleSchema>;
export type PerformanceProfile = z.infer<typeof performanceProfileSchema>;
export type TelemetryBatch = z.infer<typeof telemetryBatchSchema>;
