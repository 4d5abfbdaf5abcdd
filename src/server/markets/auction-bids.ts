// From what the API stores to what the spot auction reads: a stored bid and its workload profile
// become a `Bid` (src/policy/markets/auction.ts), a running instance's forecasts its `Demand`.
//
// Profile demand -> a flat forecast per resource (every horizon step the same), levels 0.5, 0.9,
// 0.99: the average is the median, the peak is read as the 0.99 quantile of a normal around the
// average (sigma = (peak - average) / 2.326), so q0.9 = average + 1.2816 sigma. Bursts (CPU only)
// add a spike mass: spikes arrive at `ratePerHour` and last `durationSeconds`, so a share
// p = min(1, rate / 3600 x sum(probability x duration)) of the time is spent in a spike; a level
// above 1 - p reads the spike distribution (multiplier x average, spikes in ascending order of
// their multipliers). Every quantile is capped at the stated peak (the peak is the most the
// workload asks for).
// Interruptibility: tolerance 'none' = uninterruptible (needs a penalty: the bid's, else the
// profile's), anything else = interruptible with the profile's notice (or the auction's default).
// Priority points in the score: low 0, normal 1, high 2, critical 4 (plus the tenant's standing,
// which penalties lower).
import type { Priority } from '../../core/model.js';
import type { BidRecord, ProfileRecord } from '../../core/store.js';
import type { ProbForecast } from '../../forecast/types.js';
import type { Bid, Demand, Penalty } from '../../policy/markets/auction.js';
import { flatForecast, normalQuantile, quantileAt } from '../../policy/markets/dist.js';
import type { PreemptionPenaltyBody, WorkloadProfileBody } from '../schemas.js';

export const AUCTION_PRIORITY_POINTS: Readonly<Record<Priority, number>> = { low: 0, normal: 1, high: 2, critical: 4 };
export const PROFILE_LEVELS: readonly number[] = [0.5, 0.9, 0.99];

/** What the bid route stores in a bid's payload (beyond price and unit). */
export interface BidPayload {
  price?: number;
  unit?: string;
  penalty?: PreemptionPenaltyBody;
  /** Absolute expiry (submission + expiresInSeconds), Unix ms. */
  expiresAtMs?: number;
}

interface AveragePeak {
  average: number;
  peak: number;
}

function resourceForecast(ap: AveragePeak, burst: WorkloadProfileBody['burst'] | undefined): ProbForecast {
  const avg = ap.average;
  const peak = Math.max(ap.peak, avg);
  const z99 = normalQuantile(0.99);
  const sigma = (peak - avg) / z99;
  let p = 0;
  let spikes: Array<{ probability: number; multiplier: number }> = [];
  if (burst && burst.ratePerHour > 0) {
    let busySeconds = 0;
    for (const s of burst.spikes) busySeconds += s.probability * s.durationSeconds;
    p = Math.min(1, (burst.ratePerHour / 3600) * busySeconds);
    spikes = burst.spikes.map((s) => ({ probability: s.probability, multiplier: s.multiplier })).sort((a, b) => a.multiplier - b.multiplier);
  }
  const q = (level: number): number => {
    const base = avg + normalQuantile(level) * sigma;
    let v = level === 0.5 ? avg : base;
    if (p > 0 && level > 1 - p) {
      const u = (level - (1 - p)) / p;
      let acc = 0;
      let m = spikes[spikes.length - 1]!.multiplier;
      for (const s of spikes) {
        acc += s.probability;
        if (u <= acc + 1e-12) {
          m = s.multiplier;
          break;
        }
      }
      v = Math.max(v, m * avg);
    }
    return Math.min(peak, Math.max(0, v));
  };
  let meanSpike = 0;
  for (const s of spikes) meanSpike += s.probability * s.multiplier;
  const mean = Math.min(peak, (1 - p) * avg + p * meanSpike * avg);
  return flatForecast(mean, PROFILE_LEVELS, PROFILE_LEVELS.map(q), 1, 'profile');
}

/** The predicted demand a workload profile states (CPU millicores, memory MiB, network KiB/s). */
export function profileDemand(profile: WorkloadProfileBody): Demand {
  const d: Demand = {
    cpu: resourceForecast(profile.demand.cpuMillicores, profile.burst),
    memory: resourceForecast(profile.demand.memoryMiB, undefined),
  };
  if (profile.demand.networkKiBps) d.network = resourceForecast(profile.demand.networkKiBps, undefined);
  return d;
}

export function penaltyOf(p: PreemptionPenaltyBody | undefined): Penalty | undefined {
  if (!p) return undefined;
  return { feeMicros: Math.round((p.feeCredits ?? 0) * 1e6), priorityReductionMilli: Math.round((p.priorityReduction ?? 0) * 1000) };
}

export interface BidConversion {
  bid?: Bid;
  /** Why the stored bid cannot enter the auction (it is then rejected), with the field at fault. */
  error?: { reason: string; field: string; message: string };
}

/** The auction's view of a stored bid. The spot instance an admission creates takes the bid's id. */
export function auctionBid(rec: BidRecord, profile: ProfileRecord): BidConversion {
  const payload = (profile.payload ?? {}) as WorkloadProfileBody;
  const bp = (rec.payload ?? {}) as BidPayload;
  if (!payload.demand || !payload.interruptibility) return { error: { reason: 'profile-incomplete', field: 'profileId', message: `profile "${profile.id}" has no demand or interruptibility` } };
  const interruptible = payload.interruptibility.tolerance !== 'none';
  const penalty = penaltyOf(bp.penalty ?? payload.interruptibility.penalty);
  if (!interruptible && !penalty) {
    return { error: { reason: 'penalty-missing', field: 'penalty', message: `profile "${profile.id}" is uninterruptible (tolerance 'none'): the bid or the profile must state a penalty (feeCredits and/or priorityReduction)` } };
  }
  const demand = profileDemand(payload);
  const request = {
    cpu: payload.demand.cpuMillicores.peak,
    memory: payload.demand.memoryMiB.peak,
    network: payload.demand.networkKiBps?.peak ?? 0,
  };
  const bid: Bid = {
    id: rec.id,
    tenant: rec.tenant,
    priceMicrosPerHour: rec.priceMicrocredits,
    priority: AUCTION_PRIORITY_POINTS[rec.priority] ?? 0,
    profile: demand,
    request,
    memoryIntensity: payload.memoryIntensity ?? 0,
    interruptible,
    ...(payload.interruptibility.noticeSeconds !== undefined ? { noticeMs: payload.interruptibility.noticeSeconds * 1000 } : {}),
    ...(payload.interruptibility.minRuntimeSeconds !== undefined ? { minRuntimeMs: payload.interruptibility.minRuntimeSeconds * 1000 } : {}),
    ...(!interruptible && penalty ? { penalty } : {}),
    ...(bp.expiresAtMs !== undefined ? { expiresAtMs: bp.expiresAtMs } : {}),
  };
  return { bid };
}

/** A flat demand at fixed amounts (an instance without a forecast yet: its last usage or its allocation). */
export function flatDemand(cpu: number, memory: number): Demand {
  return { cpu: flatForecast(cpu, [0.5], [cpu], 1, 'flat'), memory: flatForecast(memory, [0.5], [memory], 1, 'flat') };
}

/** The allocation a spot instance gets at admission: what the auction reserved for it (its profile's admission quantile at the next step, rounded up). */
export function spotAllocation(bid: Bid, level: number): { cpuMillicores: number; memoryMiB: number; networkKiBps: number } {
  const q = (f: ProbForecast | undefined, fallback: number) => {
    const v = f ? quantileAt(f, level, 1) : NaN;
    return Math.max(1, Math.ceil(Number.isFinite(v) ? v : fallback));
  };
  return { cpuMillicores: q(bid.profile.cpu, bid.request.cpu), memoryMiB: q(bid.profile.memory, bid.request.memory), networkKiBps: Math.max(0, Math.ceil(bid.request.network)) };
}

/** A Demand as JSON (typed arrays as arrays) and back: persisted with the auction's state. */
export interface DemandJson {
  cpu: ForecastJsonLite;
  memory: ForecastJsonLite;
  network?: ForecastJsonLite;
}
interface ForecastJsonLite {
  mean: number[];
  quantiles: number[][];
  levels: number[];
  model: string;
}

const fj = (f: ProbForecast): ForecastJsonLite => ({ mean: Array.from(f.mean), quantiles: f.quantiles.map((q) => Array.from(q)), levels: [...f.levels], model: f.model });
const jf = (j: ForecastJsonLite): ProbForecast => ({ mean: Float64Array.from(j.mean), quantiles: j.quantiles.map((q) => Float64Array.from(q)), levels: [...j.levels], confidence: NaN, model: j.model });

export function demandToJson(d: Demand): DemandJson {
  return { cpu: fj(d.cpu), memory: fj(d.memory), ...(d.network ? { network: fj(d.network) } : {}) };
}

export function demandFromJson(j: DemandJson): Demand {
  return { cpu: jf(j.cpu), memory: jf(j.memory), ...(j.network ? { network: jf(j.network) } : {}) };
}

export type BidJson = Omit<Bid, 'profile'> & { profile: DemandJson };

export function bidToJson(b: Bid): BidJson {
  return { ...b, profile: demandToJson(b.profile) };
}

export function bidFromJson(j: BidJson): Bid {
  return { ...j, profile: demandFromJson(j.profile) };
}
