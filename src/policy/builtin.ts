// The built-in policies. Add a plugin by appending its entry (one line): the registry rejects
// duplicate names and lists valid names on a miss.
import { PluginRegistry, type PluginEntry } from './framework/registry.js';
import { hostFitPolicy } from './plugins/host-fit/host-fit.js';
import { leastUtilizedPolicy } from './plugins/least-utilized/least-utilized.js';
import { minMigrationTimePolicy } from './plugins/min-migration-time/min-migration-time.js';
import { leastAllocatedPolicy, mostAllocatedPolicy } from './plugins/most-allocated/most-allocated.js';
import { peakPredictorPolicy } from './plugins/peak-predictor/peak-predictor.js';
import { predictiveForecastPolicy } from './plugins/predictive/forecast-provider.js';
import { predictivePolicy } from './plugins/predictive/predictive.js';
import { staticPolicy } from './plugins/static/static.js';
import { vpaPolicy } from './plugins/vpa/vpa.js';

export const BUILTIN_POLICIES: readonly PluginEntry[] = [
  staticPolicy,
  vpaPolicy,
  hostFitPolicy,
  peakPredictorPolicy,
  mostAllocatedPolicy,
  leastAllocatedPolicy,
  minMigrationTimePolicy,
  leastUtilizedPolicy,
  predictivePolicy,
  predictiveForecastPolicy,
];

/** A registry holding the built-ins plus `extra` entries (e.g. the predictive policy). */
export function createRegistry(extra: readonly PluginEntry[] = []): PluginRegistry {
  const r = new PluginRegistry();
  for (const e of BUILTIN_POLICIES) r.register(e);
  for (const e of extra) r.register(e);
  return r;
}
