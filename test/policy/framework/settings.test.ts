// Operator settings in decisions (src/policy/framework/settings.ts): resolution (an instance's
// field over the global one), the migration rate limit inside decide (withheld with a reason),
// aggressiveness moving vpa and predictive allocations in the expected direction, and the
// degradation threshold (degraded -> most headroom; predictive budget).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seededRng } from '../../../src/core/rng.js';
import { compileProfile, createRegistry, defaultProfile, PolicyRunner, R } from '../../../src/policy/index.js';
import {
  DEFAULT_SETTINGS,
  MIN_DEGRADATION_SAMPLES,
  effectiveSettings,
  headroomFactor,
  migrationsInWindow,
  resolveSettings,
  updateViolationShare,
  violationBudget,
} from '../../../src/policy/framework/settings.js';
import type { ControlInputs, ControlSettings, DecideContext, HostState, InstanceState, Snapshot } from '../../../src/policy/framework/types.js';
import { PredictiveForecastProvider, predictiveForecastArgs } from '../../../src/policy/plugins/predictive/forecast-provider.js';
import { PredictiveRightsizer, predictiveArgs } from '../../../src/policy/plugins/predictive/predictive.js';
import { VpaRightsizer, vpaArgs } from '../../../src/policy/plugins/vpa/vpa.js';

const setting = fc.record(
  {
    aggressiveness: fc.double({ min: 0, max: 1, noNaN: true }),
    maxMigrationsPerHour: fc.integer({ min: 0, max: 3600 }),
    degradationThreshold: fc.double({ min: 0, max: 1, noNaN: true }),
  },
  { requiredKeys: [] },
);

test('headroom(a) = 2^(1 - 2a): 2 at 0, exactly 1 at 0.5, 0.5 at 1, decreasing, bounded', () => {
  assert.equal(headroomFactor(0), 2);
  assert.equal(headroomFactor(0.5), 1);
  assert.equal(headroomFactor(1), 0.5);
  assert.equal(headroomFactor(-3), 2, 'clamped below');
  assert.equal(headroomFactor(7), 0.5, 'clamped above');
  fc.assert(
    fc.property(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (a, b) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      assert.ok(headroomFactor(lo) >= headroomFactor(hi));
      assert.ok(headroomFactor(a) >= 0.5 && headroomFactor(a) <= 2);
    }),
  );
});

test('an instance field overrides the global field of the same name; unset fields fall back per field', () => {
  fc.assert(
    fc.property(fc.option(setting, { nil: undefined }), fc.option(setting, { nil: undefined }), (global, own) => {
      const control: ControlInputs = { ...(global ? { global } : {}), instances: new Map(own ? [['i', own]] : []) };
      const r = resolveSettings(control, 'i');
      for (const k of ['aggressiveness', 'maxMigrationsPerHour', 'degradationThreshold'] as const) {
        assert.equal(r[k], own?.[k] ?? global?.[k], k);
      }
      const other = resolveSettings(control, 'other');
      assert.deepEqual(other, { ...(global ?? {}) });
    }),
  );
  const snap: Snapshot = { nowS: 0, stepSeconds: 300, instances: [], hosts: [] };
  assert.equal(effectiveSettings(snap, 'i'), DEFAULT_SETTINGS, 'no control inputs: the defaults');
  assert.equal(effectiveSettings({ ...snap, control: { instances: new Map() } }, 'i'), DEFAULT_SETTINGS);
});

test('migrations in the window: (now - 3600, now]', () => {
  assert.equal(migrationsInWindow([0, 100, 3599, 3600, 3700], 3600), 3, '0 is exactly an hour old: out');
  assert.equal(migrationsInWindow(undefined, 10), 0);
});

// ---- the rate limit in decide -------------------------------------------------------------------

/** h1 holds two instances whose allocations exceed its capacity (overcommit off): one must move. */
function overloaded(control?: ControlInputs): Snapshot {
  const hosts: HostState[] = [
    { id: 'h1', capacity: { cpu: 4, memory: 8192 }, on: true },
    { id: 'h2', capacity: { cpu: 4, memory: 8192 }, on: true },
    { id: 'h3', capacity: { cpu: 4, memory: 8192 }, on: true },
  ];
  const inst = (id: string, hostId: string, cpu: number): InstanceState => ({
    id,
    hostId,
    units: { cpu: 'cores', memory: 'MiB' },
    capacity: { cpu, memory: 1024 },
    allocation: { cpu, memory: 1024 },
    lastUsage: { cpu: cpu / 2, memory: 512 },
    samples: 0,
  });
  return {
    nowS: 36_000,
    stepSeconds: 300,
    instances: [inst('a', 'h1', 3), inst('b', 'h1', 2), inst('c', 'h2', 3)],
    hosts,
    ...(control ? { control } : {}),
  };
}

const fleetRunner = () => new PolicyRunner(compileProfile(defaultProfile({ policy: 'vpa', scenario: 'fleet' }), createRegistry(), { stepSeconds: 300 }));
const decideOn = (snap: Snapshot) => fleetRunner().decideWithReasons(snap, new Map(), snap.nowS, seededRng(1)).plan;
const migrationsOf = (plan: ReturnType<typeof decideOn>, id: string) => plan.actions.filter((a) => a.kind === 'migrate' && a.instance === id);

test('without settings the overloaded host sheds an instance (the baseline the limit acts on)', () => {
  const plan = decideOn(overloaded());
  const moved = plan.actions.filter((a) => a.kind === 'migrate');
  assert.equal(moved.length, 1, JSON.stringify(plan.actions));
  assert.equal(plan.withheld, undefined);
});

test('maxMigrationsPerHour = 0 for an instance: no migrate action for it, withheld with the reason; another instance moves instead', () => {
  const base = decideOn(overloaded());
  const victim = base.actions.find((a) => a.kind === 'migrate')!;
  assert.equal(victim.kind, 'migrate');
  const plan = decideOn(overloaded({ instances: new Map([[victim.instance, { maxMigrationsPerHour: 0 }]]) }));
  assert.equal(migrationsOf(plan, victim.instance).length, 0, 'the limited instance does not move');
  const w = plan.withheld?.find((x) => x.instance === victim.instance);
  assert.ok(w, `withheld recorded: ${JSON.stringify(plan)}`);
  assert.equal(w.kind, 'migrate');
  assert.equal(w.from, 'h1');
  assert.equal(w.reasons[0], R.MIGRATION_RATE_LIMITED);
  assert.ok(w.reasons.includes(R.OVERLOADED) || w.reasons.length > 1, 'and why it was wanted');
  const others = plan.actions.filter((a) => a.kind === 'migrate');
  assert.equal(others.length, 1, 'the other resident of h1 moves instead');
  assert.notEqual(others[0]!.kind === 'migrate' && others[0]!.instance, victim.instance);
});

test('a per-instance limit overrides the global one; the global applies to instances without their own', () => {
  const global: ControlSettings = { maxMigrationsPerHour: 0 };
  const none = decideOn(overloaded({ global }));
  assert.equal(none.actions.filter((a) => a.kind === 'migrate').length, 0, 'global 0: nothing migrates');
  assert.ok((none.withheld?.length ?? 0) >= 1);
  assert.ok(none.actions.some((a) => a.kind === 'resize' && a.reasons.includes(R.CAPPED_BY_HOST)), 'without overcommit the host is capped instead');
  const freed = decideOn(overloaded({ global, instances: new Map([['b', { maxMigrationsPerHour: 5 }]]) }));
  const moved = freed.actions.filter((a) => a.kind === 'migrate');
  assert.deepEqual(moved.map((a) => a.kind === 'migrate' && a.instance), ['b'], 'b has its own limit (5) and moves');
});

test('the limit counts applied migrations in the last hour of model time', () => {
  const snap = overloaded();
  const victim = decideOn(snap).actions.find((a) => a.kind === 'migrate')!;
  assert.equal(victim.kind, 'migrate');
  const id = victim.instance;
  const limit = (times: number[]) =>
    decideOn(overloaded({ instances: new Map([[id, { maxMigrationsPerHour: 2 }]]), migrationsS: new Map([[id, times]]) }));
  const now = snap.nowS;
  assert.equal(migrationsOf(limit([now - 100]), id).length, 1, 'one of two used: may move');
  assert.equal(migrationsOf(limit([now - 100, now - 3000]), id).length, 0, 'two in the hour: withheld');
  assert.equal(migrationsOf(limit([now - 100, now - 3600]), id).length, 1, 'an hour-old one no longer counts');
  assert.equal(limit([now - 100, now - 3000]).withheld?.[0]?.reasons[0], R.MIGRATION_RATE_LIMITED);
});

test('property: with a random limit and history, no instance migrates past its limit and every withheld migration says why', () => {
  fc.assert(
    fc.property(
      fc.array(fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }), { minLength: 3, maxLength: 3 }),
      fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
      fc.array(fc.array(fc.integer({ min: 0, max: 7200 }), { maxLength: 4 }), { minLength: 3, maxLength: 3 }),
      (own, global, ago) => {
        const ids = ['a', 'b', 'c'];
        const snap0 = overloaded();
        const instances = new Map<string, ControlSettings>();
        own.forEach((m, k) => m !== undefined && instances.set(ids[k]!, { maxMigrationsPerHour: m }));
        const migrationsS = new Map(ids.map((id, k) => [id, ago[k]!.map((x) => snap0.nowS - x)]));
        const control: ControlInputs = { ...(global !== undefined ? { global: { maxMigrationsPerHour: global } } : {}), instances, migrationsS };
        const plan = decideOn(overloaded(control));
        for (const [k, id] of ids.entries()) {
          const max = own[k] ?? global;
          const used = migrationsInWindow(migrationsS.get(id), snap0.nowS);
          const n = migrationsOf(plan, id).length;
          if (max !== undefined) assert.ok(used + n <= Math.max(max, used), `${id}: ${used} used + ${n} new > ${max}`);
          if (max !== undefined && used >= max) assert.equal(n, 0);
        }
        for (const w of plan.withheld ?? []) assert.equal(w.reasons[0], R.MIGRATION_RATE_LIMITED);
      },
    ),
    { numRuns: 150 },
  );
});

// ---- aggressiveness and degradation in the rightsizers -------------------------------------------

const DAY = 288;
const usageAt = (i: number) => ({ cpu: 1 + 0.5 * Math.sin(i / 12) + (i % 17 === 0 ? 0.8 : 0), memory: 2000 + 300 * Math.sin(i / 40) });

function newInstance(): InstanceState {
  return { id: 'vm', hostId: null, units: { cpu: 'cores', memory: 'MiB' }, capacity: { cpu: 8, memory: 16384 }, allocation: { cpu: 8, memory: 16384 }, lastUsage: { cpu: NaN, memory: NaN }, samples: 0 };
}

/** Feeds a VPA two days of samples, then asks for a recommendation under `control`. */
function vpaAllocation(control: ControlInputs | undefined) {
  const env = { stepSeconds: 300 };
  const vpa = new VpaRightsizer(vpaArgs.parse({}), env);
  const inst = newInstance();
  for (let i = 0; i < 2 * DAY; i++) vpa.observe(inst, usageAt(i), inst.allocation, i * 300);
  const snapshot: Snapshot = { nowS: 2 * DAY * 300, stepSeconds: 300, instances: [inst], hosts: [], ...(control ? { control } : {}) };
  return vpa.recommend(inst, { snapshot, forecasts: new Map(), nowS: snapshot.nowS, rng: seededRng(1) });
}

test('vpa: aggressiveness scales the safety margin (conservative -> more, aggressive -> less; 0.5 = VPA)', () => {
  const plain = vpaAllocation(undefined);
  const at = (a: number) => vpaAllocation({ global: { aggressiveness: a } });
  const conservative = at(0);
  const neutral = at(0.5);
  const aggressive = at(1);
  assert.equal(neutral.cpu, plain.cpu, '0.5 = the defaults, exactly');
  assert.equal(neutral.memory, plain.memory);
  assert.ok(conservative.cpu > plain.cpu && plain.cpu > aggressive.cpu, `${conservative.cpu} > ${plain.cpu} > ${aggressive.cpu}`);
  assert.ok(conservative.memory > plain.memory && plain.memory > aggressive.memory);
  // margin 30 % / 15 % / 7.5 % on the same percentile
  assert.ok(Math.abs(conservative.cpu / plain.cpu - 1.3 / 1.15) < 1e-9, `${conservative.cpu / plain.cpu}`);
  assert.ok(Math.abs(aggressive.cpu / plain.cpu - 1.075 / 1.15) < 1e-9);
  assert.ok(conservative.reasons.includes(R.AGGRESSIVENESS_SCALED));
  assert.ok(!plain.reasons.includes(R.AGGRESSIVENESS_SCALED) && !neutral.reasons.includes(R.AGGRESSIVENESS_SCALED));
  // the instance's own setting overrides the global one
  const own = vpaAllocation({ global: { aggressiveness: 1 }, instances: new Map([['vm', { aggressiveness: 0 }]]) });
  assert.equal(own.cpu, conservative.cpu);
});

test('vpa: allocation is non-increasing in aggressiveness (property)', () => {
  fc.assert(
    fc.property(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (a, b) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      const x = vpaAllocation({ global: { aggressiveness: lo } });
      const y = vpaAllocation({ global: { aggressiveness: hi } });
      assert.ok(x.cpu >= y.cpu && x.memory >= y.memory);
    }),
    { numRuns: 20 },
  );
});

test('vpa: a degraded instance (violation share above its threshold) gets the most headroom, with the reason', () => {
  const degradedRec = { share: 0.2, samples: MIN_DEGRADATION_SAMPLES };
  const fine = vpaAllocation({ global: { degradationThreshold: 0.1, aggressiveness: 1 }, violations: new Map([['vm', { share: 0.05, samples: 100 }]]) });
  const degraded = vpaAllocation({ global: { degradationThreshold: 0.1, aggressiveness: 1 }, violations: new Map([['vm', degradedRec]]) });
  const conservative = vpaAllocation({ global: { aggressiveness: 0 } });
  assert.equal(degraded.cpu, conservative.cpu, 'degraded = aggressiveness 0');
  assert.ok(degraded.cpu > fine.cpu);
  assert.ok(degraded.reasons.includes(R.DEGRADED_HEADROOM));
  const young = vpaAllocation({ global: { degradationThreshold: 0.1 }, violations: new Map([['vm', { share: 1, samples: MIN_DEGRADATION_SAMPLES - 1 }]]) });
  assert.ok(!young.reasons.includes(R.DEGRADED_HEADROOM), 'too few samples to judge');
});

/** Drives predictive (with its forecast source) over `n` steps; `control` from step `from` on. */
function predictiveRun(n: number, control: ControlInputs | undefined, from = 0) {
  const env = { stepSeconds: 300 };
  const provider = new PredictiveForecastProvider(predictiveForecastArgs.parse({}), env);
  const rs = new PredictiveRightsizer(predictiveArgs.parse({}), env);
  const inst = newInstance();
  const rng = seededRng(1);
  const out: Array<{ cpu: number; memory: number; reasons: string[] }> = [];
  let violations = 0;
  for (let i = 0; i < n; i++) {
    const f = provider.forecast(inst);
    const snapshot: Snapshot = { nowS: i * 300, stepSeconds: 300, instances: [inst], hosts: [], ...(control && i >= from ? { control } : {}) };
    const ctx: DecideContext = { snapshot, forecasts: new Map(f ? [[inst.id, f]] : []), nowS: i * 300, rng };
    const d = rs.recommend(inst, ctx);
    inst.allocation = { cpu: Number.isNaN(d.cpu) ? inst.allocation.cpu : d.cpu, memory: Number.isNaN(d.memory) ? inst.allocation.memory : d.memory };
    out.push({ ...inst.allocation, reasons: d.reasons });
    const u = usageAt(i);
    if (i >= n / 2 && u.cpu > inst.allocation.cpu) violations++;
    provider.observe(inst, u);
    rs.observe(inst, u, inst.allocation);
    inst.samples++;
  }
  return { out, rs, cpuViolationRate: violations / (n - Math.ceil(n / 2)) };
}

test('predictive: aggressiveness moves allocations the expected way; 0.5 and no settings are identical', () => {
  const n = DAY;
  const plain = predictiveRun(n, undefined);
  const neutral = predictiveRun(n, { global: { aggressiveness: 0.5 } });
  const conservative = predictiveRun(n, { global: { aggressiveness: 0 } });
  const aggressive = predictiveRun(n, { global: { aggressiveness: 1 } });
  assert.deepEqual(neutral.out.map((x) => [x.cpu, x.memory]), plain.out.map((x) => [x.cpu, x.memory]));
  const sum = (r: typeof plain, k: 'cpu' | 'memory') => r.out.slice(DAY / 2).reduce((s, x) => s + x[k], 0);
  for (const k of ['cpu', 'memory'] as const) {
    assert.ok(sum(conservative, k) > sum(plain, k), `${k}: conservative allocates more (${sum(conservative, k)} vs ${sum(plain, k)})`);
    assert.ok(sum(plain, k) > sum(aggressive, k), `${k}: aggressive allocates less (${sum(aggressive, k)} vs ${sum(plain, k)})`);
  }
  assert.ok(conservative.cpuViolationRate <= aggressive.cpuViolationRate);
  assert.ok(conservative.out.at(-1)!.reasons.includes(R.AGGRESSIVENESS_SCALED));
});

test('predictive: the degradation threshold is the violation budget (per resource: d / 2), back to the argument when unset', () => {
  const { rs } = predictiveRun(50, { global: { degradationThreshold: 0.1 } });
  const ctl = (rs as unknown as { state(id: string): { cpu: { controller: { budget: number } }; memory: { controller: { budget: number } } } }).state('vm');
  assert.equal(ctl.cpu.controller.budget, 0.05);
  assert.equal(ctl.memory.controller.budget, 0.05);
  const later = predictiveRun(50, { global: { degradationThreshold: 0.1 } });
  const last = later.out.at(-1)!;
  assert.ok(last.reasons.includes(R.DEGRADATION_BUDGET));
  const { rs: rs2 } = predictiveRun(50, undefined);
  assert.equal((rs2 as unknown as typeof rs & { state(id: string): typeof ctl }).state('vm').cpu.controller.budget, 0.02);
  assert.equal(violationBudget(0, 2), 0.001, 'bounded below');
  assert.equal(violationBudget(1, 1), 0.5, 'bounded above');
});

test('violation share: the running mean first, then an exponentially weighted mean over the window', () => {
  fc.assert(
    fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 80 }), (xs, w) => {
      const rec = { share: 0, samples: 0 };
      for (const x of xs) updateViolationShare(rec, x, w);
      assert.equal(rec.samples, xs.length);
      assert.ok(rec.share >= -1e-12 && rec.share <= 1 + 1e-12);
      if (xs.length <= w) {
        const mean = xs.filter(Boolean).length / xs.length;
        assert.ok(Math.abs(rec.share - mean) < 1e-9, `${rec.share} vs ${mean}`);
      }
    }),
  );
});
