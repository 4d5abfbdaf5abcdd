// Seeded random source passed into decision code (never Math.random()).
// Backed by pure-rand's xoroshiro128+ (the generator fast-check uses).
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max] (inclusive). */
  int(min: number, max: number): number;
  /** Standard normal deviate (Box-Muller). */
  normal(): number;
  /** An independent stream derived from this one (for per-entity streams). */
  fork(): Rng;
}

class PureRng implements Rng {
  private spare: number | null = null;
  constructor(private readonly gen: RandomGenerator) {}
  next(): number {
    return uniformFloat64(this.gen);
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
  fork(): Rng {
    return new PureRng(xoroshiro128plus(this.gen.next() ^ 0x5bd1e995));
  }
}

/** A deterministic random source from an integer seed. */
export function seededRng(seed: number): Rng {
  return new PureRng(xoroshiro128plus(seed | 0));
}
