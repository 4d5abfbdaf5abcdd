// Runs the scenario on the PlanetLab days and prints ours vs CloudSim 3.0.3's reference figures.
// Usage: npx tsx src/sim/cloudsim/compare-reference.ts [--days 20110303,...] [--policies thr-mmt,...]
//        [--traces ../shared/traces/planetlab] [--reference ../shared/reference/cloudsim-3.0.3_planetlab_results.csv]
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { runCloudSimPlanetLab } from './engine.js';
import { loadPlanetLabDay } from './load-planetlab.js';
import type { CloudSimPolicyName, CloudSimResult } from './types.js';

export interface ReferenceRow {
  day: string;
  policy: string;
  energyKwh: number;
  migrations: number;
  slavPct: number;
  slatahPct: number;
  pdmPct: number;
  hostShutdowns: number;
}

/** Parses cloudsim-3.0.3_planetlab_results.csv (policy names like thr_mmt_0.8 become thr-mmt). */
export function parseReferenceCsv(text: string): ReferenceRow[] {
  const lines = text.trim().split('\n');
  const header = lines[0]!.split(',');
  const col = (name: string): number => header.indexOf(name);
  return lines.slice(1).map((line) => {
    const f = line.split(',');
    const raw = f[col('policy')]!;
    const policy = raw.replace(/_\d+(\.\d+)?$/, '').replace('_', '-');
    const num = (name: string): number => (f[col(name)] === '' ? Number.NaN : Number(f[col(name)]));
    return {
      day: f[col('workload')]!,
      policy,
      energyKwh: num('energy_kwh'),
      migrations: num('vm_migrations'),
      slavPct: num('slav_pct'),
      slatahPct: num('slatah_pct'),
      pdmPct: num('pdm_pct'),
      hostShutdowns: num('host_shutdowns'),
    };
  });
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

function main(): void {
  const traces = resolve(arg('traces', '../shared/traces/planetlab'));
  const refPath = resolve(arg('reference', '../shared/reference/cloudsim-3.0.3_planetlab_results.csv'));
  const ref = existsSync(refPath) ? parseReferenceCsv(readFileSync(refPath, 'utf8')) : [];
  const days = arg('days', '20110303').split(',');
  const policies = arg('policies', 'thr-mmt,iqr-mmt,mad-mmt,lr-mmt').split(',') as CloudSimPolicyName[];
  const rows: string[] = [];
  rows.push('| day | policy | energy kWh (ours / ref / diff) | migrations (ours / ref / diff) | SLATAH % (ours / ref) | PDM % (ours / ref) | SLAV % (ours / ref) | shutdowns (ours / ref) | ms |');
  rows.push('|---|---|---|---|---|---|---|---|---|');
  for (const day of days) {
    const t0 = performance.now();
    const input = loadPlanetLabDay(resolve(traces, day));
    const loadMs = performance.now() - t0;
    for (const policy of policies) {
      const t1 = performance.now();
      const r: CloudSimResult = runCloudSimPlanetLab(input.cpuPct, { policy, recordAllocations: false });
      const ms = performance.now() - t1;
      const rr = ref.find((x) => x.day === day && x.policy === policy);
      const pct = (a: number, b: number): string => {
        if (!Number.isFinite(b) || b === 0) return '-';
        const d = ((a - b) / b) * 100;
        return `${Math.abs(d) < 0.05 ? '0.0' : d.toFixed(1)}%`;
      };
      rows.push(
        `| ${day} | ${policy} | ${r.energyKwh.toFixed(2)} / ${rr?.energyKwh.toFixed(2) ?? '-'} / ${rr ? pct(r.energyKwh, rr.energyKwh) : '-'}` +
          ` | ${r.migrations} / ${rr?.migrations ?? '-'} / ${rr ? pct(r.migrations, rr.migrations) : '-'}` +
          ` | ${r.slatahPct.toFixed(2)} / ${rr?.slatahPct.toFixed(2) ?? '-'}` +
          ` | ${r.pdmPct.toFixed(3)} / ${rr?.pdmPct.toFixed(2) ?? '-'}` +
          ` | ${r.slavPct.toFixed(5)} / ${rr?.slavPct.toFixed(5) ?? '-'}` +
          ` | ${r.hostShutdowns} / ${rr?.hostShutdowns ?? '-'} | ${ms.toFixed(0)} |`,
      );
      process.stderr.write(`${day} ${policy} done in ${ms.toFixed(0)} ms (load ${loadMs.toFixed(0)} ms), removed=${r.vmsRemoved} anomalies=${r.anomalies} maxRam=${r.maxHostRamMb} reasons=${JSON.stringify(r.reasons)}\n`);
    }
  }
  console.log(rows.join('\n'));
}

if (process.argv[1] && /compare-reference\.[tj]s$/.test(process.argv[1])) main();
