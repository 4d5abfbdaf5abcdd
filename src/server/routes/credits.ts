// Credit balances from the store's ledger, for the dashboard's market panel (read-only).
//
// A tenant's account is named by its tenant id (see the Store's ledger section). A tenant token
// sees its own account; an admin token sees the account of every tenant the store knows (from
// instances, workload profiles, bids and tokens). Accounts that are not tenants ('system',
// 'market', ...) cannot be listed: the Store has no list of accounts.
import { z } from 'zod';
import { ALL_TENANTS } from '../../core/store.js';
import { forbidden } from '../errors.js';
import { principalOf, type Api, type ApiContext } from '../app.js';
import { scopeOf } from './common.js';

const creditsQuery = z.strictObject({ access_token: z.string().optional() });

export function registerCreditRoutes(app: Api, ctx: ApiContext): void {
  app.get(
    '/v1/credits',
    { schema: { querystring: creditsQuery, tags: ['market'], summary: 'Credit balances (integer microcredits) of the tenant accounts the token may see' } },
    async (req) => {
      const p = principalOf(req);
      if (p.role === 'agent') throw forbidden('an agent token cannot read credit balances');
      const scope = scopeOf(p);
      let tenants: string[];
      if (p.role === 'tenant') tenants = [p.tenant!];
      else {
        const [instances, profiles, bids, tokens] = await Promise.all([
          ctx.store.listInstances(ALL_TENANTS),
          ctx.store.listProfiles(ALL_TENANTS),
          ctx.store.listBids(ALL_TENANTS),
          ctx.store.listTokens(),
        ]);
        const set = new Set<string>();
        for (const x of [...instances, ...profiles, ...bids]) set.add(x.tenant);
        for (const t of tokens) if (t.tenant) set.add(t.tenant);
        tenants = [...set].sort();
      }
      const accounts = await Promise.all(
        tenants.map(async (account) => {
          const [balanceMicrocredits, first] = await Promise.all([ctx.store.balance(scope, account), ctx.store.listLedger(scope, account, { limit: 1 })]);
          return { account, balanceMicrocredits, hasEntries: first.length > 0 };
        }),
      );
      return { unit: 'microcredits', accounts };
    },
  );
}
