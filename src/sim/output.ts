// Writers for the simulate command's outputs: allocations.csv (streamed, buffered, synchronous
// writes so the time-stepped loop never awaits) and summary.json.
import { closeSync, openSync, writeSync } from 'node:fs';
import { METRIC_DEFINITIONS } from './metrics.js';
import type { SimulationResult } from './run.js';

export const ALLOCATIONS_HEADER = 'instance,index,cpu,memory';

/** CSV field for a number: shortest round-trip text; empty for a resource the trace lacks. */
export function csvNumber(x: number): string {
  return Number.isFinite(x) ? String(x) : '';
}

function csvText(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export class AllocationsWriter {
  private readonly fd: number;
  private buf: string[] = [];
  private size = 0;
  rows = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
    writeSync(this.fd, `${ALLOCATIONS_HEADER}\n`);
  }

  write = (instance: string, index: number, cpu: number, memory: number): void => {
    const line = `${csvText(instance)},${index},${csvNumber(cpu)},${csvNumber(memory)}\n`;
    this.buf.push(line);
    this.size += line.length;
    this.rows++;
    if (this.size > 1 << 20) this.flush();
  };

  flush(): void {
    if (this.buf.length === 0) return;
    writeSync(this.fd, this.buf.join(''));
    this.buf = [];
    this.size = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
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
