// Telemetry ingestion, events, the audit log, tokens and the loop's status.
import { ALL_TENANTS } from '../../core/store.js';
import { telemetryBatchSchema } from '../../core/telemetry.js';
import { generateToken, randomId, sha256Hex } from '../auth.js';
import { badRequest, forbidden, notFound } from '../errors.js';
import { streamEvents } from '../events.js';
import { principalOf, type Api, type ApiContext } from '../app.js';
import { auditQuery, eventsQuery, idParams, tokenCreateSchema } from '../schemas.js';
import { requireAdmin, scopeOf } from './common.js';

export function registerAdminRoutes(app: Api, ctx: ApiContext): void {
  // ---------------------------------------------------------------- telemetry
  app.post(
    '/v1/telemetry',
    {
      bodyLimit: ctx.limits.telemetryBodyLimitBytes,
      schema: { body: telemetryBatchSchema, tags: ['telemetry'], summary: 'Report a batch of performance profiles (agent tokens: only for their registered instances)' },
    },
    async (req) => {
      const p = principalOf(req);
      const batch = req.body;
      if (p.role === 'agent') {
        if (batch.agentId !== p.agentId) throw forbidden(`agentId "${batch.agentId}" is not this token's agent "${p.agentId}"`, 'agentId');
        const allowed = new Set(p.instanceIds);
        batch.profiles.forEach((prof, i) => {
          if (!allowed.has(prof.instanceId)) throw forbidden(`agent "${p.agentId}" is not registered for instance "${prof.instanceId}"`, `profiles[${i}].instanceId`);
        });
      } else if (p.role !== 'admin') {
        throw forbidden('telemetry needs an agent or admin token; tenants report usage with /provide_runtime_feedback');
      }
      for (let i = 0; i < batch.profiles.length; i++) {
        const id = batch.profiles[i]!.instanceId;
        if (!ctx.loop.hasInstance(id) && !ctx.loop.hasHost(id) && !(await ctx.store.getInstance(ALL_TENANTS, id))) {
          throw notFound('instance or host', id, `profiles[${i}].instanceId`);
        }
      }
      const res = await ctx.telemetry.append(batch, ctx.clock.nowMs());
      ctx.metrics.telemetryBatches.inc({ result: res.duplicate ? 'duplicate' : 'stored' });
      ctx.metrics.telemetrySamples.inc({ result: 'stored' }, res.samplesStored);
      if (res.samplesSkipped > 0) ctx.metrics.telemetrySamples.inc({ result: 'skipped' }, res.samplesSkipped);
      if (!res.duplicate) ctx.loop.ingest(batch);
      return { accepted: true, duplicate: res.duplicate, sequence: batch.sequence, samplesStored: res.samplesStored, samplesSkipped: res.samplesSkipped };
    },
  );

  // ---------------------------------------------------------------- events
  app.get('/v1/events', { schema: { querystring: eventsQuery, tags: ['events'], summary: 'Server-sent events: tick, actions, plan-failed, overrun, commit-failed, withheld, degraded, instance, profile, bid, policy' } }, async (req, reply) => {
    const p = principalOf(req);
    if (p.role === 'agent') throw forbidden('an agent token cannot subscribe to events');
    ctx.metrics.sseClients.inc();
    req.raw.on('close', () => ctx.metrics.sseClients.dec());
    streamEvents(ctx.events, req, reply, p);
  });

  // ---------------------------------------------------------------- audit
  app.get('/v1/audit', { schema: { querystring: auditQuery, tags: ['audit'], summary: 'The audit log: every applied (or failed) action with its reasons' } }, async (req) => {
    const p = principalOf(req);
    const q = req.query;
    const entries = await ctx.store.listAudit(scopeOf(p), {
      ...(q.limit !== undefined ? { limit: q.limit } : {}),
      ...(q.afterSeq !== undefined ? { afterSeq: q.afterSeq } : {}),
      ...(q.instanceId !== undefined ? { instanceId: q.instanceId } : {}),
      ...(q.order !== undefined ? { order: q.order } : {}),
    });
    return { entries };
  });

  // ---------------------------------------------------------------- status
  app.get('/v1/status', { schema: { tags: ['fleet'], summary: 'Control loop status: ticks, last tick report, totals' } }, async (req) => {
    const p = principalOf(req);
    if (p.role === 'agent') throw forbidden('an agent token cannot read the loop status');
    const loop = ctx.loop;
    return {
      tick: loop.currentTick,
      tickMs: loop.tickMs,
      stepSeconds: loop.stepSeconds,
      running: loop.isRunning,
      forecast: { ...loop.forecastOptions, levels: [...loop.forecastOptions.levels] },
      policy: ctx.loopPolicy ?? null,
      instances: loop.instanceIds().length,
      hosts: loop.hostIds().length,
      totals: loop.totals,
      lastTick: loop.lastReport ?? null,
      principal: { role: p.role, tenant: p.tenant },
    };
  });

  // ---------------------------------------------------------------- tokens
  app.post('/v1/tokens', { schema: { body: tokenCreateSchema, tags: ['tokens'], summary: 'Create a token (admin). The token is in the response only: store it.' } }, async (req, reply) => {
    const p = principalOf(req);
    requireAdmin(p);
    const b = req.body;
    const now = ctx.clock.nowMs();
    if (b.role === 'agent') {
      // An agent of a tenant may only be registered for that tenant's instances.
      for (let i = 0; i < b.instanceIds!.length; i++) {
        const inst = await ctx.store.getInstance(ALL_TENANTS, b.instanceIds![i]!);
        if (inst && b.tenant !== undefined && inst.tenant !== b.tenant) {
          throw forbidden(`instance "${inst.id}" belongs to another tenant than "${b.tenant}"`, `instanceIds[${i}]`);
        }
      }
    }
    const token = generateToken();
    const id = randomId('tok-');
    const agentId = b.role === 'agent' ? (b.agentId ?? randomId('agent-')) : null;
    const rec = await ctx.store.transaction(async (tx) => {
      if (agentId !== null) await tx.upsertAgent({ id: agentId, tenant: b.tenant ?? null, instanceIds: b.instanceIds! }, now);
      return tx.createToken(
        {
          id,
          tokenSha256Hex: sha256Hex(token),
          role: b.role,
          tenant: b.role === 'admin' ? null : (b.tenant ?? null),
          agentId,
          label: b.label ?? '',
          expiresAtMs: b.expiresInSeconds !== undefined ? now + b.expiresInSeconds * 1000 : null,
        },
        now,
      );
    });
    ctx.auth.invalidate();
    return reply.code(201).send({
      token,
      id: rec.id,
      role: rec.role,
      tenant: rec.tenant,
      agentId: rec.agentId,
      instanceIds: b.instanceIds ?? [],
      expiresAtMs: rec.expiresAtMs,
      note: 'the token is shown once; only its sha256 digest is stored',
    });
  });

  app.get('/v1/tokens', { schema: { tags: ['tokens'], summary: 'Tokens (admin): ids, roles, tenants, never the secrets' } }, async (req) => {
    requireAdmin(principalOf(req));
    const list = await ctx.store.listTokens();
    return {
      tokens: list.map((t) => ({ id: t.id, role: t.role, tenant: t.tenant, agentId: t.agentId, label: t.label, createdAtMs: t.createdAtMs, expiresAtMs: t.expiresAtMs, revokedAtMs: t.revokedAtMs })),
    };
  });

  app.delete('/v1/tokens/:id', { schema: { params: idParams, tags: ['tokens'], summary: 'Revoke a token (admin)' } }, async (req) => {
    const p = principalOf(req);
    requireAdmin(p);
    if (req.params.id === p.tokenId) throw badRequest('params.id: a token cannot revoke itself', 'params.id');
    const ok = await ctx.store.revokeToken(req.params.id, ctx.clock.nowMs());
    if (!ok) throw notFound('token', req.params.id, 'params.id');
    ctx.auth.invalidate();
    return { revoked: req.params.id };
  });
}
