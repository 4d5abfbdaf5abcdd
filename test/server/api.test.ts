// Happy path of every endpoint (fastify.inject), and the error shape of bad requests.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ALL_TENANTS } from '../../src/core/store.js';
import { startTestService, storeSnapshot, validBatch, validProfile, type TestService } from './helpers.js';

const ISSUE_PATHS = ['/submit_workload_profile', '/submit_bid', '/get_instance_status', '/provide_runtime_feedback'];
const V1_PATHS = [
  '/v1/instances',
  '/v1/hosts',
  '/v1/instances/{id}/forecast',
  '/v1/instances/{id}/multiplier',
  '/v1/hosts/{id}/availability',
  '/v1/policies',
  '/v1/telemetry',
  '/v1/events',
  '/v1/profiles',
  '/v1/bids',
  '/v1/instances/{id}/status',
  '/v1/instances/{id}/feedback',
  '/v1/instances/{id}/credits',
  '/v1/instances/{id}/bond',
  '/v1/credits',
];

describe('API happy paths', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
    for (let i = 0; i < 3; i++) await t.svc.loop.tick();
  });
  after(() => t.close());

  test('public: /healthz, /metrics, /openapi.json, / need no token', async () => {
    const h = await t.inject({ method: 'GET', url: '/healthz', token: null });
    assert.equal(h.statusCode, 200);
    assert.equal(h.json.status, 'ok');
    assert.equal(h.json.loop.tick, 2);
    const m = await t.inject({ method: 'GET', url: '/metrics', token: null });
    assert.equal(m.statusCode, 200);
    assert.match(m.body, /^prescient_ticks_total 3$/m);
    assert.match(m.body, /prescient_tick_duration_seconds_bucket/);
    const o = await t.inject({ method: 'GET', url: '/openapi.json', token: null });
    assert.equal(o.statusCode, 200);
    assert.equal(o.json.openapi, '3.0.3');
    for (const p of [...ISSUE_PATHS, ...V1_PATHS]) assert.ok(o.json.paths[p], `OpenAPI lists ${p}`);
    assert.ok(o.json.paths['/submit_workload_profile'].post.requestBody, 'request bodies are documented from the zod schemas');
    const page = await t.inject({ method: 'GET', url: '/', token: null });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<html/);
  });

  test('workload profile: POST /submit_workload_profile and /v1/profiles, then read back', async () => {
    const a = await t.inject({ method: 'POST', url: '/submit_workload_profile', token: t.tenantA, payload: validProfile({ id: 'prof-a1', instanceId: 'syn-0000' }) });
    assert.equal(a.statusCode, 201, a.body);
    assert.equal(a.json.profile.id, 'prof-a1');
    assert.equal(a.json.profile.tenant, 'demo-a');
    assert.equal(a.json.profile.instanceId, 'syn-0000');
    assert.equal(a.json.profile.payload.demand.cpuMillicores.peak, 1500);
    const b = await t.inject({ method: 'POST', url: '/v1/profiles', token: t.tenantA, payload: validProfile({ priority: 'low' }) });
    assert.equal(b.statusCode, 201, b.body);
    assert.match(b.json.profile.id, /^prof-/);
    const list = await t.inject({ method: 'GET', url: '/v1/profiles', token: t.tenantA });
    assert.deepEqual(list.json.profiles.map((p: any) => p.id).sort(), ['prof-a1', b.json.profile.id].sort());
    const one = await t.inject({ method: 'GET', url: '/v1/profiles/prof-a1', token: t.tenantA });
    assert.equal(one.json.profile.priority, 'high');
  });

  test('bids: POST /submit_bid and /v1/bids (price in credits -> microcredits), then read back', async () => {
    const a = await t.inject({ method: 'POST', url: '/submit_bid', token: t.tenantA, payload: { id: 'bid-a1', profileId: 'prof-a1', price: 1.25 } });
    assert.equal(a.statusCode, 201, a.body);
    assert.equal(a.json.bid.priceMicrocredits, 1_250_000);
    assert.equal(a.json.bid.priority, 'high', 'defaults to the profile priority');
    assert.equal(a.json.bid.state, 'open');
    const b = await t.inject({ method: 'POST', url: '/v1/bids', token: t.tenantA, payload: { profileId: 'prof-a1', price: 3, priority: 'critical', instanceId: 'syn-0000' } });
    assert.equal(b.statusCode, 201, b.body);
    assert.equal(b.json.bid.instanceId, 'syn-0000');
    const list = await t.inject({ method: 'GET', url: '/v1/bids', token: t.tenantA });
    assert.equal(list.json.bids.length, 2);
    const one = await t.inject({ method: 'GET', url: '/v1/bids/bid-a1', token: t.tenantA });
    assert.equal(one.json.bid.profileId, 'prof-a1');
  });

  test('instance status: usage, priority, preemption multiplier, forecast, estimated runtime', async () => {
    const s = await t.inject({ method: 'GET', url: '/get_instance_status?instance_id=syn-0000', token: t.tenantA });
    assert.equal(s.statusCode, 200, s.body);
    assert.equal(s.json.instance.id, 'syn-0000');
    assert.ok(s.json.usage.cpuMillicores > 0);
    assert.ok(s.json.usage.memoryMiB > 0);
    assert.equal(s.json.usage.samples, 3);
    assert.ok(['critical', 'high', 'normal', 'low'].includes(s.json.priority));
    const pm = s.json.preemptionMultiplier;
    assert.ok(pm.value >= pm.min && pm.value <= pm.max, 'clamped');
    assert.equal(pm.bondUnits, 0);
    assert.ok(Math.abs(pm.value - Math.min(pm.max, Math.max(pm.min, pm.base * pm.factor))) < 1e-12, 'base x factor, clamped');
    assert.equal(typeof pm.hostPressure.value, 'number');
    const mult = await t.inject({ method: 'GET', url: '/v1/instances/syn-0000/multiplier', token: t.tenantA });
    assert.deepEqual(mult.json.multiplier, pm, 'the status shows the same multiplier');
    assert.equal(s.json.forecast.horizonSteps, 12);
    assert.equal(s.json.forecast.cpuMillicores.mean.length, 12);
    assert.deepEqual(s.json.forecast.cpuMillicores.levels, [0.05, 0.25, 0.5, 0.75, 0.9, 0.95]);
    assert.equal(s.json.estimatedRuntime.expectedSeconds, 7200, 'from the profile that names the instance');
    assert.equal(s.json.profileId, 'prof-a1');
    const v1 = await t.inject({ method: 'GET', url: '/v1/instances/syn-0000/status', token: t.tenantA });
    assert.equal(v1.statusCode, 200);
    assert.equal(v1.json.instance.id, 'syn-0000');
  });

  test('runtime feedback: POST /provide_runtime_feedback and /v1/instances/:id/feedback store the samples', async () => {
    const before = await t.svc.store.querySamples(ALL_TENANTS, 'syn-0002', { fromMs: 0, toMs: 2e12 });
    const a = await t.inject({
      method: 'POST',
      url: '/provide_runtime_feedback',
      token: t.tenantA,
      payload: { instanceId: 'syn-0002', samples: [{ timestampMs: 1_600_000_000_000, values: { cpuMillicores: 123, memoryMiB: 456 } }], runtimeSeconds: 100 },
    });
    assert.equal(a.statusCode, 202, a.body);
    assert.equal(a.json.samplesStored, 1);
    const b = await t.inject({
      method: 'POST',
      url: '/v1/instances/syn-0002/feedback',
      token: t.tenantA,
      payload: { samples: [{ timestampMs: 1_600_000_000_001, values: { cpuMillicores: 124 } }], completed: true },
    });
    assert.equal(b.statusCode, 202, b.body);
    const afterS = await t.svc.store.querySamples(ALL_TENANTS, 'syn-0002', { fromMs: 0, toMs: 2e12 });
    assert.equal(afterS.length, before.length + 2);
    const s = await t.inject({ method: 'GET', url: '/get_instance_status?instance_id=syn-0002', token: t.tenantA });
    assert.equal(s.json.estimatedRuntime.completed, true);
    assert.equal(s.json.estimatedRuntime.remainingSeconds, 0);
    assert.equal(s.json.estimatedRuntime.source, 'runtime-feedback');
  });

  test('instances: list, create, get, forecast, multiplier, delete', async () => {
    const list = await t.inject({ method: 'GET', url: '/v1/instances', token: t.tenantA });
    assert.equal(list.statusCode, 200);
    assert.deepEqual(list.json.instances.map((i: any) => i.id), ['syn-0000', 'syn-0002', 'syn-0004']);
    assert.ok(list.json.instances.every((i: any) => i.hostId !== null && i.state === 'running'), 'the loop placed them');
    const c = await t.inject({ method: 'POST', url: '/v1/instances', token: t.tenantA, payload: { id: 'web-1', request: { cpuMillicores: 500, memoryMiB: 256 } } });
    assert.equal(c.statusCode, 201, c.body);
    assert.equal(c.json.instance.state, 'pending');
    const tick = await t.svc.loop.tick();
    assert.ok(tick.applied);
    const g = await t.inject({ method: 'GET', url: '/v1/instances/web-1', token: t.tenantA });
    assert.equal(g.statusCode, 200);
    assert.notEqual(g.json.instance.hostId, null, 'placed by the next tick');
    const f = await t.inject({ method: 'GET', url: '/v1/instances/syn-0000/forecast?history=5', token: t.tenantA });
    assert.equal(f.statusCode, 200);
    assert.equal(f.json.history.length, 4);
    assert.ok(f.json.history.every((h: any) => h.usage.cpuMillicores > 0 && h.allocation.cpuMillicores > 0));
    assert.equal(f.json.forecast.cpuMillicores.quantiles['0.9'].length, 12);
    const m = await t.inject({ method: 'GET', url: '/v1/instances/syn-0000/multiplier', token: t.tenantA });
    assert.equal(m.statusCode, 200);
    assert.ok(m.json.multiplier.value >= 0.5 && m.json.multiplier.value <= 20);
    assert.ok(m.json.multiplier.reasons.includes('bond-multiplier'));
    const d = await t.inject({ method: 'DELETE', url: '/v1/instances/web-1', token: t.tenantA });
    assert.equal(d.statusCode, 200);
    assert.equal((await t.inject({ method: 'GET', url: '/v1/instances/web-1', token: t.tenantA })).statusCode, 404);
    assert.ok(!t.svc.loop.hasInstance('web-1'));
    await t.svc.loop.tick();
  });

  test('hosts: list with allocated/used/forecast, create, get, availability', async () => {
    const list = await t.inject({ method: 'GET', url: '/v1/hosts' });
    assert.equal(list.statusCode, 200);
    assert.equal(list.json.hosts.length, 3);
    const on = list.json.hosts.filter((h: any) => h.on);
    assert.ok(on.length >= 1);
    for (const h of on) {
      assert.ok(h.allocated.cpuMillicores <= h.capacity.cpuMillicores + 1e-6);
      assert.ok(h.used.cpuMillicores >= 0 && h.forecast.cpuMillicores >= 0);
    }
    const c = await t.inject({ method: 'POST', url: '/v1/hosts', payload: { id: 'host-extra', capacity: { cpuMillicores: 4000, memoryMiB: 8192 }, active: false } });
    assert.equal(c.statusCode, 201, c.body);
    await t.svc.loop.tick();
    const g = await t.inject({ method: 'GET', url: '/v1/hosts/host-extra' });
    assert.equal(g.statusCode, 200);
    assert.equal(g.json.host.capacity.cpuMillicores, 4000);
    const a = await t.inject({ method: 'GET', url: `/v1/hosts/${on[0].id}/availability?level=0.5` });
    assert.equal(a.statusCode, 200, a.body);
    assert.equal(a.json.steps.length, 12);
    assert.equal(a.json.level, 0.5);
    for (const s of a.json.steps) {
      assert.ok(s.free.cpuMillicores >= 0 && s.free.cpuMillicores <= a.json.capacity.cpuMillicores);
      assert.ok(Math.abs(s.free.cpuMillicores - Math.max(0, a.json.capacity.cpuMillicores - s.predictedDemand.cpuMillicores)) < 1e-6);
    }
    assert.equal(a.json.minimum.cpuMillicores, Math.min(...a.json.steps.map((s: any) => s.available.cpuMillicores)));
  });

  test('policies: global (admin) and per instance (tenant), list, delete', async () => {
    const g = await t.inject({ method: 'PUT', url: '/v1/policies/global', payload: { aggressiveness: 0.5, maxMigrationsPerHour: 4, degradationThreshold: 0.05 } });
    assert.equal(g.statusCode, 200, g.body);
    const i = await t.inject({ method: 'PUT', url: '/v1/policies/instances/syn-0000', token: t.tenantA, payload: { aggressiveness: 0.2 } });
    assert.equal(i.statusCode, 200, i.body);
    assert.deepEqual(i.json.policy.target, { kind: 'instance', instanceId: 'syn-0000' });
    const listA = await t.inject({ method: 'GET', url: '/v1/policies', token: t.tenantA });
    assert.equal(listA.statusCode, 200);
    assert.ok(listA.json.policies.some((p: any) => p.target.kind === 'instance'));
    const s = await t.inject({ method: 'GET', url: '/get_instance_status?instance_id=syn-0000', token: t.tenantA });
    assert.deepEqual(s.json.policy.settings, { aggressiveness: 0.2 });
    const d = await t.inject({ method: 'DELETE', url: '/v1/policies/instances/syn-0000', token: t.tenantA });
    assert.equal(d.statusCode, 200);
  });

  test('telemetry: an agent reports for its instance; a resent batch is acknowledged once', async () => {
    const a = await t.inject({ method: 'POST', url: '/v1/telemetry', token: t.agent, payload: validBatch(t.agentId, 1) });
    assert.equal(a.statusCode, 200, a.body);
    assert.deepEqual([a.json.duplicate, a.json.samplesStored], [false, 2]);
    const again = await t.inject({ method: 'POST', url: '/v1/telemetry', token: t.agent, payload: validBatch(t.agentId, 1) });
    assert.equal(again.statusCode, 200);
    assert.equal(again.json.duplicate, true);
    const r = await t.svc.loop.tick();
    assert.ok(r.samplesIngested >= 2 + 6);
  });

  test('audit and status: actions with reasons; loop totals', async () => {
    const a = await t.inject({ method: 'GET', url: '/v1/audit?limit=5&order=desc' });
    assert.equal(a.statusCode, 200);
    assert.ok(a.json.entries.length > 0);
    for (const e of a.json.entries) {
      assert.equal(e.actor, 'control-loop');
      assert.ok(e.reasons.length > 0, 'every action has reasons');
    }
    const aA = await t.inject({ method: 'GET', url: '/v1/audit?limit=1000', token: t.tenantA });
    assert.ok(aA.json.entries.every((e: any) => e.tenant === 'demo-a'));
    const s = await t.inject({ method: 'GET', url: '/v1/status' });
    assert.equal(s.statusCode, 200);
    assert.ok(s.json.totals.ticks >= 5);
    assert.equal(s.json.policy.policy, 'vpa');
  });

  test('tokens: create, list (no secrets), revoke', async () => {
    const c = await t.inject({ method: 'POST', url: '/v1/tokens', payload: { role: 'tenant', tenant: 'demo-c', label: 'ci' } });
    assert.equal(c.statusCode, 201);
    assert.match(c.json.token, /^psk_[A-Za-z0-9_-]{43}$/);
    const list = await t.inject({ method: 'GET', url: '/v1/tokens' });
    assert.ok(list.json.tokens.some((x: any) => x.id === c.json.id));
    assert.ok(!list.body.includes(c.json.token), 'the secret is never listed');
    assert.equal((await t.inject({ method: 'GET', url: '/v1/instances', token: c.json.token })).statusCode, 200);
    const d = await t.inject({ method: 'DELETE', url: `/v1/tokens/${c.json.id}` });
    assert.equal(d.statusCode, 200);
    assert.equal((await t.inject({ method: 'GET', url: '/v1/instances', token: c.json.token })).statusCode, 401, 'revoked at once');
  });
});

describe('API errors', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService({ limits: { bodyLimitBytes: 4096, rateLimitPerMinute: 1000 } });
    await t.svc.loop.tick();
  });
  after(() => t.close());

  const isError = (r: { statusCode: number; json: any }, status: number, field: string | RegExp | null): void => {
    assert.equal(r.statusCode, status, JSON.stringify(r.json));
    assert.equal(typeof r.json.error.code, 'string');
    assert.equal(typeof r.json.error.message, 'string');
    if (field === null) assert.equal(r.json.error.field, null);
    else if (typeof field === 'string') assert.equal(r.json.error.field, field);
    else assert.match(r.json.error.field, field);
  };

  test('malformed JSON is a 400 naming the body, and changes nothing', async () => {
    const before = await storeSnapshot(t.svc.store);
    const r = await t.inject({ method: 'POST', url: '/submit_bid', headers: { 'content-type': 'application/json' }, payload: '{"profileId": "x", price: }' });
    isError(r, 400, 'body');
    assert.equal(await storeSnapshot(t.svc.store), before);
  });

  test('wrong types, NaN as a string, negative and absurd quantities name the field', async () => {
    isError(await t.inject({ method: 'POST', url: '/submit_bid', payload: { profileId: 'p', price: 'NaN' } }), 400, 'price');
    isError(await t.inject({ method: 'POST', url: '/submit_workload_profile', payload: validProfile({ tenant: 'demo-a', demand: { cpuMillicores: { average: -1, peak: 2 }, memoryMiB: { average: 1, peak: 2 } } }) }), 400, 'demand.cpuMillicores.average');
    isError(await t.inject({ method: 'POST', url: '/v1/instances', payload: { id: 'x', tenant: 'demo-a', request: { cpuMillicores: 1e300, memoryMiB: 1 } } }), 400, 'request.cpuMillicores');
    const b = validBatch(t.agentId, 5);
    (b.profiles[0]!.samples[1]!.values as any).memoryMiB = 'NaN';
    isError(await t.inject({ method: 'POST', url: '/v1/telemetry', token: t.agent, payload: b }), 400, 'profiles[0].samples[1].values.memoryMiB');
    isError(await t.inject({ method: 'POST', url: '/submit_bid', payload: { profileId: 'p', price: 1, bogus: 1 } }), 400, /^(bogus|body)$/);
    isError(await t.inject({ method: 'GET', url: '/get_instance_status' }), 400, 'query.instance_id');
    isError(await t.inject({ method: 'GET', url: '/v1/instances/bad%20id' }), 400, 'params.id');
  });

  test('unknown instance, profile, host or route: 404 naming the field', async () => {
    isError(await t.inject({ method: 'GET', url: '/get_instance_status?instance_id=nope' }), 404, 'query.instance_id');
    isError(await t.inject({ method: 'GET', url: '/v1/instances/nope/forecast' }), 404, 'params.id');
    isError(await t.inject({ method: 'GET', url: '/v1/hosts/nope/availability' }), 404, 'params.id');
    isError(await t.inject({ method: 'POST', url: '/submit_bid', payload: { tenant: 'demo-a', profileId: 'nope', price: 1 } }), 404, 'profileId');
    isError(await t.inject({ method: 'POST', url: '/provide_runtime_feedback', payload: { instanceId: 'nope', samples: [{ timestampMs: 1, values: {} }] } }), 404, 'instanceId');
    const ag = await t.inject({ method: 'POST', url: '/v1/tokens', payload: { role: 'agent', agentId: 'agent-x', instanceIds: ['ghost'] } });
    isError(await t.inject({ method: 'POST', url: '/v1/telemetry', token: ag.json.token, payload: validBatch('agent-x', 1, 'ghost') }), 404, 'profiles[0].instanceId');
    isError(await t.inject({ method: 'GET', url: '/v1/nothing' }), 404, 'url');
  });

  test('no token 401, wrong content type 415, body too large 413', async () => {
    isError(await t.inject({ method: 'GET', url: '/v1/instances', token: null }), 401, 'headers.authorization');
    isError(await t.inject({ method: 'GET', url: '/v1/instances', token: 'psk_not-a-token' }), 401, 'headers.authorization');
    isError(await t.inject({ method: 'GET', url: '/v1/instances', token: null, headers: { authorization: 'Basic abc' } }), 401, 'headers.authorization');
    isError(await t.inject({ method: 'POST', url: '/submit_bid', headers: { 'content-type': 'text/plain' }, payload: 'hello' }), 415, 'headers.content-type');
    isError(await t.inject({ method: 'POST', url: '/submit_bid', payload: { profileId: 'x'.repeat(5000), price: 1 } }), 413, 'body');
  });
});

test('rate limit: 429 with the error shape once a token exceeds its budget', async () => {
  const t = await startTestService({ limits: { rateLimitPerMinute: 20 } });
  try {
    let last = 0;
    let body: any;
    for (let i = 0; i < 25; i++) {
      const r = await t.inject({ method: 'GET', url: '/v1/hosts', token: t.tenantA });
      last = r.statusCode;
      body = r.json;
    }
    assert.equal(last, 429);
    assert.equal(body.error.code, 'rate_limited');
    // Another token has its own budget.
    assert.equal((await t.inject({ method: 'GET', url: '/v1/hosts', token: t.tenantB })).statusCode, 200);
  } finally {
    await t.close();
  }
});
