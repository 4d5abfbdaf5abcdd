// The online forecasting models and a validated factory.
//
// Every model implements Forecaster (src/forecast/types.ts): update(y) one sample at a time
// (NaN/±Infinity = missing), forecast(horizon) -> Float64Array of steps 1..horizon, count.
// All are pure and deterministic. Per-update cost (details in each class's doc comment):
//
//   seasonal-naive      O(1)      ring write
//   ses                 O(1)      one multiply-add
//   holt                O(1)      ~10 flops
//   holt-winters        O(1)      ~20 flops once seasonal (+ amortised season search with 'auto')
//   decaying-histogram  O(1)      a log and a pow (quantiles O(buckets))
//   ar                  O(p^2)    + O(p^3) solve every refitEvery rows
//   fft-periodic        O(1)      + O(W log W + W K) fit every refitEvery samples
import { z } from 'zod';
import { ValidationError } from '../../core/errors.js';
import type { Forecaster } from '../types.js';
import { ArForecaster, arOptionsSchema, type ArOptions } from './ar.js';
import { flattenIssues, zodIssues } from './common.js';
import {
  DecayingHistogramForecaster,
  decayingHistogramForecasterOptionsSchema,
  type DecayingHistogramForecasterOptions,
} from './decaying-histogram.js';
import { FftPeriodicForecaster, fftPeriodicOptionsSchema, type FftPeriodicOptions } from './fft-periodic.js';
import { HoltForecaster, holtOptionsSchema, type HoltOptions } from './holt.js';
import { HoltWintersForecaster, holtWintersOptionsSchema, type HoltWintersOptions } from './holt-winters.js';
import { SeasonalNaiveForecaster, seasonalNaiveOptionsSchema, type SeasonalNaiveOptions } from './seasonal-naive.js';
import { SesForecaster, sesOptionsSchema, type SesOptions } from './ses.js';

export * from './ar.js';
export * from './decaying-histogram.js';
export * from './dft.js';
export * from './fft-periodic.js';
export * from './holt.js';
export * from './holt-winters.js';
export * from './season.js';
export * from './seasonal-naive.js';
export * from './ses.js';
export { isMissing } from './common.js';

/** The model kinds `createModel` knows. */
export const MODEL_KINDS = ['seasonal-naive', 'ses', 'holt', 'holt-winters', 'ar', 'decaying-histogram', 'fft-periodic'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

/** A model and its parameters, e.g. `{ kind: 'holt-winters', period: 288, alpha: 0.2 }`. */
export type ModelSpec =
  | ({ kind: 'seasonal-naive' } & SeasonalNaiveOptions)
  | ({ kind: 'ses' } & SesOptions)
  | ({ kind: 'holt' } & HoltOptions)
  | ({ kind: 'holt-winters' } & HoltWintersOptions)
  | ({ kind: 'ar' } & ArOptions)
  | ({ kind: 'decaying-histogram' } & DecayingHistogramForecasterOptions)
  | ({ kind: 'fft-periodic' } & FftPeriodicOptions);

const optionSchemas: Record<ModelKind, z.ZodType> = {
  'seasonal-naive': seasonalNaiveOptionsSchema,
  ses: sesOptionsSchema,
  holt: holtOptionsSchema,
  'holt-winters': holtWintersOptionsSchema,
  ar: arOptionsSchema,
  'decaying-histogram': decayingHistogramForecasterOptionsSchema,
  'fft-periodic': fftPeriodicOptionsSchema,
};

/**
 * Zod schema of a model spec: `kind` plus that model's options (unknown fields rejected). Embed it
 * in a larger config schema to get paths like `models[2].alpha` in errors.
 */
export const modelSpecSchema = z.looseObject({ kind: z.enum(MODEL_KINDS) }).superRefine((spec, ctx) => {
  const { kind, ...params } = spec;
  const r = optionSchemas[kind].safeParse(params);
  if (!r.success) {
    for (const issue of flattenIssues(r.error.issues)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  }
});

/** The options a kind gets when none are given (what `createModel({ kind })` uses). */
export function defaultModelOptions(kind: ModelKind): Record<string, unknown> {
  return optionSchemas[kind].parse({}) as Record<string, unknown>;
}

/**
 * Builds a model from a spec, validating its parameters first. Throws a ValidationError whose
 * message names every bad field (`invalid model spec:\n  alpha: Too big: expected number to be <=1`),
 * an unknown kind included (`kind: Invalid option: expected one of "seasonal-naive"|...`).
 */
export function createModel(spec: unknown, context = 'invalid model spec'): Forecaster {
  const r = modelSpecSchema.safeParse(spec);
  if (!r.success) throw new ValidationError(zodIssues(r.error), context);
  const { kind, ...params } = r.data;
  switch (kind) {
    case 'seasonal-naive':
      return new SeasonalNaiveForecaster(params as SeasonalNaiveOptions);
    case 'ses':
      return new SesForecaster(params as SesOptions);
    case 'holt':
      return new HoltForecaster(params as HoltOptions);
    case 'holt-winters':
      return new HoltWintersForecaster(params as HoltWintersOptions);
    case 'ar':
      return new ArForecaster(params as ArOptions);
    case 'decaying-histogram':
      return new DecayingHistogramForecaster(params as DecayingHistogramForecasterOptions);
    case 'fft-periodic':
      return new FftPeriodicForecaster(params as FftPeriodicOptions);
  }
}
