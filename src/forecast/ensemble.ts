// A per-series ensemble that scores its members online by pinball loss on the levels it is asked
// for, and blends the best few (quantile averaging), with a penalty against switching members
// (as Google's Autopilot recommender charges for changing its mind). Pure.
import type { ProbForecast, QuantileForecaster } from './types.js';
import { AnomalyDetector } from './anomaly.js';
import { fillRange } from './models/common.js';
import { levelOrder, pinball } from './quantile.js';

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

/** historyWeight(n) for n below this is kept in a table, filled on first use. */
const HISTORY_TABLE = 1 << 14;
const historyTable = new Float64Array(HISTORY_TABLE).fill(NaN);

/** 1 - 0.5^(n / 288): the part of the confidence that grows with the finite samples seen. */
function historyWeight(n: number): number {
  if (n >= HISTORY_TABLE) return 1 - Math.pow(0.5, n / 288);
  let v = historyTable[n]!;
  if (v !== v) v = historyTable[n] = 1 - Math.pow(0.5, n / 288);
  return v;
}

export class EnsembleForecaster {
  readonly levels: readonly number[];
  readonly horizon: number;
  private readonly order: Int32Array;
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
  /**
   * Member indices blended per slot (a horizon group, or a group and level), ascending:
   * selected[slot * topK .. + selectedCount[slot]).
   */
  private readonly selected: Int32Array;
  private readonly selectedCount: Int32Array;
  private readonly perLevel: boolean;
  /** 1 when a member's latest quantiles were all finite (a member not ready yet is never blended). */
  private readonly available: Uint8Array;
  private readonly scratchLoss: Float64Array;
  private readonly scratchOrder: Int32Array;
  /** Per member: 1 while it is in the slot being reselected / needed by the blend. */
  private readonly flags: Uint8Array;
  private cachedName: string | null = null;
  /** Members' quantiles for a blend outside a scoring step: members x levels x horizon. */
  private readonly liveQuantiles: Float64Array;
  /** Members' point forecasts for a blend: members x horizon. */
  private readonly memberMeans: Float64Array;
  private readonly pointScratch: Float64Array;
  /** The latest blend: levels x horizon quantiles and the mean (horizon). */
  private readonly blendQuantiles: Float64Array;
  private readonly blendMean: Float64Array;
  /** True while the latest blend is the full-horizon one made at this sample's scoring step. */
  private cached = false;
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
    this.order = Int32Array.from(levelOrder(this.levels));
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
    const M = members.length;
    const L = this.levels.length;
    const H = this.horizon;
    this.available = new Uint8Array(M).fill(1);
    this.scratchLoss = new Float64Array(M);
    this.scratchOrder = new Int32Array(M);
    this.flags = new Uint8Array(M);
    this.nSlots = this.nGroups * (this.perLevel ? L : 1);
    /** loss[slot * members + i] */
    this.loss = new Float64Array(M * this.nSlots);
    const nBlocks = Math.ceil(H / this.evalEvery) + 1;
    this.blockOrigin = new Int32Array(nBlocks).fill(-1);
    this.blockSize = M * L * H;
    this.blocks = new Float64Array(nBlocks * this.blockSize);
    this.ownBlocks = new Float64Array(nBlocks * L * H);
    this.liveQuantiles = new Float64Array(this.blockSize);
    this.memberMeans = new Float64Array(M * H);
    this.pointScratch = new Float64Array(H);
    this.blendQuantiles = new Float64Array(L * H);
    this.blendMean = new Float64Array(H);
    this.selected = new Int32Array(this.nSlots * this.topK);
    this.selectedCount = new Int32Array(this.nSlots).fill(this.topK);
    for (let s = 0; s < this.nSlots; s++) for (let j = 0; j < this.topK; j++) this.selected[s * this.topK + j] = j;
    this.coverageRate = options.coverageRate ?? 0.05;
    this.spread = new Float64Array(L).fill(1);
    // the level nearest 0.5 anchors the spread correction
    let mi = 0;
    for (let k = 1; k < L; k++) if (Math.abs(this.levels[k]! - 0.5) < Math.abs(this.levels[mi]! - 0.5)) mi = k;
    this.medianIndex = mi;
  }

  get count(): number {
    return this.t + 1;
  }

  update(y: number): void {
    this.cached = false;
    const t = ++this.t;
    const members = this.members;
    for (let i = 0; i < members.length; i++) members[i]!.update(y);
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
    if (!(this.cached && horizon === this.horizon)) {
      this.cached = false;
      this.blendLive(horizon);
    }
    const H = this.horizon;
    const bq = this.blendQuantiles;
    const quantiles: Float64Array[] = new Array(this.levels.length);
    for (let k = 0; k < quantiles.length; k++) {
      const row = new Float64Array(horizon);
      for (let h = 0, o = k * H; h < horizon; h++, o++) row[h] = bq[o]!;
      quantiles[k] = row;
    }
    const mean = new Float64Array(horizon);
    for (let h = 0; h < horizon; h++) mean[h] = this.blendMean[h]!;
    return {
      mean,
      quantiles,
      levels: this.levels,
      confidence: this.confidence(),
      anomaly: { ...this.anomalies.latest },
      model: this.modelName(),
    };
  }

  /** Blends from the members' current forecasts (outside a scoring step). */
  private blendLive(horizon: number): void {
    const M = this.members.length;
    const H = this.horizon;
    const L = this.levels.length;
    // each selected member's quantiles, computed once
    const need = this.flags;
    fillRange(need, 0, 0, need.length);
    const sel = this.selected;
    for (let s = 0; s < this.nSlots; s++) {
      for (let j = s * this.topK, end = j + this.selectedCount[s]!; j < end; j++) {
        const i = sel[j]!;
        if (need[i] === 1) continue;
        need[i] = 1;
        this.memberQuantiles(i, horizon, this.liveQuantiles, i * L * H);
      }
    }
    this.blend(horizon, this.liveQuantiles, 0);
  }

  /** Member i's quantiles at `horizon` into out[offset + k * H + h - 1]. */
  private memberQuantiles(i: number, horizon: number, out: Float64Array, offset: number): void {
    const m = this.members[i]!;
    const H = this.horizon;
    if (m.quantilesInto !== undefined) {
      m.quantilesInto(horizon, this.levels, out, offset, H);
      return;
    }
    const q = m.quantiles(horizon, this.levels);
    for (let k = 0; k < q.length; k++) out.set(q[k]!.subarray(0, horizon), offset + k * H);
  }

  /**
   * Blends the selected members into blendQuantiles / blendMean for steps 1..horizon. Member i's
   * quantile k at step h is source[base + (i * L + k) * H + h - 1].
   */
  private blend(horizon: number, source: Float64Array, base: number): void {
    const L = this.levels.length;
    const H = this.horizon;
    const M = this.members.length;
    const K = this.topK;
    const sel = this.selected;
    const counts = this.selectedCount;
    const qs = this.blendQuantiles;
    const mean = this.blendMean;
    // point forecasts of the members blended into the mean (the median's slots)
    const need = this.flags;
    fillRange(need, 0, 0, need.length);
    const means = this.memberMeans;
    for (let g = 0; g < this.nGroups; g++) {
      const s = this.slot(g, this.medianIndex);
      for (let j = s * K, end = j + counts[s]!; j < end; j++) {
        const i = sel[j]!;
        if (need[i] === 1) continue;
        need[i] = 1;
        const f = this.members[i]!.forecast(horizon, this.pointScratch);
        for (let h = 0, o = i * H; h < horizon; h++, o++) means[o] = f[h]!;
      }
    }
    void M;
    for (let h = 0; h < horizon; h++) {
      const g = this.groupOf[Math.min(h, H - 1)]!;
      for (let k = 0; k < L; k++) {
        // equal-weight mean of the finite values of the slot's members
        const s = this.slot(g, k);
        let sum = 0;
        let n = 0;
        for (let j = s * K, end = j + counts[s]!; j < end; j++) {
          const v = source[base + (sel[j]! * L + k) * H + h]!;
          if (Number.isFinite(v)) {
            sum += v;
            n++;
          }
        }
        qs[k * H + h] = n > 0 ? sum / n : NaN;
      }
      const s = this.slot(g, this.medianIndex);
      let sum = 0;
      let n = 0;
      for (let j = s * K, end = j + counts[s]!; j < end; j++) {
        const v = means[sel[j]! * H + h]!;
        if (Number.isFinite(v)) {
          sum += v;
          n++;
        }
      }
      mean[h] = n > 0 ? sum / n : NaN;
    }
    if (this.coverageRate > 0) {
      const med = this.medianIndex * H;
      for (let k = 0; k < L; k++) {
        if (k === this.medianIndex) continue;
        const f = this.spread[k]!;
        for (let h = 0, o = k * H; h < horizon; h++, o++) qs[o] = qs[med + h]! + f * (qs[o]! - qs[med + h]!);
      }
    }
    const floor = this.floor;
    // (stores on every path: a store first reached late in a run deoptimised this function)
    for (let k = 0; k < L; k++) {
      for (let h = 0, o = k * H; h < horizon; h++, o++) {
        const v = qs[o]!;
        qs[o] = v < floor ? floor : v;
      }
    }
    for (let h = 0; h < horizon; h++) {
      const v = mean[h]!;
      mean[h] = v < floor ? floor : v;
    }
    // no crossing: non-decreasing in the level at every step
    const order = this.order;
    for (let h = 0; h < horizon; h++) {
      let prev = -Infinity;
      for (let j = 0; j < order.length; j++) {
        const o = order[j]! * H + h;
        const v = qs[o]!;
        prev = v < prev ? prev : v;
        qs[o] = prev;
      }
    }
  }

  /**
   * In [0, 1]: grows with history (half at one day of 5-minute samples) and falls with the blended
   * forecast's recent pinball loss relative to the series' level.
   */
  confidence(): number {
    if (this.nFinite === 0) return 0;
    const history = historyWeight(this.nFinite);
    const scale = this.ownLevel > 0 ? this.ownLevel : this.levelSum / this.nFinite;
    const rel = scale > 0 && this.ownLoss > 0 ? this.ownLoss / scale : 0;
    const accuracy = 1 / (1 + 4 * rel);
    return Math.max(0, Math.min(1, history * accuracy));
  }

  explain(): EnsembleExplanation {
    return {
      groups: Array.from({ length: this.nSlots }, (_, slot) => {
        const g = this.perLevel ? Math.floor(slot / this.levels.length) : slot;
        const steps = Array.from(this.groupOf.keys()).filter((h) => this.groupOf[h] === g);
        return {
          from: steps[0]! + 1,
          to: steps[steps.length - 1]! + 1,
          level: this.perLevel ? this.levels[slot % this.levels.length]! : null,
          selected: this.selectedOf(slot).map((i) => this.members[i]!.name),
          losses: this.members.map((m, i) => ({ model: m.name, loss: this.loss[slot * this.members.length + i]! })),
        };
      }),
      evaluations: this.evaluations,
    };
  }

  private selectedOf(slot: number): number[] {
    const from = slot * this.topK;
    return Array.from(this.selected.subarray(from, from + this.selectedCount[slot]!));
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
    const blocks = this.blocks;
    const base = b * this.blockSize;
    for (let i = 0; i < this.members.length; i++) {
      const off = base + i * L * H;
      this.memberQuantiles(i, H, blocks, off);
      let ok = 1;
      for (let j = off, end = off + L * H; j < end; j++) {
        const v = blocks[j]!;
        if (v !== v || v === Infinity || v === -Infinity) {
          ok = 0;
          break;
        }
      }
      this.available[i] = ok;
    }
    this.reselect();
    // the members' quantiles for this sample are in the block: blend from there
    this.blend(H, blocks, base);
    this.cached = true;
    this.ownBlocks.set(this.blendQuantiles, b * L * H);
    this.blockOrigin[b] = t;
  }

  private score(t: number, y: number): void {
    const L = this.levels.length;
    const H = this.horizon;
    const M = this.members.length;
    const levels = this.levels;
    const blocks = this.blocks;
    const loss = this.loss;
    for (let b = 0; b < this.blockOrigin.length; b++) {
      const o = this.blockOrigin[b]!;
      if (o < 0) continue;
      const h = t - o;
      if (h < 1 || h > H) continue;
      let off = b * this.blockSize + h - 1;
      const g = this.groupOf[h - 1]!;
      for (let i = 0; i < M; i++) {
        for (let k = 0; k < L; k++) {
          const q = blocks[off]!;
          // a member with nothing to say scores as forecasting 0
          const l = Number.isFinite(q) ? pinball(y, q, levels[k]!) : Math.abs(y);
          off += H;
          const li = this.slot(g, k) * M + i;
          loss[li] = loss[li]! + l;
        }
      }
      let l = 0;
      for (let k = 0; k < L; k++) {
        const q = this.ownBlocks[(b * L + k) * H + h - 1]!;
        const tau = levels[k]!;
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
      const used = this.flags;
      fillRange(used, 0, 0, used.length);
      for (let s = 0; s < this.nSlots; s++) {
        for (let j = s * this.topK, end = j + this.selectedCount[s]!; j < end; j++) used[this.selected[j]!] = 1;
      }
      let name = '';
      for (let i = 0; i < used.length; i++) {
        if (used[i] !== 1) continue;
        name = name === '' ? this.members[i]!.name : `${name}+${this.members[i]!.name}`;
      }
      this.cachedName = name;
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
    const K = this.topK;
    const adjusted = this.scratchLoss;
    const order = this.scratchOrder;
    const current = this.flags;
    const sel = this.selected;
    for (let s = 0; s < this.nSlots; s++) {
      const from = s * K;
      const count = this.selectedCount[s]!;
      fillRange(current, 0, 0, M);
      for (let j = from; j < from + count; j++) current[sel[j]!] = 1;
      // insertion sort of the available members by adjusted loss (ties: lower index first)
      let n = 0;
      for (let i = 0; i < M; i++) {
        if (this.available[i] !== 1) continue;
        const l = this.loss[s * M + i]!;
        const v = current[i] === 1 ? l * pen : l;
        adjusted[i] = v;
        let j = n++;
        while (j > 0 && adjusted[order[j - 1]!]! > v) {
          order[j] = order[j - 1]!;
          j--;
        }
        order[j] = i;
      }
      if (n === 0) continue;
      const k = Math.min(K, n);
      // the k best, by member index
      for (let a = 1; a < k; a++) {
        const v = order[a]!;
        let j = a - 1;
        while (j >= 0 && order[j]! > v) {
          order[j + 1] = order[j]!;
          j--;
        }
        order[j + 1] = v;
      }
      let same = k === count;
      for (let j = 0; j < k; j++) {
        if (sel[from + j] !== order[j]) same = false;
        sel[from + j] = order[j]!;
      }
      this.selectedCount[s] = k;
      if (!same) this.cachedName = null;
    }
  }
}
