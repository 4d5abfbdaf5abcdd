// Runs the benchmarks under bench/ and writes bench/results/latest.json.
// Usage: node scripts/run-bench.mjs [--quick] [--strict] [--list] [name-filter ...]
//   (npm run bench [-- --quick] [-- backtest] builds first)
//   --quick   reduced set (fewer series, rounds and scales): about a minute
//   --strict  exit 1 when a target is missed (default: report only, exit 0)
//   --list    print the benchmark names and exit
//   filter    run only the benchmarks whose name contains one of the given substrings
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BENCH_DIR, DIST, REPO_ROOT, TRACES, progress, seconds, verdict } from '../bench/lib/harness.mjs';

/** Run order (a benchmark file is bench/<name>.bench.mjs). */
const BENCHMARKS = ['throughput', 'backtest', 'augurs', 'simulator', 'scaling', 'markets', 'server'];

const argv = process.argv.slice(2);
const flags = new Set(argv.filter((a) => a.startsWith('--')));
const filters = argv.filter((a) => !a.startsWith('--'));
for (const f of flags) {
  if (!['--quick', '--strict', '--list', '--help'].includes(f)) {
    console.error(`unknown option ${f}; usage: node scripts/run-bench.mjs [--quick] [--strict] [--list] [name-filter ...]`);
    process.exit(2);
  }
}
if (flags.has('--help')) {
  console.log('usage: node scripts/run-bench.mjs [--quick] [--strict] [--list] [name-filter ...]');
  console.log(`benchmarks: ${BENCHMARKS.join(', ')}`);
  process.exit(0);
}
const quick = flags.has('--quick');

const modules = [];
for (const name of BENCHMARKS) {
  const file = join(BENCH_DIR, `${name}.bench.mjs`);
  if (!existsSync(file)) {
    console.error(`note: ${file} is missing; skipped`);
    continue;
  }
  modules.push(await import(pathToFileURL(file).href));
}
if (flags.has('--list')) {
  for (const m of modules) console.log(`${m.meta.name.padEnd(12)} ${m.meta.title}`);
  process.exit(0);
}
const selected = modules.filter((m) => filters.length === 0 || filters.some((f) => m.meta.name.includes(f)));
if (selected.length === 0) {
  console.error(`no benchmark matches ${filters.join(', ')}; benchmarks: ${BENCHMARKS.join(', ')}`);
  process.exit(2);
}
if (!existsSync(join(DIST, 'forecast', 'engine.js'))) {
  console.error('dist/ is missing: run `npm run build` first (npm run bench does)');
  process.exit(2);
}

function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

const env = {
  date: new Date().toISOString(),
  commit: gitCommit(),
  node: process.version,
  cpu: cpus()[0]?.model,
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  quick,
  loadAverage1m: loadavg()[0],
  traces: existsSync(TRACES) ? TRACES : null,
};
console.log(`prescient benchmarks${quick ? ' (--quick)' : ''}: ${selected.map((m) => m.meta.name).join(', ')}`);
console.log(`${env.cpu ?? 'unknown CPU'} x ${env.cores}, ${env.memoryGiB} GiB, Node ${env.node}, commit ${env.commit ?? '?'}`);
if (env.loadAverage1m > env.cores * 0.5) {
  console.log(`note: load average ${env.loadAverage1m.toFixed(1)} on ${env.cores} cores: other work is running, timings will be noisy`);
}
if (!env.traces) console.log(`note: ${TRACES} not found: benchmarks on real traces are skipped`);

const results = {};
const allChecks = [];
const started = performance.now();
let failed = false;
for (const m of selected) {
  console.log(`\n== ${m.meta.name}: ${m.meta.title} ==`);
  const t0 = performance.now();
  const print = (text) => {
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K'); // clear a progress line first
    console.log(text);
  };
  const ctx = { quick, print, progress };
  try {
    const r = await m.run(ctx);
    const wallMs = performance.now() - t0;
    results[m.meta.name] = { title: m.meta.title, wallMs, ...r };
    for (const c of r.checks ?? []) allChecks.push({ benchmark: m.meta.name, ...c });
    console.log(`(${m.meta.name} took ${seconds(wallMs)})`);
  } catch (err) {
    failed = true;
    results[m.meta.name] = { title: m.meta.title, error: String(err?.stack ?? err) };
    console.log(`ERROR in ${m.meta.name}: ${err?.stack ?? err}`);
  }
}
const totalMs = performance.now() - started;

console.log('\n== summary ==');
if (allChecks.length === 0) console.log('no targets checked');
for (const c of allChecks) {
  const op = c.better === 'higher' ? '>=' : '<=';
  console.log(`${verdict(c)}  ${c.name}: ${fmtValue(c.value, c.unit)} (target ${op} ${fmtValue(c.target, c.unit)})`);
}
const misses = allChecks.filter((c) => !c.pass).length;
console.log(`${allChecks.length - misses} of ${allChecks.length} targets met; total ${seconds(totalMs)}`);

const outDir = join(BENCH_DIR, 'results');
mkdirSync(outDir, { recursive: true });
const outFile = join(outDir, 'latest.json');
writeFileSync(outFile, `${JSON.stringify({ env, totalMs, checks: allChecks, benchmarks: results }, null, 2)}\n`);
console.log(`wrote ${outFile}`);
process.exit(failed || (flags.has('--strict') && misses > 0) ? 1 : 0);

function fmtValue(v, unit) {
  if (!Number.isFinite(v)) return String(v);
  const text = Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : Number(v.toPrecision(3)).toString();
  return unit ? `${text} ${unit}` : text;
}
