// Ledger balances from the store, for the dashboard's market panel (read-only).
//
// The store's ledger has six assets (money, CPU credits, cpu, memory, bonds, priority; units in
// LEDGER_ASSET_UNITS). A token sees what its store scope may read (src/core/store.ts, ledger
// section): a tenant token its own accounts (`<tenant>`, `tenant:<tenant>`, `invoice:<tenant>`,
// `priority:<tenant>`) and those of its instances (`credits:<i>`, `surplus:<i>`, `bonds:<i>`,
// `alloc:<i>`); an admin token every account, system accounts included.
//
// Response:
//  - `balances`: every non-zero balance the token may see, per account and asset, in the asset's
//    unit (`units` names them), sorted by account then asset;
//  - `accounts` (money only, what the dashboard shows): each tenant's own account `<tenant>` (a
//    tenant token: its own; an admin token: every tenant the store knows, from instances,
//    workload profiles, bids and tokens), even at zero, plus every other visible account that
//    holds money, with `balanceMicrocredits` and `hasEntries`.
import { z } from 'zod';
import { ALL_TENANTS, LEDGER_ASSET_UNITS, LEDGER_ASSETS, type LedgerAsset } from '../../core/store.js';
import { forbidden } from '../errors.js';
import { principalOf, type Api, type ApiContext } from '../app.js';
import { scopeOf } from './common.js';

const creditsQuery = z.strictObject({
  access_token: z.string().optional(),
  /** Only balances of this asset (the `balances` list; `accounts` is always money). */
  asset: z.enum(LEDGER_ASSETS as readonly [LedgerAsset, ...LedgerAsset[]]).optional(),
});

export function registerCreditRoutes(app: Api, ctx: ApiContext): void {
  app.get(
    '/v1/credits',
    {
      schema: {
        querystring: creditsQuery,
        tags: ['market'],
        summary: 'Ledger balances the token may see, per account and asset (money in microcredits, CPU credits in millicredits, ...)',
      },
    },
    async (req) => {
      const p = principalOf(req);
      if (p.role === 'agent') throw forbidden('an agent token cannot read credit balances');
      const { asset } = req.query as z.infer<typeof creditsQuery>;
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
      const [balances, money] = await Promise.all([
        ctx.store.listBalances(scope, asset === undefined ? {} : { asset }),
        asset === undefined || asset === 'money' ? undefined : ctx.store.listBalances(scope, { asset: 'money' }),
      ]);
      const moneyBalances = money ?? balances.filter((b) => b.asset === 'money');
      const own = await Promise.all(
        tenants.map(async (account) => {
          const [balanceMicrocredits, first] = await Promise.all([ctx.store.balance(scope, account), ctx.store.listLedger(scope, account, { limit: 1, asset: 'money' })]);
          return { account, balanceMicrocredits, hasEntries: first.length > 0 };
        }),
      );
      const listed = new Set(tenants);
      const accounts = [
        ...own,
        ...moneyBalances.filter((b) => !listed.has(b.account)).map((b) => ({ account: b.account, balanceMicrocredits: b.balance, hasEntries: true })),
      ];
      return { unit: 'microcredits', accounts, units: LEDGER_ASSET_UNITS, balances };
    },
  );
}
