// The simulator's virtual clock: time only moves when the simulation says so.
export class VirtualClock {
  constructor(
    private t: number,
    readonly stepSeconds: number,
  ) {}
  get nowS(): number {
    return this.t;
  }
  advance(steps = 1): number {
    this.t += steps * this.stepSeconds;
    return this.t;
  }
}
