// Security: tenants see and change only their own profiles, bids and instances; agents report
// only for their registered instances; roles gate admin endpoints; tokens are stored hashed.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sha256Hex } from '../../src/server/auth.js';
import { startService } from '../../src/server/service.js';
import { startTestService, storeSnapshot, validBatch, validProfile, type TestService } from './helpers.js';

describe('tenant isolation', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
    await t.svc.loop.tick();
    const p = await t.inject({ method: 'POST', url: '/v1/profiles', token: t.tenantB, payload: validProfile({ id: 'prof-b1', instanceId: 'syn-0001' }) });
    assert.equal(p.statusCode, 201, p.body);
    const b = await t.inject({ method: 'POST', url: '/v1/bids', token: t.tenantB, payload: { id: 'bid-b1', profileId: 'prof-b1', price: 2 } });
    assert.equal(b.statusCode, 201, b.body);
  });
  after(() => t.close());

  test('a tenant cannot read another tenant\'s instances, profiles, bids (404: ids do not leak)', async () => {
    const reads = [
      '/v1/instances/syn-0001',
      '/get_instance_status?instance_id=syn-0001',
      '/v1/instances/syn-0001/status',
      '/v1/instances/syn-0001/forecast',
      '/v1/instances/syn-0001/multiplier',
      '/v1/instances/syn-0001/credits',
      '/v1/profiles/prof-b1',
      '/v1/bids/bid-b1',
    ];
    for (const url of reads) {
      const r = await t.inject({ method: 'GET', url, token: t.tenantA });
      assert.equal(r.statusCode, 404, `${url}: ${r.body}`);
      assert.ok(!r.body.includes('demo-b'), `${url} does not leak the owner`);
    }
    const lists = await Promise.all(['/v1/instances', '/v1/profiles', '/v1/bids', '/v1/audit?limit=10000'].map((url) => t.inject({ method: 'GET', url, token: t.tenantA })));
    for (const r of lists) {
      assert.equal(r.statusCode, 200);
      assert.ok(!r.body.includes('"demo-b"'), `a list of tenant A holds nothing of tenant B: ${r.body.slice(0, 200)}`);
    }
    // The owner does see them.
    assert.equal((await t.inject({ method: 'GET', url: '/v1/bids/bid-b1', token: t.tenantB })).statusCode, 200);
  });

  test('a tenant cannot change another tenant\'s data, and nothing changes', async () => {
    const before = await storeSnapshot(t.svc.store);
    const attempts = [
      { method: 'POST', url: '/submit_workload_profile', payload: validProfile({ tenant: 'demo-b' }), status: 403, field: 'tenant' },
      { method: 'POST', url: '/submit_workload_profile', payload: validProfile({ instanceId: 'syn-0001' }), status: 404, field: 'instanceId' },
      { method: 'POST', url: '/submit_bid', payload: { profileId: 'prof-b1', price: 1 }, status: 404, field: 'profileId' },
      { method: 'POST', url: '/submit_bid', payload: { tenant: 'demo-b', profileId: 'prof-b1', price: 1 }, status: 403, field: 'tenant' },
      { method: 'POST', url: '/provide_runtime_feedback', payload: { instanceId: 'syn-0001', samples: [{ timestampMs: 5, values: { cpuMillicores: 1 } }] }, status: 404, field: 'instanceId' },
      { method: 'PUT', url: '/v1/policies/instances/syn-0001', payload: { aggressiveness: 1 }, status: 404, field: 'params.id' },
      { method: 'PUT', url: '/v1/policies/global', payload: { aggressiveness: 1 }, status: 403, field: null },
      { method: 'DELETE', url: '/v1/instances/syn-0001', status: 404, field: 'params.id' },
      { method: 'POST', url: '/v1/instances/syn-0001/bond', payload: { units: 1 }, status: 404, field: 'params.id' },
      { method: 'POST', url: '/v1/instances', payload: { id: 'x1', tenant: 'demo-b', request: { cpuMillicores: 1, memoryMiB: 1 } }, status: 403, field: 'tenant' },
      { method: 'POST', url: '/v1/tokens', payload: { role: 'tenant', tenant: 'demo-a' }, status: 403, field: null },
      { method: 'POST', url: '/v1/hosts', payload: { id: 'h', capacity: { cpuMillicores: 1, memoryMiB: 1 } }, status: 403, field: null },
      { method: 'POST', url: '/v1/telemetry', payload: validBatch('agent-a', 99), status: 403, field: null },
    ] as const;
    for (const a of attempts) {
      const r = await t.inject({ method: a.method, url: a.url, token: t.tenantA, ...('payload' in a ? { payload: a.payload as object } : {}) });
      assert.equal(r.statusCode, a.status, `${a.method} ${a.url}: ${r.body}`);
      assert.equal(r.json.error.field, a.field, `${a.method} ${a.url}`);
    }
    assert.equal(await storeSnapshot(t.svc.store), before);
  });

  test('SSE: a tenant receives its own events and fleet summaries only', async () => {
    const { svc } = t;
    const seen: Array<{ type: string; tenant?: string | null }> = [];
    const { visibleTo } = await import('../../src/server/events.js');
    const principalA = { tokenId: 'x', role: 'tenant' as const, tenant: 'demo-a', agentId: null, instanceIds: [] };
    const off = svc.events.subscribe((e) => {
      if (visibleTo(e, principalA)) seen.push(e);
    });
    await svc.loop.tick();
    await t.inject({ method: 'POST', url: '/v1/profiles', token: t.tenantB, payload: validProfile() });
    off();
    assert.ok(seen.some((e) => e.type === 'tick'));
    assert.ok(seen.every((e) => e.tenant === undefined || e.tenant === 'demo-a'));
    assert.ok(!seen.some((e) => e.type === 'profile'), 'tenant B\'s profile event is not delivered to A');
  });
});

describe('agents', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t.close());

  test('an agent reporting for an instance it is not registered for is refused (403), nothing stored', async () => {
    const before = await storeSnapshot(t.svc.store);
    // syn-0004 belongs to the same tenant, but the agent is registered for syn-0000 and syn-0002 only.
    for (const [id, i] of [['syn-0004', 0], ['syn-0001', 0], ['host-000', 0]] as const) {
      const r = await t.inject({ method: 'POST', url: '/v1/telemetry', token: t.agent, payload: validBatch(t.agentId, 10, id) });
      assert.equal(r.statusCode, 403, r.body);
      assert.equal(r.json.error.field, `profiles[${i}].instanceId`);
    }
    // One good profile and one spoofed one in the same batch: all refused.
    const mixed = validBatch(t.agentId, 11);
    mixed.profiles.push({ ...mixed.profiles[0]!, instanceId: 'syn-0003' });
    const r = await t.inject({ method: 'POST', url: '/v1/telemetry', token: t.agent, payload: mixed });
    assert.equal(r.statusCode, 403);
    assert.equal(r.json.error.field, 'profiles[1].instanceId');
    // Claiming another agent's id.
    const other = await t.inject({ method: 'POST', url: '/v1/telemetry', token: t.agent, payload: validBatch('sim-fleet', 12) });
    assert.equal(other.statusCode, 403);
    assert.equal(other.json.error.field, 'agentId');
    assert.equal(await storeSnapshot(t.svc.store), before);
  });

  test('an agent token cannot use tenant or admin endpoints', async () => {
    for (const [method, url] of [
      ['GET', '/v1/instances'],
      ['GET', '/v1/hosts'],
      ['GET', '/get_instance_status?instance_id=syn-0000'],
      ['GET', '/v1/events'],
      ['GET', '/v1/tokens'],
      ['GET', '/v1/audit'],
    ] as const) {
      const r = await t.inject({ method, url, token: t.agent });
      assert.equal(r.statusCode, 403, `${method} ${url}: ${r.body}`);
    }
  });

  test('an admin cannot register a tenant\'s agent for another tenant\'s instance', async () => {
    const r = await t.inject({ method: 'POST', url: '/v1/tokens', payload: { role: 'agent', tenant: 'demo-a', instanceIds: ['syn-0000', 'syn-0001'] } });
    assert.equal(r.statusCode, 403);
    assert.equal(r.json.error.field, 'instanceIds[1]');
  });
});

test('tokens are stored as sha256 digests: no raw token in the database files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-tokens-'));
  const db = join(dir, 'p.db');
  try {
    const t = await startTestService({ dbPath: db });
    const extra = await t.inject({ method: 'POST', url: '/v1/tokens', payload: { role: 'tenant', tenant: 'demo-z' } });
    const secrets = [t.admin, t.tenantA, t.tenantB, t.agent, extra.json.token as string];
    await t.svc.loop.tick();
    const tokens = await t.svc.store.listTokens();
    for (const s of secrets) assert.ok(tokens.some((r) => r.tokenSha256Hex === sha256Hex(s)), 'each token is known by its digest');
    await t.close();
    const files = readdirSync(dir).map((f) => join(dir, f));
    assert.ok(files.some((f) => f.endsWith('p.db')) && existsSync(db));
    for (const f of files) {
      const bytes = readFileSync(f);
      for (const s of secrets) {
        assert.equal(bytes.indexOf(Buffer.from(s, 'utf8')), -1, `${f} holds no raw token`);
        assert.equal(bytes.indexOf(Buffer.from(s.slice(4), 'utf8')), -1, `${f} holds no raw token body`);
      }
    }
    // After a restart the old tokens still work (the digest is all that is needed) and no new admin token is printed.
    const again = await startService({ dbPath: db, port: 0, manualTicks: true, fleet: { hosts: 3, instances: 6, seed: 7 } });
    try {
      assert.equal(again.adminToken, undefined);
      const r = await again.app.inject({ method: 'GET', url: '/v1/instances', headers: { authorization: `Bearer ${secrets[1]}` } });
      assert.equal(r.statusCode, 200);
      assert.equal(JSON.parse(r.body).instances.length, 3);
    } finally {
      await again.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
