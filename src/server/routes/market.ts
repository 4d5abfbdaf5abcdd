// The workload-market endpoints, at the paths of the issue and as versioned REST equivalents:
//   POST /submit_workload_profile   = POST /v1/profiles
//   POST /submit_bid                = POST /v1/bids
//   GET  /get_instance_status       = GET  /v1/instances/:id/status
//   POST /provide_runtime_feedback  = POST /v1/instances/:id/feedback
// plus GET /v1/profiles[/:id] and GET /v1/bids[/:id].
import { GLOBAL_POLICY, type InstanceRecord, type Principal } from '../../core/store.js';
import type { TelemetryBatch } from '../../core/telemetry.js';
import { randomId, sha256Hex } from '../auth.js';
import { badRequest, notFound } from '../errors.js';
import { principalOf, type Api, type ApiContext } from '../app.js';
import { estimateRuntime } from '../market.js';
import {
  bidSchema,
  idParams,
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

const MARKET = ['market'];

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
    const rec = await ctx.store.createBid(
      scope,
      {
        id: body.id ?? randomId('bid-'),
        tenant,
        profileId: body.profileId,
        instanceId: body.instanceId ?? null,
        priceMicrocredits,
        priority: body.priority ?? profile.priority,
        payload: { price: body.price, unit: 'credits/hour' },
      },
      ctx.clock.nowMs(),
    );
    ctx.events.publish('bid', { id: rec.id, profileId: rec.profileId, priceMicrocredits: rec.priceMicrocredits, priority: rec.priority, state: rec.state }, tenant);
    return rec;
  };
  const bidRoute = { schema: { body: bidSchema, tags: MARKET, summary: 'Submit a bid: price (credits/hour), priority, profile reference' } };
  app.post('/submit_bid', bidRoute, async (req, reply) => reply.code(201).send({ bid: await submitBid(principalOf(req), req.body) }));
  app.post('/v1/bids', bidRoute, async (req, reply) => reply.code(201).send({ bid: await submitBid(principalOf(req), req.body) }));
  app.get('/v1/bids', { schema: { querystring: listQuery, tags: MARKET, summary: 'Bids the token may see' } }, async (req) => {
    const list = await ctx.store.listBids(scopeOf(principalOf(req)));
    return { bids: list.slice(0, req.query.limit ?? list.length) };
  });
  app.get('/v1/bids/:id', { schema: { params: idParams, tags: MARKET, summary: 'One bid' } }, async (req) => {
    const r = await ctx.store.getBid(scopeOf(principalOf(req)), req.params.id);
    if (!r) throw notFound('bid', req.params.id, 'params.id');
    return { bid: r };
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
}
