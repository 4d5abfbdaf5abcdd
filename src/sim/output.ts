// Writers for the simulate command's outputs: allocations.csv (streamed, buffered, synchronous
// writes so the time-stepped loop never awaits) and summary.json.
import { CsvWriter, csvNumber, csvText } from '../io/csv-writer.js';
import { METRIC_DEFINITIONS } from './metrics.js';
import type { SimulationResult } from './run.js';

export { csvNumber };
export const ALLOCATIONS_HEADER = 'instance,index,cpu,memory';

/** One allocations.csv line (without the newline): the only place its format is written. */
export function allocationLine(instance: string, index: number, cpu: number, memory: number): string {
  return `${csvText(instance)},${index},${micros(cpu)},${micros(memory)}`;
}

const ZEROS = '000000';

/**
 * csvNumber(x), faster for what allocations are (rounded up to 1e-6): x = k / 1e6 for an integer
 * k, 0 <= x < 2^33, is written from k's digits. That text is exactly String(x): it parses back to
 * x (the nearest double to k / 1e6, as the division that made x), and no shorter text does,
 * since other texts of at most 6 decimals are at least 1e-6 away while doubles below 2^33 are at
 * most 2^-20 < 1e-6 apart. Anything else goes through csvNumber.
 */
export function micros(x: number): string {
  if (!(x >= 0 && x < 8589934592)) return csvNumber(x);
  const k = Math.round(x * 1e6);
  if (k / 1e6 !== x) return csvNumber(x);
  const whole = Math.floor(k / 1e6);
  let frac = k - whole * 1e6;
  if (frac === 0) return String(whole);
  let width = 6;
  while (frac % 10 === 0) {
    frac /= 10;
    width--;
  }
  const f = String(frac);
  return `${whole}.${ZEROS.slice(0, width - f.length)}${f}`;
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
