// applyPlan: actions apply in order; a failure rolls back what was applied, in reverse; undo is
// idempotent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Action, Plan } from '../../src/core/plan.js';
import { applyPlan, applyPlanSync, DriverError, onceUndo, type Driver, type SyncDriver } from '../../src/core/ports.js';

function recordingDriver(failAt: number): SyncDriver & { log: string[] } {
  const log: string[] = [];
  let n = 0;
  return {
    name: 'rec',
    log,
    apply(a: Action) {
      const k = n++;
      if (k === failAt) throw new DriverError('boom', a);
      log.push(`do ${k}`);
      return () => void log.push(`undo ${k}`);
    },
  };
}

const plan = (n: number): Plan => ({ nowS: 0, actions: Array.from({ length: n }, (_, i) => ({ kind: 'power', host: `h${i}`, on: true, reasons: [] }) as Action) });

test('a failing action rolls back the applied ones in reverse order', () => {
  const d = recordingDriver(2);
  const r = applyPlanSync(d, plan(4));
  assert.equal(r.ok, false);
  assert.equal(r.failed!.index, 2);
  assert.ok(r.failed!.error instanceof DriverError);
  assert.deepEqual(d.log, ['do 0', 'do 1', 'undo 1', 'undo 0']);
});

test('async driver: same contract', async () => {
  const log: string[] = [];
  const d: Driver = {
    name: 'async',
    async apply(a) {
      if ((a as { host: string }).host === 'h1') throw new DriverError('no', a);
      log.push('do');
      return async () => void log.push('undo');
    },
  };
  const r = await applyPlan(d, plan(3));
  assert.equal(r.ok, false);
  assert.deepEqual(log, ['do', 'undo']);
  assert.equal((await applyPlan(d, plan(1))).ok, true);
});

test('undo is idempotent', () => {
  let n = 0;
  const u = onceUndo(() => void n++);
  void u();
  void u();
  assert.equal(n, 1);
});
