// GET /v1/credits: balances of the tenant accounts from the store's ledger, scoped by token.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestService } from './helpers.js';

test('/v1/credits: admin sees every tenant account, a tenant only its own, an agent none', async () => {
  const t = await startTestService();
  try {
    const empty = await t.inject({ method: 'GET', url: '/v1/credits' });
    assert.equal(empty.statusCode, 200);
    assert.deepEqual(
      empty.json.accounts.map((a: any) => [a.account, a.balanceMicrocredits, a.hasEntries]),
      [
        ['demo-a', 0, false],
        ['demo-b', 0, false],
      ],
    );
    await t.svc.store.appendLedger([{ account: 'demo-a', deltaMicrocredits: 5_250_000, reason: 'deposit' }], Date.now());
    const admin = await t.inject({ method: 'GET', url: '/v1/credits' });
    assert.deepEqual(admin.json.accounts.find((a: any) => a.account === 'demo-a'), { account: 'demo-a', balanceMicrocredits: 5_250_000, hasEntries: true });
    const b = await t.inject({ method: 'GET', url: '/v1/credits', token: t.tenantB });
    assert.deepEqual(b.json.accounts, [{ account: 'demo-b', balanceMicrocredits: 0, hasEntries: false }]);
    const a = await t.inject({ method: 'GET', url: `/v1/credits?access_token=${t.tenantA}`, token: null });
    assert.equal(a.statusCode, 200);
    assert.deepEqual(a.json.accounts, [{ account: 'demo-a', balanceMicrocredits: 5_250_000, hasEntries: true }]);
    const agent = await t.inject({ method: 'GET', url: '/v1/credits', token: t.agent });
    assert.equal(agent.statusCode, 403);
    const anon = await t.inject({ method: 'GET', url: '/v1/credits', token: null });
    assert.equal(anon.statusCode, 401);
  } finally {
    await t.close();
  }
});
