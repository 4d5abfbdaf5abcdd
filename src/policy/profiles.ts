// Default profiles per scenario: the chosen rightsizing policy plus the fleet plugins.
import type { ProfileConfig } from './framework/profile.js';

export type OvercommitMode = 'none' | 'nsigma' | 'forecast';

export interface ProfileOptions {
  /** Name of the rightsizing policy (registry entry implementing `rightsize`). */
  policy: string;
  /** Arguments for it (validated by its schema). */
  policyArgs?: unknown;
  scenario: 'rightsizing' | 'fleet';
  /** Fleet: admission by allocations ('none') or by a predicted peak of summed demand. */
  overcommit?: OvercommitMode;
}

/**
 * rightsizing: only the rightsizer.
 * fleet: filters [host-fit] (or [peak-predictor] with overcommit), bin-packing score
 * (most-allocated), overload from the same filter plugin, victims by minimum migration time,
 * least-utilized hosts drained, empty hosts powered off.
 */
export function defaultProfile(o: ProfileOptions): ProfileConfig {
  const rightsize = { name: o.policy, ...(o.policyArgs !== undefined ? { args: o.policyArgs } : {}) };
  if (o.scenario === 'rightsizing') return { name: `${o.policy}-rightsizing`, rightsize };
  const mode = o.overcommit ?? 'none';
  const admit = mode === 'none' ? { name: 'host-fit' } : { name: 'peak-predictor', args: { method: mode } };
  return {
    name: `${o.policy}-fleet${mode === 'none' ? '' : `-${mode}`}`,
    rightsize,
    filters: [admit],
    scorers: [{ name: 'most-allocated', weight: 1 }],
    overload: admit,
    victim: { name: 'min-migration-time' },
    underload: mode === 'none' ? { name: 'least-utilized' } : { name: 'least-utilized', args: { measure: 'usage' } },
    overcommit: mode !== 'none',
  };
}
