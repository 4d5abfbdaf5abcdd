// Seeded synthetic workloads: per-VM CPU (cores) and memory (MiB) series with diurnal and
// weekly cycles, trend, bursts, level shifts and autocorrelated noise. Pure: no I/O, no clock,
// no Math.random(); the same options give the same series, bit for bit.
import { InputError } from '../../core/errors.js';
import { seededRng, type Rng } from '../../core/rng.js';
import type { TraceSeries } from '../format.js';

/** The kinds of series the generator mixes; each draws its parameters from its own ranges. */
export type WorkloadArchetype = 'seasonal' | 'bursty' | 'trending' | 'steady';
export const WORKLOAD_ARCHETYPES: readonly WorkloadArchetype[] = ['seasonal', 'bursty', 'trending', 'steady'];

/** Relative weights of the archetypes (need not sum to 1; a missing one weighs 0). */
export type WorkloadMix = Partial<Record<WorkloadArchetype, number>>;

/** Default mix: mostly seasonal, as production VM fleets are. */
export const DEFAULT_WORKLOAD_MIX: Readonly<Record<WorkloadArchetype, number>> = {
  seasonal: 0.5,
  bursty: 0.2,
  trending: 0.15,
  steady: 0.15,
};

export interface GenerateWorkloadOptions {
  /** Number of series (VMs). */
  count: number;
  /** Samples per series. */
  length: number;
  /** Integer seed; every per-series parameter is drawn from it. */
  seed: number;
  /** Seconds between samples (default 300). */
  stepSeconds?: number;
  /** Time of sample 0 in Unix seconds, UTC (default 0); the weekend dip falls on Sat and Sun. */
  startTimeS?: number;
  /** Archetype weights (default DEFAULT_WORKLOAD_MIX). */
  mix?: WorkloadMix;
}

/** The parameters drawn for one series. */
interface SeriesParameters {
  archetype: WorkloadArchetype;
  /** Provisioned cores (a power of two) and memory (MiB). */
  capacityCores: number;
  capacityMemoryMiB: number;
  /** Mean CPU demand before cycles, in cores. */
  baseCores: number;
  /** Diurnal amplitude as a fraction of the level, peak hour (0-24) and 2nd-harmonic weight. */
  diurnalAmplitude: number;
  peakHour: number;
  diurnalHarmonic: number;
  /** Fractional drop of demand on Saturday and Sunday. */
  weekendDip: number;
  /** Linear trend: fraction of the base gained (or lost) per day. */
  trendPerDay: number;
  /** Expected bursts per day, their height (multiple of the base) and decay (steps). */
  burstsPerDay: number;
  burstHeight: number;
  burstDecaySteps: number;
  /** Expected level shifts per week and their typical size (fraction of the base). */
  shiftsPerWeek: number;
  shiftSize: number;
  /** Noise: relative standard deviation and AR(1) coefficient. */
  noiseSd: number;
  noisePhi: number;
  /** Memory: resident base (MiB) and how strongly it follows CPU (0-1). */
  memoryBaseMiB: number;
  memoryCpuCoupling: number;
}

const DAY_S = 86_400;
const WEEK_S = 7 * DAY_S;

/**
 * Generates `count` series of `length` samples: `cpu` in cores in use (at most the provisioned
 * cores) and `memory` in MiB (at most the provisioned memory), both >= 0, with `capacity` set
 * and `labels.archetype` naming the kind drawn. Ids are `syn-0000`, `syn-0001`... (zero-padded,
 * so string order is index order). Series i depends only on the seed and i (not on `count`).
 */
export function generateWorkload(options: GenerateWorkloadOptions): TraceSeries[] {
  return [...generateWorkloadSeries(options)];
}

/** The same series as generateWorkload, one at a time (for streaming a large fleet). */
export function* generateWorkloadSeries(options: GenerateWorkloadOptions, file = 'synthetic'): Generator<TraceSeries, void, undefined> {
  const o = compileOptions(options);
  const root = seededRng(o.seed);
  const width = Math.max(4, String(Math.max(0, o.count - 1)).length);
  for (let i = 0; i < o.count; i++) {
    const rng = root.fork();
    const params = drawParameters(rng, o.mix);
    const { cpu, memory } = synthesize(params, rng, o.length, o.stepSeconds, o.startTimeS);
    yield {
      id: `syn-${String(i).padStart(width, '0')}`,
      file,
      stepSeconds: o.stepSeconds,
      startTimeS: o.startTimeS,
      length: o.length,
      values: { cpu, memory },
      units: { cpu: 'cores', memory: 'MiB' },
      capacity: { cpu: params.capacityCores, memory: params.capacityMemoryMiB },
      skippedRows: 0,
      labels: { archetype: params.archetype },
    };
  }
}

interface CompiledOptions {
  count: number;
  length: number;
  seed: number;
  stepSeconds: number;
  startTimeS: number;
  mix: Array<[WorkloadArchetype, number]>;
}

/** Validates options (collecting every problem) and fills defaults. */
function compileOptions(options: GenerateWorkloadOptions): CompiledOptions {
  const problems: string[] = [];
  const { count, length, seed } = options;
  const stepSeconds = options.stepSeconds ?? 300;
  const startTimeS = options.startTimeS ?? 0;
  if (!Number.isSafeInteger(count) || count < 0) problems.push(`count must be an integer >= 0, got ${count}`);
  if (!Number.isSafeInteger(length) || length < 0) problems.push(`length must be an integer >= 0, got ${length}`);
  if (!Number.isSafeInteger(seed)) problems.push(`seed must be an integer, got ${seed}`);
  if (!(Number.isFinite(stepSeconds) && stepSeconds > 0)) problems.push(`stepSeconds must be > 0, got ${stepSeconds}`);
  if (!Number.isFinite(startTimeS)) problems.push(`startTimeS must be a finite number, got ${startTimeS}`);
  const mixIn = options.mix ?? DEFAULT_WORKLOAD_MIX;
  const mix: Array<[WorkloadArchetype, number]> = [];
  for (const [name, weight] of Object.entries(mixIn)) {
    if (!WORKLOAD_ARCHETYPES.includes(name as WorkloadArchetype)) {
      problems.push(`mix.${name}: unknown archetype (expected one of ${WORKLOAD_ARCHETYPES.join(', ')})`);
    } else if (weight === undefined) {
      continue;
    } else if (!(Number.isFinite(weight) && weight >= 0)) {
      problems.push(`mix.${name} must be a number >= 0, got ${weight}`);
    } else if (weight > 0) {
      mix.push([name as WorkloadArchetype, weight]);
    }
  }
  if (problems.length === 0 && mix.length === 0) problems.push('mix must give some archetype a weight > 0');
  if (problems.length > 0) throw new InputError(`invalid workload options: ${problems.join('; ')}`, { field: 'synthetic' });
  // Fixed order, so the draw does not depend on the key order of the mix object.
  mix.sort((a, b) => WORKLOAD_ARCHETYPES.indexOf(a[0]) - WORKLOAD_ARCHETYPES.indexOf(b[0]));
  return { count, length, seed, stepSeconds, startTimeS, mix };
}

const uniform = (rng: Rng, lo: number, hi: number): number => lo + (hi - lo) * rng.next();
const logUniform = (rng: Rng, lo: number, hi: number): number => Math.exp(uniform(rng, Math.log(lo), Math.log(hi)));

/** Draws one series' parameters; the ranges depend on the archetype. */
function drawParameters(rng: Rng, mix: Array<[WorkloadArchetype, number]>): SeriesParameters {
  const total = mix.reduce((s, [, w]) => s + w, 0);
  let pick = rng.next() * total;
  let archetype = mix[mix.length - 1]![0];
  for (const [name, w] of mix) {
    if (pick < w) {
      archetype = name;
      break;
    }
    pick -= w;
  }
  const seasonal = archetype === 'seasonal';
  const bursty = archetype === 'bursty';
  const trending = archetype === 'trending';
  const steady = archetype === 'steady';
  const capacityCores = 2 ** rng.int(0, 4); // 1..16 cores
  const baseCores = capacityCores * uniform(rng, 0.1, 0.45);
  const memPerCoreMiB = 1024 * 2 ** rng.int(1, 3); // 2, 4 or 8 GiB per core
  const capacityMemoryMiB = capacityCores * memPerCoreMiB;
  return {
    archetype,
    capacityCores,
    capacityMemoryMiB,
    baseCores,
    diurnalAmplitude: seasonal ? uniform(rng, 0.35, 0.8) : steady ? uniform(rng, 0, 0.08) : uniform(rng, 0.05, 0.3),
    peakHour: uniform(rng, 9, 21),
    diurnalHarmonic: uniform(rng, 0, 0.4),
    weekendDip: seasonal ? uniform(rng, 0.1, 0.4) : steady ? 0 : uniform(rng, 0, 0.15),
    trendPerDay: trending ? (rng.next() < 0.75 ? 1 : -1) * uniform(rng, 0.02, 0.08) : uniform(rng, -0.004, 0.004),
    burstsPerDay: bursty ? uniform(rng, 2, 10) : steady ? 0 : uniform(rng, 0, 0.5),
    burstHeight: uniform(rng, 0.8, 3),
    burstDecaySteps: uniform(rng, 0.7, 4),
    shiftsPerWeek: steady ? uniform(rng, 0, 0.3) : uniform(rng, 0, 1.5),
    shiftSize: uniform(rng, 0.1, 0.5),
    noiseSd: steady ? uniform(rng, 0.02, 0.06) : bursty ? uniform(rng, 0.08, 0.2) : uniform(rng, 0.03, 0.12),
    noisePhi: uniform(rng, 0.3, 0.85),
    memoryBaseMiB: capacityMemoryMiB * uniform(rng, 0.2, 0.6),
    memoryCpuCoupling: uniform(rng, 0.05, 0.4),
  };
}

/**
 * The model, per step k at time t (days d = (t - 0) / 86400):
 *   level  = base * max(0.05, 1 + trend*d + shift(t))
 *   cycle  = (1 + A*(sin(2pi(h - peak + 6)/24) + H*sin(4pi(h - peak + 6)/24)) / (1 + H)) * (1 - dip on Sat/Sun)
 *   cpu    = clamp(level * cycle * (1 + noise) + burst(t), 0, capacity)
 * noise is AR(1) with stationary sd `noiseSd`; bursts start as a Poisson process and decay
 * exponentially; level shifts are a random walk with jumps of +/- shiftSize.
 * memory = clamp(memBase * (1 + coupling*(smoothed cpu / base - 1)) * (1 + small noise), 0, capacity).
 */
function synthesize(
  p: SeriesParameters,
  rng: Rng,
  length: number,
  stepSeconds: number,
  startTimeS: number,
): { cpu: Float64Array; memory: Float64Array } {
  const cpu = new Float64Array(length);
  const memory = new Float64Array(length);
  const stepsPerDay = DAY_S / stepSeconds;
  const burstStartP = Math.min(1, p.burstsPerDay / stepsPerDay);
  const shiftP = Math.min(1, (p.shiftsPerWeek * stepSeconds) / WEEK_S);
  const innovationSd = p.noiseSd * Math.sqrt(1 - p.noisePhi * p.noisePhi);
  const burstDecay = Math.exp(-1 / p.burstDecaySteps);
  // Memory follows a slow average of CPU (about an hour), so it lags and is smoother.
  const memAlpha = Math.min(1, stepSeconds / 3600);
  let noise = rng.normal() * p.noiseSd;
  let burst = 0;
  let shift = 0;
  let smoothCpu = p.baseCores;
  let memNoise = 0;
  for (let k = 0; k < length; k++) {
    const t = startTimeS + k * stepSeconds;
    const days = (t - startTimeS) / DAY_S;
    const hour = (((t % DAY_S) + DAY_S) % DAY_S) / 3600;
    const weekday = (((Math.floor(t / DAY_S) + 3) % 7) + 7) % 7; // 0 = Monday (1970-01-01 was a Thursday)
    if (rng.next() < shiftP) {
      shift += (rng.next() < 0.5 ? -1 : 1) * p.shiftSize * uniform(rng, 0.5, 1.5);
      shift = Math.max(-0.8, Math.min(2, shift));
    }
    if (rng.next() < burstStartP) burst += p.baseCores * p.burstHeight * uniform(rng, 0.5, 1.5);
    noise = p.noisePhi * noise + innovationSd * rng.normal();
    const phase = (2 * Math.PI * (hour - p.peakHour + 6)) / 24;
    const diurnal = (Math.sin(phase) + p.diurnalHarmonic * Math.sin(2 * phase)) / (1 + p.diurnalHarmonic);
    const weekly = weekday >= 5 ? 1 - p.weekendDip : 1;
    const level = p.baseCores * Math.max(0.05, 1 + p.trendPerDay * days + shift);
    const c = level * (1 + p.diurnalAmplitude * diurnal) * weekly * (1 + noise) + burst;
    cpu[k] = Math.min(p.capacityCores, Math.max(0, c));
    burst *= burstDecay;
    smoothCpu += memAlpha * (cpu[k]! - smoothCpu);
    memNoise = 0.9 * memNoise + 0.01 * rng.normal();
    const m = p.memoryBaseMiB * (1 + p.memoryCpuCoupling * (smoothCpu / p.baseCores - 1)) * (1 + memNoise);
    memory[k] = Math.min(p.capacityMemoryMiB, Math.max(0, m));
  }
  return { cpu, memory };
}
