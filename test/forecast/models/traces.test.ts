// The models on real traces (Bitbrains GWA-T-12 Rnd, CPU in cores at ~5 min): sane, finite
// forecasts; the VPA histogram's p90 covers about 90 %; Holt-Winters finds a daily season.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createModel, detectSeasonPeriod, HoltWintersForecaster, type ModelSpec } from '../../../src/forecast/models/index.js';
import { isQuantileForecaster } from '../../../src/forecast/types.js';

const DIR = join(process.cwd(), '..', 'shared', 'traces', 'bitbrains-rnd', '2013-7');
const skip = existsSync(DIR) ? false : `traces not found at ${DIR}`;

/** CPU cores in use per the traces README: usage MHz / (capacity MHz / cores). */
function cpuCores(id: number): Float64Array {
  const text = gunzipSync(readFileSync(join(DIR, `${id}.csv.gz`))).toString('utf8');
  const lines = text.trim().split('\n').slice(1);
  return Float64Array.from(lines, (line) => {
    const f = line.split(';').map((s) => Number(s.trim()));
    const cores = f[1]!;
    const capacity = f[2]!;
    return cores > 0 && capacity > 0 ? f[3]! / (capacity / cores) : 0;
  });
}

const VMS = [1, 5, 7, 10, 12, 24, 26, 29, 31, 33];
const H = 12;

test('on Bitbrains VMs every model forecasts finite values with a sane error', { skip }, () => {
  const specs: ModelSpec[] = [
    { kind: 'seasonal-naive', period: 1 },
    { kind: 'seasonal-naive', period: 288 },
    { kind: 'ses' },
    { kind: 'holt' },
    { kind: 'holt-winters' },
    { kind: 'ar' },
    { kind: 'decaying-histogram' },
    { kind: 'fft-periodic' },
  ];
  const scaled = new Map<string, number>();
  let covered = 0;
  let checked = 0;
  for (const id of VMS) {
    const y = cpuCores(id);
    let scale = 0; // in-sample one-step naive MAE (the MASE denominator)
    for (let t = 1; t < y.length; t++) scale += Math.abs(y[t]! - y[t - 1]!);
    scale /= y.length - 1;
    for (const spec of specs) {
      const m = createModel(spec);
      let err = 0;
      let n = 0;
      for (let t = 0; t < y.length - H; t++) {
        m.update(y[t]!);
        if (t < 2016 || t % 12 !== 0) continue;
        const f = m.forecast(H);
        for (let h = 0; h < H; h++) {
          assert.ok(Number.isFinite(f[h]!), `${spec.kind} VM ${id} t ${t}`);
          err += Math.abs(f[h]! - y[t + 1 + h]!);
          n++;
        }
        if (isQuantileForecaster(m)) {
          const q90 = m.quantiles(H, [0.9])[0]!;
          for (let h = 0; h < H; h++) {
            checked++;
            if (y[t + 1 + h]! <= q90[h]!) covered++;
          }
        }
      }
      const key = JSON.stringify(spec);
      scaled.set(key, (scaled.get(key) ?? 0) + err / n / scale / VMS.length);
    }
  }
  console.log([...scaled].map(([k, v]) => `${k}: MASE(h=1..${H}) ${v.toFixed(3)}`).join('\n'));
  for (const [k, v] of scaled) assert.ok(v < 2.5, `${k}: scaled error ${v}`);
  assert.ok(scaled.get('{"kind":"ses"}')! < scaled.get('{"kind":"seasonal-naive","period":1}')! * 1.05, 'SES is about as good as naive or better');
  const coverage = covered / checked;
  console.log(`decaying histogram p90 coverage ${coverage.toFixed(3)}`);
  assert.ok(coverage > 0.8 && coverage < 0.98, `p90 coverage ${coverage}`);
});

test("Holt-Winters 'auto' finds the daily season of a Bitbrains VM that has one", { skip }, () => {
  // VM 7 has a clear daily cycle (autocorrelation about 0.6 at 288 over any two weeks).
  const y = cpuCores(7);
  assert.equal(detectSeasonPeriod(y, { candidates: [288, 2016] }), 288);
  const hw = new HoltWintersForecaster({ period: 'auto' });
  for (const v of y) hw.update(v);
  assert.equal(hw.state, 'seasonal');
  assert.equal(hw.period, 288);
});
