// The markets of the control plane: the runtime (hook in the control loop) and its components.
// `createMarketRuntime` builds the runtime with every component, in tick order: add a market by
// adding its factory to the list below.
import type { Registry } from 'prom-client';
import { CreditsMarket, type CreditsMarketOptions } from './credits-market.js';
import { MarketMetrics } from './metrics.js';
import { MarketRuntime, type MarketComponentFactory } from './runtime.js';

export * from './credit-labels.js';
export * from './credits-market.js';
export * from './metrics.js';
export * from './runtime.js';
export * from './types.js';

export interface MarketSetup {
  /** Model milliseconds per tick (the loop's stepSeconds x 1000). */
  stepMs: number;
  credits?: CreditsMarketOptions;
  /** Registry the market metrics go to (the server's); none: no metrics. */
  registry?: Registry;
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
    ...(o.extra ?? []),
  ];
  return new MarketRuntime({
    components: factories,
    stepMs: o.stepMs,
    ...(o.flushEveryTicks !== undefined ? { flushEveryTicks: o.flushEveryTicks } : {}),
    ...(o.nettedKinds ? { nettedKinds: o.nettedKinds } : {}),
  });
}
