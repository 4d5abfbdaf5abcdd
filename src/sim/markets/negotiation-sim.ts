// Experiment 2 (Bitbrains): borrow/lend negotiation between co-located VMs against none.
//
// VMs are grouped in id order into hosts of `hostSize`. Each VM is entitled to the 0.9 quantile
// of its own usage over the first day (CPU in millicores, memory in MiB, rounded up to the
// grain: 0.1 vCPU and 100 MiB, at least one grain); a host's capacity is the sum of its VMs'
// entitlements (a fully allocated host). Scored steps start after that first day. Variants:
//   none:       allocation = entitlement, always;
//   reactive:   one negotiation round per step, need = the usage of the previous step;
//   predictive: one round per step, need = max(previous usage, the engine's 0.9 quantile for the
//               step ahead), the forecast made before the step.
// SLA classes go round gold, silver, bronze, best-effort by VM index (criticality 0).
// Metrics per resource over scored VM-steps: violation rate #(usage > allocation) / #samples,
// slack sum(max(allocation - usage, 0)) / sum(allocation), and Jain's fairness index over VMs of
// their served share sum(min(usage, allocation)) / sum(usage). Round decision time is measured
// by the shell around each `round` call.
import { Ledger, ASSETS } from '../../policy/markets/ledger.js';
import { HostNegotiator, jainIndex, SLA_CLASSES, type AgentStatement } from '../../policy/markets/negotiation.js';
import type { SeriesForecasts } from './forecasts.js';
import type { MarketSeries } from './load.js';

const DAY = 288;
export type NegotiationVariant = 'none' | 'reactive' | 'predictive';
export const NEGOTIATION_VARIANTS: readonly NegotiationVariant[] = ['none', 'reactive', 'predictive'];

export interface NegotiationResourceReport {
  violationRate: number;
  slack: number;
  jain: number;
  samples: number;
}

export interface NegotiationReport {
  variant: NegotiationVariant;
  hosts: number;
  vms: number;
  cpu: NegotiationResourceReport;
  memory: NegotiationResourceReport;
  rounds: number;
  transfers: number;
  meanRoundMs: number;
  maxRoundMs: number;
  booksBalanced: boolean;
  allocationWithinCapacity: boolean;
}

function quantile(a: Float64Array, from: number, to: number, q: number): number {
  const xs = Array.from(a.subarray(from, Math.min(to, a.length))).sort((x, y) => x - y);
  if (xs.length === 0) return 0;
  return xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
}

const up = (v: number, unit: number) => Math.max(unit, Math.ceil(v / unit) * unit);

class Acc {
  samples = 0;
  violations = 0;
  alloc = 0;
  slack = 0;
  constructor(readonly served: Float64Array, readonly wanted: Float64Array) {}
  add(i: number, usage: number, allocation: number): void {
    this.samples++;
    if (usage > allocation) this.violations++;
    this.alloc += allocation;
    if (allocation > usage) this.slack += allocation - usage;
    this.served[i] = this.served[i]! + Math.min(usage, allocation);
    this.wanted[i] = this.wanted[i]! + usage;
  }
  report(): NegotiationResourceReport {
    const shares = Array.from(this.served, (s, i) => (this.wanted[i]! > 0 ? s / this.wanted[i]! : 1));
    return { violationRate: this.samples ? this.violations / this.samples : 0, slack: this.alloc ? this.slack / this.alloc : 0, jain: jainIndex(shares), samples: this.samples };
  }
}

/**
 * Runs one variant. `cpuForecasts` / `memoryForecasts` (CPU in cores, memory in MiB; 0.9 at
 * level index `levelIndex`) are needed for 'predictive'. `clock` times each round (the shell's).
 */
export function runNegotiationExperiment(
  vms: readonly MarketSeries[],
  variant: NegotiationVariant,
  o: { hostSize?: number; cpuForecasts?: readonly (SeriesForecasts | null)[]; memoryForecasts?: readonly (SeriesForecasts | null)[]; levelIndex?: number; clock?: () => number } = {},
): NegotiationReport {
  const hostSize = o.hostSize ?? 10;
  const k = o.levelIndex ?? 1;
  const clock = o.clock ?? (() => 0);
  const cpuAcc = new Acc(new Float64Array(vms.length), new Float64Array(vms.length));
  const memAcc = new Acc(new Float64Array(vms.length), new Float64Array(vms.length));
  const rep: NegotiationReport = { variant, hosts: 0, vms: vms.length, cpu: cpuAcc.report(), memory: memAcc.report(), rounds: 0, transfers: 0, meanRoundMs: 0, maxRoundMs: 0, booksBalanced: true, allocationWithinCapacity: true };
  let roundMs = 0;
  for (let h0 = 0; h0 < vms.length; h0 += hostSize) {
    const group = vms.slice(h0, h0 + hostSize);
    rep.hosts++;
    const ent = group.map((s) => ({ cpuMillicores: up(quantile(s.cpu, 0, DAY, 0.9) * 1000, 100), memoryMiB: up(quantile(s.memory, 0, DAY, 0.9), 100) }));
    const cap = { cpuMillicores: ent.reduce((a, e) => a + e.cpuMillicores, 0), memoryMiB: ent.reduce((a, e) => a + e.memoryMiB, 0) };
    const ledger = new Ledger({ keepJournal: false });
    const host = new HostNegotiator(`host-${rep.hosts}`, cap, ledger);
    group.forEach((s, i) => host.join(s.id, ent[i]!, 0));
    const T = Math.min(...group.map((s) => s.cpu.length));
    const st: AgentStatement[] = group.map((s, i) => ({ id: s.id, sla: SLA_CLASSES[(h0 + i) % SLA_CLASSES.length]!, criticality: 0, usageCpuMillicores: 0, usageMemoryMiB: 0, needCpuMillicores: 0, needMemoryMiB: 0 }));
    for (let t = DAY; t < T; t++) {
      if (variant !== 'none') {
        group.forEach((s, i) => {
          const a = st[i]!;
          a.usageCpuMillicores = s.cpu[t - 1]! * 1000;
          a.usageMemoryMiB = s.memory[t - 1]!;
          a.needCpuMillicores = a.usageCpuMillicores;
          a.needMemoryMiB = a.usageMemoryMiB;
          if (variant === 'predictive') {
            const qc = o.cpuForecasts?.[h0 + i]?.quantile(t - 1, k, 1) ?? NaN;
            const qm = o.memoryForecasts?.[h0 + i]?.quantile(t - 1, k, 1) ?? NaN;
            if (Number.isFinite(qc)) a.needCpuMillicores = Math.max(a.needCpuMillicores, qc * 1000);
            if (Number.isFinite(qm)) a.needMemoryMiB = Math.max(a.needMemoryMiB, qm);
          }
        });
        const c0 = clock();
        const r = host.round(t * 300_000, st);
        const dt = clock() - c0;
        roundMs += dt;
        rep.maxRoundMs = Math.max(rep.maxRoundMs, dt);
        rep.rounds++;
        rep.transfers += r.transfers.length;
      }
      let sumCpu = 0;
      let sumMem = 0;
      group.forEach((s, i) => {
        const a = host.allocation(s.id);
        sumCpu += a.cpuMillicores;
        sumMem += a.memoryMiB;
        cpuAcc.add(h0 + i, s.cpu[t]! * 1000, a.cpuMillicores);
        memAcc.add(h0 + i, s.memory[t]!, a.memoryMiB);
      });
      if (sumCpu > cap.cpuMillicores || sumMem > cap.memoryMiB) rep.allocationWithinCapacity = false;
    }
    if (!ASSETS.every((a) => ledger.total(a) === 0)) rep.booksBalanced = false;
  }
  rep.cpu = cpuAcc.report();
  rep.memory = memAcc.report();
  rep.meanRoundMs = rep.rounds > 0 ? roundMs / rep.rounds : 0;
  return rep;
}
