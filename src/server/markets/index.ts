// The markets of the control plane: the runtime (hook in the control loop) and its components.
// `createMarketRuntime` builds the runtime with every component, in tick order: add a market by
// adding its factory to the list below.
import type { Registry } from 'prom-client';
import type { Store } from '../../core/store.js';
import type { Clock } from '../clock.js';
import { AuctionComponent, type AuctionComponentOptions } from './auction-component.js';
import { CreditsMarket, type CreditsMarketOptions } from './credits-market.js';
import { NegotiationComponent, type NegotiationComponentOptions } from './negotiation-component.js';
import { MarketMetrics } from './metrics.js';
import { MarketRuntime, type MarketComponentFactory } from './runtime.js';

export * from './auction-component.js';
export * from './credit-labels.js';
export * from './credits-market.js';
export * from './metrics.js';
export * from './negotiation-component.js';
export * from './runtime.js';
export * from './types.js';

export interface MarketSetup {
  /** Model milliseconds per tick (the loop's stepSeconds x 1000). */
  stepMs: number;
  credits?: CreditsMarketOptions;
  /** Registry the market metrics go to (the server's); none: no metrics. */
  registry?: Registry;
  /** The store and clock the spot auction and the borrow/lend negotiation read and write (without them, neither runs). */
  store?: Store;
  clock?: Clock;
  /** The spot auction (default on when a store is given; false: off). */
  auction?: false | Omit<AuctionComponentOptions, 'store' | 'registry'>;
  /** Borrow/lend rounds every `intervalMs` (default 100; false or 0: off). */
  negotiation?: false | Omit<NegotiationComponentOptions, 'store' | 'clock' | 'registry'>;
  /** More components, after the built-in ones. */
  extra?: readonly MarketComponentFactory[];
  /** MarketRuntimeOptions.flushEveryTicks (default one model hour of ticks). */
  flushEveryTicks?: number;
  /** MarketRuntimeOptions.nettedKinds (default ['credit-accrual']). */
  nettedKinds?: readonly string[];
}

export function createMarketRuntime(o: MarketSetup): MarketRuntime {
  const metrics = o.registry ? new MarketMetrics(o.registry) : undefined;
  const factories: MarketComponentFactory[] = [
    (ledger, stepMs) => new CreditsMarket(ledger, { ...(o.credits ?? {}), ...(metrics ? { metrics } : {}) }, stepMs),
    ...(o.store && o.auction !== false ? [() => new AuctionComponent({ ...(o.auction ?? {}), store: o.store!, ...(o.registry ? { registry: o.registry } : {}) })] : []),
    ...(o.store && o.clock && o.negotiation !== false && o.negotiation?.intervalMs !== 0
      ? [() => new NegotiationComponent({ ...(o.negotiation ?? {}), store: o.store!, clock: o.clock!, ...(o.registry ? { registry: o.registry } : {}) })]
      : []),
    ...(o.extra ?? []),
  ];
  return new MarketRuntime({
    components: factories,
    stepMs: o.stepMs,
    ...(o.flushEveryTicks !== undefined ? { flushEveryTicks: o.flushEveryTicks } : {}),
    ...(o.nettedKinds ? { nettedKinds: o.nettedKinds } : {}),
  });
}
