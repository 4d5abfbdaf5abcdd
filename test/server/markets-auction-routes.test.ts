// The spot auction's API on a running service: bids validated with field names (penalty, expiry,
// ids), deposits, a bid admitted after a tick shows its instance and score, GET /v1/bids/:id says
// why a bid waits, DELETE cancels an open bid (owner or admin; 409 once decided), the auction
// summary per tenant; auth and tenant isolation.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AUCTION_COMPONENT, type AuctionComponent } from '../../src/server/markets/auction-component.js';
import { startTestService, validProfile, type TestService } from './helpers.js';

function isError(r: { statusCode: number; json: any; body: string }, status: number, field: string | RegExp) {
  assert.equal(r.statusCode, status, r.body);
  if (typeof field === 'string') assert.equal(r.json.error.field, field, r.body);
  else assert.match(String(r.json.error.field), field, r.body);
}

const small = (over: Record<string, unknown> = {}) =>
  validProfile({ demand: { cpuMillicores: { average: 100, peak: 200 }, memoryMiB: { average: 64, peak: 128 } }, burst: undefined, ...over });

describe('spot auction API', () => {
  let t: TestService;
  let auction: AuctionComponent;
  before(async () => {
    t = await startTestService();
    auction = t.svc.loop.markets!.component<AuctionComponent>(AUCTION_COMPONENT)!;
    for (let i = 0; i < 3; i++) await t.svc.loop.tick();
    assert.equal((await t.inject({ method: 'POST', url: '/v1/profiles', token: t.tenantA, payload: { id: 'prof-spot', ...small() } })).statusCode, 201);
    const u = await t.inject({ method: 'POST', url: '/v1/profiles', token: t.tenantA, payload: { id: 'prof-steady', ...small({ interruptibility: { tolerance: 'none', maxPerDay: 0, maxDurationSeconds: 0 } }) } });
    assert.equal(u.statusCode, 201, u.body);
    assert.equal((await t.inject({ method: 'POST', url: '/v1/profiles', token: t.tenantB, payload: { id: 'prof-b', ...small() } })).statusCode, 201);
  });
  after(async () => t.close());

  test('bids and profiles are validated with the field at fault', async () => {
    const bad = await t.inject({ method: 'POST', url: '/v1/profiles', token: t.tenantA, payload: small({ interruptibility: { tolerance: 'medium', maxPerDay: 1, maxDurationSeconds: 1, penalty: { feeCredits: 1 } } }) });
    isError(bad, 400, 'interruptibility.penalty');
    isError(await t.inject({ method: 'POST', url: '/v1/bids', token: t.tenantA, payload: { profileId: 'prof-steady', price: 1 } }), 400, 'penalty');
    isError(await t.inject({ method: 'POST', url: '/v1/bids', token: t.tenantA, payload: { profileId: 'prof-steady', price: 1, penalty: {} } }), 400, 'penalty');
    isError(await t.inject({ method: 'POST', url: '/v1/bids', token: t.tenantA, payload: { profileId: 'prof-steady', price: 1, penalty: { feeCredits: -1 } } }), 400, 'penalty.feeCredits');
    isError(await t.inject({ method: 'POST', url: '/v1/bids', token: t.tenantA, payload: { profileId: 'prof-spot', price: 1, penalty: { feeCredits: 1 } } }), 400, 'penalty');
    isError(await t.inject({ method: 'POST', url: '/v1/bids', token: t.tenantA, payload: { profileId: 'prof-spot', price: 1, expiresInSeconds: 0 } }), 400, 'expiresInSeconds');
    isError(await t.inject({ method: 'POST', url: '/v1/bids', token: t.tenantA, payload: { id: 'syn-0000', profileId: 'prof-spot', price: 1 } }), 409, 'id');
    const ok = await t.inject({ method: 'POST', url: '/v1/bids', token: t.tenantA, payload: { id: 'bid-steady', profileId: 'prof-steady', price: 1, penalty: { feeCredits: 0.5, priorityReduction: 0.25 } } });
    assert.equal(ok.statusCode, 201, ok.body);
    assert.deepEqual(ok.json.bid.payload.penalty, { feeCredits: 0.5, priorityReduction: 0.25 });
    assert.equal(ok.json.bid.auction, null, 'no round has seen it yet');
  });

  test('deposits: admin only; a funded bid is admitted at the next tick and runs as an instance of its tenant', async () => {
    isError(await t.inject({ method: 'POST', url: '/v1/market/deposits', token: t.tenantA, payload: { tenant: 'demo-a', credits: 100 } }), 403, /null/);
    isError(await t.inject({ method: 'POST', url: '/v1/market/deposits', payload: { tenant: 'demo-a', credits: 0 } }), 400, 'credits');
    const d = await t.inject({ method: 'POST', url: '/v1/market/deposits', payload: { tenant: 'demo-a', credits: 100 } });
    assert.equal(d.statusCode, 201, d.body);
    assert.equal(d.json.balanceMicrocredits, 100_000_000);
    const b = await t.inject({ method: 'POST', url: '/v1/bids', token: t.tenantA, payload: { id: 'bid-spot', profileId: 'prof-spot', price: 2 } });
    assert.equal(b.statusCode, 201, b.body);
    await t.svc.loop.tick();
    const g = await t.inject({ method: 'GET', url: '/v1/bids/bid-spot', token: t.tenantA });
    assert.equal(g.statusCode, 200, g.body);
    assert.equal(g.json.bid.state, 'accepted', JSON.stringify(g.json.bid.auction));
    assert.equal(g.json.bid.instanceId, 'bid-spot');
    assert.equal(g.json.bid.auction.status, 'accepted');
    assert.equal(typeof g.json.bid.auction.score, 'number');
    assert.equal(typeof g.json.bid.auction.interference, 'number');
    assert.ok(g.json.bid.auction.reasons.includes('admitted'));
    const inst = await t.inject({ method: 'GET', url: '/v1/instances/bid-spot', token: t.tenantA });
    assert.equal(inst.statusCode, 200, inst.body);
    assert.equal(inst.json.instance.state, 'running');
    assert.ok(inst.json.instance.hostId);
    assert.equal((await t.inject({ method: 'GET', url: '/v1/instances/bid-spot', token: t.tenantB })).statusCode, 404, 'another tenant does not see it');
    assert.equal((await t.inject({ method: 'GET', url: '/v1/bids/bid-spot', token: t.tenantB })).statusCode, 404);
    // the round's summary: tenants see their own entries only; revenue is the operator's
    const sa = await t.inject({ method: 'GET', url: '/v1/market/auction', token: t.tenantA });
    assert.equal(sa.statusCode, 200, sa.body);
    assert.ok(sa.json.round.admitted.some((x: any) => x.bidId === 'bid-spot'));
    const sb = await t.inject({ method: 'GET', url: '/v1/market/auction', token: t.tenantB });
    assert.deepEqual(sb.json.round.admitted, []);
    assert.equal(sb.json.round.revenueTotalMicrocredits, 0);
    const admin = await t.inject({ method: 'GET', url: '/v1/market/auction' });
    assert.equal(admin.json.enabled, true);
    assert.equal(admin.json.everyTicks, 1);
    await t.svc.loop.tick();
    const admin2 = await t.inject({ method: 'GET', url: '/v1/market/auction' });
    // bid-steady (1 credit/hour, funded by the same deposit) was admitted in the same round
    assert.equal((await t.inject({ method: 'GET', url: '/v1/bids/bid-steady', token: t.tenantA })).json.bid.state, 'accepted');
    assert.equal(admin2.json.round.revenueTotalMicrocredits, Math.floor((2e6 * 300_000) / 3.6e6) + Math.floor((1e6 * 300_000) / 3.6e6), 'one step of 300 s at 2 and at 1 credits/hour');
  });

  test('GET /v1/bids/:id says why a bid waits; DELETE cancels an open bid (owner or admin), 409 once decided', async () => {
    const b = await t.inject({ method: 'POST', url: '/v1/bids', token: t.tenantB, payload: { id: 'bid-poor', profileId: 'prof-b', price: 1 } });
    assert.equal(b.statusCode, 201, b.body);
    await t.svc.loop.tick();
    const g = await t.inject({ method: 'GET', url: '/v1/bids/bid-poor', token: t.tenantB });
    assert.equal(g.json.bid.state, 'open');
    assert.equal(g.json.bid.auction.status, 'held');
    assert.equal(g.json.bid.auction.reasons[0], 'insufficient-funds');
    const list = await t.inject({ method: 'GET', url: '/v1/bids', token: t.tenantB });
    assert.equal(list.json.bids.find((x: any) => x.id === 'bid-poor').auction.status, 'held');
    // cancel: not another tenant's, not without a token, not an agent
    isError(await t.inject({ method: 'DELETE', url: '/v1/bids/bid-poor', token: t.tenantA }), 404, 'params.id');
    assert.equal((await t.inject({ method: 'DELETE', url: '/v1/bids/bid-poor', token: null })).statusCode, 401);
    assert.equal((await t.inject({ method: 'DELETE', url: '/v1/bids/bid-poor', token: t.agent })).statusCode, 403);
    const c = await t.inject({ method: 'DELETE', url: '/v1/bids/bid-poor', token: t.tenantB });
    assert.equal(c.statusCode, 200, c.body);
    assert.equal(c.json.bid.state, 'cancelled');
    assert.equal(c.json.bid.auction.status, 'cancelled');
    isError(await t.inject({ method: 'DELETE', url: '/v1/bids/bid-poor', token: t.tenantB }), 409, 'params.id');
    isError(await t.inject({ method: 'DELETE', url: '/v1/bids/bid-spot', token: t.tenantA }), 409, 'params.id');
    isError(await t.inject({ method: 'DELETE', url: '/v1/bids/nope' }), 404, 'params.id');
    // a cancelled bid never enters a round again
    await t.inject({ method: 'POST', url: '/v1/market/deposits', payload: { tenant: 'demo-b', credits: 100 } });
    await auction.settled();
    await t.svc.loop.tick();
    await t.svc.loop.tick();
    assert.equal((await t.inject({ method: 'GET', url: '/v1/bids/bid-poor', token: t.tenantB })).json.bid.state, 'cancelled');
    assert.equal((await t.inject({ method: 'GET', url: '/v1/instances/bid-poor' })).statusCode, 404);
    const audit = await t.inject({ method: 'GET', url: '/v1/audit?limit=10000', token: t.tenantB });
    assert.ok(audit.json.entries.some((e: any) => e.kind === 'bid-cancelled'), 'the cancellation is audited');
    assert.ok(!audit.json.entries.some((e: any) => e.tenant === 'demo-a'), 'a tenant reads only its own audit entries');
  });

  test('auth: no token is 401, an agent cannot read the auction', async () => {
    assert.equal((await t.inject({ method: 'GET', url: '/v1/market/auction', token: null })).statusCode, 401);
    assert.equal((await t.inject({ method: 'GET', url: '/v1/market/auction', token: t.agent })).statusCode, 403);
    assert.equal((await t.inject({ method: 'POST', url: '/v1/market/deposits', token: t.agent, payload: { tenant: 'demo-a', credits: 1 } })).statusCode, 403);
  });
});
