// The pieces of the `predictive` rightsizer that decide an allocation from a quantile forecast,
// kept free of any framework type so tests can drive them directly. Pure.
//
// Price rule (which quantile to allocate). A quantile forecast q(tau) says what an allocation
// costs (q) for a violation probability (1 - tau). Moving from level tau_k to tau_k+1 costs
// q_k+1 - q_k for (tau_k+1 - tau_k) less violation probability. With a price lambda (allocation,
// in units of the instance's typical usage `scale`, that one unit of violation probability is
// worth), the allocation climbs the levels from `baseLevel` while a segment's slope
// (q_k+1 - q_k) / (tau_k+1 - tau_k) <= lambda x scale, i.e. where the marginal allocation per unit
// of risk avoided is cheap enough: a step whose forecast has a long tail (high uncertainty)
// stops low and takes the risk; a tight forecast climbs to the top level at little cost. This is
// the Lagrangian of "least allocation for a violation budget": the level is chosen per step, not
// fixed per series. Beyond the top level the quantile function is extended with an exponential
// tail fitted to the two top levels (q(1 - p) = q_top + b ln(p_top / p)), so the rule keeps going
// where the price says so, down to a tail probability `minTailProbability`.
//
// Budget controller (how expensive risk is for this instance). lambda = exp(theta), theta starts
// at the reference ln(price). After each sample, theta += gain x (violated - budget), kept in
// [ln(price), ln(price) + maxRaise]: an instance whose realised violation rate exceeds its budget
// becomes more expensive to leave at risk (higher levels) until its rate comes back under the
// budget; a well-served instance stays at the reference price (adaptive conformal inference,
// Gibbs & Candes 2021, applied to the price, one-sided).

export interface PriceRuleResult {
  /** The allocation before floors, guards and smoothing. */
  allocation: number;
  /** The level chosen (above the top level: 1 - the extrapolated tail probability). */
  level: number;
  /** True when the allocation is past the top forecast level (exponential tail). */
  extrapolated: boolean;
}

/**
 * Chooses the allocation from quantiles `q[k]` at increasing `levels[k]` (q non-decreasing).
 * `price` is in units of `scale` per unit of probability.
 */
export function priceRule(
  levels: readonly number[],
  q: ArrayLike<number>,
  baseIndex: number,
  price: number,
  scale: number,
  minTailProbability: number,
  minTailWidth: number,
  out: PriceRuleResult,
): PriceRuleResult {
  const K = levels.length;
  const budget = price * Math.max(scale, 1e-12);
  let k = Math.min(Math.max(0, baseIndex), K - 1);
  while (k < K - 1) {
    const slope = (q[k + 1]! - q[k]!) / (levels[k + 1]! - levels[k]!);
    if (slope <= budget) k++;
    else break;
  }
  out.allocation = q[k]!;
  out.level = levels[k]!;
  out.extrapolated = false;
  if (k === K - 1 && K >= 2) {
    const pTop = 1 - levels[K - 1]!;
    const pPrev = 1 - levels[K - 2]!;
    // exponential tail: q(1 - p) = q_top + b ln(pTop / p); its slope dq/dtau = b / p
    const b = Math.max((q[K - 1]! - q[K - 2]!) / Math.log(pPrev / pTop), minTailWidth);
    if (b > 0 && budget > 0) {
      const p = Math.min(Math.max(b / budget, minTailProbability), pTop);
      if (p < pTop) {
        out.allocation = q[K - 1]! + b * Math.log(pTop / p);
        out.level = 1 - p;
        out.extrapolated = true;
      }
    }
  }
  return out;
}

/** Online one-sided controller of the price (in log space), see the header. */
export class BudgetController {
  /** log of the current price. */
  theta: number;
  readonly thetaRef: number;
  readonly thetaMax: number;
  samples = 0;
  violations = 0;

  constructor(
    referencePrice: number,
    /** The target violation rate (settable: the control plane's degradationThreshold). */
    public budget: number,
    readonly gain: number,
    maxRaise: number,
  ) {
    this.thetaRef = Math.log(referencePrice);
    this.thetaMax = this.thetaRef + maxRaise;
    this.theta = this.thetaRef;
  }

  private cachedTheta = NaN;
  private cachedPrice = NaN;

  get price(): number {
    // theta stays at the reference most of the time: exp only when it moved
    if (this.theta !== this.cachedTheta) {
      this.cachedTheta = this.theta;
      this.cachedPrice = Math.exp(this.theta);
    }
    return this.cachedPrice;
  }

  /** True when the controller has raised the price above the reference (the budget binds). */
  get raised(): boolean {
    return this.theta > this.thetaRef + 1e-12;
  }

  get violationRate(): number {
    return this.samples > 0 ? this.violations / this.samples : 0;
  }

  record(violated: boolean): void {
    this.samples++;
    if (violated) this.violations++;
    const t = this.theta + this.gain * ((violated ? 1 : 0) - this.budget);
    this.theta = Math.min(this.thetaMax, Math.max(this.thetaRef, t));
  }
}
