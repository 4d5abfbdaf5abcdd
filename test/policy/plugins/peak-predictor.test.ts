// peak-predictor with method 'forecast': admission counts no instance below its window statistics
// (admitWithWindow, the default), overload detection follows the forecast alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Amounts } from '../../../src/core/plan.js';
import type { ProbForecast } from '../../../src/forecast/types.js';
import type { FleetView, HostState, InstanceState } from '../../../src/policy/framework/types.js';
import { PeakPredictor, peakPredictorArgs } from '../../../src/policy/plugins/peak-predictor/peak-predictor.js';

const LEVELS = [0.5, 0.9, 0.99];

function instance(id: string, hostId: string | null): InstanceState {
  return {
    id,
    hostId,
    units: { cpu: 'cores', memory: 'MiB' } as InstanceState['units'],
    capacity: { cpu: NaN, memory: NaN },
    allocation: { cpu: 1, memory: NaN },
    lastUsage: { cpu: NaN, memory: NaN },
    samples: 0,
  };
}

/** A one-step CPU forecast with mean `mu` and a q0.99 of `q99`. */
function forecast(mu: number, q99: number): { cpu: ProbForecast } {
  return {
    cpu: {
      mean: Float64Array.of(mu),
      quantiles: [Float64Array.of(mu), Float64Array.of((mu + q99) / 2), Float64Array.of(q99)],
      levels: LEVELS,
      confidence: 1,
      model: 'test',
    },
  };
}

function fleetView(host: HostState, residents: InstanceState[], forecasts: Map<string, { cpu: ProbForecast }>): FleetView {
  const byId = new Map(residents.map((r) => [r.id, r]));
  return {
    ctx: { forecasts, nowS: 0 } as unknown as FleetView['ctx'],
    host: (id) => (id === host.id ? host : undefined),
    instance: (id) => byId.get(id),
    instancesOn: (id) => residents.filter((r) => r.hostId === id),
    allocationOf: (id) => byId.get(id)?.allocation ?? { cpu: 0, memory: NaN },
    allocatedOn: () => ({ cpu: residents.length, memory: NaN }),
    overcommit: true,
  };
}

function feed(p: PeakPredictor, inst: InstanceState, values: readonly number[]): void {
  for (const v of values) p.observe(inst, { cpu: v, memory: NaN } as Amounts);
}

test('forecast admission: an instance quiet in its forecast but busy in its window is not admitted on that forecast alone', () => {
  const host: HostState = { id: 'h', capacity: { cpu: 10, memory: Infinity }, on: true };
  const resident = instance('a', 'h');
  const newcomer = instance('b', null);
  // a: steady 5 cores; b: alternates 1 and 9 cores (window mean 5); b's forecast says 1 core next.
  const floored = new PeakPredictor(peakPredictorArgs.parse({ method: 'forecast' }));
  const plain = new PeakPredictor(peakPredictorArgs.parse({ method: 'forecast', admitWithWindow: false }));
  for (const p of [floored, plain]) {
    feed(p, resident, Array.from({ length: 48 }, () => 5));
    feed(p, newcomer, Array.from({ length: 48 }, (_, i) => (i % 2 ? 9 : 1)));
  }
  const forecasts = new Map([
    ['a', forecast(5, 5.2)],
    ['b', forecast(1, 1.5)],
  ]);
  const fleet = fleetView(host, [resident, { ...newcomer, hostId: 'h' }], forecasts);
  assert.equal(plain.filter(newcomer, host, fleet).feasible, true, 'the forecast alone fits: 5 + 1 plus tails < 10');
  const status = floored.filter(newcomer, host, fleet);
  assert.equal(status.feasible, false, 'with the window floor, b counts with mean 5 and its window variance');
  assert.ok(status.reasons.includes('predicted-cpu-peak-exceeds-capacity'), status.reasons.join(','));
  // Overload detection is unchanged: the same residents are not overloaded by the forecast.
  assert.equal(floored.overloaded(host, fleet).detected, false);
  assert.equal(plain.overloaded(host, fleet).detected, false);
});

test('forecast admission with the window floor is never looser than without it, nor than the forecast overload test', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          values: fc.array(fc.double({ min: 0, max: 8, noNaN: true }), { minLength: 2, maxLength: 40 }),
          mu: fc.double({ min: 0, max: 8, noNaN: true }),
          spread: fc.double({ min: 0, max: 4, noNaN: true }),
        }),
        { minLength: 1, maxLength: 6 },
      ),
      fc.double({ min: 1, max: 40, noNaN: true }),
      (members, capacity) => {
        const host: HostState = { id: 'h', capacity: { cpu: capacity, memory: Infinity }, on: true };
        const floored = new PeakPredictor(peakPredictorArgs.parse({ method: 'forecast' }));
        const plain = new PeakPredictor(peakPredictorArgs.parse({ method: 'forecast', admitWithWindow: false }));
        const residents = members.map((_, i) => instance(`i${i}`, 'h'));
        const forecasts = new Map<string, { cpu: ProbForecast }>();
        members.forEach((m, i) => {
          for (const p of [floored, plain]) feed(p, residents[i]!, m.values);
          forecasts.set(`i${i}`, forecast(m.mu, m.mu + m.spread));
        });
        const fleet = fleetView(host, residents, forecasts);
        const last = residents[residents.length - 1]!;
        const peakFloored = floored.predictedPeak(residents, 'cpu', fleet, true);
        const peakPlain = plain.predictedPeak(residents, 'cpu', fleet, true);
        assert.ok(peakFloored >= peakPlain - 1e-9, `${peakFloored} < ${peakPlain}`);
        assert.ok(peakFloored >= floored.predictedPeak(residents, 'cpu', fleet) - 1e-9);
        // What the floored filter admits, the plain one admits too.
        if (floored.filter(last, host, fleet).feasible) assert.equal(plain.filter(last, host, fleet).feasible, true);
      },
    ),
    { numRuns: 300 },
  );
});
