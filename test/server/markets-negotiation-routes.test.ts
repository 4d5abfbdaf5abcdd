// The borrow/lend API on a running service: explicit statements (agent for its own instances,
// tenant, admin; 400 naming the field, 404 across tenants, 409 when the instance does not
// negotiate or negotiation is off), the host view (admin sees all, a tenant its own instances),
// SLA labels validated at POST /v1/instances.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NEGOTIATION_COMPONENT, type NegotiationComponent } from '../../src/server/markets/negotiation-component.js';
import { startTestService, type TestService } from './helpers.js';

function isError(r: { statusCode: number; json: any; body: string }, status: number, field: string | RegExp | null) {
  assert.equal(r.statusCode, status, r.body);
  if (field instanceof RegExp) assert.match(String(r.json.error.field), field, r.body);
  else assert.equal(r.json.error.field, field, r.body);
}

describe('borrow/lend API', () => {
  let t: TestService;
  let neg: NegotiationComponent;
  let host: string;
  before(async () => {
    t = await startTestService();
    neg = t.svc.loop.markets!.component<NegotiationComponent>(NEGOTIATION_COMPONENT)!;
    assert.ok(neg, 'the service runs the negotiation by default');
    for (let i = 0; i < 3; i++) await t.svc.loop.tick();
    await neg.round();
    host = t.svc.loop.instance('syn-0000')!.state.hostId!;
  });
  after(async () => t.close());

  test('statements: the agent of an instance, its tenant or an admin; others get 404', async () => {
    const body = { cpuMillicores: { need: 50 }, validSeconds: 30 };
    const a = await t.inject({ method: 'POST', url: '/v1/instances/syn-0000/statement', token: t.agent, payload: body });
    assert.equal(a.statusCode, 202, a.body);
    assert.equal(a.json.hostId, host);
    assert.deepEqual(a.json.statement.cpuMillicores, { need: 50 });
    assert.equal(a.json.statement.untilMs - a.json.statement.atMs, 30_000);
    isError(await t.inject({ method: 'POST', url: '/v1/instances/syn-0001/statement', token: t.agent, payload: body }), 404, 'params.id');
    isError(await t.inject({ method: 'POST', url: '/v1/instances/syn-0000/statement', token: t.tenantB, payload: body }), 404, 'params.id');
    assert.equal((await t.inject({ method: 'POST', url: '/v1/instances/syn-0000/statement', token: t.tenantA, payload: body })).statusCode, 202);
    assert.equal((await t.inject({ method: 'POST', url: '/v1/instances/syn-0001/statement', payload: body })).statusCode, 202);
    assert.equal((await t.inject({ method: 'POST', url: '/v1/instances/syn-0000/statement', token: null, payload: body })).statusCode, 401);
    isError(await t.inject({ method: 'POST', url: '/v1/instances/nope/statement', payload: body }), 404, 'params.id');
  });

  test('statements are validated: what and where', async () => {
    const ent = neg.entitlementOf('syn-0000')!;
    isError(await t.inject({ method: 'POST', url: '/v1/instances/syn-0000/statement', payload: {} }), 400, 'body');
    isError(await t.inject({ method: 'POST', url: '/v1/instances/syn-0000/statement', payload: { cpuMillicores: { need: -1 } } }), 400, 'cpuMillicores.need');
    isError(await t.inject({ method: 'POST', url: '/v1/instances/syn-0000/statement', payload: { memoryMiB: { offer: 1 }, bogus: 1 } }), 400, /^(bogus|body)$/);
    isError(await t.inject({ method: 'POST', url: '/v1/instances/syn-0000/statement', payload: { cpuMillicores: { offer: ent.cpuMillicores + 1 } } }), 400, 'cpuMillicores.offer');
    isError(await t.inject({ method: 'POST', url: '/v1/instances/syn-0000/statement', payload: { memoryMiB: { need: ent.memoryMiB, offer: 1 } } }), 400, 'memoryMiB.offer');
    isError(await t.inject({ method: 'POST', url: '/v1/instances/syn-0000/statement', payload: { cpuMillicores: { need: 1 }, validSeconds: 7200 } }), 400, 'validSeconds');
  });

  test('the host view: entitlements, allocations, loans and the last round; a tenant sees its own instances only', async () => {
    // the resident with the most room above its usage offers all it may; the others state a large need
    const residents = t.svc.loop.instanceIds().filter((id) => t.svc.loop.instance(id)!.state.hostId === host);
    const slack = (id: string) => neg.entitlementOf(id)!.cpuMillicores - (t.svc.loop.instance(id)!.state.lastUsage.cpu || 0);
    const lender = residents.slice().sort((x, y) => slack(y) - slack(x))[0]!;
    const lenderTenant = t.svc.loop.instance(lender)!.tenant;
    await t.inject({ method: 'POST', url: `/v1/instances/${lender}/statement`, payload: { cpuMillicores: { offer: neg.entitlementOf(lender)!.cpuMillicores } } });
    for (const id of residents) if (id !== lender) await t.inject({ method: 'POST', url: `/v1/instances/${id}/statement`, payload: { cpuMillicores: { need: neg.entitlementOf(id)!.cpuMillicores + 1000 } } });
    const r = await neg.round();
    const admin = await t.inject({ method: 'GET', url: `/v1/hosts/${host}/negotiation` });
    assert.equal(admin.statusCode, 200, admin.body);
    assert.equal(admin.json.enabled, true);
    assert.equal(admin.json.intervalMs, 100);
    assert.deepEqual(admin.json.members.map((m: any) => m.instanceId).sort(), residents.slice().sort());
    const sum = (xs: any[], k: string) => xs.reduce((s, m) => s + m[k].cpuMillicores, 0);
    assert.equal(sum(admin.json.members, 'allocation'), sum(admin.json.members, 'entitlement'), 'allocations sum to the entitlements');
    assert.ok(sum(admin.json.members, 'allocation') <= admin.json.capacity.cpuMillicores);
    const last = admin.json.lastRound;
    assert.equal(last.round, r.round);
    assert.ok(last.jain > 0 && last.jain <= 1);
    assert.equal(typeof last.decisionMs, 'number');
    assert.equal(typeof last.unmet, 'number');
    assert.ok(residents.length > 1 && slack(lender) >= 100, `a host with a lender: ${residents.join(',')}, slack ${slack(lender)}`);
    assert.ok(admin.json.loans.length > 0, `${lender} lends to its neighbours`);
    assert.ok(admin.json.loans.every((l: any) => l.lender === lender && l.resource === 'cpu'));
    const m0 = admin.json.members.find((m: any) => m.instanceId === lender);
    assert.ok(m0.allocation.cpuMillicores < m0.entitlement.cpuMillicores);
    assert.equal(m0.lastStatement.sources.cpu, 'offer');
    const token = lenderTenant === 'demo-a' ? t.tenantA : t.tenantB;
    const a = await t.inject({ method: 'GET', url: `/v1/hosts/${host}/negotiation`, token });
    assert.equal(a.statusCode, 200);
    assert.ok(a.json.members.length > 0 && a.json.members.every((m: any) => t.svc.loop.instance(m.instanceId)!.tenant === lenderTenant));
    assert.ok(a.json.loans.length > 0 && a.json.loans.every((l: any) => l.borrower === null || t.svc.loop.instance(l.borrower)!.tenant === lenderTenant), "another tenant's instance shows as null");
    isError(await t.inject({ method: 'GET', url: '/v1/hosts/nope/negotiation' }), 404, 'params.id');
    assert.equal((await t.inject({ method: 'GET', url: `/v1/hosts/${host}/negotiation`, token: t.agent })).statusCode, 403);
    const metrics = await t.inject({ method: 'GET', url: '/metrics', token: null });
    assert.match(metrics.body, /prescient_negotiation_rounds_total \d+/);
    assert.match(metrics.body, /prescient_negotiation_round_decision_seconds_bucket/);
  });

  test('SLA labels are validated when an instance is registered', async () => {
    const base = { id: 'vm-sla', request: { cpuMillicores: 100, memoryMiB: 100 } };
    const r1 = await t.inject({ method: 'POST', url: '/v1/instances', token: t.tenantA, payload: { ...base, labels: { 'prescient.io/sla-class': 'platinum' } } });
    isError(r1, 400, 'labels.prescient.io/sla-class');
    const r2 = await t.inject({ method: 'POST', url: '/v1/instances', token: t.tenantA, payload: { ...base, labels: { 'prescient.io/criticality': '1.5' } } });
    isError(r2, 400, 'labels.prescient.io/criticality');
    const ok = await t.inject({ method: 'POST', url: '/v1/instances', token: t.tenantA, payload: { ...base, labels: { 'prescient.io/sla-class': 'gold', 'prescient.io/criticality': '0.5' } } });
    assert.equal(ok.statusCode, 201, ok.body);
  });
});

describe('borrow/lend off', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService({ negotiationMs: 0 });
    await t.svc.loop.tick();
  });
  after(async () => t.close());
  test('--negotiation-ms 0: no component, statements are refused with 409', async () => {
    assert.equal(t.svc.loop.markets!.component(NEGOTIATION_COMPONENT), undefined);
    isError(await t.inject({ method: 'POST', url: '/v1/instances/syn-0000/statement', payload: { cpuMillicores: { need: 1 } } }), 409, 'params.id');
    const h = await t.inject({ method: 'GET', url: `/v1/hosts/${t.svc.loop.hostIds()[0]}/negotiation` });
    assert.equal(h.statusCode, 200);
    assert.equal(h.json.enabled, false);
  });
});
