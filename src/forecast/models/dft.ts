// Discrete Fourier transform of a real series of any length, on top of fft.js.
import FFT from 'fft.js';
import { InputError } from '../../core/errors.js';

function isPowerOfTwo(n: number): boolean {
  return n >= 2 && (n & (n - 1)) === 0;
}

/**
 * A DFT plan for real input of length n: `X_k = Σ_t x_t e^{-2πi k t / n}` for k = 0..floor(n/2).
 *
 * fft.js handles powers of two only. Other lengths (e.g. 2016 = one week at 5 minutes) go through
 * Bluestein's chirp-z identity `kt = (k² + t² - (k - t)²) / 2`, which turns the DFT into a
 * convolution computed with fft.js at a power-of-two size M >= 2n - 1: three FFTs of size M.
 * The plan precomputes the chirp and the transform of its conjugate; `transform` then allocates
 * nothing.
 *
 * Cost: O(M log M) per transform (M < 4n), O(M) memory.
 */
export class RealDftPlan {
  readonly n: number;
  private readonly fft: FFT;
  private readonly direct: boolean;
  private readonly chirpRe: Float64Array;
  private readonly chirpIm: Float64Array;
  private readonly kernel: number[];
  private readonly a: number[];
  private readonly spec: number[];
  private readonly input: Float64Array;

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 2) throw new InputError(`DFT length must be an integer >= 2, got ${n}`, { field: 'n' });
    this.n = n;
    this.direct = isPowerOfTwo(n);
    if (this.direct) {
      this.fft = new FFT(n);
      this.chirpRe = new Float64Array(0);
      this.chirpIm = new Float64Array(0);
      this.kernel = [];
      this.a = [];
      this.input = new Float64Array(n);
      this.spec = this.fft.createComplexArray() as number[];
      return;
    }
    let m = 2;
    while (m < 2 * n - 1) m *= 2;
    this.fft = new FFT(m);
    // w_t = e^{-iπ t²/n}; t² is reduced mod 2n first so the angle stays small and exact.
    this.chirpRe = new Float64Array(n);
    this.chirpIm = new Float64Array(n);
    for (let t = 0; t < n; t++) {
      const angle = (Math.PI * ((t * t) % (2 * n))) / n;
      this.chirpRe[t] = Math.cos(angle);
      this.chirpIm[t] = -Math.sin(angle);
    }
    // Kernel b_t = conj(w_t) at t and m - t (circular convolution over ±(n-1)).
    const b = this.fft.createComplexArray() as number[];
    b.fill(0);
    for (let t = 0; t < n; t++) {
      b[2 * t] = this.chirpRe[t]!;
      b[2 * t + 1] = -this.chirpIm[t]!;
      if (t > 0) {
        b[2 * (m - t)] = this.chirpRe[t]!;
        b[2 * (m - t) + 1] = -this.chirpIm[t]!;
      }
    }
    this.kernel = this.fft.createComplexArray() as number[];
    this.fft.transform(this.kernel, b);
    this.a = this.fft.createComplexArray() as number[];
    this.spec = this.fft.createComplexArray() as number[];
    this.input = new Float64Array(0);
  }

  /** Writes Re and Im of X_0..X_floor(n/2) into re and im (each at least floor(n/2)+1 long). */
  transform(x: ArrayLike<number>, re: Float64Array, im: Float64Array): void {
    const n = this.n;
    const half = Math.floor(n / 2);
    if (x.length !== n) throw new InputError(`DFT input must have ${n} samples, got ${x.length}`, { field: 'x' });
    if (this.direct) {
      for (let t = 0; t < n; t++) this.input[t] = x[t]!;
      this.fft.realTransform(this.spec, this.input);
      for (let k = 0; k <= half; k++) {
        re[k] = this.spec[2 * k]!;
        im[k] = this.spec[2 * k + 1]!;
      }
      return;
    }
    const a = this.a;
    a.fill(0);
    for (let t = 0; t < n; t++) {
      a[2 * t] = x[t]! * this.chirpRe[t]!;
      a[2 * t + 1] = x[t]! * this.chirpIm[t]!;
    }
    const spec = this.spec;
    this.fft.transform(spec, a);
    const K = this.kernel;
    for (let i = 0; i < spec.length; i += 2) {
      const ar = spec[i]!;
      const ai = spec[i + 1]!;
      const br = K[i]!;
      const bi = K[i + 1]!;
      spec[i] = ar * br - ai * bi;
      spec[i + 1] = ar * bi + ai * br;
    }
    this.fft.inverseTransform(a, spec);
    for (let k = 0; k <= half; k++) {
      const cr = a[2 * k]!;
      const ci = a[2 * k + 1]!;
      const wr = this.chirpRe[k]!;
      const wi = this.chirpIm[k]!;
      re[k] = cr * wr - ci * wi;
      im[k] = cr * wi + ci * wr;
    }
  }
}
