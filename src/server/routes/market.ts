// The workload-market endpoints, at the paths of the issue and as versioned REST equivalents:
//   POST /submit_workload_profile   = POST /v1/profiles
//   POST /submit_bid                = POST /v1/bids
//   GET  /get_instance_status       = GET  /v1/instances/:id/status
//   POST /provide_runtime_feedback  = POST /v1/instances/:id/feedback
// plus GET /v1/profiles[/:id], GET /v1/bids[/:id] (with the auction's view of the bid),
// DELETE /v1/bids/:id (cancel an open bid), GET /v1/market/auction (the last auction round), and
// the borrow/lend routes of ./negotiation.ts.
import { z } from 'zod';
import { ALL_TENANTS, GLOBAL_POLICY, type AuditInput, type BidRecord, type InstanceRecord, type Principal } from '../../core/store.js';
import { account, SYSTEM } from '../../policy/markets/ledger.js';
import type { TelemetryBatch } from '../../core/telemetry.js';
import { randomId, sha256Hex } from '../auth.js';
import { ApiError, badRequest, notFound } from '../errors.js';
import { principalOf, type Api, type ApiContext } from '../app.js';
import { estimateRuntime } from '../market.js';
import { AUCTION_COMPONENT, type AuctionComponent, type AuctionSummary } from '../markets/auction-component.js';
import type { BidPayload } from '../markets/auction-bids.js';
import {
  bidSchema,
  idParams,
  idSchema,
  instanceStatusQuery,
  listQuery,
  runtimeFeedbackSchema,
  workloadProfileSchema,
  type BidBody,
  type RuntimeFeedbackBody,
  type WorkloadProfileBody,
} from '../schemas.js';
import { forecastOf, instanceInScope, instanceJson, multiplierOf, ownerTenant, scopeOf } from './common.js';
import { registerMarketsRoutes } from './markets.js';
import { registerNegotiationRoutes } from './negotiation.js';

const MARKET = ['market'];
const depositSchema = z.strictObject({
  tenant: idSchema,
  /** Money, credits (stored as integer microcredits). */
  credits: z.number().finite().gt(0).max(1e9),
});

export function registerMarketRoutes(app: Api, ctx: ApiContext): void {
  // ---------------------------------------------------------------- profiles
  const submitProfile = async (p: Principal, body: WorkloadProfileBody) => {
    const tenant = ownerTenant(p, body.tenant);
    if (body.instanceId !== undefined) await instanceInScope(ctx, p, body.instanceId, 'instanceId');
    const { id, tenant: _t, ...payload } = body;
    const rec = await ctx.store.putProfile(
      scopeOf(p),
      { id: id ?? randomId('prof-'), tenant, priority: body.priority, instanceId: body.instanceId ?? null, payload },
      ctx.clock.nowMs(),
    );
    ctx.events.publish('profile', { id: rec.id, priority: rec.priority, instanceId: rec.instanceId }, tenant);
    return rec;
  };
  const profileRoute = {
    schema: { body: workloadProfileSchema, tags: MARKET, summary: 'Submit a workload profile: demand (average, peak), bursts, interruptibility, priority' },
  };
  app.post('/submit_workload_profile', profileRoute, async (req, reply) => reply.code(201).send({ profile: await submitProfile(principalOf(req), req.body) }));
  app.post('/v1/profiles', profileRoute, async (req, reply) => reply.code(201).send({ profile: await submitProfile(principalOf(req), req.body) }));
  app.get('/v1/profiles', { schema: { querystring: listQuery, tags: MARKET, summary: 'Workload profiles the token may see' } }, async (req) => {
    const list = await ctx.store.listProfiles(scopeOf(principalOf(req)));
    return { profiles: list.slice(0, req.query.limit ?? list.length) };
  });
  app.get('/v1/profiles/:id', { schema: { params: idParams, tags: MARKET, summary: 'One workload profile' } }, async (req) => {
    const r = await ctx.store.getProfile(scopeOf(principalOf(req)), req.params.id);
    if (!r) throw notFound('profile', req.params.id, 'params.id');
    return { profile: r };
  });

  // ---------------------------------------------------------------- bids
  const auction = () => ctx.loop.markets?.component<AuctionComponent>(AUCTION_COMPONENT);
  /** A bid as the API shows it: an accepted bid's instance (the spot instance takes the bid's id), and the auction's view. */
  const bidJson = (r: BidRecord) => ({
    ...r,
    instanceId: r.instanceId ?? (r.state === 'accepted' ? r.id : null),
    auction: auction()?.bidInfo(r.id) ?? null,
  });
  const submitBid = async (p: Principal, body: BidBody) => {
    const tenant = ownerTenant(p, body.tenant);
    const scope = scopeOf(p);
    const profile = await ctx.store.getProfile(scope, body.profileId);
    if (!profile || profile.tenant !== tenant) throw notFound('profile', body.profileId, 'profileId');
    if (body.instanceId !== undefined) {
      const inst = await instanceInScope(ctx, p, body.instanceId, 'instanceId');
      if (inst.tenant !== tenant) throw notFound('instance', body.instanceId, 'instanceId');
    }
    const priceMicrocredits = Math.round(body.price * 1e6);
    if (!Number.isSafeInteger(priceMicrocredits) || priceMicrocredits <= 0) throw badRequest('price: must be at least 0.000001 credits', 'price');
    // the spot auction: an uninterruptible workload states its preemption penalty (bid or profile)
    const interruptibility = (profile.payload as WorkloadProfileBody | undefined)?.interruptibility;
    const uninterruptible = interruptibility?.tolerance === 'none';
    if (body.penalty !== undefined && !uninterruptible) throw badRequest(`penalty: profile "${profile.id}" is interruptible (tolerance "${interruptibility?.tolerance ?? 'unknown'}"): only an uninterruptible workload carries a preemption penalty`, 'penalty');
    if (uninterruptible && body.penalty === undefined && interruptibility?.penalty === undefined) {
      throw badRequest(`penalty: profile "${profile.id}" is uninterruptible (tolerance "none"): state the preemption penalty (feeCredits and/or priorityReduction) in the bid or the profile`, 'penalty');
    }
    if (body.id !== undefined && (await ctx.store.getInstance(ALL_TENANTS, body.id))) {
      throw new ApiError(409, 'conflict', `an instance "${body.id}" exists: an admitted bid creates its spot instance under the bid's id`, 'id');
    }
    const now = ctx.clock.nowMs();
    const auctionNow = ctx.loop.markets?.nowMs;
    const payload: BidPayload = {
      price: body.price,
      unit: 'credits/hour',
      ...(body.penalty ? { penalty: body.penalty } : {}),
      // expiry in market time (the auction's clock), from the submission on
      ...(body.expiresInSeconds !== undefined ? { expiresAtMs: (auctionNow ?? now) + Math.round(body.expiresInSeconds * 1000) } : {}),
    };
    const rec = await ctx.store.createBid(
      scope,
      {
        id: body.id ?? randomId('bid-'),
        tenant,
        profileId: body.profileId,
        instanceId: body.instanceId ?? null,
        priceMicrocredits,
        priority: body.priority ?? profile.priority,
        payload,
      },
      now,
    );
    auction()?.bidSubmitted(rec, profile);
    ctx.events.publish('bid', { id: rec.id, profileId: rec.profileId, priceMicrocredits: rec.priceMicrocredits, priority: rec.priority, state: rec.state }, tenant);
    return bidJson(rec);
  };
  const bidRoute = { schema: { body: bidSchema, tags: MARKET, summary: 'Submit a bid: price (credits/hour), priority, profile reference' } };
  app.post('/submit_bid', bidRoute, async (req, reply) => reply.code(201).send({ bid: await submitBid(principalOf(req), req.body) }));
  app.post('/v1/bids', bidRoute, async (req, reply) => reply.code(201).send({ bid: await submitBid(principalOf(req), req.body) }));
  app.get('/v1/bids', { schema: { querystring: listQuery, tags: MARKET, summary: 'Bids the token may see' } }, async (req) => {
    const list = await ctx.store.listBids(scopeOf(principalOf(req)));
    return { bids: list.slice(0, req.query.limit ?? list.length).map(bidJson) };
  });
  app.get('/v1/bids/:id', { schema: { params: idParams, tags: MARKET, summary: "One bid, with the auction's view: status, last score, interference, best host, why it waits" } }, async (req) => {
    const r = await ctx.store.getBid(scopeOf(principalOf(req)), req.params.id);
    if (!r) throw notFound('bid', req.params.id, 'params.id');
    return { bid: bidJson(r) };
  });
  app.delete('/v1/bids/:id', { schema: { params: idParams, tags: MARKET, summary: 'Cancel an open bid (owner or admin); 409 once the auction decided it' } }, async (req) => {
    const p = principalOf(req);
    const scope = scopeOf(p);
    const id = req.params.id;
    const cancel = async () => {
      const r = await ctx.store.getBid(scope, id);
      if (!r) throw notFound('bid', id, 'params.id');
      const a = auction();
      const status = a?.bidStatus(id);
      const state = status?.kind === 'decided' ? status.state : r.state;
      if (state !== 'open') throw new ApiError(409, 'conflict', `bid "${id}" is ${state}: only an open bid can be cancelled`, 'params.id');
      const now = ctx.clock.nowMs();
      const reasons = ['cancelled-by-owner', `token=${p.tokenId}`];
      const rec = await ctx.store.transaction(async (tx) => {
        const out = await tx.setBidState(scope, id, 'cancelled', now);
        await tx.appendAudit([{ atMs: now, actor: `token:${p.tokenId}`, action: { kind: 'bid-cancelled', bid: id }, reasons, result: 'applied', tenant: r.tenant }]);
        return out;
      });
      a?.cancelled(id, r.tenant, reasons);
      return rec;
    };
    // between ticks: an auction round never sees a half-cancelled bid
    const rec = await ctx.loop.exclusive(cancel);
    ctx.events.publish('bid', { id: rec.id, state: rec.state }, rec.tenant);
    return { bid: bidJson(rec) };
  });

  // ---------------------------------------------------------------- the auction
  app.post(
    '/v1/market/deposits',
    { schema: { body: depositSchema, tags: MARKET, summary: "Pay money into a tenant's market account (tenant:<tenant>), what spot instances are billed from (admin)" } },
    async (req, reply) => {
      const p = principalOf(req);
      if (p.role !== 'admin') throw new ApiError(403, 'forbidden', `this endpoint needs an admin token; this one is a ${p.role} token`, null);
      const markets = ctx.loop.markets;
      if (!markets) throw new ApiError(409, 'conflict', 'this control plane runs without markets', null);
      const micro = Math.round(req.body.credits * 1e6);
      if (!Number.isSafeInteger(micro) || micro <= 0) throw badRequest('credits: must be at least 0.000001', 'credits');
      const acc = account.tenant(req.body.tenant);
      const balance = await markets.operate((ledger, nowMs) => {
        const r = ledger.transfer('money', SYSTEM.MONEY_ISSUER, acc, micro, 'deposit', nowMs, ['deposit', `token=${p.tokenId}`], req.body.tenant);
        const audit: AuditInput[] = [{ atMs: ctx.clock.nowMs(), actor: `token:${p.tokenId}`, action: { kind: 'deposit', tenant: req.body.tenant, microcredits: micro }, reasons: ['deposit'], result: 'applied', tenant: req.body.tenant }];
        return { result: ledger.balance(acc, 'money'), commit: r.ok, audit };
      });
      return reply.code(201).send({ account: acc, depositedMicrocredits: micro, balanceMicrocredits: balance });
    },
  );

  app.get('/v1/market/auction', { schema: { querystring: listQuery, tags: MARKET, summary: 'The last spot auction round: admitted, pending (with why), notices, stops, penalties, revenue' } }, async (req) => {
    const p = principalOf(req);
    const scope = scopeOf(p);
    const a = auction();
    if (!a) return { enabled: false, everyTicks: null, options: null, round: null };
    const s = a.summary();
    const all = 'allTenants' in scope;
    const tenant = 'tenant' in scope ? scope.tenant : '';
    const mine = <T extends { tenant?: string; victimTenant?: string; payer?: string }>(xs: T[]): T[] => (all ? xs : xs.filter((x) => x.tenant === tenant || x.victimTenant === tenant || x.payer === tenant));
    const round: AuctionSummary | null = s
      ? {
          ...s,
          admitted: mine(s.admitted),
          pending: mine(s.pending).slice(0, req.query.limit ?? 1000),
          expired: mine(s.expired),
          rejected: mine(s.rejected),
          notices: mine(s.notices),
          stopped: mine(s.stopped),
          penalties: mine(s.penalties),
          candidates: mine(s.candidates),
          // the market's revenue is an operator figure
          revenueMicrocredits: all ? s.revenueMicrocredits : 0,
          revenueTotalMicrocredits: all ? s.revenueTotalMicrocredits : 0,
          runningSpot: all ? s.runningSpot : a.runningSpot().filter((x) => x.tenant === tenant).length,
        }
      : null;
    const o = a.options;
    return {
      enabled: true,
      everyTicks: a.everyTicks,
      options: { admitLevel: o.admitLevel, noticeMs: o.noticeMs, minRuntimeMs: o.minRuntimeMs, weights: o.weights, referencePriceMicrocreditsPerHour: o.referencePriceMicrosPerHour },
      round,
    };
  });

  // ---------------------------------------------------------------- instance status
  const status = async (p: Principal, r: InstanceRecord) => {
    const scope = scopeOf(p);
    const profiles = (await ctx.store.listProfiles(scope)).filter((x) => x.instanceId === r.id);
    profiles.sort((a, b) => b.updatedAtMs - a.updatedAtMs);
    const expected = (profiles[0]?.payload as { expectedRuntimeSeconds?: number } | undefined)?.expectedRuntimeSeconds;
    const policy = (await ctx.store.getPolicy(scope, { kind: 'instance', instanceId: r.id })) ?? (await ctx.store.getPolicy(scope, GLOBAL_POLICY).catch(() => undefined));
    const inst = instanceJson(ctx, r);
    return {
      instance: inst,
      usage: inst.usage,
      priority: r.priority,
      preemptionMultiplier: multiplierOf(ctx, r),
      forecast: forecastOf(ctx, r.id),
      estimatedRuntime: estimateRuntime(expected, r.createdAtMs, ctx.clock.nowMs(), ctx.runtime.get(r.id)),
      profileId: profiles[0]?.id ?? null,
      policy: policy ? { target: policy.target, settings: policy.settings } : null,
      // what the control loop applies: settings in effect (per field), degraded, migrations in the last hour
      control: ctx.loop.controlStatus(r.id) ?? null,
    };
  };
  app.get('/get_instance_status', { schema: { querystring: instanceStatusQuery, tags: MARKET, summary: 'Instance status: usage, priority, preemption multiplier, forecast, estimated runtime' } }, async (req) => {
    const p = principalOf(req);
    return status(p, await instanceInScope(ctx, p, req.query.instance_id, 'query.instance_id'));
  });
  app.get('/v1/instances/:id/status', { schema: { params: idParams, tags: MARKET, summary: 'Instance status (same as /get_instance_status)' } }, async (req) => {
    const p = principalOf(req);
    return status(p, await instanceInScope(ctx, p, req.params.id, 'params.id'));
  });

  // ---------------------------------------------------------------- runtime feedback
  let feedbackSeq = 0;
  const feedback = async (p: Principal, instanceId: string, body: Omit<RuntimeFeedbackBody, 'instanceId'>, field: string) => {
    const r = await instanceInScope(ctx, p, instanceId, field);
    const now = ctx.clock.nowMs();
    feedbackSeq = Math.max(feedbackSeq + 1, Math.floor(now) * 1000);
    const batch: TelemetryBatch = {
      agentId: `fb-${sha256Hex(r.tenant).slice(0, 16)}`,
      sequence: feedbackSeq,
      sentAtMs: Math.floor(now),
      profiles: [{ instanceId, intervalMs: body.intervalMs, samples: body.samples }],
    };
    const res = await ctx.telemetry.append(batch, now);
    if (!res.duplicate) ctx.loop.ingest(batch);
    if (body.runtimeSeconds !== undefined || body.completed !== undefined) {
      const prev = ctx.runtime.get(instanceId);
      ctx.runtime.set(instanceId, {
        ...(body.runtimeSeconds !== undefined ? { runtimeSeconds: body.runtimeSeconds } : prev?.runtimeSeconds !== undefined ? { runtimeSeconds: prev.runtimeSeconds } : {}),
        ...(body.completed !== undefined ? { completed: body.completed } : {}),
        atMs: now,
      });
    }
    ctx.metrics.telemetrySamples.inc({ result: 'stored' }, res.samplesStored);
    return { accepted: true, instanceId, samplesStored: res.samplesStored, samplesSkipped: res.samplesSkipped };
  };
  app.post(
    '/provide_runtime_feedback',
    { schema: { body: runtimeFeedbackSchema, tags: MARKET, summary: 'Report actual usage of an instance (and its runtime)' } },
    async (req, reply) => reply.code(202).send(await feedback(principalOf(req), req.body.instanceId, req.body, 'instanceId')),
  );
  app.post(
    '/v1/instances/:id/feedback',
    { schema: { params: idParams, body: runtimeFeedbackSchema.omit({ instanceId: true }), tags: MARKET, summary: 'Report actual usage (same as /provide_runtime_feedback)' } },
    async (req, reply) => reply.code(202).send(await feedback(principalOf(req), req.params.id, req.body, 'params.id')),
  );

  // ---------------------------------------------------------------- credits and bonding (routes/markets.ts)
  registerMarketsRoutes(app, ctx);
  // ---------------------------------------------------------------- borrow/lend (routes/negotiation.ts)
  registerNegotiationRoutes(app, ctx);
}
