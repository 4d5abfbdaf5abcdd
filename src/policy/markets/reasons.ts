// Reason constants of the markets (Nomad-style): every decision records why, with stable strings.
// Numbers that explain a decision travel as `name=value` strings next to these (see `kv`).

export const MR = {
  // credits
  EARNED: 'credits-earned',
  SPENT: 'credits-spent',
  AT_CAP: 'credit-balance-at-cap',
  DISCARDED: 'earned-credits-discarded-at-cap',
  THROTTLED_TO_BASELINE: 'throttled-to-baseline',
  SURPLUS_SPENT: 'surplus-credits-spent',
  SURPLUS_REPAID: 'surplus-credits-repaid',
  SURPLUS_CHARGED_OVER_CAP: 'surplus-over-24h-earnings-charged',
  SURPLUS_CHARGED_ON_STOP: 'surplus-charged-on-stop',
  SURPLUS_CHARGED_ON_MODE_SWITCH: 'surplus-charged-on-switch-to-standard',
  CREDITS_EXPIRED: 'credits-expired-after-stop',
  // bonding and preemption priority
  BONDED: 'credits-bonded',
  BONDING_TAX: 'bonding-tax',
  INSUFFICIENT_CREDITS: 'insufficient-credits',
  BOND_MULTIPLIER: 'bond-multiplier',
  PREDICTED_RISE: 'predicted-rise',
  PREDICTED_FALL: 'predicted-fall',
  PREDICTED_STEADY: 'predicted-steady',
  NO_FORECAST: 'no-forecast',
  SMOOTHED: 'smoothed',
  CLAMPED_MIN: 'clamped-to-min',
  CLAMPED_MAX: 'clamped-to-max',
  LOWEST_MULTIPLIER: 'lowest-multiplier',
  THROTTLE: 'throttle-to-baseline',
  EVICT: 'evict',
  SHORTFALL_COVERED: 'shortfall-covered',
  SHORTFALL_UNCOVERED: 'shortfall-uncovered',
  // auction
  SCORED: 'scored',
  ADMITTED: 'admitted',
  NO_CAPACITY: 'no-predicted-capacity',
  INSUFFICIENT_CPU: 'predicted-cpu-over-capacity',
  INSUFFICIENT_MEMORY: 'predicted-memory-over-capacity',
  INSUFFICIENT_NETWORK: 'predicted-network-over-capacity',
  BEST_HOST: 'best-host',
  EXPIRED: 'bid-expired',
  LOW_UTILISATION: 'consistently-low-utilisation',
  HIGH_INTERFERENCE: 'consistently-high-interference',
  PREEMPTION_CANDIDATE: 'preemption-candidate',
  NOTICE: 'interruption-notice',
  NOTICE_EXPIRED: 'notice-expired-stopped',
  PENALTY_PAID: 'uninterruptible-penalty-paid',
  CANNOT_AFFORD_PENALTY: 'cannot-afford-penalty',
  MIN_RUNTIME: 'within-minimum-runtime',
  VALUE_TOO_LOW: 'displacing-value-too-low',
  DISPLACED_BY: 'displaced-by',
  BILLED: 'billed',
  INSUFFICIENT_FUNDS: 'insufficient-funds',
  // borrow / lend
  OFFER: 'offer',
  REQUEST: 'request',
  LOAN: 'loan',
  RECALLED: 'recalled-by-lender',
  RELEASED: 'released-by-borrower',
  FAIR_SHARE: 'max-min-fair-share',
  AGEING: 'ageing',
  UNMET: 'request-unmet',
} as const;

export type MarketReason = (typeof MR)[keyof typeof MR];

/** `name=value` with a compact number (reasons that carry the figures behind a decision). */
export function kv(name: string, value: number | string): string {
  if (typeof value === 'string' || Number.isInteger(value)) return `${name}=${value}`;
  const a = Math.abs(value);
  // 4 significant digits; plain rounding for the common range (cheaper than toPrecision)
  if (a >= 1 && a < 1000) return `${name}=${Math.round(value * 1000) / 1000}`;
  return `${name}=${Number(value.toPrecision(4))}`;
}
