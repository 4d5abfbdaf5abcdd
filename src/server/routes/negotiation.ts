// Borrow/lend negotiation endpoints (src/server/markets/negotiation-component.ts):
//   POST /v1/instances/:id/statement   an instance's explicit need / offer (agent for its own
//                                      instances, tenant for its instances, admin)
//   GET  /v1/hosts/:id/negotiation     a host's entitlements, allocations, open loans and last
//                                      round (admin: every instance; tenant: its own instances)
import { z } from 'zod';
import type { Principal } from '../../core/store.js';
import { ApiError, badRequest, forbidden, notFound } from '../errors.js';
import { principalOf, type Api, type ApiContext } from '../app.js';
import { NEGOTIATION_COMPONENT, type NegotiationComponent } from '../markets/negotiation-component.js';
import { idParams, negotiationStatementSchema, type NegotiationStatementBody } from '../schemas.js';
import { instanceInScope } from './common.js';

const TAGS = ['market'];
const accessQuery = z.strictObject({ access_token: z.string().optional() });

export function registerNegotiationRoutes(app: Api, ctx: ApiContext): void {
  const component = () => ctx.loop.markets?.component<NegotiationComponent>(NEGOTIATION_COMPONENT);

  /** The instance a statement is for: an agent only for the instances it was registered for. */
  const statementTarget = async (p: Principal, id: string) => {
    if (p.role === 'agent') {
      if (!p.instanceIds.includes(id)) throw notFound('instance', id, 'params.id');
      const m = ctx.loop.instance(id);
      if (!m) throw notFound('instance', id, 'params.id');
      return { id, tenant: m.tenant };
    }
    const r = await instanceInScope(ctx, p, id, 'params.id');
    return { id: r.id, tenant: r.tenant };
  };

  app.post(
    '/v1/instances/:id/statement',
    {
      schema: {
        params: idParams,
        body: negotiationStatementSchema,
        tags: TAGS,
        summary: "State an instance's need and/or offer for the borrow/lend negotiation (replaces the forecast's need for validSeconds)",
      },
    },
    async (req, reply) => {
      const p = principalOf(req);
      const target = await statementTarget(p, req.params.id);
      const neg = component();
      if (!neg) throw new ApiError(409, 'conflict', 'the borrow/lend negotiation is disabled on this server (negotiation-ms 0)', 'params.id');
      const body: NegotiationStatementBody = req.body;
      const hostId = neg.hostOf(target.id);
      const ent = neg.entitlementOf(target.id);
      if (!hostId || !ent) {
        throw new ApiError(409, 'conflict', `instance "${target.id}" does not negotiate now: it is not placed on a host, or its entitlement does not fit its host's negotiation (see GET /v1/hosts/:id/negotiation)`, 'params.id');
      }
      const check = (field: 'cpuMillicores' | 'memoryMiB', s: { need?: number; offer?: number } | undefined, entitlement: number) => {
        if (!s) return;
        if (s.offer !== undefined && s.offer > entitlement) throw badRequest(`${field}.offer: cannot offer ${s.offer}, more than the entitlement ${entitlement}`, `${field}.offer`);
        if (s.offer !== undefined && s.need !== undefined && s.need + s.offer > entitlement) {
          throw badRequest(`${field}.offer: need ${s.need} + offer ${s.offer} exceed the entitlement ${entitlement}`, `${field}.offer`);
        }
      };
      check('cpuMillicores', body.cpuMillicores, ent.cpuMillicores);
      check('memoryMiB', body.memoryMiB, ent.memoryMiB);
      const now = ctx.clock.nowMs();
      const st = neg.setStatement(target.id, { ...(body.cpuMillicores ? { cpu: body.cpuMillicores } : {}), ...(body.memoryMiB ? { memory: body.memoryMiB } : {}) }, Math.round(body.validSeconds * 1000), now);
      return reply.code(202).send({
        instanceId: target.id,
        hostId,
        entitlement: ent,
        statement: { cpuMillicores: st.cpu ?? null, memoryMiB: st.memory ?? null, atMs: st.atMs, untilMs: st.untilMs },
        /** When it takes effect: the next round (every intervalMs); the allocation reaches the driver at the next tick. */
        nextRoundWithinMs: neg.intervalMs,
      });
    },
  );

  app.get(
    '/v1/hosts/:id/negotiation',
    { schema: { params: idParams, querystring: accessQuery, tags: TAGS, summary: "A host's borrow/lend negotiation: entitlements, allocations, open loans, last round (Jain index, unmet, decision time)" } },
    async (req) => {
      const p = principalOf(req);
      if (p.role === 'agent') throw forbidden('an agent token cannot read the fleet');
      const hostId = req.params.id;
      if (!ctx.loop.hasHost(hostId)) throw notFound('host', hostId, 'params.id');
      const neg = component();
      if (!neg) return { hostId, enabled: false };
      const visible = p.role === 'admin' ? () => true : (id: string) => ctx.loop.instance(id)?.tenant === p.tenant;
      const view = neg.hostView(hostId, visible, ctx.clock.nowMs());
      if (!view) return { hostId, enabled: true, intervalMs: neg.intervalMs, ready: neg.isReady, members: [], loans: [], notNegotiating: [], lastRound: null };
      return { enabled: true, ...view };
    },
  );
}
