// Fleet endpoints: instances, hosts, forecasts, multipliers, availability, policies.
import { ALL_TENANTS, GLOBAL_POLICY, type PolicyRecord } from '../../core/store.js';
import { vec } from '../../core/resources.js';
import { badRequest, forbidden, notFound } from '../errors.js';
import { creditLabelsOf } from '../markets/credit-labels.js';
import { creditsMarketOf } from './markets.js';
import { principalOf, type Api, type ApiContext } from '../app.js';
import type { HostUsage } from '../control-loop.js';
import { hostPressure } from '../market.js';
import { predictedHostAvailability } from '../../policy/markets/bonding.js';
import type { ProbForecast } from '../../forecast/types.js';
import { availabilityQuery, forecastQuery, hostCreateSchema, idParams, instanceCreateSchema, listQuery, policySettingsSchema } from '../schemas.js';
import { DEFAULT_LEVEL, forecastOf, instanceInScope, instanceJson, multiplierOf, ownerTenant, requireAdmin, scopeOf, vectorJson } from './common.js';

const FLEET = ['fleet'];

const fin = (x: number): number | null => (Number.isFinite(x) ? x : null);

export function registerFleetRoutes(app: Api, ctx: ApiContext): void {
  // ---------------------------------------------------------------- instances
  app.get('/v1/instances', { schema: { querystring: listQuery, tags: FLEET, summary: 'Instances the token may see, with live usage and allocation' } }, async (req) => {
    const list = await ctx.store.listInstances(scopeOf(principalOf(req)));
    return { instances: list.slice(0, req.query.limit ?? list.length).map((r) => instanceJson(ctx, r)) };
  });

  app.post('/v1/instances', { schema: { body: instanceCreateSchema, tags: FLEET, summary: 'Register an instance (pending until the control loop places it)' } }, async (req, reply) => {
    const p = principalOf(req);
    const body = req.body;
    const tenant = ownerTenant(p, body.tenant);
    const scope = scopeOf(p);
    const credits = creditsMarketOf(ctx);
    if (credits) {
      const lr = creditLabelsOf(body.labels, credits.classNames);
      if (!lr.ok) throw badRequest(lr.message, lr.field);
    }
    if (await ctx.store.getInstance(ALL_TENANTS, body.id)) {
      return reply.code(409).send({ error: { code: 'conflict', message: `instance "${body.id}" already exists`, field: 'id' } });
    }
    const request = vec(body.request);
    const rec = await ctx.store.upsertInstance(
      scope,
      { id: body.id, tenant, hostId: null, priority: body.priority, request, allocation: { ...request }, state: 'pending', labels: body.labels ?? {} },
      ctx.clock.nowMs(),
    );
    ctx.fleet?.addInstance(rec);
    ctx.loop.upsertInstance(rec);
    ctx.events.publish('instance', { id: rec.id, change: 'created' }, tenant);
    return reply.code(201).send({ instance: instanceJson(ctx, rec) });
  });

  app.get('/v1/instances/:id', { schema: { params: idParams, tags: FLEET, summary: 'One instance' } }, async (req) => {
    const p = principalOf(req);
    return { instance: instanceJson(ctx, await instanceInScope(ctx, p, req.params.id, 'params.id')) };
  });

  app.delete('/v1/instances/:id', { schema: { params: idParams, tags: FLEET, summary: 'Remove an instance' } }, async (req) => {
    const p = principalOf(req);
    const r = await instanceInScope(ctx, p, req.params.id, 'params.id');
    await ctx.store.deleteInstance(scopeOf(p), r.id);
    ctx.loop.removeInstance(r.id);
    ctx.fleet?.removeInstance(r.id);
    ctx.events.publish('instance', { id: r.id, change: 'deleted' }, r.tenant);
    return { deleted: r.id };
  });

  app.get('/v1/instances/:id/forecast', { schema: { params: idParams, querystring: forecastQuery, tags: FLEET, summary: 'Latest probabilistic forecast (CPU, memory) with recent actual usage' } }, async (req) => {
    const p = principalOf(req);
    const r = await instanceInScope(ctx, p, req.params.id, 'params.id');
    return { instanceId: r.id, forecast: forecastOf(ctx, r.id), history: ctx.loop.historyOf(r.id, req.query.history ?? 120) };
  });

  app.get(
    '/v1/instances/:id/multiplier',
    {
      schema: {
        params: idParams,
        querystring: availabilityQuery,
        tags: FLEET,
        summary: 'Preemption multiplier of an instance: clamp(base(bonding units) x smoothed predictive factor from its CPU forecast, [min, max]), with its parts and reasons, updated every tick; `level` is the quantile of the host pressure shown as extra information',
      },
    },
    async (req) => {
    const p = principalOf(req);
    const r = await instanceInScope(ctx, p, req.params.id, 'params.id');
    return { instanceId: r.id, multiplier: multiplierOf(ctx, r, req.query.level ?? DEFAULT_LEVEL) };
    },
  );

  // ---------------------------------------------------------------- hosts
  const hostJson = (id: string, level = DEFAULT_LEVEL, usage?: HostUsage) => {
    const u = usage ?? ctx.loop.hostUsage(id, level);
    if (!u) return undefined;
    const h = u.host;
    return {
      id,
      on: h.state.on,
      capacity: vectorJson(h.record.capacity),
      labels: h.record.labels ?? {},
      instances: u.residents,
      allocated: { cpuMillicores: u.allocated.cpu, memoryMiB: u.allocated.memory },
      used: { cpuMillicores: u.used.cpu, memoryMiB: u.used.memory },
      forecast: { level, cpuMillicores: u.forecast.cpu, memoryMiB: u.forecast.memory, instancesWithForecast: u.withForecast },
      reported: { cpuMillicores: fin(h.reported.cpu), memoryMiB: fin(h.reported.memory) },
    };
  };
  const hostsAllowed = (role: string) => {
    if (role === 'agent') throw forbidden('an agent token cannot read the fleet');
  };

  app.get('/v1/hosts', { schema: { querystring: listQuery, tags: FLEET, summary: 'Hosts with allocated, used and forecast capacity' } }, async (req) => {
    hostsAllowed(principalOf(req).role);
    const ids = ctx.loop.hostIds();
    const usages = ctx.loop.hostUsages(DEFAULT_LEVEL);
    return { hosts: ids.slice(0, req.query.limit ?? ids.length).map((id) => hostJson(id, DEFAULT_LEVEL, usages.get(id))!) };
  });

  app.post('/v1/hosts', { schema: { body: hostCreateSchema, tags: FLEET, summary: 'Register or update a host (admin)' } }, async (req, reply) => {
    requireAdmin(principalOf(req));
    const b = req.body;
    const existed = ctx.loop.hasHost(b.id);
    const rec = await ctx.store.upsertHost({ id: b.id, capacity: vec(b.capacity), active: b.active, labels: b.labels ?? {} }, ctx.clock.nowMs());
    ctx.fleet?.addHost(rec);
    ctx.loop.upsertHost(rec);
    return reply.code(existed ? 200 : 201).send({ host: { id: rec.id, capacity: vectorJson(rec.capacity), active: rec.active, labels: rec.labels } });
  });

  app.get('/v1/hosts/:id', { schema: { params: idParams, tags: FLEET, summary: 'One host' } }, async (req) => {
    hostsAllowed(principalOf(req).role);
    const h = hostJson(req.params.id);
    if (!h) throw notFound('host', req.params.id, 'params.id');
    return { host: h };
  });

  app.get(
    '/v1/hosts/:id/availability',
    {
      schema: {
        params: idParams,
        querystring: availabilityQuery,
        tags: FLEET,
        summary: "Predicted free capacity of a host per forecast step: capacity minus the sum of its residents' demand quantiles at `level` (predictedHostAvailability; a resident without a forecast counts its last usage)",
      },
    },
    async (req) => {
      hostsAllowed(principalOf(req).role);
      const level = req.query.level ?? DEFAULT_LEVEL;
      const u = ctx.loop.hostUsage(req.params.id, level);
      if (!u) throw notFound('host', req.params.id, 'params.id');
      const cap = u.host.state.capacity;
      const H = ctx.loop.forecastOptions.horizonSteps;
      const stepMs = ctx.loop.tickMs * ctx.loop.forecastOptions.everyTicks;
      const nowMs = ctx.clock.nowMs();
      const cpuF: ProbForecast[] = [];
      const memF: ProbForecast[] = [];
      let cpuFallback = 0;
      let memFallback = 0;
      let residents = 0;
      for (const id of ctx.loop.instanceIds()) {
        const m = ctx.loop.instance(id)!;
        if (m.state.hostId !== req.params.id) continue;
        residents++;
        const f = ctx.loop.latestForecast(id);
        if (f?.cpu) cpuF.push(f.cpu);
        else if (Number.isFinite(m.state.lastUsage.cpu)) cpuFallback += m.state.lastUsage.cpu;
        if (f?.memory) memF.push(f.memory);
        else if (Number.isFinite(m.state.lastUsage.memory)) memFallback += m.state.lastUsage.memory;
      }
      const cpuA = predictedHostAvailability(cap.cpu - cpuFallback, cpuF, level, H);
      const memA = predictedHostAvailability(cap.memory - memFallback, memF, level, H);
      const on = u.host.state.on;
      const steps = [];
      for (let h = 1; h <= H; h++) {
        const cpuFree = cpuA.perStep[h - 1]!;
        const memFree = memA.perStep[h - 1]!;
        const demand = { cpuMillicores: cap.cpu - cpuFree, memoryMiB: cap.memory - memFree };
        steps.push({
          step: h,
          atMs: nowMs + h * stepMs,
          predictedDemand: demand,
          free: { cpuMillicores: on ? Math.max(0, cpuFree) : 0, memoryMiB: on ? Math.max(0, memFree) : 0 },
          /** Signed: below 0 the host is predicted short. */
          available: { cpuMillicores: cpuFree, memoryMiB: memFree },
          pressure: hostPressure({ cpu: demand.cpuMillicores, memory: demand.memoryMiB }, cap),
        });
      }
      return {
        hostId: req.params.id,
        on,
        level,
        residents,
        residentsWithForecast: { cpu: cpuF.length, memory: memF.length },
        capacity: { cpuMillicores: cap.cpu, memoryMiB: cap.memory },
        allocated: { cpuMillicores: u.allocated.cpu, memoryMiB: u.allocated.memory },
        unallocated: { cpuMillicores: Math.max(0, cap.cpu - u.allocated.cpu), memoryMiB: Math.max(0, cap.memory - u.allocated.memory) },
        /** The least over the horizon: what the host can promise. */
        minimum: { cpuMillicores: cpuA.minimum, memoryMiB: memA.minimum },
        reasons: { cpu: cpuA.reasons, memory: memA.reasons },
        steps,
      };
    },
  );

  // ---------------------------------------------------------------- policies
  const policyJson = (r: PolicyRecord) => ({ target: r.target, settings: r.settings, updatedAtMs: r.updatedAtMs, version: r.version });
  app.get('/v1/policies', { schema: { tags: FLEET, summary: 'Global and per-instance settings (aggressiveness, max migration frequency, degradation threshold); the control loop applies them from its next tick' } }, async (req) => {
    const list = await ctx.store.listPolicies(scopeOf(principalOf(req)));
    return { policies: list.map(policyJson) };
  });
  app.put('/v1/policies/global', { schema: { body: policySettingsSchema, tags: FLEET, summary: 'Set the global settings (admin)' } }, async (req) => {
    const p = principalOf(req);
    requireAdmin(p);
    const r = await ctx.store.putPolicy(ALL_TENANTS, GLOBAL_POLICY, req.body, ctx.clock.nowMs());
    ctx.loop.setPolicy(GLOBAL_POLICY, r.settings); // decisions read it from the next tick on
    ctx.events.publish('policy', policyJson(r));
    return { policy: policyJson(r) };
  });
  app.put('/v1/policies/instances/:id', { schema: { params: idParams, body: policySettingsSchema, tags: FLEET, summary: 'Set one instance\'s settings' } }, async (req) => {
    const p = principalOf(req);
    const inst = await instanceInScope(ctx, p, req.params.id, 'params.id');
    const r = await ctx.store.putPolicy(scopeOf(p), { kind: 'instance', instanceId: inst.id }, req.body, ctx.clock.nowMs());
    ctx.loop.setPolicy(r.target, r.settings);
    ctx.events.publish('policy', policyJson(r), inst.tenant);
    return { policy: policyJson(r) };
  });
  app.delete('/v1/policies/instances/:id', { schema: { params: idParams, tags: FLEET, summary: 'Remove one instance\'s settings' } }, async (req) => {
    const p = principalOf(req);
    const inst = await instanceInScope(ctx, p, req.params.id, 'params.id');
    const deleted = await ctx.store.deletePolicy(scopeOf(p), { kind: 'instance', instanceId: inst.id });
    if (!deleted) throw notFound('policy of instance', inst.id, 'params.id');
    ctx.loop.setPolicy({ kind: 'instance', instanceId: inst.id }, undefined);
    return { deleted: inst.id };
  });
}
