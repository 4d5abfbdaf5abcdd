// Time for the control plane, passed in (never read directly): the real clock live, a virtual
// one in tests, so a test decides when time moves and by how much.

export interface Clock {
  /** Unix milliseconds. */
  nowMs(): number;
  /** A monotonic clock for durations, ms (performance.now() live). */
  monotonicMs(): number;
}

/** The wall clock. */
export const systemClock: Clock = { nowMs: () => Date.now(), monotonicMs: () => performance.now() };

/** A clock that only moves when told to (tests; a driver can advance it to simulate a slow action). */
export class ManualClock implements Clock {
  constructor(private t = 0) {}
  nowMs(): number {
    return this.t;
  }
  monotonicMs(): number {
    return this.t;
  }
  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }
  set(ms: number): void {
    this.t = ms;
  }
}
