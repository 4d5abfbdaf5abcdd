// The driver conformance suite: one set of checks every Driver implementation runs (the
// simulated one, cgroups, QEMU), the way hono runs every router through one shared test file.
//
// It is runner-agnostic (no node:test here): a test file builds a subject for its driver and
// registers each case with its own runner, e.g.
//
//     for (const c of driverConformanceCases()) await t.test(c.name, () => c.run(subject));
//
// What is checked, against the system's own read-back (`observe`), not the driver's memory:
//   1. an applied resize is observed;
//   2. its undo restores what was observed before;
//   3. undo is idempotent: a second call is a no-op, even after other changes were made since;
//   4. a resize with NaN for memory sets the cpu alone, and its undo restores both;
//   5. applyPlan: a failing action rolls back the earlier ones (observed back at the start),
//      and the result names the failing index;
//   6. bad input is refused with an error that names the field, and changes nothing.
import type { Action, Amounts } from '../core/plan.js';
import { resize } from '../core/plan.js';
import { applyPlan, type Driver } from '../core/ports.js';
import { PrescientError } from '../core/errors.js';

export interface ConformanceSubject {
  driver: Driver;
  /** An instance the suite may resize (it is left as it was found). */
  instance: string;
  /** Two valid allocations, different from each other and from the instance's current one. */
  targets: readonly [Amounts, Amounts];
  /** The allocation the system enforces now, read back from it (cgroup files, QMP...). */
  observe(instance: string): Promise<Amounts> | Amounts;
  /** Absolute tolerance when comparing observed amounts (default 0.5 of each unit). */
  tolerance?: Amounts;
  /** Extra driver-specific bad inputs: the action and the field its error must name. */
  badInputs?: ReadonlyArray<{ action: Action; field: string }>;
}

export interface ConformanceCase {
  name: string;
  run(subject: ConformanceSubject): Promise<void>;
}

/** A conformance failure: what was expected and what was observed. */
export class ConformanceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConformanceError';
  }
}

function fail(message: string): never {
  throw new ConformanceError(message);
}

function close(a: number, b: number, tol: number): boolean {
  if (a === b) return true; // also Infinity (no limit) against Infinity
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  return Math.abs(a - b) <= tol;
}

async function expectObserved(s: ConformanceSubject, want: Amounts, what: string): Promise<void> {
  const got = await s.observe(s.instance);
  const tol = s.tolerance ?? { cpu: 0.5, memory: 0.5 };
  const cpuOk = Number.isNaN(want.cpu) || close(got.cpu, want.cpu, tol.cpu);
  const memOk = Number.isNaN(want.memory) || close(got.memory, want.memory, tol.memory);
  if (!cpuOk || !memOk) {
    fail(`${s.driver.name}: ${what}: expected cpu=${want.cpu} memory=${want.memory}, observed cpu=${got.cpu} memory=${got.memory} (tolerance cpu ${tol.cpu}, memory ${tol.memory})`);
  }
}

function differs(a: Amounts, b: Amounts, tol: Amounts): boolean {
  return !close(a.cpu, b.cpu, tol.cpu) && !close(a.memory, b.memory, tol.memory);
}

async function start(s: ConformanceSubject): Promise<Amounts> {
  const initial = await s.observe(s.instance);
  const tol = s.tolerance ?? { cpu: 0.5, memory: 0.5 };
  const [t0, t1] = s.targets;
  if (!differs(t0, t1, tol) || !differs(t0, initial, tol) || !differs(t1, initial, tol)) {
    fail(`${s.driver.name}: the subject's targets must differ in cpu and memory from each other and from the current allocation (cpu=${initial.cpu} memory=${initial.memory})`);
  }
  return initial;
}

const rs = (s: ConformanceSubject, a: Amounts): Action => resize(s.instance, a.cpu, a.memory, ['conformance']);

/** Bad inputs every driver must refuse, with the field the error must name. */
export function commonBadInputs(instance: string): Array<{ action: Action; field: string }> {
  return [
    { action: resize(instance, -1, NaN, ['conformance']), field: 'cpu' },
    { action: resize(instance, NaN, -5, ['conformance']), field: 'memory' },
    { action: resize('', 100, NaN, ['conformance']), field: 'instance' },
    { action: { kind: 'bogus', instance, reasons: [] } as unknown as Action, field: 'kind' },
  ];
}

export function driverConformanceCases(): ConformanceCase[] {
  return [
    {
      name: 'an applied resize is observed',
      async run(s) {
        await start(s);
        const undo = await s.driver.apply(rs(s, s.targets[0]));
        try {
          await expectObserved(s, s.targets[0], 'after resize');
        } finally {
          await undo();
        }
      },
    },
    {
      name: 'undo restores what was observed before',
      async run(s) {
        const initial = await start(s);
        const undo = await s.driver.apply(rs(s, s.targets[0]));
        await undo();
        await expectObserved(s, initial, 'after undo');
      },
    },
    {
      name: 'undo twice is a no-op, even after later changes',
      async run(s) {
        const initial = await start(s);
        const undoA = await s.driver.apply(rs(s, s.targets[0]));
        await undoA();
        const undoB = await s.driver.apply(rs(s, s.targets[1]));
        try {
          await undoA(); // must not touch the state that resize B made
          await expectObserved(s, s.targets[1], 'after a second undo of an earlier action');
        } finally {
          await undoB();
        }
        await undoB();
        await expectObserved(s, initial, 'after undoing the later action twice');
      },
    },
    {
      name: 'a resize with NaN memory sets the cpu only, and its undo restores both',
      async run(s) {
        const initial = await start(s);
        const undo = await s.driver.apply(resize(s.instance, s.targets[0].cpu, NaN, ['conformance']));
        try {
          // NaN = "memory not managed by this action": real drivers leave it as it was, the
          // simulator records it as unmanaged; either way the cpu is set and undo restores both.
          await expectObserved(s, { cpu: s.targets[0].cpu, memory: NaN }, 'after a cpu-only resize');
        } finally {
          await undo();
        }
        await expectObserved(s, initial, 'after undoing a cpu-only resize');
      },
    },
    {
      name: 'applyPlan: a failing action rolls back the earlier ones',
      async run(s) {
        const initial = await start(s);
        const missing = `${s.instance}-missing-conformance`;
        const r = await applyPlan(s.driver, {
          nowS: 0,
          actions: [rs(s, s.targets[0]), rs(s, s.targets[1]), resize(missing, s.targets[0].cpu, s.targets[0].memory, ['conformance'])],
        });
        if (r.ok) fail(`${s.driver.name}: a resize of the unknown instance "${missing}" was accepted`);
        if (r.failed?.index !== 2) fail(`${s.driver.name}: expected the plan to fail at action 2, got ${r.failed?.index}`);
        if (r.applied !== 2) fail(`${s.driver.name}: expected 2 actions applied then rolled back, got ${r.applied}`);
        if (r.rollbackErrors.length > 0) fail(`${s.driver.name}: rollback errors: ${r.rollbackErrors.map(String).join('; ')}`);
        if (!(r.failed.error instanceof PrescientError)) fail(`${s.driver.name}: a driver failure must be a PrescientError, got ${String(r.failed.error)}`);
        await expectObserved(s, initial, 'after the rollback');
      },
    },
    {
      name: 'bad input is refused with an error naming the field, and changes nothing',
      async run(s) {
        const initial = await start(s);
        for (const { action, field } of [...commonBadInputs(s.instance), ...(s.badInputs ?? [])]) {
          let error: unknown;
          let undo: (() => void | Promise<void>) | undefined;
          try {
            undo = await s.driver.apply(action);
          } catch (e) {
            error = e;
          }
          if (undo) {
            await undo();
            fail(`${s.driver.name}: accepted bad input ${JSON.stringify(action)} (field ${field})`);
          }
          if (!(error instanceof PrescientError)) fail(`${s.driver.name}: bad input ${JSON.stringify(action)}: expected a PrescientError, got ${String(error)}`);
          if (!new RegExp(`\\b${field}\\b`).test(error.message)) fail(`${s.driver.name}: the error for bad ${field} does not name the field: "${error.message}"`);
          await expectObserved(s, initial, `after refusing bad ${field}`);
        }
      },
    },
  ];
}
