// createModel: every kind builds; bad specs are refused with every bad field named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ValidationError } from '../../../src/core/errors.js';
import {
  ArForecaster,
  createModel,
  defaultModelOptions,
  DecayingHistogramForecaster,
  FftPeriodicForecaster,
  HoltForecaster,
  HoltWintersForecaster,
  MODEL_KINDS,
  modelSpecSchema,
  SeasonalNaiveForecaster,
  SesForecaster,
} from '../../../src/forecast/models/index.js';
import { isQuantileForecaster } from '../../../src/forecast/types.js';

test('every kind builds with its defaults, to the right class', () => {
  const classes = {
    'seasonal-naive': SeasonalNaiveForecaster,
    ses: SesForecaster,
    holt: HoltForecaster,
    'holt-winters': HoltWintersForecaster,
    ar: ArForecaster,
    'decaying-histogram': DecayingHistogramForecaster,
    'fft-periodic': FftPeriodicForecaster,
  } as const;
  for (const kind of MODEL_KINDS) {
    const m = createModel({ kind });
    assert.ok(m instanceof classes[kind], kind);
    assert.equal(m.count, 0);
    assert.equal(isQuantileForecaster(m), kind === 'decaying-histogram');
  }
});

test('defaultModelOptions shows what a bare kind gets', () => {
  assert.deepEqual(defaultModelOptions('holt'), { alpha: 0.5, beta: 0.1, phi: 0.98 });
  assert.equal(defaultModelOptions('holt-winters').period, 'auto');
});

test('parameters reach the model', () => {
  const m = createModel({ kind: 'holt-winters', period: 288, alpha: 0.1, name: 'hw-daily' });
  assert.ok(m instanceof HoltWintersForecaster);
  assert.equal(m.alpha, 0.1);
  assert.equal(m.name, 'hw-daily');
  const ar = createModel({ kind: 'ar', p: 5, d: 1, window: 100 });
  assert.ok(ar instanceof ArForecaster);
  assert.equal(ar.lambda, 1, 'a window implies no forgetting');
});

function messageOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ValidationError, `expected a ValidationError, got ${e}`);
    return e;
  }
  assert.fail('no error');
}

test('a bad parameter is named', () => {
  const e = messageOf(() => createModel({ kind: 'ses', alpha: 1.5 }));
  assert.deepEqual(e.issues.map((i) => i.path), ['alpha']);
  assert.match(e.message, /alpha/);
  assert.equal(e.code, 'E_CONFIG');
});

test('every problem is reported, unknown fields included', () => {
  const e = messageOf(() => createModel({ kind: 'ar', p: 0, lambda: 0.9, window: 50, alpah: 1 }));
  const paths = e.issues.map((i) => i.path).sort();
  assert.deepEqual(paths, ['alpah', 'lambda', 'p']);
  assert.match(e.message, /alpah: unknown field/);
});

test('an unknown kind lists the known ones', () => {
  const e = messageOf(() => createModel({ kind: 'prophet' }));
  assert.deepEqual(e.issues.map((i) => i.path), ['kind']);
  assert.match(e.message, /holt-winters/);
  messageOf(() => createModel(null));
  messageOf(() => createModel({ period: 3 }));
});

test('the direct constructors validate too', () => {
  assert.throws(() => new HoltForecaster({ phi: 0 }), /phi/);
  assert.throws(() => new FftPeriodicForecaster({ window: 64, minSamples: 100 }), /minSamples/);
  assert.throws(() => new DecayingHistogramForecaster({ firstBucket: 1, maxValue: 0.5 }), /maxValue/);
});

test('modelSpecSchema embeds in a larger config with full paths', () => {
  const config = z.object({ models: z.array(modelSpecSchema) });
  const r = config.safeParse({ models: [{ kind: 'ses' }, { kind: 'holt', beta: -1 }] });
  assert.equal(r.success, false);
  assert.deepEqual(r.error!.issues.map((i) => i.path.join('.')), ['models.1.beta']);
});
