// Shared helpers for the benchmarks: paths, tables, progress, child processes, targets.
// Benchmarks import compiled code from ../../dist (run `npm run build` first; `npm run bench` does).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = resolve(BENCH_DIR, '..');
export const DIST = join(REPO_ROOT, 'dist');
/** Real traces (see ../shared/traces/README.md); PRESCIENT_TRACES overrides. */
export const TRACES = resolve(process.env.PRESCIENT_TRACES ?? join(REPO_ROOT, '..', 'shared', 'traces'));

/** Absolute URL of a compiled module, e.g. dist('forecast/engine.js'). */
export function dist(path) {
  const file = join(DIST, path);
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first`);
  return new URL(`file://${file}`).href;
}

/** A trace folder under TRACES, or undefined (with the reason) when it is not there. */
export function tracePath(rel) {
  const p = join(TRACES, rel);
  return existsSync(p) ? p : undefined;
}

// ---------------------------------------------------------------- formatting

/** Formats a number with about 3 significant digits and thousands separators for big ones. */
export function num(x, digits = 3) {
  if (x === undefined || x === null || Number.isNaN(x)) return '-';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const a = Math.abs(x);
  if (a >= 10_000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(Math.max(0, digits - 3));
  if (a >= 1) return x.toFixed(Math.max(0, digits - 1));
  if (a === 0) return '0';
  return x.toPrecision(digits);
}

export function seconds(ms) {
  if (ms < 100) return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function mib(kib) {
  return `${(kib / 1024).toFixed(0)} MB`;
}

/**
 * Renders rows as an aligned text table. `columns`: [{ key, label, align? }]; the first column is
 * left-aligned, the others right-aligned unless align says so. Cells are already strings.
 */
export function table(columns, rows) {
  const head = columns.map((c) => c.label);
  const body = rows.map((r) => columns.map((c) => String(r[c.key] ?? '')));
  const all = [head, ...body];
  const widths = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const align = columns.map((c, i) => c.align ?? (i === 0 ? 'left' : 'right'));
  const line = (r) => r.map((cell, i) => (align[i] === 'left' ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(head), rule, ...body.map(line)].join('\n');
}

// ---------------------------------------------------------------- targets

/**
 * A check against a target: `better` is 'higher' (value must be >= target) or 'lower' (<=).
 * Returns the record kept in latest.json and printed in the summary.
 */
export function check(name, value, target, better, unit) {
  const pass = Number.isFinite(value) && (better === 'higher' ? value >= target : value <= target);
  return { name, value, target, better, unit, pass };
}

export function verdict(c) {
  return c.pass ? 'PASS' : 'FAIL';
}

// ---------------------------------------------------------------- progress

/**
 * Progress on stderr: a redrawn line on a terminal, else a line at every 10% (so logs stay short).
 * Returns { tick(n = 1), set(done), done() }.
 */
export function progress(label, total) {
  const tty = process.stderr.isTTY === true;
  const t0 = performance.now();
  let done = 0;
  let lastDecile = -1;
  let lastDraw = 0;
  const draw = (force) => {
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const elapsed = (performance.now() - t0) / 1000;
    if (tty) {
      const now = performance.now();
      if (!force && now - lastDraw < 100) return;
      lastDraw = now;
      const width = 24;
      const filled = Math.round(frac * width);
      const eta = frac > 0 && frac < 1 ? ` eta ${((elapsed / frac) * (1 - frac)).toFixed(0)} s` : '';
      process.stderr.write(`\r  ${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${elapsed.toFixed(1)} s${eta}\x1b[K`);
    } else {
      const decile = Math.floor(frac * 10);
      if (decile > lastDecile && (decile > 0 || force)) {
        lastDecile = decile;
        process.stderr.write(`  ${label}: ${decile * 10}% (${done}/${total}, ${elapsed.toFixed(1)} s)\n`);
      }
    }
  };
  return {
    tick(n = 1) {
      done += n;
      draw(false);
    },
    set(d) {
      done = d;
      draw(false);
    },
    done() {
      done = total;
      draw(true);
      if (tty) process.stderr.write('\n');
    },
  };
}

/** A one-line note on stderr (progress chatter that should not end up in the tables). */
export function note(text) {
  process.stderr.write(`  ${text}\n`);
}

// ---------------------------------------------------------------- child processes

const WORKER = join(BENCH_DIR, 'lib', 'worker.mjs');
const RESULT_MARK = '@@bench-result ';
let tasksetChecked;

function taskset() {
  if (tasksetChecked === undefined) tasksetChecked = process.platform === 'linux' && existsSync('/usr/bin/taskset');
  return tasksetChecked;
}

/**
 * Runs `job` (an export of bench/<module>) in a fresh Node process, pinned to one CPU with taskset
 * when `pin` is set and taskset exists. The job's return value comes back as JSON, with the child's
 * peak RSS (KiB, from process.resourceUsage().maxRSS) and the process's wall time as the parent saw it.
 */
export function runChild(module, job, args = {}, { pin = false, timeoutMs = 600_000 } = {}) {
  const nodeArgs = [WORKER, module, job, JSON.stringify(args)];
  const cmd = pin && taskset() ? '/usr/bin/taskset' : process.execPath;
  const argv = pin && taskset() ? ['-c', '0', process.execPath, ...nodeArgs] : nodeArgs;
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, argv, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const wallMs = performance.now() - t0;
      const line = out.split('\n').find((l) => l.startsWith(RESULT_MARK));
      if (code !== 0 || !line) {
        reject(new Error(`child ${module}:${job} failed (exit ${code}${signal ? `, ${signal}` : ''})\n${out.slice(-2000)}`));
        return;
      }
      const r = JSON.parse(line.slice(RESULT_MARK.length));
      resolvePromise({ ...r, processWallMs: wallMs, pinned: pin && taskset() });
    });
  });
}

export { RESULT_MARK };

/**
 * Builds a git revision's dist in a temporary folder (git archive, this checkout's node_modules,
 * tsc): the reference for before/after figures in the same run. Returns its folder, dist and
 * short name; the caller removes the folder.
 */
export function buildReference(rev) {
  const short = execFileSync('git', ['rev-parse', '--short', `${rev}^{commit}`], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  const dir = mkdtempSync(join(tmpdir(), `prescient-ref-${short}-`));
  const tar = execFileSync('git', ['archive', '--format=tar', short], { cwd: REPO_ROOT, maxBuffer: 1 << 30 });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
  try {
    execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: dir, stdio: 'ignore' });
  } catch {
    // tsc still emits when an unrelated file has type errors; the modules used are checked on import
  }
  return { dir, dist: join(dir, 'dist'), rev: short };
}
