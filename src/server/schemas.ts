// Request schemas of the HTTP API (zod 4). Every quantity carries its unit in its name, is
// finite, non-negative and bounded (anything above ABSURD is an error, not data). Objects are
// strict: an unknown field is an error that names it.
import { z } from 'zod';
import { instanceIdSchema, telemetrySampleSchema } from '../core/telemetry.js';

export const ABSURD = 1e12;
export const idSchema = instanceIdSchema;
export const prioritySchema = z.enum(['critical', 'high', 'normal', 'low']);
const quantity = z.number().finite().min(0).max(ABSURD);
const positiveQuantity = z.number().finite().gt(0).max(ABSURD);

/** Average and peak of one resource; the peak may not be below the average. */
const averagePeak = z
  .strictObject({ average: quantity, peak: quantity })
  .refine((d) => d.peak >= d.average, { message: 'peak must be >= average', path: ['peak'] });

export const burstSpikeSchema = z.strictObject({
  /** Probability that a spike has this shape (the spikes' probabilities sum to 1). */
  probability: z.number().finite().min(0).max(1),
  /** Demand during the spike as a multiple of the average. */
  multiplier: z.number().finite().min(1).max(1000),
  durationSeconds: z.number().finite().gt(0).max(86_400),
});

/** Burst behaviour: spikes arrive at `ratePerHour`; their shape follows a discrete distribution. */
export const burstSchema = z
  .strictObject({
    ratePerHour: z.number().finite().min(0).max(3600),
    spikes: z.array(burstSpikeSchema).min(1).max(32),
  })
  .refine((b) => Math.abs(b.spikes.reduce((s, x) => s + x.probability, 0) - 1) <= 1e-6, {
    message: 'spike probabilities must sum to 1',
    path: ['spikes'],
  });

/**
 * The pre-negotiated penalty of preempting an uninterruptible spot instance (issue 5): a fee paid
 * by the displacing tenant to the victim's tenant, a reduction of the displacing tenant's bidding
 * priority, or both.
 */
export const preemptionPenaltySchema = z
  .strictObject({
    /** Fee, credits (booked as integer microcredits, money). */
    feeCredits: z.number().finite().min(0).max(1e9).optional(),
    /** Bidding-priority points taken from the displacing tenant (booked as milli-points). */
    priorityReduction: z.number().finite().min(0).max(1e6).optional(),
  })
  .refine((p) => (p.feeCredits ?? 0) > 0 || (p.priorityReduction ?? 0) > 0, { message: 'charge a fee (feeCredits), a priority reduction (priorityReduction), or both' });
export type PreemptionPenaltyBody = z.infer<typeof preemptionPenaltySchema>;

export const interruptibilitySchema = z
  .strictObject({
    /** How well the workload tolerates being interrupted (preempted, paused, migrated); 'none' = uninterruptible. */
    tolerance: z.enum(['none', 'low', 'medium', 'high']),
    /** Most interruptions per day it accepts. */
    maxPerDay: z.number().int().min(0).max(1440),
    /** Longest interruption it accepts, seconds. */
    maxDurationSeconds: z.number().finite().min(0).max(86_400),
    /** Spot auction: notice before an interruptible instance is stopped (default the auction's, 120 s). */
    noticeSeconds: z.number().finite().min(0).max(86_400).optional(),
    /** Spot auction: no preemption before the instance has run this long (default the auction's, 600 s). */
    minRuntimeSeconds: z.number().finite().min(0).max(30 * 86_400).optional(),
    /** Spot auction: the penalty of preempting it anyway (uninterruptible profiles, tolerance 'none'). */
    penalty: preemptionPenaltySchema.optional(),
  })
  .superRefine((v, ctx) => {
    if (v.penalty !== undefined && v.tolerance !== 'none') ctx.addIssue({ code: 'custom', message: "only an uninterruptible profile (tolerance 'none') carries a preemption penalty", path: ['penalty'] });
  });

export const workloadProfileSchema = z.strictObject({
  /** Profile id; generated when absent. Re-submitting an id replaces that profile. */
  id: idSchema.optional(),
  /** Owner (admin tokens only; a tenant token always submits for its own tenant). */
  tenant: idSchema.optional(),
  /** The instance this profile describes, if it runs already. */
  instanceId: idSchema.optional(),
  priority: prioritySchema,
  demand: z.strictObject({
    cpuMillicores: averagePeak,
    memoryMiB: averagePeak,
    networkKiBps: averagePeak.optional(),
  }),
  burst: burstSchema.optional(),
  interruptibility: interruptibilitySchema,
  /** Expected total runtime (for the estimate in the instance status). */
  expectedRuntimeSeconds: z.number().finite().gt(0).max(10 * 365 * 86_400).optional(),
  /** Spot auction: pressure on and sensitivity to memory bandwidth / caches, 0..1 (default 0). */
  memoryIntensity: z.number().finite().min(0).max(1).optional(),
});
export type WorkloadProfileBody = z.infer<typeof workloadProfileSchema>;

export const bidSchema = z.strictObject({
  id: idSchema.optional(),
  tenant: idSchema.optional(),
  profileId: idSchema,
  instanceId: idSchema.optional(),
  /** Price offered, credits per hour (stored as integer microcredits). */
  price: z.number().finite().gt(0).max(1e9),
  /** Defaults to the profile's priority. */
  priority: prioritySchema.optional(),
  /** Preemption penalty (uninterruptible profiles); overrides the profile's `interruptibility.penalty`. */
  penalty: preemptionPenaltySchema.optional(),
  /** The bid expires if it is still pending this long after submission (default: never). */
  expiresInSeconds: z.number().finite().gt(0).max(365 * 86_400).optional(),
});
export type BidBody = z.infer<typeof bidSchema>;

export const runtimeFeedbackSchema = z.strictObject({
  instanceId: idSchema,
  /** Sampling interval of the samples, ms. */
  intervalMs: z.number().int().min(10).max(86_400_000).default(1000),
  samples: z.array(telemetrySampleSchema).min(1).max(10_000),
  /** The workload finished. */
  completed: z.boolean().optional(),
  /** Actual runtime so far (or in total when completed), seconds. */
  runtimeSeconds: z.number().finite().min(0).max(10 * 365 * 86_400).optional(),
});
export type RuntimeFeedbackBody = z.infer<typeof runtimeFeedbackSchema>;

export const resourceRequestSchema = z.strictObject({
  cpuMillicores: positiveQuantity,
  memoryMiB: positiveQuantity,
  diskKiBps: quantity.optional(),
  networkKiBps: quantity.optional(),
});

/** Instance labels the borrow/lend negotiation reads (src/server/markets/negotiation-statements.ts). */
export const SLA_CLASS_LABEL = 'prescient.io/sla-class';
export const CRITICALITY_LABEL = 'prescient.io/criticality';
export const SLA_CLASS_VALUES = ['gold', 'silver', 'bronze', 'best-effort'] as const;

const labelsSchema = z.record(z.string().min(1).max(64), z.string().max(256)).superRefine((labels, ctx) => {
  const sla = labels[SLA_CLASS_LABEL];
  if (sla !== undefined && !(SLA_CLASS_VALUES as readonly string[]).includes(sla)) {
    ctx.addIssue({ code: 'custom', message: `must be one of ${SLA_CLASS_VALUES.join(', ')}, got "${sla}"`, path: [SLA_CLASS_LABEL] });
  }
  const crit = labels[CRITICALITY_LABEL];
  if (crit !== undefined) {
    const n = crit.trim() === '' ? NaN : Number(crit);
    if (!(Number.isFinite(n) && n >= 0 && n <= 1)) ctx.addIssue({ code: 'custom', message: `must be a number from 0 to 1, got "${crit}"`, path: [CRITICALITY_LABEL] });
  }
});

export const instanceCreateSchema = z.strictObject({
  id: idSchema,
  tenant: idSchema.optional(),
  priority: prioritySchema.default('normal'),
  request: resourceRequestSchema,
  /** Free-form; `prescient.io/sla-class` (gold, silver, bronze, best-effort) and `prescient.io/criticality` (0..1) are validated. */
  labels: labelsSchema.optional(),
});
export type InstanceCreateBody = z.infer<typeof instanceCreateSchema>;

export const hostCreateSchema = z.strictObject({
  id: idSchema,
  capacity: resourceRequestSchema,
  active: z.boolean().default(true),
  labels: z.record(z.string().min(1).max(64), z.string().max(256)).optional(),
});

/**
 * Global and per-instance control settings, read by the control loop's decisions from the next
 * tick (src/policy/framework/settings.ts; an instance's field overrides the global one).
 */
export const policySettingsSchema = z
  .strictObject({
    /** 0 = conservative (headroom x2), 0.5 = the policy's defaults, 1 = aggressive (headroom x0.5). */
    aggressiveness: z
      .number()
      .finite()
      .min(0)
      .max(1)
      .optional()
      .describe("0 = conservative (rightsizing headroom x2), 0.5 = the policy's defaults, 1 = aggressive (x0.5); headroom = 2^(1 - 2a)"),
    /** Most applied live migrations of one instance in any 3600 s of model time (0 = never). */
    maxMigrationsPerHour: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .optional()
      .describe('most applied live migrations of the instance in any 3600 s of model time; 0 = never migrated; beyond it a migration is withheld (reason migration-rate-limited)'),
    /** Share of recent steps with usage above the allocation beyond which the instance is degraded. */
    degradationThreshold: z
      .number()
      .finite()
      .min(0)
      .max(1)
      .optional()
      .describe('share of recent steps (about a day) the instance may spend with usage above its allocation; above it the instance is degraded (most headroom, degraded event); also the predictive violation budget'),
  })
  .refine((s) => Object.keys(s).length > 0, { message: 'give at least one setting' });
export type PolicySettings = z.infer<typeof policySettingsSchema>;

export const tokenCreateSchema = z
  .strictObject({
    role: z.enum(['admin', 'tenant', 'agent']),
    tenant: idSchema.optional(),
    /** Agent tokens: the agent id (generated when absent). */
    agentId: idSchema.optional(),
    /** Agent tokens: the instances (or hosts) it may report telemetry for. */
    instanceIds: z.array(idSchema).min(1).max(100_000).optional(),
    label: z.string().max(200).optional(),
    expiresInSeconds: z.number().int().min(1).max(10 * 365 * 86_400).optional(),
  })
  .superRefine((t, ctx) => {
    if (t.role === 'tenant' && t.tenant === undefined) ctx.addIssue({ code: 'custom', message: 'a tenant token needs a tenant', path: ['tenant'] });
    if (t.role === 'agent' && t.instanceIds === undefined) ctx.addIssue({ code: 'custom', message: 'an agent token needs the instanceIds it may report for', path: ['instanceIds'] });
    if (t.role !== 'agent' && t.instanceIds !== undefined) ctx.addIssue({ code: 'custom', message: 'only agent tokens take instanceIds', path: ['instanceIds'] });
    if (t.role === 'admin' && t.tenant !== undefined) ctx.addIssue({ code: 'custom', message: 'an admin token has no tenant', path: ['tenant'] });
  });
export type TokenCreateBody = z.infer<typeof tokenCreateSchema>;

export const idParams = z.strictObject({ id: idSchema });
export const instanceStatusQuery = z.strictObject({ instance_id: idSchema, access_token: z.string().optional() });
export const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
  access_token: z.string().optional(),
});
export const auditQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
  afterSeq: z.coerce.number().int().min(0).optional(),
  instanceId: idSchema.optional(),
  order: z.enum(['asc', 'desc']).optional(),
  access_token: z.string().optional(),
});
export const eventsQuery = z.strictObject({ access_token: z.string().optional() });
export const forecastQuery = z.strictObject({
  /** Steps of recent actual usage returned with the forecast (default 120). */
  history: z.coerce.number().int().min(0).max(10_000).optional(),
  access_token: z.string().optional(),
});
export const availabilityQuery = z.strictObject({
  /** Quantile of predicted demand to subtract (default 0.9). */
  level: z.coerce.number().finite().gt(0).lt(1).optional(),
  access_token: z.string().optional(),
});

/** One resource of an explicit borrow/lend statement: what the instance needs and what it offers to lend. */
const statementAmount = z.strictObject({
  /** Predicted need over the next rounds (replaces the forecast's). */
  need: quantity.optional(),
  /** Units it is willing to lend now (its need becomes at most entitlement - offer). */
  offer: quantity.optional(),
});

/**
 * An explicit statement for the borrow/lend negotiation (POST /v1/instances/:id/statement). It
 * holds for `validSeconds` (default 60), then the forecast alone states for the instance again.
 */
export const negotiationStatementSchema = z
  .strictObject({
    cpuMillicores: statementAmount.optional(),
    memoryMiB: statementAmount.optional(),
    validSeconds: z.number().finite().gt(0).max(3600).default(60),
  })
  .refine((s) => s.cpuMillicores !== undefined || s.memoryMiB !== undefined, { message: 'state cpuMillicores and/or memoryMiB (need and/or offer)' });
export type NegotiationStatementBody = z.infer<typeof negotiationStatementSchema>;
