// Per-instance records of a market component, found without a lookup by id in a loop over the
// control loop's instances. The loop's instance map keeps its order from tick to tick, so the k-th
// instance of a pass is almost always the one of the last pass: a record is kept by position and
// checked by identity (the loop updates an instance's object in place), and looked up by id only
// when the order changed (an instance joined, left, or was placed).
//
// A record only caches what can be found by id (the component's own maps stay the truth), so a
// record met again under a new object is still right.
import type { ManagedInstance } from '../control-loop.js';
import type { ProbForecast } from '../../forecast/types.js';
import type { LatestForecast } from '../forecasters.js';
import type { MarketTickContext } from './types.js';

export interface InstanceSlot {
  /** The instance object this record was last met with (null once deleted). */
  m: ManagedInstance | null;
}

export class InstanceSlots<S extends InstanceSlot> {
  private readonly aligned: S[] = [];
  private readonly byId = new Map<string, S>();

  constructor(private readonly make: (id: string, m: ManagedInstance) => S) {}

  /** The record of the k-th instance of this pass (k from 0, in the loop's iteration order). */
  at(k: number, id: string, m: ManagedInstance): S {
    const s = this.aligned[k];
    if (s !== undefined && s.m === m) return s;
    let r = this.byId.get(id);
    if (r === undefined) this.byId.set(id, (r = this.make(id, m)));
    r.m = m;
    this.aligned[k] = r;
    return r;
  }

  /** The record of an instance, when it has one. */
  get(id: string): S | undefined {
    return this.byId.get(id);
  }

  /** Ends a pass over `n` instances. */
  end(n: number): void {
    if (this.aligned.length > n) this.aligned.length = n;
  }

  /** Forgets an instance (it left the loop). */
  delete(id: string): void {
    const s = this.byId.get(id);
    if (!s) return;
    s.m = null;
    this.byId.delete(id);
  }
}

/** A record that keeps its instance's latest forecast (see LatestForecasts). */
export interface ForecastSlot extends InstanceSlot {
  lf: LatestForecast | undefined;
  /** `lf?.cpu` (a LatestForecast is never changed once made: read here without going to it). */
  lfCpu: ProbForecast | undefined;
  /** The LatestForecasts epoch `lf` was read in; -1: stale. */
  lfEpoch: number;
}

/**
 * Every instance's latest forecast, read each tick, looked up only when it may have changed: with
 * the tick's `latestForecastChanged` (MarketTickContext), an instance not listed keeps the
 * forecast its record holds. A tick without the list trusts nothing: every read looks up, and
 * records not read in that tick are never trusted again (a new epoch).
 */
export class LatestForecasts {
  private epoch = 0;
  private trust = false;
  /**
   * Whether the last `of` looked the forecast up (false: it is the one the record held, the same
   * object as at the record's last read, so whatever was derived from it then still holds).
   */
  looked = false;

  /** At the start of every tick of the component (also ticks where it reads nothing). */
  begin(ctx: MarketTickContext, slots: InstanceSlots<ForecastSlot>): void {
    const changed = ctx.latestForecastChanged;
    if (!changed) {
      this.epoch++;
      this.trust = false;
      return;
    }
    this.trust = true;
    for (const id of changed) {
      const s = slots.get(id);
      if (s) s.lfEpoch = -1;
    }
  }

  /** The latest forecast of the instance `s` is the record of (`ctx.latestForecast(id)`). */
  of(ctx: MarketTickContext, s: ForecastSlot, id: string): LatestForecast | undefined {
    if (this.trust && s.lfEpoch === this.epoch) {
      this.looked = false;
      return s.lf;
    }
    this.looked = true;
    const lf = ctx.latestForecast(id);
    s.lf = lf;
    s.lfCpu = lf?.cpu;
    s.lfEpoch = this.epoch;
    return lf;
  }
}
