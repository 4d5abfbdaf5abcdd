// /v1/policies settings take effect in the control loop's decisions, from the next tick on:
// maxMigrationsPerHour withholds migrations (audit entry 'rejected' with the reason, event,
// metric; counted across a restart from the audit log), aggressiveness scales allocations in the
// expected direction, an instance's setting overrides the global one, and a degradation
// threshold marks instances degraded (event, gauge, most headroom).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ALL_TENANTS, type AuditEntry } from '../../src/core/store.js';
import { R } from '../../src/policy/framework/reasons.js';
import { ManualClock } from '../../src/server/clock.js';
import type { ServerEvent } from '../../src/server/events.js';
import { startTestService, type TestService } from './helpers.js';

const T0 = 1_800_000_000_000;

/** A test service (3 hosts, 6 instances, seed 7) on a manual clock: deterministic decisions. */
async function service(o: { dbPath?: string; clock?: ManualClock; restart?: boolean } = {}) {
  const clock = o.clock ?? new ManualClock(T0);
  // a restart on the same file: a fresh admin token (the first one is only printed once)
  const t = await startTestService({ clock, ...(o.dbPath ? { dbPath: o.dbPath } : {}), ...(o.restart ? { rotateAdminToken: true } : {}) });
  const events: ServerEvent[] = [];
  t.svc.events.subscribe((e) => events.push(e));
  const ticks = async (n: number) => {
    const reports = [];
    for (let i = 0; i < n; i++) {
      reports.push(await t.svc.loop.tick());
      clock.advance(1000);
    }
    return reports;
  };
  const audit = () => t.svc.store.listAudit(ALL_TENANTS, { limit: 100_000 });
  return { t, clock, events, ticks, audit };
}

type Act = { kind: string; from?: string; to?: string; tick: number; cpu?: number; memory?: number };
const act = (e: AuditEntry) => e.action as Act;
/** Applied live migrations (initial placements, from '', excluded). */
const liveMigrations = (audit: AuditEntry[], id?: string) =>
  audit.filter((e) => e.kind === 'migrate' && e.result === 'applied' && act(e).from !== '' && (id === undefined || e.instanceId === id));

async function put(t: TestService, url: string, payload: object, token?: string) {
  const r = await t.inject({ method: 'PUT', url, payload, ...(token ? { token } : {}) });
  assert.equal(r.statusCode, 200, r.body);
  return r.json;
}

test('baseline: without settings syn-0000 is live-migrated within the first 8 ticks (what the limit acts on)', async () => {
  const s = await service();
  try {
    await s.ticks(8);
    assert.ok(liveMigrations(await s.audit(), 'syn-0000').length >= 1, 'syn-0000 migrates without a limit');
  } finally {
    await s.t.close();
  }
});

test('maxMigrationsPerHour = 0 for an instance: never migrated; the withheld migration is audited once with its reason, an event and a metric', async () => {
  const s = await service();
  try {
    await s.ticks(2);
    // set between ticks: in effect from the next tick
    await put(s.t, '/v1/policies/instances/syn-0000', { maxMigrationsPerHour: 0 }, s.t.tenantA);
    const reports = await s.ticks(30);
    const audit = await s.audit();
    assert.deepEqual(liveMigrations(audit, 'syn-0000'), [], 'no migrate action for syn-0000');
    assert.ok(liveMigrations(audit).length > 0, 'other instances still migrate');
    const rejected = audit.filter((e) => e.instanceId === 'syn-0000' && e.result === 'rejected');
    assert.ok(rejected.length >= 1, 'the withheld migration is in the audit log');
    for (const e of rejected) {
      assert.equal(e.kind, 'migrate');
      assert.equal(e.reasons[0], R.MIGRATION_RATE_LIMITED);
      assert.ok(e.reasons.length >= 2, `and why it was wanted: ${e.reasons.join(',')}`);
      assert.equal(e.actor, 'control-loop');
    }
    const ticksWithheld = reports.filter((r) => r.withheld > 0).length;
    assert.ok(ticksWithheld >= rejected.length, 'audited once per episode, not once per tick');
    const ev = s.events.filter((e) => e.type === 'withheld');
    assert.ok(ev.length >= 1);
    assert.equal(ev[0]!.tenant, 'demo-a', 'the event goes to the instance owner');
    const metrics = await s.t.svc.metrics.registry.metrics();
    assert.match(metrics, /prescient_actions_withheld_total\{kind="migrate",reason="migration-rate-limited"\} [1-9]/);
    const st = await s.t.inject({ method: 'GET', url: '/get_instance_status?instance_id=syn-0000', token: s.t.tenantA });
    assert.equal(st.statusCode, 200);
    assert.equal(st.json.control.settings.maxMigrationsPerHour, 0);
    assert.equal(st.json.control.migrationsLastHour, 0);
  } finally {
    await s.t.close();
  }
});

test('a per-instance limit overrides the global one: global 0 freezes everyone but syn-0000 (own limit 100)', async () => {
  const s = await service();
  try {
    await put(s.t, '/v1/policies/global', { maxMigrationsPerHour: 0 });
    await put(s.t, '/v1/policies/instances/syn-0000', { maxMigrationsPerHour: 100 }, s.t.tenantA);
    await s.ticks(30);
    const audit = await s.audit();
    const moved = new Set(liveMigrations(audit).map((e) => e.instanceId));
    assert.deepEqual([...moved], ['syn-0000']);
    assert.ok(audit.some((e) => e.result === 'rejected' && e.instanceId !== 'syn-0000' && e.reasons[0] === R.MIGRATION_RATE_LIMITED));
  } finally {
    await s.t.close();
  }
});

test('removing an instance setting restores the global one at the next tick', async () => {
  const s = await service();
  try {
    await put(s.t, '/v1/policies/global', { maxMigrationsPerHour: 0 });
    await put(s.t, '/v1/policies/instances/syn-0000', { maxMigrationsPerHour: 100 }, s.t.tenantA);
    await s.ticks(1);
    const d = await s.t.inject({ method: 'DELETE', url: '/v1/policies/instances/syn-0000', token: s.t.tenantA });
    assert.equal(d.statusCode, 200);
    const seqBefore = await s.t.svc.store.lastAuditSeq();
    await s.ticks(30);
    const after = (await s.audit()).filter((e) => e.seq > seqBefore);
    assert.deepEqual(liveMigrations(after), [], 'the global 0 now holds syn-0000 too');
  } finally {
    await s.t.close();
  }
});

test('the rate limit counts migrations applied before a restart (read from the audit log)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-settings-'));
  const dbPath = join(dir, 'p.db');
  const clock = new ManualClock(T0);
  try {
    const a = await service({ dbPath, clock });
    await a.ticks(8);
    const moved = liveMigrations(await a.audit(), 'syn-0000');
    assert.ok(moved.length >= 1);
    await a.t.close();
    clock.advance(2000);
    const b = await service({ dbPath, clock, restart: true });
    try {
      await put(b.t, '/v1/policies/instances/syn-0000', { maxMigrationsPerHour: 1 }, b.t.admin);
      const seqAtRestart = await b.t.svc.store.lastAuditSeq();
      await b.ticks(1);
      // one tick = 1 s of wall time = 300 s of model time: the migrations a few seconds ago are within the model hour
      const st = await b.t.inject({ method: 'GET', url: '/get_instance_status?instance_id=syn-0000' });
      assert.equal(st.json.control.migrationsLastHour, moved.length, 'the pre-restart migrations still count');
      // 13 ticks later (more than one model hour) they no longer count; only b's own would
      await b.ticks(13);
      const own = liveMigrations(await b.audit(), 'syn-0000').filter((e) => e.seq > seqAtRestart && act(e).tick >= b.t.svc.loop.currentTick - 11);
      const later = await b.t.inject({ method: 'GET', url: '/get_instance_status?instance_id=syn-0000' });
      assert.equal(later.json.control.migrationsLastHour, own.length);
    } finally {
      await b.t.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** CPU allocation of an instance in the model after the ticks. */
const cpuOf = (s: Awaited<ReturnType<typeof service>>, id: string) => s.t.svc.loop.instance(id)!.state.allocation.cpu;

test('aggressiveness: set at tick 10, the next tick allocates with a 30 % (a=0) or 7.5 % (a=1) VPA margin instead of 15 %', async () => {
  const twins = await Promise.all([service(), service(), service()]);
  const [plain, conservative, aggressive] = twins;
  try {
    for (const s of twins) await s.ticks(10);
    await put(conservative.t, '/v1/policies/instances/syn-0000', { aggressiveness: 0 }, conservative.t.tenantA);
    await put(aggressive.t, '/v1/policies/global', { aggressiveness: 1 });
    for (const s of twins) await s.ticks(1);
    const base = cpuOf(plain, 'syn-0000');
    assert.ok(Math.abs(cpuOf(conservative, 'syn-0000') / base - 1.3 / 1.15) < 1e-9, `conservative: ${cpuOf(conservative, 'syn-0000')} vs ${base}`);
    assert.ok(Math.abs(cpuOf(aggressive, 'syn-0000') / base - 1.075 / 1.15) < 1e-9, `aggressive: ${cpuOf(aggressive, 'syn-0000')} vs ${base}`);
    // only syn-0000 has its own setting in `conservative`; the global one applies to every instance in `aggressive`
    assert.equal(cpuOf(conservative, 'syn-0001'), cpuOf(plain, 'syn-0001'));
    assert.ok(cpuOf(aggressive, 'syn-0001') < cpuOf(plain, 'syn-0001'));
    const resize = (await conservative.audit()).filter((e) => e.instanceId === 'syn-0000' && e.kind === 'resize').at(-1)!;
    assert.ok(resize.reasons.includes(R.AGGRESSIVENESS_SCALED), resize.reasons.join(','));
  } finally {
    await Promise.all(twins.map((s) => s.t.close()));
  }
});

test('aggressiveness: an instance setting overrides the global one (global 1, syn-0000 own 0 = conservative for syn-0000)', async () => {
  const twins = await Promise.all([service(), service()]);
  const [mixed, conservative] = twins;
  try {
    await put(mixed.t, '/v1/policies/global', { aggressiveness: 1 });
    await put(mixed.t, '/v1/policies/instances/syn-0000', { aggressiveness: 0 }, mixed.t.tenantA);
    await put(conservative.t, '/v1/policies/instances/syn-0000', { aggressiveness: 0 }, conservative.t.tenantA);
    for (const s of twins) await s.ticks(12);
    // the other instances' allocations differ (global 1), so hosts can be packed differently: compare what VPA recommends
    const st = await mixed.t.inject({ method: 'GET', url: '/get_instance_status?instance_id=syn-0000' });
    assert.equal(st.json.control.settings.aggressiveness, 0);
    assert.equal(st.json.control.headroom, 2);
    const other = await mixed.t.inject({ method: 'GET', url: '/get_instance_status?instance_id=syn-0001' });
    assert.equal(other.json.control.settings.aggressiveness, 1);
    assert.equal(other.json.control.headroom, 0.5);
    const [x, y] = [cpuOf(mixed, 'syn-0000'), cpuOf(conservative, 'syn-0000')];
    assert.ok(Math.abs(x - y) <= 1e-9 * y, `syn-0000 is allocated as with aggressiveness 0: ${x} vs ${y}`);
  } finally {
    await Promise.all(twins.map((s) => s.t.close()));
  }
});

test('degradationThreshold: an instance above it is degraded (event, gauge, most headroom) and recovers when the threshold allows it', async () => {
  const s = await service();
  try {
    await s.ticks(14);
    const shares = s.t.svc.loop.instanceIds().map((id) => [id, s.t.svc.loop.controlStatus(id)!.violationShare] as const);
    const violating = shares.filter(([, v]) => v > 0).map(([id]) => id);
    assert.ok(violating.length > 0, `some instance has violations: ${JSON.stringify(shares)}`);
    const id = violating[0]!;
    const owner = s.t.svc.loop.instance(id)!.tenant;
    await put(s.t, `/v1/policies/instances/${id}`, { degradationThreshold: 0 }, s.t.admin);
    await s.ticks(1);
    const on = s.events.find((e) => e.type === 'degraded' && (e.data as { instance: string }).instance === id);
    assert.ok(on, 'degraded event');
    assert.equal((on.data as { degraded: boolean }).degraded, true);
    assert.equal(on.tenant, owner);
    assert.match(await s.t.svc.metrics.registry.metrics(), /prescient_instances_degraded 1\b/);
    const st = await s.t.inject({ method: 'GET', url: `/get_instance_status?instance_id=${id}` });
    assert.equal(st.json.control.degraded, true);
    assert.equal(st.json.control.headroom, 2);
    const resize = (await s.audit()).filter((e) => e.instanceId === id && e.kind === 'resize').at(-1);
    assert.ok(resize && act(resize).tick === s.t.svc.loop.currentTick, 'resized with more headroom at once');
    assert.ok(resize.reasons.includes(R.DEGRADED_HEADROOM), resize.reasons.join(','));
    await put(s.t, `/v1/policies/instances/${id}`, { degradationThreshold: 1 }, s.t.admin);
    await s.ticks(1);
    const off = s.events.filter((e) => e.type === 'degraded' && (e.data as { instance: string }).instance === id).at(-1)!;
    assert.equal((off.data as { degraded: boolean }).degraded, false, 'recovered');
    assert.match(await s.t.svc.metrics.registry.metrics(), /prescient_instances_degraded 0\b/);
  } finally {
    await s.t.close();
  }
});
