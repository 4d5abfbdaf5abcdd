// A per-series ensemble that scores its members online by pinball loss on the levels it is asked
// for, and blends the best few (quantile averaging), with a penalty against switching members
// (as Google's Autopilot recommender charges for changing its mind). Pure.
import type { ProbForecast, QuantileForecaster } from './types.js';
import { AnomalyDetector } from './anomaly.js';
import { levelOrder, pinball, uncross } from './quantile.js';

export interface EnsembleOptions {
  /** Quantile levels forecast and scored, each in (0, 1). */
  levels: readonly number[];
  /** Longest horizon (steps). */
  horizon: number;
  /** Score members every this many samples. Default max(1, horizon / 2). */
  evalEvery?: number;
  /** Members blended. Default 3. */
  topK?: number;
  /** A member already selected keeps its place unless another beats it by this fraction. Default 0.05. */
  switchPenalty?: number;
  /** Half-life of the members' discounted loss, in evaluations. Default 60. */
  lossHalfLife?: number;
  /** Completed evaluations before losses are trusted over the prior order. Default 2. */
  minEvaluations?: number;
  /** Forecasts never go below this (usage is non-negative). Default 0. */
  floor?: number;
  /**
   * Online coverage correction (adaptive conformal inference, Gibbs & Candes 2021): each level's
   * distance from the median is scaled by a factor that grows after a miss and shrinks after a
   * hit, so the long-run share of actuals below quantile q tends to q. Step size; 0 turns it
   * off. Default 0.05.
   */
  coverageRate?: number;
  /**
   * Horizon groups scored and selected separately (models that win one step ahead often lose
   * twelve steps ahead). Default: log-spaced groups 1 | 2-3 | 4-7 | 8-15 | ... up to the horizon.
   * `false` = one group.
   */
  horizonGroups?: boolean;
  /**
   * Select members per quantile level too (one model may be best at the median, another in the
   * tail). Default true.
   */
  perLevel?: boolean;
}

/** Log-spaced horizon groups: group of step h (1-based) = floor(log2(h)). */
export function horizonGroupOf(h: number): number {
  return 31 - Math.clz32(h);
}

/** Why the ensemble chose what it chose: members with their discounted losses. */
export interface EnsembleExplanation {
  /** Selected members per horizon group (steps `from`..`to`). */
  groups: Array<{ from: number; to: number; level: number | null; selected: string[]; losses: Array<{ model: string; loss: number }> }>;
  evaluations: number;
}

export class EnsembleForecaster {
  readonly levels: readonly number[];
  readonly horizon: number;
  private readonly order: number[];
  private readonly evalEvery: number;
  private readonly topK: number;
  private readonly switchPenalty: number;
  private readonly decay: number;
  private readonly minEvaluations: number;
  private readonly floor: number;
  private readonly loss: Float64Array;
  /** Pending scored forecasts: blocks[b] holds origin time and members x levels x horizon quantiles. */
  private readonly blockOrigin: Int32Array;
  private readonly blocks: Float64Array;
  private readonly blockSize: number;
  private nextBlock = 0;
  private evaluations = 0;
  /** selected[slot] = member indices blended for a slot: a horizon group, or a group and level. */
  private selected: number[][];
  private readonly perLevel: boolean;
  /** 1 when a member's latest quantiles were all finite (a member not ready yet is never blended). */
  private readonly available: Uint8Array;
  private readonly scratchLoss: Float64Array;
  private readonly scratchOrder: Int32Array;
  private cachedName: string | null = null;
  /** The full-horizon forecast blended while scoring the latest sample (null once another arrives). */
  private cached: ProbForecast | null = null;
  private readonly nSlots: number;
  /** Group of each step (index h - 1). */
  private readonly groupOf: Int32Array;
  private readonly nGroups: number;
  private t = -1;
  private nFinite = 0;
  private levelSum = 0;
  /** Discounted loss of the blended forecast itself, and its normaliser. */
  private ownLoss = 0;
  private ownLevel = 0;
  private readonly ownBlocks: Float64Array;
  private readonly coverageRate: number;
  /** Per-level spread factor of the coverage correction. */
  private readonly spread: Float64Array;
  private readonly medianIndex: number;
  /** Flags the latest sample from its standardized one-step error. */
  readonly anomalies = new AnomalyDetector();

  constructor(
    readonly members: readonly QuantileForecaster[],
    options: EnsembleOptions,
  ) {
    if (members.length === 0) throw new RangeError('an ensemble needs at least one member');
    this.levels = options.levels.slice();
    this.order = levelOrder(this.levels);
    this.horizon = options.horizon;
    this.evalEvery = options.evalEvery ?? Math.max(1, Math.floor(this.horizon / 2));
    this.topK = Math.min(options.topK ?? 3, members.length);
    this.switchPenalty = options.switchPenalty ?? 0.05;
    this.decay = Math.pow(0.5, 1 / (options.lossHalfLife ?? 60));
    this.minEvaluations = options.minEvaluations ?? 2;
    this.floor = options.floor ?? 0;
    const grouped = options.horizonGroups ?? true;
    this.groupOf = new Int32Array(this.horizon);
    for (let h = 1; h <= this.horizon; h++) this.groupOf[h - 1] = grouped ? horizonGroupOf(h) : 0;
    this.nGroups = this.groupOf[this.horizon - 1]! + 1;
    this.perLevel = options.perLevel ?? true;
    this.available = new Uint8Array(members.length).fill(1);
    this.scratchLoss = new Float64Array(members.length);
    this.scratchOrder = new Int32Array(members.length);
    this.nSlots = this.nGroups * (this.perLevel ? this.levels.length : 1);
    /** loss[slot * members + i] */
    this.loss = new Float64Array(members.length * this.nSlots);
    const nBlocks = Math.ceil(this.horizon / this.evalEvery) + 1;
    this.blockOrigin = new Int32Array(nBlocks).fill(-1);
    this.blockSize = members.length * this.levels.length * this.horizon;
    this.blocks = new Float64Array(nBlocks * this.blockSize);
    this.ownBlocks = new Float64Array(nBlocks * this.levels.length * this.horizon);
    this.selected = Array.from({ length: this.nSlots }, () => members.slice(0, this.topK).map((_, i) => i));
    this.coverageRate = options.coverageRate ?? 0.05;
    this.spread = new Float64Array(this.levels.length).fill(1);
    // the level nearest 0.5 anchors the spread correction
    let mi = 0;
    for (let k = 1; k < this.levels.length; k++) if (Math.abs(this.levels[k]! - 0.5) < Math.abs(this.levels[mi]! - 0.5)) mi = k;
    this.medianIndex = mi;
  }

  get count(): number {
    return this.t + 1;
  }

  update(y: number): void {
    this.cached = null;
    const t = ++this.t;
    for (const m of this.members) m.update(y);
    this.anomalies.update(y);
    if (Number.isFinite(y)) {
      this.nFinite++;
      this.levelSum += Math.abs(y);
      this.score(t, y);
    }
    if (t % this.evalEvery === this.evalEvery - 1) this.openBlock(t);
  }

  /** The blended probabilistic forecast for steps 1..horizon. */
  forecast(horizon = this.horizon): ProbForecast {
    // the scoring step already blended the full-horizon forecast for this sample: reuse it
    const c = this.cached;
    if (c !== null && horizon === this.horizon) {
      return { ...c, mean: c.mean.slice(), quantiles: c.quantiles.map((q) => q.slice()), anomaly: { ...c.anomaly! } };
    }
    return this.blendForecast(horizon);
  }

  private blendForecast(horizon: number): ProbForecast {
    const L = this.levels.length;
    const qs = this.levels.map(() => new Float64Array(horizon));
    const mean = new Float64Array(horizon);
    // each selected member's forecast, computed once
    const M = this.members.length;
    const mq: Array<Float64Array[] | undefined> = new Array(M);
    const mf: Array<Float64Array | undefined> = new Array(M);
    for (const sel of this.selected) {
      for (const i of sel) {
        if (mq[i] !== undefined) continue;
        mq[i] = this.members[i]!.quantiles(horizon, this.levels);
        mf[i] = this.members[i]!.forecast(horizon);
      }
    }
    for (let h = 0; h < horizon; h++) {
      const g = this.groupOf[Math.min(h, this.horizon - 1)]!;
      for (let k = 0; k < L; k++) {
        // equal-weight mean of the finite values of the slot's members
        let sum = 0;
        let n = 0;
        for (const i of this.selected[this.slot(g, k)]!) {
          const v = mq[i]![k]![h]!;
          if (Number.isFinite(v)) {
            sum += v;
            n++;
          }
        }
        qs[k]![h] = n > 0 ? sum / n : NaN;
      }
      let sum = 0;
      let n = 0;
      for (const i of this.selected[this.slot(g, this.medianIndex)]!) {
        const v = mf[i]![h]!;
        if (Number.isFinite(v)) {
          sum += v;
          n++;
        }
      }
      mean[h] = n > 0 ? sum / n : NaN;
    }
    if (this.coverageRate > 0) {
      const med = qs[this.medianIndex]!;
      for (let k = 0; k < L; k++) {
        if (k === this.medianIndex) continue;
        const row = qs[k]!;
        const f = this.spread[k]!;
        for (let h = 0; h < horizon; h++) row[h] = med[h]! + f * (row[h]! - med[h]!);
      }
    }
    for (const row of qs) for (let h = 0; h < horizon; h++) if (row[h]! < this.floor) row[h] = this.floor;
    for (let h = 0; h < horizon; h++) if (mean[h]! < this.floor) mean[h] = this.floor;
    uncross(qs, this.order, horizon);
    return {
      mean,
      quantiles: qs,
      levels: this.levels,
      confidence: this.confidence(),
      anomaly: { ...this.anomalies.latest },
      model: this.modelName(),
    };
  }

  /**
   * In [0, 1]: grows with history (half at one day of 5-minute samples) and falls with the blended
   * forecast's recent pinball loss relative to the series' level.
   */
  confidence(): number {
    if (this.nFinite === 0) return 0;
    const history = 1 - Math.pow(0.5, this.nFinite / 288);
    const scale = this.ownLevel > 0 ? this.ownLevel : this.levelSum / this.nFinite;
    const rel = scale > 0 && this.ownLoss > 0 ? this.ownLoss / scale : 0;
    const accuracy = 1 / (1 + 4 * rel);
    return Math.max(0, Math.min(1, history * accuracy));
  }

  explain(): EnsembleExplanation {
    return {
      groups: this.selected.map((sel, slot) => {
        const g = this.perLevel ? Math.floor(slot / this.levels.length) : slot;
        const steps = Array.from(this.groupOf.keys()).filter((h) => this.groupOf[h] === g);
        return {
          from: steps[0]! + 1,
          to: steps[steps.length - 1]! + 1,
          level: this.perLevel ? this.levels[slot % this.levels.length]! : null,
          selected: sel.map((i) => this.members[i]!.name),
          losses: this.members.map((m, i) => ({ model: m.name, loss: this.loss[slot * this.members.length + i]! })),
        };
      }),
      evaluations: this.evaluations,
    };
  }

  private openBlock(t: number): void {
    const b = this.nextBlock;
    this.nextBlock = (b + 1) % this.blockOrigin.length;
    if (this.blockOrigin[b]! >= 0) this.evaluations++;
    for (let i = 0; i < this.loss.length; i++) this.loss[i] = this.loss[i]! * this.decay;
    this.ownLoss *= this.decay;
    this.ownLevel *= this.decay;
    const L = this.levels.length;
    const H = this.horizon;
    let off = b * this.blockSize;
    for (let i = 0; i < this.members.length; i++) {
      const q = this.members[i]!.quantiles(H, this.levels);
      let ok = 1;
      for (let k = 0; k < L; k++) {
        for (let h = 0; h < H; h++) if (!Number.isFinite(q[k]![h]!)) ok = 0;
        this.blocks.set(q[k]!, off);
        off += H;
      }
      this.available[i] = ok;
    }
    this.reselect();
    this.cached = this.blendForecast(H);
    const own = this.cached.quantiles;
    for (let k = 0; k < L; k++) this.ownBlocks.set(own[k]!, (b * L + k) * H);
    this.blockOrigin[b] = t;
  }

  private score(t: number, y: number): void {
    const L = this.levels.length;
    const H = this.horizon;
    for (let b = 0; b < this.blockOrigin.length; b++) {
      const o = this.blockOrigin[b]!;
      if (o < 0) continue;
      const h = t - o;
      if (h < 1 || h > H) continue;
      let off = b * this.blockSize + h - 1;
      const g = this.groupOf[h - 1]!;
      const M = this.members.length;
      for (let i = 0; i < M; i++) {
        for (let k = 0; k < L; k++) {
          const q = this.blocks[off]!;
          // a member with nothing to say scores as forecasting 0
          const l = Number.isFinite(q) ? pinball(y, q, this.levels[k]!) : Math.abs(y);
          off += H;
          const li = this.slot(g, k) * M + i;
          this.loss[li] = this.loss[li]! + l;
        }
      }
      let l = 0;
      for (let k = 0; k < L; k++) {
        const q = this.ownBlocks[(b * L + k) * H + h - 1]!;
        const tau = this.levels[k]!;
        l += pinball(y, q, tau);
        if (this.coverageRate > 0 && k !== this.medianIndex) {
          // upper levels miss when y lands above; lower levels when y lands below
          const miss = tau > 0.5 ? (y > q ? 1 : 0) - (1 - tau) : (y < q ? 1 : 0) - tau;
          const f = this.spread[k]! * Math.exp(this.coverageRate * miss);
          this.spread[k] = Math.min(4, Math.max(0.25, f));
        }
      }
      this.ownLoss += l / L;
      this.ownLevel += Math.abs(y);
    }
  }

  /** Names of the members blended anywhere, joined by '+' (rebuilt only after a reselection). */
  private modelName(): string {
    if (this.cachedName === null) {
      this.cachedName = [...new Set(this.selected.flat())]
        .sort((a, b) => a - b)
        .map((i) => this.members[i]!.name)
        .join('+');
    }
    return this.cachedName;
  }

  /** Selection slot of horizon group g and level index k. */
  private slot(g: number, k: number): number {
    return this.perLevel ? g * this.levels.length + k : g;
  }

  private reselect(): void {
    if (this.evaluations < this.minEvaluations) return;
    const pen = 1 - this.switchPenalty;
    const M = this.members.length;
    const adjusted = this.scratchLoss;
    const order = this.scratchOrder;
    for (let s = 0; s < this.nSlots; s++) {
      const cur = this.selected[s]!;
      // insertion sort of the available members by adjusted loss (ties: lower index first)
      let n = 0;
      for (let i = 0; i < M; i++) {
        if (this.available[i] !== 1) continue;
        const l = this.loss[s * M + i]!;
        const v = cur.includes(i) ? l * pen : l;
        adjusted[i] = v;
        let j = n++;
        while (j > 0 && adjusted[order[j - 1]!]! > v) {
          order[j] = order[j - 1]!;
          j--;
        }
        order[j] = i;
      }
      if (n === 0) continue;
      const k = Math.min(this.topK, n);
      const next = Array.from(order.subarray(0, k)).sort((a, b) => a - b);
      if (next.length !== cur.length || next.some((v, j) => v !== cur[j])) this.cachedName = null;
      this.selected[s] = next;
    }
  }

}
