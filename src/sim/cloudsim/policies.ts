// CloudSim 3.0.3's overload detectors (THR, IQR, MAD, LR, LRR), the MMT VM selection and the PABFD
// power-increase placement score, behind the pluggable interfaces of ./types.ts. Pure.
import { countNonZeroBeginning, iqr, loessParameterEstimates, mad, robustLoessParameterEstimates } from './math.js';
import type { HostView, OverloadDetector, OverloadVerdict, PlacementScorer, VmSelector } from './types.js';
import { clampUtilization } from './power-model.js';

// Local copies of imported functions used in hot paths (module-transforming loaders turn imports
// into getters).
const nonZeroLength = countNonZeroBeginning;
const iqrOf = iqr;
const madOf = mad;
const loess = loessParameterEstimates;
const robustLoess = robustLoessParameterEstimates;
const clampU = clampUtilization;

/** PowerVm.HISTORY_LENGTH. */
export const HISTORY_LENGTH = 30;

/** PowerVmAllocationPolicyMigrationStaticThreshold: requested MIPS / host MIPS > threshold. */
export class ThresholdDetector implements OverloadDetector {
  readonly name: string;
  constructor(
    readonly threshold: number,
    private readonly rule = 'thr',
  ) {
    this.name = `thr-${threshold}`;
  }
  detect(host: HostView, out: OverloadVerdict): boolean {
    const utilization = host.requestedMips() / host.totalMips;
    out.metric = utilization;
    out.threshold = this.threshold;
    out.rule = this.rule;
    out.overloaded = utilization > this.threshold;
    return out.overloaded;
  }
}

abstract class HistoryThresholdDetector implements OverloadDetector {
  abstract readonly name: string;
  protected readonly history = new Float64Array(HISTORY_LENGTH);
  protected readonly scratch = new Float64Array(HISTORY_LENGTH);
  protected readonly fallbackRule: string;
  constructor(
    readonly safetyParameter: number,
    readonly fallback: OverloadDetector,
    protected readonly rule: string,
  ) {
    this.fallbackRule = `${rule}-fallback-thr`;
  }
  protected abstract spread(n: number): number;
  detect(host: HostView, out: OverloadVerdict): boolean {
    const n = host.utilizationHistory(this.history);
    if (nonZeroLength(this.history, n) < 12) {
      // "12 has been suggested as a safe value": fall back to THR 0.7.
      const r = this.fallback.detect(host, out);
      out.rule = this.fallbackRule;
      return r;
    }
    const upperThreshold = 1 - this.safetyParameter * this.spread(n);
    const utilization = host.requestedMips() / host.totalMips;
    out.metric = utilization;
    out.threshold = upperThreshold;
    out.rule = this.rule;
    out.overloaded = utilization > upperThreshold;
    return out.overloaded;
  }
}

/** PowerVmAllocationPolicyMigrationInterQuartileRange: threshold 1 - s x IQR(history). */
export class IqrDetector extends HistoryThresholdDetector {
  readonly name: string;
  constructor(safetyParameter: number, fallback: OverloadDetector) {
    super(safetyParameter, fallback, 'iqr');
    this.name = `iqr-${safetyParameter}`;
  }
  protected spread(n: number): number {
    return iqrOf(this.history, n, this.scratch);
  }
}

/** PowerVmAllocationPolicyMigrationMedianAbsoluteDeviation: threshold 1 - s x MAD(history). */
export class MadDetector extends HistoryThresholdDetector {
  readonly name: string;
  constructor(safetyParameter: number, fallback: OverloadDetector) {
    super(safetyParameter, fallback, 'mad');
    this.name = `mad-${safetyParameter}`;
  }
  protected spread(n: number): number {
    return madOf(this.history, n, this.scratch);
  }
}

/**
 * PowerVmAllocationPolicyMigrationLocalRegression (and ...Robust): regression over the last 10
 * history values (oldest first, x = 1..10), predicted one migration time ahead:
 * prediction = a + b (10 + ceil(max VM migration time / interval)); overloaded when
 * safety x prediction >= 1. Fewer than 10 values: THR fallback. CloudSim's "loess" weights are all
 * positive, so its weighted regression is in fact plain least squares (LR and LRR give the same).
 */
export class LocalRegressionDetector implements OverloadDetector {
  readonly name: string;
  private readonly history = new Float64Array(HISTORY_LENGTH);
  private readonly reversed = new Float64Array(10);
  private readonly estimates = new Float64Array(2);
  private readonly ruleName: string;
  private readonly fallbackRule: string;
  constructor(
    readonly safetyParameter: number,
    readonly schedulingIntervalS: number,
    readonly fallback: OverloadDetector,
    readonly robust = false,
  ) {
    this.ruleName = robust ? 'lrr' : 'lr';
    this.name = `${this.ruleName}-${safetyParameter}`;
    this.fallbackRule = `${this.ruleName}-fallback-thr`;
  }
  detect(host: HostView, out: OverloadVerdict): boolean {
    const n = host.utilizationHistory(this.history);
    const length = 10;
    if (n < length) {
      const r = this.fallback.detect(host, out);
      out.rule = this.fallbackRule;
      return r;
    }
    for (let i = 0; i < length; i++) this.reversed[i] = this.history[length - i - 1]!;
    if (this.robust) robustLoess(this.reversed, length, this.estimates);
    else loess(this.reversed, length, this.estimates);
    const maxMigrationTimeS = host.maxVmRamMb() / (host.bwKbps / (2 * 8000));
    const migrationIntervals = Math.ceil(maxMigrationTimeS / this.schedulingIntervalS);
    let predicted = this.estimates[0]! + this.estimates[1]! * (length + migrationIntervals);
    predicted *= this.safetyParameter;
    out.metric = predicted;
    out.threshold = 1;
    out.rule = this.ruleName;
    out.overloaded = predicted >= 1;
    return out.overloaded;
  }
}

/** PowerVmSelectionPolicyMinimumMigrationTime: the VM with the least RAM, first in list order. */
export class MinimumMigrationTimeSelector implements VmSelector {
  readonly name = 'mmt';
  select(host: HostView): number {
    let best = -1;
    let minMetric = Number.MAX_VALUE;
    const n = host.vmCount();
    for (let i = 0; i < n; i++) {
      const vm = host.vm(i);
      if (host.vmInMigration(vm)) continue;
      const metric = host.vmRamMb(vm);
      if (metric < minMetric) {
        minMetric = metric;
        best = vm;
      }
    }
    return best;
  }
}

/**
 * PABFD's score (CloudSim 3.0.3): power at (MIPS allocated on the host in the tentative allocation +
 * the VM's request) minus the power at the host's cached utilisation of its last update.
 */
export class PowerIncreaseScorer implements PlacementScorer {
  readonly name = 'power-increase';
  score(host: HostView, vm: number): number {
    const after = (host.allocatedMips() + host.migratingInExtraMips() + host.vmRequestedMips(vm)) / host.totalMips;
    const powerAfter = host.powerW(after);
    const powerNow = host.powerW(clampU(host.cachedUtilizationMips / host.totalMips));
    return powerAfter - powerNow;
  }
}

export interface PolicyParts {
  detector: OverloadDetector | null;
  selector: VmSelector | null;
  migrations: boolean;
  nonPowerAware: boolean;
}

/** The detector/selector pair RunnerAbstract#getVmAllocationPolicy builds for each policy name. */
export function cloudsimPolicyParts(
  policy: string,
  safetyParameter: number | undefined,
  schedulingIntervalS: number,
  fallbackThreshold: number,
): PolicyParts {
  const fallback = (): OverloadDetector => new ThresholdDetector(fallbackThreshold);
  const mmt = new MinimumMigrationTimeSelector();
  switch (policy) {
    case 'thr-mmt':
      return { detector: new ThresholdDetector(safetyParameter ?? 0.8), selector: mmt, migrations: true, nonPowerAware: false };
    case 'iqr-mmt':
      return { detector: new IqrDetector(safetyParameter ?? 1.5, fallback()), selector: mmt, migrations: true, nonPowerAware: false };
    case 'mad-mmt':
      return { detector: new MadDetector(safetyParameter ?? 2.5, fallback()), selector: mmt, migrations: true, nonPowerAware: false };
    case 'lr-mmt':
      return {
        detector: new LocalRegressionDetector(safetyParameter ?? 1.2, schedulingIntervalS, fallback(), false),
        selector: mmt,
        migrations: true,
        nonPowerAware: false,
      };
    case 'lrr-mmt':
      return {
        detector: new LocalRegressionDetector(safetyParameter ?? 1.2, schedulingIntervalS, fallback(), true),
        selector: mmt,
        migrations: true,
        nonPowerAware: false,
      };
    case 'dvfs':
      return { detector: null, selector: null, migrations: false, nonPowerAware: false };
    case 'npa':
      return { detector: null, selector: null, migrations: false, nonPowerAware: true };
    default:
      throw new Error(`unknown policy ${policy}`);
  }
}
