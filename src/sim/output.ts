// Writers for the simulate command's outputs: allocations.csv (streamed, buffered, synchronous
// writes so the time-stepped loop never awaits) and summary.json.
import { CsvWriter, csvNumber, csvText } from '../io/csv-writer.js';
import { METRIC_DEFINITIONS } from './metrics.js';
import type { SimulationResult } from './run.js';

export { csvNumber };
export const ALLOCATIONS_HEADER = 'instance,index,cpu,memory';

/** One allocations.csv line (without the newline): the only place its format is written. */
export function allocationLine(instance: string, index: number, cpu: number, memory: number): string {
  return `${csvText(instance)},${index},${csvNumber(cpu)},${csvNumber(memory)}`;
}

/** Streams allocations.csv rows. */
export class AllocationsWriter {
  private readonly csv: CsvWriter;

  constructor(readonly path: string) {
    this.csv = new CsvWriter(path, ALLOCATIONS_HEADER.split(','));
  }

  get rows(): number {
    return this.csv.rows;
  }

  write = (instance: string, index: number, cpu: number, memory: number): void => {
    this.csv.line(allocationLine(instance, index, cpu, memory));
  };

  /** Appends bytes holding `rows` complete lines written elsewhere (a worker's part file). */
  bytes(data: Uint8Array, rows: number): void {
    this.csv.bytes(data, rows);
  }

  flush(): void {
    this.csv.flush();
  }

  close(): void {
    this.csv.close();
  }
}

/** The summary.json document. */
export function buildSummary(r: SimulationResult, extra: Record<string, unknown> = {}) {
  const per: Record<string, ReturnType<SimulationResult['cpu']['toJSON']>> = {};
  for (const k of r.resources) per[k] = r[k].toJSON();
  const fleet = r.fleet
    ? {
        energy_kwh: r.fleet.energy_kwh,
        migrations: r.fleet.migrations,
        host_shutdowns: r.fleet.host_shutdowns,
        slatah_pct: r.fleet.slatah_pct,
        pdm_pct: r.fleet.pdm_pct,
        slav_pct: r.fleet.slav_pct,
        active_host_hours: r.fleet.active_host_hours,
      }
    : {};
  return {
    policy: r.policy,
    scenario: r.scenario,
    format: r.format,
    trace: r.trace,
    counts: {
      instances: r.instances,
      rows: r.rows,
      steps: r.steps,
      step_seconds: r.stepSeconds,
      skipped_trace_rows: r.skippedRows,
      failed_plans: r.failedPlans,
      ...Object.fromEntries(r.resources.map((k) => [`${k}_samples`, r[k].samples])),
    },
    // Per resource (the same numbers also under "resources").
    ...per,
    resources: per,
    ...fleet,
    ...(r.hostsConfig
      ? { hosts: { count: r.hostsConfig.hosts, cpu_capacity: r.hostsConfig.hostCpu, memory_capacity: Number.isFinite(r.hostsConfig.hostMemory) ? r.hostsConfig.hostMemory : null, overcommit: r.hostsConfig.overcommit } }
      : {}),
    ...extra,
    wall_ms: Math.round(r.wallMs),
    definitions: METRIC_DEFINITIONS,
  };
}
