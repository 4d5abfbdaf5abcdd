// Anomaly flags from standardized one-step errors. Pure and online.

export interface AnomalyOptions {
  /** |z| above this flags the sample. Default 4. */
  threshold?: number;
  /** Weight of the newest sample in the level. Default 0.3. */
  levelAlpha?: number;
  /** Weight of the newest |error| in the scale. Default 0.05. */
  scaleAlpha?: number;
  /** Samples before any flag is raised. Default 12. */
  minSamples?: number;
}

export interface AnomalyFlag {
  /** Standardized error of the latest sample (NaN before there is a scale). */
  z: number;
  flagged: boolean;
}

/**
 * z_t = (y_t - level_{t-1}) / (1.2533 * MAD_{t-1}), where the level is exponentially smoothed and
 * MAD is an exponentially weighted mean absolute one-step error (1.2533 makes it a standard
 * deviation for normal errors). A flagged sample moves the level and scale only as far as the
 * threshold would, so one burst does not mask the next. O(1) per sample.
 */
export class AnomalyDetector {
  private readonly threshold: number;
  private readonly levelAlpha: number;
  private readonly scaleAlpha: number;
  private readonly minSamples: number;
  private level = NaN;
  private mad = NaN;
  private n = 0;
  private last: AnomalyFlag = { z: NaN, flagged: false };

  constructor(options: AnomalyOptions = {}) {
    this.threshold = options.threshold ?? 4;
    this.levelAlpha = options.levelAlpha ?? 0.3;
    this.scaleAlpha = options.scaleAlpha ?? 0.05;
    this.minSamples = options.minSamples ?? 12;
  }

  /** Feeds the next sample and returns its flag. */
  update(y: number): AnomalyFlag {
    if (!Number.isFinite(y)) return (this.last = { z: NaN, flagged: false });
    if (this.level !== this.level) {
      this.level = y;
      this.n = 1;
      return (this.last = { z: NaN, flagged: false });
    }
    let e = y - this.level;
    const sd = 1.2533 * this.mad;
    const z = sd > 0 ? e / sd : NaN;
    const flagged = this.n >= this.minSamples && Number.isFinite(z) && Math.abs(z) > this.threshold;
    if (flagged) e = Math.sign(e) * this.threshold * sd; // robust update
    const ae = Math.abs(e);
    this.mad = this.mad === this.mad ? this.mad + this.scaleAlpha * (ae - this.mad) : ae;
    this.level += this.levelAlpha * e;
    this.n++;
    return (this.last = { z, flagged });
  }

  /** The flag of the latest sample. */
  get latest(): AnomalyFlag {
    return this.last;
  }
}
