// Forecast combination: the equal-weight mean of several point forecasters, itself a point
// forecaster (averaging point forecasts cuts their error variance; conformal calibration of the
// mean then gives tighter honest intervals than averaging each model's own intervals).
import { fillRange } from './models/common.js';
import type { Forecaster } from './types.js';

export class MeanForecaster implements Forecaster {
  readonly name: string;
  constructor(readonly models: readonly Forecaster[]) {
    if (models.length === 0) throw new RangeError('a combination needs at least one model');
    this.name = `mean(${models.map((m) => m.name).join(',')})`;
  }
  get count(): number {
    return this.models[0]!.count;
  }
  update(y: number): void {
    for (const m of this.models) m.update(y);
  }
  private scratch = new Float64Array(0);

  forecast(horizon: number, into?: Float64Array): Float64Array {
    const out = into ?? new Float64Array(horizon);
    fillRange(out, 0, 0, horizon);
    if (this.scratch.length < horizon) this.scratch = new Float64Array(horizon);
    let n = 0;
    for (const m of this.models) {
      const f = m.forecast(horizon, this.scratch);
      if (!Number.isFinite(f[0]!)) continue;
      n++;
      for (let h = 0; h < horizon; h++) out[h] = out[h]! + f[h]!;
    }
    if (n === 0) return fillRange(out, NaN, 0, horizon);
    for (let h = 0; h < horizon; h++) out[h] = out[h]! / n;
    return out;
  }
}
