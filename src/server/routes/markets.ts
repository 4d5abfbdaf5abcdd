// Burstable credits and bonding through the API (the markets in the loop, src/server/markets):
//   GET  /v1/instances/:id/credits   class, mode, balance, surplus, bonding units, throttle, recent earnings/spending
//   POST /v1/instances/:id/bond      bond accrued credits into bonding units (irreversible, taxed)
// The multiplier (GET /v1/instances/:id/multiplier) and the host availability live with the fleet
// routes; they read the same component.
import { z } from 'zod';
import type { AuditInput } from '../../core/store.js';
import type { BondResult } from '../../policy/markets/credits.js';
import { principalOf, type Api, type ApiContext } from '../app.js';
import { ApiError, asApiError } from '../errors.js';
import { CREDIT_CLASS_LABEL } from '../markets/credit-labels.js';
import { CREDITS_COMPONENT, type CreditsMarket, type CreditsView } from '../markets/credits-market.js';
import { idParams } from '../schemas.js';
import { instanceInScope, multiplierOf } from './common.js';

const MARKET = ['market'];

export const bondSchema = z.strictObject({
  /** Bonding units to buy (each costs the book's unit, default 100 credits, plus the bonding tax, default 1 %). */
  units: z.number().int().min(1).max(1_000_000).describe('bonding units to buy; each costs 100 credits (default) plus a 1 % bonding tax; irreversible'),
});
export type BondBody = z.infer<typeof bondSchema>;
const creditsQuery = z.strictObject({ access_token: z.string().optional() });

const cr = (millicredits: number): number => millicredits / 1000;

export function creditsMarketOf(ctx: ApiContext): CreditsMarket | undefined {
  return ctx.loop.markets?.component<CreditsMarket>(CREDITS_COMPONENT);
}

function creditsJson(v: CreditsView) {
  return {
    class: { name: v.className, vcpus: v.vcpus, baselinePercent: v.baselinePercent, baselineMillicores: v.baselineMillicores, creditsPerHour: v.creditsPerHour, maxEarnedCredits: v.maxEarnedCredits },
    mode: v.mode,
    running: v.running,
    balance: { credits: cr(v.balanceMillicredits), millicredits: v.balanceMillicredits },
    surplus: { credits: cr(v.surplusMillicredits), millicredits: v.surplusMillicredits },
    bondUnits: v.bondUnits,
    throttle: v.throttle,
    recent: v.recent,
  };
}

export function registerMarketsRoutes(app: Api, ctx: ApiContext): void {
  app.get(
    '/v1/instances/:id/credits',
    {
      schema: {
        params: idParams,
        querystring: creditsQuery,
        tags: MARKET,
        summary: `Burstable CPU credits of an instance (label ${CREDIT_CLASS_LABEL}): class, mode, balance, surplus, bonding units, throttle, credits earned and spent over the last model hour`,
      },
    },
    async (req) => {
      const p = principalOf(req);
      const r = await instanceInScope(ctx, p, req.params.id, 'params.id');
      const market = creditsMarketOf(ctx);
      const view = market?.credits(r.id);
      return {
        instanceId: r.id,
        tenant: r.tenant,
        units: { balance: 'credits (1 = one vCPU at 100 % for one minute); millicredits as stored', recent: 'credits' },
        credits: view ? creditsJson(view) : null,
        bondUnits: market ? market.bondUnits(r.id) : 0,
        multiplier: multiplierOf(ctx, r),
      };
    },
  );

  app.post(
    '/v1/instances/:id/bond',
    {
      schema: {
        params: idParams,
        body: bondSchema,
        tags: MARKET,
        summary: 'Bond accrued CPU credits into bonding units (irreversible; a bonding tax goes to the system): raises the instance\'s preemption multiplier',
      },
    },
    async (req) => {
      const p = principalOf(req);
      const r = await instanceInScope(ctx, p, req.params.id, 'params.id');
      const markets = ctx.loop.markets;
      const market = creditsMarketOf(ctx);
      if (!markets || !market) throw new ApiError(409, 'conflict', 'this control plane runs without markets: nothing can be bonded', null);
      if (!market.has(r.id)) {
        throw new ApiError(409, 'conflict', `instance "${r.id}" has no credit class (label ${CREDIT_CLASS_LABEL}): it earns no credits to bond`, 'params.id');
      }
      const units = req.body.units;
      let res: BondResult | undefined;
      try {
        res = await markets.operate((_ledger, nowMs) => {
          if (!market.has(r.id)) return { result: undefined, commit: false };
          const b = market.bond(r.id, units, nowMs);
          const audit: AuditInput[] = [
            {
              atMs: ctx.clock.nowMs(),
              actor: `token:${p.tokenId}`,
              action: { kind: 'bond', instance: r.id, units, ...(b.ok ? { bondedMillicredits: b.bondedMillicredits, taxMillicredits: b.taxMillicredits, totalUnits: b.totalUnits } : {}) },
              reasons: b.reasons,
              result: 'applied',
              instanceId: r.id,
              hostId: ctx.loop.instance(r.id)?.state.hostId ?? r.hostId,
              tenant: r.tenant,
            },
          ];
          return { result: b, commit: b.ok, audit };
        });
      } catch (err) {
        throw asApiError(err) ?? err;
      }
      if (!res) throw new ApiError(409, 'conflict', `instance "${r.id}" has no credit class any more`, 'params.id');
      if (!res.ok) {
        throw new ApiError(
          409,
          'conflict',
          `insufficient credits: bonding ${units} unit(s) costs ${cr(res.needMillicredits)} credits (bonded credits plus the bonding tax); the balance is ${cr(res.haveMillicredits)} credits (at most ${market.book.maxBondable(r.id)} unit(s) now)`,
          'units',
        );
      }
      const balance = market.book.balance(r.id);
      const multiplier = multiplierOf(ctx, r);
      ctx.events.publish('bond', { instance: r.id, units, totalUnits: res.totalUnits, taxMillicredits: res.taxMillicredits, multiplier: multiplier.value }, r.tenant);
      return {
        instanceId: r.id,
        units,
        bondedCredits: cr(res.bondedMillicredits),
        taxCredits: cr(res.taxMillicredits),
        bondUnits: res.totalUnits,
        balance: { credits: cr(balance), millicredits: balance },
        multiplier,
        reasons: res.reasons,
      };
    },
  );
}
