// Reason constants (Nomad-style): every decision says why, with stable strings that tests, logs
// and reports can match on. Plugins may add their own, prefixed with their name.

export const R = {
  // rightsizing
  NO_HISTORY: 'no-history',
  KEEP: 'keep',
  PROVISIONED_CAPACITY: 'provisioned-capacity',
  PERCENTILE_TARGET: 'percentile-target',
  SAFETY_MARGIN: 'safety-margin',
  MIN_RESOURCES: 'min-resources',
  CONFIDENCE_SCALED: 'confidence-scaled',
  OOM_BUMP: 'oom-bump',
  MEMORY_PEAKS: 'memory-peaks',
  FORECAST_QUANTILE: 'forecast-quantile',
  CAPPED_BY_HOST: 'capped-by-host',
  // placement
  HOST_OFF: 'host-off',
  INSUFFICIENT_CPU: 'insufficient-cpu',
  INSUFFICIENT_MEMORY: 'insufficient-memory',
  PREDICTED_CPU_PEAK_EXCEEDS: 'predicted-cpu-peak-exceeds-capacity',
  PREDICTED_MEMORY_PEAK_EXCEEDS: 'predicted-memory-peak-exceeds-capacity',
  SAME_HOST: 'same-host',
  NO_FEASIBLE_HOST: 'no-feasible-host',
  PLACED: 'placed',
  POWER_ON_FOR_PLACEMENT: 'power-on-for-placement',
  // host management
  OVERLOADED: 'overloaded',
  PREDICTED_OVERLOAD: 'predicted-overload',
  NOT_OVERLOADED: 'not-overloaded',
  UNDERLOADED: 'underloaded',
  HOST_EMPTY: 'host-empty',
  VICTIM: 'victim',
  CONSOLIDATE: 'consolidate',
  // operator settings (settings.ts)
  /** A live migration was withheld: the instance reached its maxMigrationsPerHour. */
  MIGRATION_RATE_LIMITED: 'migration-rate-limited',
  /** The rightsizer's headroom was scaled by the instance's aggressiveness. */
  AGGRESSIVENESS_SCALED: 'aggressiveness-scaled',
  /** The instance is degraded (violation share above its threshold): most headroom. */
  DEGRADED_HEADROOM: 'degraded-headroom',
  /** The predictive violation budget comes from the instance's degradationThreshold. */
  DEGRADATION_BUDGET: 'degradation-budget',
} as const;

export type ReasonCode = (typeof R)[keyof typeof R];
