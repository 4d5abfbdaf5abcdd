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

/**
 * Runs `job` every `intervalMs` of `clock` at a fixed rate: a run that overruns delays the next
 * one (which then starts at once), none is skipped. `job` gets how late it started. Errors go to
 * `onError`; the timer keeps going. `stop()` only stops scheduling: the owner waits for a run in
 * progress itself. `nextDueMs` is public so that an owner can also run due jobs by hand (tests
 * with a ManualClock) on the same schedule.
 */
export class FixedRateTimer {
  nextDueMs = NaN;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = true;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly job: (lateMs: number) => Promise<unknown>,
    private readonly onError: (err: unknown) => void,
    /** Do not keep the process alive for this timer alone. */
    private readonly unref = false,
  ) {}

  get isRunning(): boolean {
    return !this.stopped;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.nextDueMs = this.clock.nowMs();
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.fire(), Math.max(0, delayMs));
    if (this.unref) this.timer.unref?.();
  }

  private async fire(): Promise<void> {
    this.timer = null;
    if (this.stopped) return;
    try {
      await this.job(Math.max(0, this.clock.nowMs() - this.nextDueMs));
    } catch (err) {
      this.onError(err);
    }
    this.nextDueMs += this.intervalMs;
    const now = this.clock.nowMs();
    if (now > this.nextDueMs) this.nextDueMs = now; // overran: the next run starts now
    this.schedule(this.nextDueMs - now);
  }
}
