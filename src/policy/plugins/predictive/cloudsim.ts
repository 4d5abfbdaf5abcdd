// `predictive` in the CloudSim PlanetLab scenario: a forecast-driven overload detector and
// placement scorer for src/sim/cloudsim's plug-in points (OverloadDetector, PlacementScorer),
// without touching its loop. Pure; the host view is typed structurally here (`CloudSimHostLike`,
// the subset of the scenario's HostView these use) so src/policy does not import the simulator.
//
// Per VM, one online engine (predictive-forecast's 'fast' configuration) is fed the VM's CPU
// utilisation history as the scenario exposes it (most recent first, the current sample
// included), lazily and once per scheduling step, so the answers do not depend on the order of
// the calls; forecasts are cached per VM and step.
//
// overload: the host is overloaded when a high quantile (`level`) of its summed predicted VM
//   demand over the next `horizonSteps` steps (each VM's quantile and mean, max over the steps;
//   VMs treated as independent: sum of means + z sqrt(sum sigma^2), sigma_v from the VM's
//   quantile spread), or the demand requested right now, exceeds `threshold` x capacity.
//   `horizonSteps` defaults to 1: a migration lasts RAM / (bandwidth / 2) <= 28 s here, under one
//   300 s step (CloudSim's LR uses ceil(migration time / interval) = 1 likewise).
// placement score (lower is better): predicted power increase, the power of the host at
//   (predicted mean demand of its VMs + the VM's) minus its power at its VMs' predicted demand,
//   where an empty host costs its whole power (switching a host on costs its idle power, which
//   CloudSim's PABFD leaves out and so spreads VMs over empty hosts), plus `riskWeight` watts x
//   the share of capacity by which the predicted high quantile after the placement passes
//   `riskFrom` of capacity (predicted overload risk). A host the predicted mean would fill past
//   capacity scores +Infinity (rejected).
import { z } from 'zod';
import { normalQuantile } from '../peak-predictor/peak-predictor.js';
import { createSeriesEngine, predictiveForecastArgs } from './forecast-provider.js';
import type { EnsembleForecaster } from '../../../forecast/ensemble.js';

/** The part of src/sim/cloudsim's HostView the predictive plug-ins read. */
export interface CloudSimHostLike {
  readonly index: number;
  readonly totalMips: number;
  readonly step: number;
  vmCount(): number;
  vm(i: number): number;
  requestedMips(): number;
  powerW(utilization: number): number;
  vmMips(vm: number): number;
  vmRequestedMips(vm: number): number;
  vmUtilizationHistory(vm: number, out: Float64Array): number;
}

export interface CloudSimVerdictLike {
  overloaded: boolean;
  metric: number;
  threshold: number;
  rule: string;
}

export const predictiveCloudSimArgs = z
  .object({
    /** Quantile level of the summed predicted demand compared with capacity. */
    level: z.number().gt(0.5).lt(1).default(0.95),
    /** Fraction of capacity the predicted quantile may reach. */
    threshold: z.number().positive().max(2).default(1),
    horizonSteps: z.number().int().min(1).max(12).default(1),
    /** Watts per unit of capacity share the predicted quantile passes `riskFrom`. */
    riskWeight: z.number().min(0).default(0),
    riskFrom: z.number().min(0).max(2).default(0.9),
    /** Power an empty host costs when it receives a VM: 'full' (idle power included) or 'increase' (as PABFD). */
    emptyHostCost: z.enum(['full', 'increase']).default('full'),
    /** History values to feed a VM's engine before it may be trusted; until then its current demand counts. */
    minHistory: z.number().int().min(1).max(30).default(6),
  })
  .strict();
export type PredictiveCloudSimArgs = z.infer<typeof predictiveCloudSimArgs>;

const HISTORY = 30;

/** Per-VM engines fed from the host view's history, with forecasts cached per step. */
export class VmDemandForecasts {
  private readonly engines: Array<EnsembleForecaster | undefined> = [];
  private readonly fedStep: number[] = [];
  private readonly fed: number[] = [];
  private readonly cacheStep: number[] = [];
  /** Predicted mean and quantile, as fractions of the VM's MIPS. */
  private readonly mu: number[] = [];
  private readonly q: number[] = [];
  private readonly hist = new Float64Array(HISTORY);
  private readonly levels: number[];
  private readonly qIndex: number;
  readonly zLevel: number;
  forecastsMade = 0;

  constructor(
    readonly level: number,
    readonly horizonSteps: number,
    readonly minHistory: number,
    private readonly stepSeconds = 300,
  ) {
    this.levels = [0.5, level].sort((a, b) => a - b);
    this.qIndex = this.levels.indexOf(level);
    this.zLevel = normalQuantile(level);
  }

  /** Feeds the VM's new history values (once per step) and returns [mu, q] as fractions, or NaN when too little history. */
  predict(host: CloudSimHostLike, vm: number, out: { mu: number; q: number }): { mu: number; q: number } {
    const step = host.step;
    if (this.cacheStep[vm] === step) {
      out.mu = this.mu[vm]!;
      out.q = this.q[vm]!;
      return out;
    }
    let e = this.engines[vm];
    if (!e) {
      e = createSeriesEngine(predictiveForecastArgs.parse({ levels: this.levels, horizonSteps: this.horizonSteps }), this.stepSeconds);
      this.engines[vm] = e;
      this.fedStep[vm] = -1;
      this.fed[vm] = 0;
    }
    if (this.fedStep[vm]! < step) {
      const n = host.vmUtilizationHistory(vm, this.hist);
      const fresh = this.fedStep[vm]! < 0 ? n : Math.min(n, step - this.fedStep[vm]!);
      for (let i = fresh - 1; i >= 0; i--) e.update(this.hist[i]!);
      this.fed[vm] = this.fed[vm]! + fresh;
      this.fedStep[vm] = step;
    }
    let mu = NaN;
    let q = NaN;
    if (this.fed[vm]! >= this.minHistory) {
      const f = e.forecast(this.horizonSteps);
      this.forecastsMade++;
      mu = 0;
      q = 0;
      for (let h = 0; h < this.horizonSteps; h++) {
        if (f.mean[h]! > mu) mu = f.mean[h]!;
        const v = f.quantiles[this.qIndex]![h]!;
        if (v > q) q = v;
      }
      if (!Number.isFinite(mu) || !Number.isFinite(q)) mu = q = NaN;
    }
    this.cacheStep[vm] = step;
    this.mu[vm] = mu;
    this.q[vm] = q;
    out.mu = mu;
    out.q = q;
    return out;
  }
}

/** Summed predicted demand of a host's (tentative) VM list, MIPS. */
export interface HostPrediction {
  /** Sum of predicted means (or current demand where no forecast yet). */
  mean: number;
  /** High quantile of the sum (independent VMs). */
  quantile: number;
  /** Same without the VM at `exclude` (the candidate), for "before" figures. */
  meanWithout: number;
}

export class PredictiveCloudSimModel {
  readonly forecasts: VmDemandForecasts;
  private readonly tmp = { mu: 0, q: 0 };

  constructor(readonly args: PredictiveCloudSimArgs) {
    this.forecasts = new VmDemandForecasts(args.level, args.horizonSteps, args.minHistory);
  }

  hostPrediction(host: CloudSimHostLike, exclude: number, out: HostPrediction): HostPrediction {
    let mean = 0;
    let varSum = 0;
    let meanWithout = 0;
    const n = host.vmCount();
    const z = this.forecasts.zLevel;
    for (let i = 0; i < n; i++) {
      const vm = host.vm(i);
      const mips = host.vmMips(vm);
      const p = this.forecasts.predict(host, vm, this.tmp);
      let m: number;
      if (Number.isFinite(p.mu)) {
        m = p.mu * mips;
        const s = Math.max(0, p.q - p.mu) * mips / z;
        varSum += s * s;
      } else {
        m = host.vmRequestedMips(vm);
      }
      mean += m;
      if (vm !== exclude) meanWithout += m;
    }
    out.mean = mean;
    out.quantile = mean + z * Math.sqrt(varSum);
    out.meanWithout = meanWithout;
    return out;
  }
}

export class PredictiveOverloadDetector {
  readonly name: string;
  private readonly pred: HostPrediction = { mean: 0, quantile: 0, meanWithout: 0 };
  constructor(private readonly model: PredictiveCloudSimModel) {
    this.name = `predictive-q${model.args.level}`;
  }
  detect(host: CloudSimHostLike, out: CloudSimVerdictLike): boolean {
    const p = this.model.hostPrediction(host, -1, this.pred);
    const cap = this.model.args.threshold * host.totalMips;
    const metric = Math.max(p.quantile, host.requestedMips()) / host.totalMips;
    out.metric = metric;
    out.threshold = this.model.args.threshold;
    out.rule = 'predictive-quantile';
    out.overloaded = metric * host.totalMips > cap;
    return out.overloaded;
  }
}

export class PredictivePlacementScorer {
  readonly name = 'predictive-power';
  private readonly pred: HostPrediction = { mean: 0, quantile: 0, meanWithout: 0 };
  constructor(private readonly model: PredictiveCloudSimModel) {}
  score(host: CloudSimHostLike, vm: number): number {
    const a = this.model.args;
    const p = this.model.hostPrediction(host, vm, this.pred);
    const total = host.totalMips;
    const after = p.mean / total;
    if (after > 1) return Infinity;
    const before = p.meanWithout / total;
    const empty = host.vmCount() <= 1;
    const powerBefore = empty && a.emptyHostCost === 'full' ? 0 : host.powerW(Math.min(1, before));
    let s = host.powerW(after) - powerBefore;
    if (a.riskWeight > 0) {
      const over = p.quantile / total - a.riskFrom;
      if (over > 0) s += a.riskWeight * over;
    }
    return s;
  }
}
