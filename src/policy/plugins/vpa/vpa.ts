// `vpa`: the Kubernetes Vertical Pod Autoscaler recommender's published rules
// (kubernetes/autoscaler vertical-pod-autoscaler/pkg/recommender: logic/recommender.go,
// logic/estimator.go, model/aggregate_container_state.go, model/container.go,
// model/aggregations_config.go), one VPA per instance, fed the trace's samples:
//
// CPU    every sample goes into a decaying histogram (24 h half-life, exponential buckets
//        growing 5 %, first bucket 0.001 core, up to 1000 cores) with weight
//        max(allocation in cores, 0.1) (VPA weights CPU samples by the container's request).
//        target = p90 x (1 + 15 % safety margin), at least 25 millicores.
// memory one peak per aggregation interval (24 h; windows aligned on the first sample, as VPA's
//        WindowEnd) goes into a decaying histogram (24 h half-life, first bucket 10 MB, up to
//        1 TB); a higher sample in the same interval replaces the interval's peak. Peaks older
//        than 8 intervals are removed (VPA's 8 x 24 h memory aggregation window).
//        target = p90 of peaks x 1.15, at least 250 MiB.
// OOM    a sample whose memory usage exceeds the allocation in effect is treated as VPA's
//        RecordOOM: used = max(allocation, this interval's usage peak), and
//        max(used + 100 MiB, used x 1.2) enters as the interval's peak (capped by nothing).
//        Since that interval's peak carries the most weight, the next target is >= 1.15 x it.
// bounds lowerBound = p50 x 1.15 x (1 + 0.001/confidence)^-2, upperBound = p95 x 1.15 x
//        (1 + 1/confidence), confidence = min(lifespan in days, samples x step / 1 day)
//        (estimator.go's getConfidence counts samples at VPA's 1 per minute; here each sample
//        stands for one trace step).
// apply  mode 'target' (default): the allocation for the next step is the target, recomputed
//        from every sample before it. mode 'updater': the allocation changes to the target only
//        when it falls outside [lowerBound, upperBound] or after an OOM (VPA updater's rule).
//
// settings (framework/settings.ts, the control plane's /v1/policies): the safety margin is
//        safetyMarginFraction x headroom, headroom = 2^(1 - 2 x aggressiveness) (2 when the
//        instance is degraded): 30 % / 15 % / 7.5 % at aggressiveness 0 / 0.5 / 1. Without
//        settings the headroom is exactly 1.
//
// Units: CPU cores (Bitbrains) map 1:1; millicores / 1000; percent is read as 100 % = 1 core.
// Memory MiB maps to bytes for the histogram bounds. For percent memory (Google) the byte-based
// minimums and the 100 MiB OOM floor have no meaning and default to 0 (args `minMemoryPercent`,
// `oomMinBumpUpPercent`).
import { z } from 'zod';
import type { Amounts, InstanceUnits } from '../../../core/plan.js';
import type { Unit } from '../../../core/resources.js';
import { DecayingHistogram } from '../../../forecast/models/decaying-histogram.js';
import { R } from '../../framework/reasons.js';
import type { PluginEntry } from '../../framework/registry.js';
import { DEFAULT_SETTINGS, effectiveSettings, headroomReasons, type EffectiveSettings } from '../../framework/settings.js';
import type { DecideContext, InstanceState, PluginEnv, RightsizeDecision, Rightsizer } from '../../framework/types.js';

export const vpaArgs = z
  .object({
    targetPercentile: z.number().gt(0).lt(1).default(0.9),
    lowerBoundPercentile: z.number().gt(0).lt(1).default(0.5),
    upperBoundPercentile: z.number().gt(0).lt(1).default(0.95),
    safetyMarginFraction: z.number().min(0).max(10).default(0.15),
    cpuHalfLifeHours: z.number().positive().default(24),
    memoryHalfLifeHours: z.number().positive().default(24),
    memoryAggregationIntervalHours: z.number().positive().default(24),
    memoryAggregationIntervalCount: z.number().int().min(1).default(8),
    oomBumpUpRatio: z.number().min(1).default(1.2),
    oomMinBumpUpMiB: z.number().min(0).default(100),
    oomMinBumpUpPercent: z.number().min(0).default(0),
    podMinCpuMillicores: z.number().min(0).default(25),
    podMinMemoryMiB: z.number().min(0).default(250),
    minCpuPercent: z.number().min(0).default(0),
    minMemoryPercent: z.number().min(0).default(0),
    /** VPA's minSampleWeight: CPU samples weigh max(request in cores, this). */
    minSampleWeight: z.number().positive().default(0.1),
    /** Weight CPU samples by the allocation in effect (VPA); false = weight 1. */
    weightByRequest: z.boolean().default(true),
    mode: z.enum(['target', 'updater']).default('target'),
  })
  .strict();
export type VpaArgs = z.infer<typeof vpaArgs>;

const MIB = 1048576;
const DAY_S = 86400;

/** Histogram bounds per unit (VPA: CPU 0.001 core .. 1000 cores; memory 1e7 .. 1e12 bytes). */
function histogramBounds(unit: Unit, resource: 'cpu' | 'memory'): { firstBucket: number; maxValue: number } {
  switch (unit) {
    case 'cores':
      return { firstBucket: 0.001, maxValue: 1000 };
    case 'millicores':
      return { firstBucket: 1, maxValue: 1e6 };
    case 'MiB':
      return { firstBucket: 1e7 / MIB, maxValue: 1e12 / MIB };
    case 'percent':
      // Finer first buckets than VPA's 0.001 core / 10 MB, so that the few-percent values of
      // Google and PlanetLab are resolved to ~5 % like VPA resolves cores and GiB.
      return resource === 'cpu' ? { firstBucket: 0.01, maxValue: 1e5 } : { firstBucket: 0.001, maxValue: 1e4 };
    default:
      return { firstBucket: 0.001, maxValue: 1e9 };
  }
}

function toCores(v: number, unit: Unit): number {
  if (unit === 'millicores') return v / 1000;
  if (unit === 'percent') return v / 100;
  return v;
}

interface Peak {
  value: number;
  timeS: number;
}

/**
 * One VPA's state (an AggregateContainerState plus the ContainerState's memory window). The
 * histograms change only through its methods (the cached estimates rely on it).
 */
export class VpaState {
  readonly cpu: DecayingHistogram;
  readonly memory: DecayingHistogram;
  firstSampleS = NaN;
  lastSampleS = NaN;
  totalSamples = 0;
  // memory window (container.go)
  windowEndS = NaN;
  memoryPeak = 0;
  oomPeak = 0;
  /** Peaks of closed intervals still in the histogram, oldest first. */
  readonly closedPeaks: Peak[] = [];
  /** The current interval's peak in the histogram, if any. */
  current: Peak | null = null;
  memorySamples = 0;
  oomEvents = 0;
  oomLastStep = false;
  private memoryDirty = true;
  private memoryCache = { target: 0, lower: 0, upper: 0 };
  /** CPU percentiles at the target (and, in updater mode, the bounds; else NaN) while !cpuDirty. */
  private cpuDirty = true;
  private cpuCache = { target: 0, lower: NaN, upper: NaN };
  /** Whether the estimates computed last have been read (see `settle`). */
  private estimatesRead = true;
  /**
   * The rightsizer's per-instance constants, for the units and capacity objects they were
   * computed from (an instance's `units` and `capacity` are replaced, never changed in place):
   * minimum CPU and memory, and whether the instance has each resource.
   */
  unitsOf: InstanceUnits | null = null;
  minCpu = 0;
  minMemory = 0;
  capacityOf: Amounts | null = null;
  hasCpu = false;
  hasMemory = false;

  constructor(
    readonly units: { cpu: Unit; memory: Unit },
    private readonly a: VpaArgs,
  ) {
    this.cpu = new DecayingHistogram({ ...histogramBounds(units.cpu, 'cpu'), halfLifeSeconds: a.cpuHalfLifeHours * 3600 });
    this.memory = new DecayingHistogram({ ...histogramBounds(units.memory, 'memory'), halfLifeSeconds: a.memoryHalfLifeHours * 3600 });
  }

  addCpuSample(usage: number, allocation: number, timeS: number): void {
    if (!(usage >= 0)) return; // VPA discards invalid samples (NaN, negative)
    if (timeS <= this.lastSampleS) return; // ... and duplicates / out of order
    const request = toCores(allocation, this.units.cpu);
    const weight = this.a.weightByRequest ? Math.max(Number.isFinite(request) ? request : 0, this.a.minSampleWeight) : 1;
    this.cpu.addSample(usage, weight, timeS);
    this.cpuDirty = true;
    if (Number.isNaN(this.firstSampleS)) this.firstSampleS = timeS;
    this.lastSampleS = timeS;
    this.totalSamples++;
  }

  /** container.go addMemorySample. */
  addMemorySample(usage: number, timeS: number, isOOM: boolean): void {
    if (!(usage >= 0)) return;
    const interval = this.a.memoryAggregationIntervalHours * 3600;
    if (Number.isNaN(this.windowEndS)) this.windowEndS = timeS;
    this.memorySamples++;
    if (timeS < this.windowEndS) {
      const oldMax = Math.max(this.memoryPeak, this.oomPeak);
      if (oldMax !== 0 && usage > oldMax) {
        if (this.current) this.memory.subtractSample(this.current.value, 1, this.current.timeS);
        this.setPeak(usage, isOOM);
      }
    } else {
      // Shift the window to the interval holding timeS; the old interval's peak is closed.
      if (this.current) this.closedPeaks.push(this.current);
      this.current = null;
      const shift = Math.floor((timeS - this.windowEndS) / interval) * interval + interval;
      this.windowEndS += shift;
      this.memoryPeak = 0;
      this.oomPeak = 0;
      this.setPeak(usage, isOOM);
      // Keep the last `count` intervals (the current one included).
      const horizon = this.windowEndS - this.a.memoryAggregationIntervalCount * interval;
      while (this.closedPeaks.length > 0 && this.closedPeaks[0]!.timeS <= horizon) {
        const p = this.closedPeaks.shift()!;
        this.memory.subtractSample(p.value, 1, p.timeS);
      }
    }
  }

  private setPeak(usage: number, isOOM: boolean): void {
    // the open interval's peak is not in closedPeaks yet: it may be updated in place
    if (this.current) {
      this.current.value = usage;
      this.current.timeS = this.windowEndS;
    } else this.current = { value: usage, timeS: this.windowEndS };
    this.memory.addSample(usage, 1, this.windowEndS);
    if (isOOM) this.oomPeak = usage;
    else this.memoryPeak = usage;
    this.memoryDirty = true;
  }

  /** container.go RecordOOM: an artificial peak of max(used + minBump, used x ratio). */
  recordOOM(timeS: number, requestedMemory: number, minBump: number): number {
    const used = Math.max(requestedMemory, this.memoryPeak);
    const needed = Math.max(used + minBump, used * this.a.oomBumpUpRatio);
    this.addMemorySample(needed, timeS, true);
    this.oomEvents++;
    return needed;
  }

  /** estimator.go getConfidence, with one sample per trace step. */
  confidence(stepSeconds: number): number {
    if (this.totalSamples === 0) return 0;
    const lifespanDays = (this.lastSampleS - this.firstSampleS) / DAY_S;
    const samplesDays = (this.totalSamples * stepSeconds) / DAY_S;
    return Math.min(lifespanDays, samplesDays);
  }

  /** p(target), p(lower), p(upper) of the memory peaks (one object updated in place: read, do not keep). */
  memoryEstimates(): Readonly<{ target: number; lower: number; upper: number }> {
    this.estimatesRead = true;
    return this.memoryNow();
  }

  /**
   * p(target) of the CPU histogram, and p(lower), p(upper) in updater mode (else NaN) (one object
   * updated in place: read, do not keep).
   */
  cpuEstimates(): Readonly<{ target: number; lower: number; upper: number }> {
    this.estimatesRead = true;
    return this.cpuNow();
  }

  /**
   * After a step's samples: when the estimates computed last were read (a decision follows every
   * step, as in the simulator), computes the new ones now, while the histograms are in cache
   * (in a large fleet, a histogram read again a step later has left it); else they wait for the
   * next read. The values are the same either way.
   */
  settle(): void {
    if (!this.estimatesRead) return;
    this.estimatesRead = false;
    this.cpuNow();
    this.memoryNow();
  }

  private memoryNow(): Readonly<{ target: number; lower: number; upper: number }> {
    if (this.memoryDirty) {
      const c = this.memoryCache;
      c.target = this.memory.percentile(this.a.targetPercentile);
      c.lower = this.memory.percentile(this.a.lowerBoundPercentile);
      c.upper = this.memory.percentile(this.a.upperBoundPercentile);
      this.memoryDirty = false;
    }
    return this.memoryCache;
  }

  private cpuNow(): Readonly<{ target: number; lower: number; upper: number }> {
    if (this.cpuDirty) {
      const c = this.cpuCache;
      c.target = this.cpu.percentile(this.a.targetPercentile);
      if (this.a.mode === 'updater') {
        c.lower = this.cpu.percentile(this.a.lowerBoundPercentile);
        c.upper = this.cpu.percentile(this.a.upperBoundPercentile);
      }
      this.cpuDirty = false;
    }
    return this.cpuCache;
  }
}

/** Target, lower and upper bound per resource, and the confidence (days) behind them. */
export interface VpaRecommendation {
  cpu: { target: number; lower: number; upper: number };
  memory: { target: number; lower: number; upper: number };
  confidence: number;
}

/** A state and its position in the rightsizer's visiting order. */
interface OrderedState {
  readonly state: VpaState;
  pos: number;
}

export class VpaRightsizer implements Rightsizer {
  readonly name = 'vpa';
  private readonly states = new Map<string, OrderedState>();
  /**
   * States in the order they were created (null = forgotten) and a cursor after the last one
   * looked up: a round (and the observations after it) visits the instances in the same order
   * every step, so the state asked for next is usually the one at the cursor, found without a
   * hash look-up by id (which costs cache misses per instance in a fleet of 100,000). Any other
   * order falls back to the map; the states are the same either way.
   */
  private orderIds: Array<string | null> = [];
  private orderStates: Array<VpaState | null> = [];
  private cursor = 0;
  private forgotten = 0;
  /** Scratch of `estimate`. */
  private readonly est = new Float64Array(6);
  /** Shared reasons arrays (reasonsFor), by settings object and key. */
  private readonly defaultReasons: Array<readonly string[] | undefined> = [];
  private readonly reasonsBySettings = new WeakMap<EffectiveSettings, Array<readonly string[] | undefined>>();

  constructor(
    readonly args: VpaArgs,
    private readonly env: PluginEnv,
  ) {}

  /** The VPA state of an instance (created on first use). */
  state(inst: InstanceState): VpaState {
    const id = inst.id;
    const c = this.cursor;
    if (c < this.orderIds.length && this.orderIds[c] === id) {
      this.cursor = c + 1;
      return this.orderStates[c]!;
    }
    let o = this.states.get(id);
    if (!o) {
      o = { state: new VpaState(inst.units, this.args), pos: this.orderIds.length };
      this.states.set(id, o);
      this.orderIds.push(id);
      this.orderStates.push(o.state);
    }
    this.cursor = o.pos + 1;
    return o.state;
  }

  forget(id: string): void {
    const o = this.states.get(id);
    if (!o) return;
    this.states.delete(id);
    this.orderIds[o.pos] = null;
    this.orderStates[o.pos] = null;
    // Compact once forgotten slots outnumber live ones (instances that come and go).
    if (++this.forgotten > 64 && this.forgotten > this.states.size) {
      const ids: string[] = [];
      const states: VpaState[] = [];
      for (let p = 0; p < this.orderIds.length; p++) {
        const x = this.orderIds[p];
        if (x == null) continue;
        this.states.get(x)!.pos = ids.length;
        ids.push(x);
        states.push(this.orderStates[p]!);
      }
      this.orderIds = ids;
      this.orderStates = states;
      this.forgotten = 0;
      this.cursor = 0;
    }
  }

  observe(inst: InstanceState, usage: Amounts, allocation: Amounts, nowS: number): void {
    const s = this.state(inst);
    s.addCpuSample(usage.cpu, allocation.cpu, nowS);
    s.oomLastStep = false;
    if (usage.memory >= 0) {
      s.addMemorySample(usage.memory, nowS, false);
      if (Number.isFinite(allocation.memory) && usage.memory > allocation.memory) {
        s.recordOOM(nowS, allocation.memory, this.minBump(inst.units.memory));
        s.oomLastStep = true;
      }
    }
    s.settle();
  }

  private minBump(unit: Unit): number {
    return unit === 'MiB' ? this.args.oomMinBumpUpMiB : unit === 'percent' ? this.args.oomMinBumpUpPercent : 0;
  }

  minCpu(unit: Unit): number {
    const m = this.args.podMinCpuMillicores;
    if (unit === 'cores') return m / 1000;
    if (unit === 'millicores') return m;
    if (unit === 'percent') return this.args.minCpuPercent;
    return 0;
  }

  minMemory(unit: Unit): number {
    if (unit === 'MiB') return this.args.podMinMemoryMiB;
    if (unit === 'percent') return this.args.minMemoryPercent;
    return 0;
  }

  /**
   * Target, lower and upper bound per resource, as the recommender computes them; `headroom`
   * scales the safety margin (operator settings; 1 = VPA's).
   */
  recommendation(inst: InstanceState, headroom = 1): VpaRecommendation {
    return this.recommendationOf(this.state(inst), inst, headroom);
  }

  private recommendationOf(s: VpaState, inst: InstanceState, headroom: number): VpaRecommendation {
    const conf = this.estimate(s, inst, headroom, true);
    const e = this.est;
    return { cpu: { target: e[0]!, lower: e[1]!, upper: e[2]! }, memory: { target: e[3]!, lower: e[4]!, upper: e[5]! }, confidence: conf };
  }

  /**
   * The recommendation into `est` (cpu target, lower, upper, memory target, lower, upper; the
   * bounds only when `bounds`, else left as they were) without making objects; returns the
   * confidence (NaN without bounds).
   */
  private estimate(s: VpaState, inst: InstanceState, headroom: number, bounds: boolean): number {
    const a = this.args;
    const e = this.est;
    const m = 1 + a.safetyMarginFraction * headroom;
    this.constants(s, inst);
    const minC = s.minCpu;
    const minM = s.minMemory;
    const mem = s.memoryEstimates();
    const cpu = s.cpuEstimates();
    e[0] = Math.max(cpu.target * m, minC);
    e[3] = Math.max(mem.target * m, minM);
    if (!bounds) return NaN;
    const conf = s.confidence(this.env.stepSeconds);
    const upperMul = conf > 0 ? 1 + 1 / conf : Infinity;
    const lowerMul = conf > 0 ? Math.pow(1 + 0.001 / conf, -2) : 0;
    e[1] = a.mode === 'updater' ? Math.max(cpu.lower * m * lowerMul, minC) : NaN;
    e[2] = a.mode === 'updater' ? Math.max(cpu.upper * m * upperMul, minC) : NaN;
    e[4] = Math.max(mem.lower * m * lowerMul, minM);
    e[5] = Math.max(mem.upper * m * upperMul, minM);
    return conf;
  }

  /** The instance's minimums and resources into the state (recomputed when its units or capacity object changes). */
  private constants(s: VpaState, inst: InstanceState): void {
    if (s.unitsOf !== inst.units) {
      s.unitsOf = inst.units;
      s.minCpu = this.minCpu(inst.units.cpu);
      s.minMemory = this.minMemory(inst.units.memory);
    }
    if (s.capacityOf !== inst.capacity) {
      s.capacityOf = inst.capacity;
      s.hasCpu = Number.isFinite(inst.capacity.cpu);
      s.hasMemory = Number.isFinite(inst.capacity.memory);
    }
  }

  recommend(inst: InstanceState, ctx: DecideContext): RightsizeDecision {
    const s = this.state(inst);
    if (s.totalSamples === 0 && s.memorySamples === 0) return { cpu: NaN, memory: NaN, reasons: NO_HISTORY_REASONS };
    const settings = effectiveSettings(ctx.snapshot, inst.id);
    const updater = this.args.mode === 'updater';
    // the bounds (and the confidence behind them) only matter to the updater mode
    this.estimate(s, inst, settings.headroom, updater);
    const hasCpu = s.hasCpu;
    const hasMem = s.hasMemory;
    const e = this.est;
    let cpu = hasCpu && s.totalSamples > 0 ? e[0]! : NaN;
    let memory = hasMem && s.memorySamples > 0 ? e[3]! : NaN;
    if (updater) {
      const cur = inst.allocation;
      if (!s.oomLastStep) {
        if (cur.cpu >= e[1]! && cur.cpu <= e[2]!) cpu = NaN;
        if (cur.memory >= e[4]! && cur.memory <= e[5]!) memory = NaN;
      }
      if (Number.isNaN(cpu) && Number.isNaN(memory)) return { cpu, memory, reasons: WITHIN_BOUNDS_REASONS };
    }
    const min = (cpu === s.minCpu && cpu > 0) || (memory === s.minMemory && memory > 0);
    const key = (hasMem ? 1 : 0) | (s.oomLastStep ? 2 : 0) | (updater ? 4 : 0) | (min ? 8 : 0);
    return { cpu, memory, reasons: this.reasonsFor(settings, key) };
  }

  /**
   * The reasons of a recommendation, one shared frozen array per settings object and key (an
   * array per instance and step was most of what a large fleet's rounds allocated). The decision
   * core copies a rightsizer's reasons before adding to them.
   */
  private reasonsFor(settings: EffectiveSettings, key: number): string[] {
    let byKey = settings === DEFAULT_SETTINGS ? this.defaultReasons : this.reasonsBySettings.get(settings);
    if (!byKey) {
      byKey = [];
      this.reasonsBySettings.set(settings, byKey);
    }
    let reasons = byKey[key];
    if (!reasons) {
      const r: string[] = [R.PERCENTILE_TARGET, R.SAFETY_MARGIN];
      headroomReasons(settings, r);
      if (key & 1) r.push(R.MEMORY_PEAKS);
      if (key & 2) r.push(R.OOM_BUMP);
      if (key & 4) r.push(R.CONFIDENCE_SCALED);
      if (key & 8) r.push(R.MIN_RESOURCES);
      reasons = Object.freeze(r);
      byKey[key] = reasons;
    }
    return reasons as string[];
  }
}

const NO_HISTORY_REASONS = Object.freeze([R.NO_HISTORY, R.KEEP]) as unknown as string[];
const WITHIN_BOUNDS_REASONS = Object.freeze(['within-bounds', R.KEEP]) as unknown as string[];

export const vpaPolicy: PluginEntry<VpaArgs> = {
  name: 'vpa',
  description: "Kubernetes VPA recommender: decaying histograms (24 h half-life), p90 + 15 % margin, daily memory peaks over 8 days, OOM bump",
  points: ['rightsize'],
  args: vpaArgs,
  create: (args, env) => new VpaRightsizer(args, env),
};
