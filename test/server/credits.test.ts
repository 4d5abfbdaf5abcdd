// GET /v1/credits: ledger balances per account and asset, scoped by token.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALL_TENANTS } from '../../src/core/store.js';
import { startTestService } from './helpers.js';

/** The accounts a tenant of the test fleet may read (demo-a owns syn-0000, syn-0002...; demo-b the odd ones). */
function visibleTo(tenant: 'demo-a' | 'demo-b', account: string): boolean {
  if ([tenant, `tenant:${tenant}`, `invoice:${tenant}`, `priority:${tenant}`].includes(account)) return true;
  const m = /^(?:credits|surplus|bonds|alloc):syn-(\d+)$/.exec(account);
  return m !== null && Number(m[1]) % 2 === (tenant === 'demo-a' ? 0 : 1);
}

test('/v1/credits: admin sees every account and asset, a tenant its own and its instances\', an agent none', async () => {
  const t = await startTestService();
  try {
    const empty = await t.inject({ method: 'GET', url: '/v1/credits' });
    assert.equal(empty.statusCode, 200);
    assert.deepEqual(
      empty.json.accounts.filter((a: any) => a.account === 'demo-a' || a.account === 'demo-b'),
      [
        { account: 'demo-a', balanceMicrocredits: 0, hasEntries: false },
        { account: 'demo-b', balanceMicrocredits: 0, hasEntries: false },
      ],
    );
    assert.equal(empty.json.units.money, 'microcredits');
    assert.equal(empty.json.units.credit, 'millicredits');

    const now = Date.now();
    await t.svc.store.appendLedger(
      [
        { account: 'demo-a', delta: 5_250_000, reason: 'deposit' },
        { account: 'tenant:demo-a', delta: 2_000_000, reason: 'deposit' },
        { account: 'system:money-issuer', delta: -7_250_000, reason: 'deposit' },
        { account: 'credits:syn-0000', asset: 'credit', delta: 1500, reason: 'accrual' },
        { account: 'system:credit-issuer', asset: 'credit', delta: -1500, reason: 'accrual' },
        { account: 'alloc:syn-0001', asset: 'cpu', delta: 500, reason: 'allocation' },
        { account: 'host:h-0', asset: 'cpu', delta: -500, reason: 'allocation' },
      ],
      now,
      { allowNegative: ['system:', 'host:'] },
    );
    const stored = await t.svc.store.listBalances(ALL_TENANTS);

    const admin = await t.inject({ method: 'GET', url: '/v1/credits' });
    assert.deepEqual(admin.json.accounts.find((a: any) => a.account === 'demo-a'), { account: 'demo-a', balanceMicrocredits: 5_250_000, hasEntries: true });
    assert.deepEqual(admin.json.accounts.find((a: any) => a.account === 'system:money-issuer'), { account: 'system:money-issuer', balanceMicrocredits: -7_250_000, hasEntries: true });
    assert.deepEqual(admin.json.balances, stored, 'an admin sees every non-zero balance');
    assert.deepEqual(admin.json.balances.find((b: any) => b.account === 'host:h-0'), { account: 'host:h-0', asset: 'cpu', balance: -500 });

    const a = await t.inject({ method: 'GET', url: `/v1/credits?access_token=${t.tenantA}`, token: null });
    assert.equal(a.statusCode, 200);
    assert.deepEqual(a.json.accounts.slice(0, 2), [
      { account: 'demo-a', balanceMicrocredits: 5_250_000, hasEntries: true },
      { account: 'tenant:demo-a', balanceMicrocredits: 2_000_000, hasEntries: true },
    ]);
    assert.deepEqual(a.json.balances, stored.filter((b) => visibleTo('demo-a', b.account)));
    assert.ok(a.json.balances.some((b: any) => b.account === 'credits:syn-0000' && b.asset === 'credit' && b.balance === 1500));

    const b = await t.inject({ method: 'GET', url: '/v1/credits', token: t.tenantB });
    assert.deepEqual(b.json.accounts[0], { account: 'demo-b', balanceMicrocredits: 0, hasEntries: false });
    assert.ok(b.json.accounts.every((x: any) => visibleTo('demo-b', x.account)));
    assert.deepEqual(b.json.balances, stored.filter((x) => visibleTo('demo-b', x.account)));
    assert.ok(b.json.balances.some((x: any) => x.account === 'alloc:syn-0001' && x.asset === 'cpu' && x.balance === 500));

    const credit = await t.inject({ method: 'GET', url: '/v1/credits?asset=credit', token: t.tenantA });
    assert.deepEqual(credit.json.balances, stored.filter((x) => x.asset === 'credit' && visibleTo('demo-a', x.account)));
    assert.equal(credit.json.accounts[0].balanceMicrocredits, 5_250_000, 'accounts stay money');
    const bad = await t.inject({ method: 'GET', url: '/v1/credits?asset=gold' });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /asset/);

    const agent = await t.inject({ method: 'GET', url: '/v1/credits', token: t.agent });
    assert.equal(agent.statusCode, 403);
    const anon = await t.inject({ method: 'GET', url: '/v1/credits', token: null });
    assert.equal(anon.statusCode, 401);
  } finally {
    await t.close();
  }
});
