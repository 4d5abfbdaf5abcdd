// Invariants of the simulated datacenter on random small scenarios (fast-check).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PLANETLAB_VM_TYPES, runCloudSimPlanetLab } from '../../../src/sim/cloudsim/engine.js';
import type { StepState } from '../../../src/sim/cloudsim/engine.js';
import type { CloudSimPolicyName } from '../../../src/sim/cloudsim/types.js';

const STEPS = 20;
const LIMIT_S = STEPS * 300;

const sample = fc.oneof(
  { weight: 1, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 40 }) },
  { weight: 2, arbitrary: fc.integer({ min: 60, max: 100 }) },
);
const scenario = fc
  .record({
    vms: fc.integer({ min: 1, max: 10 }),
    extraHosts: fc.integer({ min: 2, max: 10 }),
    policy: fc.constantFrom<CloudSimPolicyName>('thr-mmt', 'iqr-mmt', 'mad-mmt', 'lr-mmt', 'lrr-mmt', 'dvfs'),
    seedTraces: fc.array(fc.array(sample, { minLength: STEPS + 4, maxLength: STEPS + 4 }), { minLength: 10, maxLength: 10 }),
  })
  .map((s) => ({
    ...s,
    // enough G5 hosts (odd indices) for the big VMs G4 cores cannot run
    hosts: 2 * s.vms + s.extraHosts,
    traces: s.seedTraces.slice(0, s.vms).map((t) => Float64Array.from(t)),
  }));

function vmRam(v: number, n: number): number {
  return PLANETLAB_VM_TYPES[Math.floor(v / Math.ceil(n / 4))]!.ramMb;
}

/** Every live VM is owned by exactly one host and listed there once; other listings are migrations in. */
function checkPlacement(s: StepState): void {
  const n = s.owners.length;
  const seen = new Int32Array(n);
  s.hostVms.forEach((list, h) => {
    const set = new Set(list);
    assert.equal(set.size, list.length, `host ${h} lists a VM twice at step ${s.step}`);
    for (const v of list) {
      const migratingIn = s.hostMigratingIn[h]!.includes(v);
      if (migratingIn) assert.equal(s.inMigration[v], 1, `VM ${v} migrating in to ${h} but not in migration`);
      else {
        assert.equal(s.owners[v], h, `VM ${v} listed on host ${h} but owned by ${s.owners[v]}`);
        seen[v]!++;
      }
    }
  });
  for (let v = 0; v < n; v++) assert.equal(seen[v], s.owners[v] === -1 ? 0 : 1, `VM ${v} owned ${seen[v]} times at step ${s.step}`);
}

test('every VM is on exactly one host at every step (CloudSim resource model)', () => {
  fc.assert(
    fc.property(scenario, (sc) => {
      let steps = 0;
      const r = runCloudSimPlanetLab(
        sc.traces,
        { policy: sc.policy, hosts: sc.hosts, simulationLimitS: LIMIT_S },
        {
          onStepState: (s) => {
            steps++;
            checkPlacement(s);
          },
        },
      );
      assert.equal(steps, r.steps);
      assert.equal(r.allocations.length, r.steps * sc.vms);
      assert.ok(r.energyKwh >= 0 && Number.isFinite(r.energyKwh));
    }),
    { numRuns: 120 },
  );
});

test('no host ever holds more RAM than it has (enforced resource model)', () => {
  fc.assert(
    fc.property(scenario, (sc) => {
      const r = runCloudSimPlanetLab(
        sc.traces,
        { policy: sc.policy, hosts: sc.hosts, simulationLimitS: LIMIT_S, resourceModel: 'enforced' },
        {
          onStepState: (s) => {
            checkPlacement(s);
            s.hostVms.forEach((list, h) => {
              const held = list.reduce((a, v) => a + vmRam(v, sc.vms), 0);
              assert.equal(s.hostRamHeldMb[h], held, `RAM ledger of host ${h}`);
              assert.ok(held <= s.hostRamMb[h]!, `host ${h} holds ${held} MB of ${s.hostRamMb[h]} at step ${s.step}`);
            });
          },
        },
      );
      assert.ok(r.maxHostRamMb <= 4096);
      assert.equal(r.anomalies, 0);
    }),
    { numRuns: 120 },
  );
});

test('runs are deterministic and every migration carries a reason', () => {
  fc.assert(
    fc.property(scenario, (sc) => {
      const decisions: string[] = [];
      const opts = { policy: sc.policy, hosts: sc.hosts, simulationLimitS: LIMIT_S, recordDecisions: true };
      const a = runCloudSimPlanetLab(sc.traces, opts, { onDecision: (d) => decisions.push(`${d.vm}:${d.fromHost}>${d.toHost}:${d.rule}`) });
      const b = runCloudSimPlanetLab(sc.traces, opts);
      assert.equal(a.energyKwh, b.energyKwh);
      assert.equal(a.migrations, b.migrations);
      assert.deepEqual(a.allocations, b.allocations);
      assert.equal(decisions.length, a.migrations);
      assert.equal(a.decisions.length, a.migrations);
      assert.equal(Object.values(a.reasons).reduce((x, y) => x + y, 0), a.migrations);
      for (const d of a.decisions) {
        assert.ok(d.rule.length > 0);
        assert.notEqual(d.fromHost, d.toHost);
        if (d.phase === 'overload') assert.ok(Number.isFinite(d.metric) && Number.isFinite(d.threshold));
      }
    }),
    { numRuns: 60 },
  );
});

test("the fast placement makes exactly the choices of CloudSim's literal host loop", () => {
  fc.assert(
    fc.property(scenario, (sc) => {
      const opts = { policy: sc.policy, hosts: sc.hosts, simulationLimitS: LIMIT_S, recordDecisions: true };
      const fast = runCloudSimPlanetLab(sc.traces, opts);
      const literal = runCloudSimPlanetLab(sc.traces, { ...opts, referenceScan: true });
      assert.deepEqual(
        fast.decisions.map((d) => [d.step, d.vm, d.toHost]),
        literal.decisions.map((d) => [d.step, d.vm, d.toHost]),
      );
      assert.equal(fast.energyKwh, literal.energyKwh);
      assert.equal(fast.slatahPct, literal.slatahPct);
    }),
    { numRuns: 150 },
  );
});
