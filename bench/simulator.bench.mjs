// Benchmark 4a: simulator speed on real traces, each run in its own process (wall time as a user
// waits for it: Node start, module load, trace read, simulation; no output files) with its peak
// resident memory.
//   - cloudsim-planetlab, one day (20110303), THR-MMT and LR-MMT: targets 1.5 s and 300 MB;
//     CloudSim 3.0.3's own figures (28.8 s, 2.0 GB for LR-MMT on JDK 17, measured on this machine
//     kind: ../shared/reference/cloudsim-planetlab.md) are printed as reference text, and the
//     results are checked against its results CSV (energy, migrations) when that file is there.
//   - rightsizing one month of 125 Bitbrains VMs with vpa and with predictive (worker threads,
//     one per core, as `prescient simulate` runs it by default): target < 5 s; same-run
//     baselines: the static policy on the same trace, and reading the trace alone.
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { DIST, TRACES, check, dist, mib, num, runChild, seconds, table, tracePath, verdict } from './lib/harness.mjs';

export const meta = {
  name: 'simulator',
  title: 'Simulator speed: CloudSim PlanetLab day (THR/LR-MMT) and a Bitbrains month of rightsizing',
};

const CLOUDSIM_DAY = 'planetlab/20110303';
const BITBRAINS = 'bitbrains-rnd/2013-7';
const CLOUDSIM_TARGET = { wallS: 1.5, rssMB: 300 };
const CLOUDSIM_REFERENCE = { wallS: 28.8, rssGB: 2.0 };
const RIGHTSIZING_TARGET_S = 5;

export const jobs = {
  /** Child: one runSimulation call; returns its result's figures and the read phase's end. */
  async simulate({ scenario, trace, format, policy, jobs }) {
    const { runSimulation } = await import(dist('sim/run.js'));
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    let readEndMs = NaN;
    const r = await runSimulation({
      scenario,
      trace,
      format,
      policy,
      keepSeries: 0,
      ...(jobs !== undefined ? { jobs } : {}),
      onProgress: (phase) => {
        if (phase === 'read') readEndMs = performance.now() - t0;
      },
    });
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    return {
      wallMs,
      // this thread only (worker threads' CPU is not in process.cpuUsage before Node 22)
      mainCpuMs: (cpu.user + cpu.system) / 1000,
      readEndMs,
      instances: r.instances,
      rows: r.rows,
      steps: r.steps,
      fleet: r.fleet,
    };
  },
  /** Child: only reads the trace through its format (the floor under any simulation of it). */
  async read({ trace, format }) {
    const { getTraceFormat } = await import(dist('traces/index.js'));
    const t0 = performance.now();
    let rows = 0;
    let instances = 0;
    for await (const s of getTraceFormat(format).read(trace)) {
      rows += s.length;
      instances++;
    }
    return { wallMs: performance.now() - t0, rows, instances };
  },
};

/**
 * Runs a child `repeats` times and keeps the run with the lowest process wall (best of N: the
 * machine is shared, and noise only ever adds time); `spreadMs` keeps every run's wall.
 */
async function bestOf(repeats, job, args, tick) {
  const runs = [];
  for (let i = 0; i < repeats; i++) {
    runs.push(await runChild('simulator', job, args));
    tick?.();
  }
  runs.sort((a, b) => a.processWallMs - b.processWallMs);
  return { ...runs[0], spreadMs: runs.map((r) => r.processWallMs), repeats };
}

function referenceRows() {
  const file = resolve(TRACES, '..', 'reference', 'cloudsim-3.0.3_planetlab_results.csv');
  if (!existsSync(file)) return undefined;
  const [head, ...lines] = readFileSync(file, 'utf8').trim().split('\n');
  const cols = head.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])));
}

export async function run(ctx) {
  const checks = [];
  const data = {};
  const repeats = ctx.quick ? 1 : 3;
  const bar = ctx.progress('simulator runs', 6 * repeats);

  // --- CloudSim PlanetLab day
  const day = tracePath(CLOUDSIM_DAY);
  if (!existsSync(join(DIST, 'sim', 'cloudsim', 'index.js'))) {
    ctx.print('cloudsim-planetlab: skipped (dist/sim/cloudsim is not built yet)');
  } else if (!day) {
    ctx.print(`cloudsim-planetlab: skipped (${CLOUDSIM_DAY} not found under the traces folder)`);
  } else {
    const ref = referenceRows();
    const rows = [];
    data.cloudsim = [];
    for (const policy of ['thr-mmt', 'lr-mmt']) {
      const r = await bestOf(repeats, 'simulate', { scenario: 'cloudsim-planetlab', trace: day, format: 'planetlab', policy }, () => bar.tick());
      const res = r.result;
      const refRow = ref?.find((x) => x.workload === '20110303' && x.policy.replace(/_[\d.]+$/, '').replace('_', '-') === policy);
      const wallS = r.processWallMs / 1000;
      const rssMB = r.maxRssKiB / 1024;
      const cw = check(`cloudsim-planetlab ${policy} one day wall < ${CLOUDSIM_TARGET.wallS} s`, wallS, CLOUDSIM_TARGET.wallS, 'lower', 's');
      const cm = check(`cloudsim-planetlab ${policy} one day peak RSS < ${CLOUDSIM_TARGET.rssMB} MB`, rssMB, CLOUDSIM_TARGET.rssMB, 'lower', 'MB');
      checks.push(cw, cm);
      data.cloudsim.push({ policy, processWallMs: r.processWallMs, spreadMs: r.spreadMs, maxRssKiB: r.maxRssKiB, ...res, reference: refRow });
      rows.push({
        policy,
        proc: `${wallS.toFixed(2)} s`,
        spread: r.spreadMs.map((m) => (m / 1000).toFixed(2)).join(' '),
        sim: seconds(res.wallMs),
        read: Number.isFinite(res.readEndMs) ? seconds(res.readEndMs) : '-',
        rss: mib(r.maxRssKiB),
        vsCloudsim: `${(CLOUDSIM_REFERENCE.wallS / wallS).toFixed(0)}x faster, ${((CLOUDSIM_REFERENCE.rssGB * 1024) / rssMB).toFixed(0)}x less memory`,
        energy: refRow ? `${num(res.fleet.energy_kwh)} / ${refRow.energy_kwh}` : num(res.fleet.energy_kwh),
        migrations: refRow ? `${res.fleet.migrations} / ${refRow.vm_migrations}` : String(res.fleet.migrations),
        status: `${verdict(cw)} / ${verdict(cm)}`,
      });
    }
    ctx.print(
      table(
        [
          { key: 'policy', label: 'cloudsim-planetlab 20110303' },
          { key: 'proc', label: `process wall${repeats > 1 ? ` (best of ${repeats})` : ''}` },
          { key: 'spread', label: 'all runs, s' },
          { key: 'sim', label: 'runSimulation' },
          { key: 'read', label: 'of which read' },
          { key: 'rss', label: 'peak RSS' },
          { key: 'vsCloudsim', label: 'vs CloudSim 3.0.3 (28.8 s, 2.0 GB)' },
          { key: 'energy', label: `energy kWh${ref ? ' (ours / CloudSim)' : ''}` },
          { key: 'migrations', label: `migrations${ref ? ' (ours / CloudSim)' : ''}` },
          { key: 'status', label: `target ${CLOUDSIM_TARGET.wallS} s / ${CLOUDSIM_TARGET.rssMB} MB` },
        ],
        rows,
      ),
    );
    ctx.print(
      `reference: CloudSim 3.0.3 on JDK 17 took ${CLOUDSIM_REFERENCE.wallS} s wall and ${CLOUDSIM_REFERENCE.rssGB} GB resident for one day of LR-MMT ` +
        '(measured on this machine kind, ../shared/reference/cloudsim-planetlab.md); not re-run here (no JVM).',
    );
  }

  // --- Bitbrains month, rightsizing
  const bb = tracePath(BITBRAINS);
  if (!bb) {
    ctx.print(`\nrightsizing: skipped (${BITBRAINS} not found under the traces folder)`);
  } else {
    // jobs 'auto' = the CLI's default: worker threads, one per core (series split by position)
    const rs = (policy) => ({ scenario: 'rightsizing', trace: bb, format: 'bitbrains', policy, jobs: 'auto' });
    const runs = [
      { id: 'vpa', label: 'rightsizing, vpa', job: 'simulate', args: rs('vpa') },
      { id: 'predictive', label: 'rightsizing, predictive', job: 'simulate', args: rs('predictive') },
      { id: 'static', label: 'baseline: rightsizing, static', job: 'simulate', args: rs('static') },
      { id: 'read', label: 'baseline: read the trace only (one thread)', job: 'read', args: { trace: bb, format: 'bitbrains' } },
    ];
    const out = [];
    for (const x of runs) {
      const r = await bestOf(repeats, x.job, x.args, () => bar.tick());
      out.push({ ...x, processWallMs: r.processWallMs, spreadMs: r.spreadMs, maxRssKiB: r.maxRssKiB, ...r.result });
    }
    const vpa = out[0];
    const cs = {
      vpa: check(`rightsizing Bitbrains month (125 VMs) vpa < ${RIGHTSIZING_TARGET_S} s`, vpa.processWallMs / 1000, RIGHTSIZING_TARGET_S, 'lower', 's'),
      predictive: check(`rightsizing Bitbrains month (125 VMs) predictive < ${RIGHTSIZING_TARGET_S} s`, out[1].processWallMs / 1000, RIGHTSIZING_TARGET_S, 'lower', 's'),
    };
    checks.push(cs.vpa, cs.predictive);
    data.rightsizing = out;
    const read = out[3];
    ctx.print('');
    ctx.print(
      table(
        [
          { key: 'label', label: `Bitbrains 2013-7 (${vpa.instances} VMs, ${num(vpa.rows)} rows)` },
          { key: 'proc', label: `process wall${repeats > 1 ? ` (best of ${repeats})` : ''}` },
          { key: 'spread', label: 'all runs, s' },
          { key: 'inner', label: 'in-process' },
          { key: 'overRead', label: 'above reading' },
          { key: 'perRow', label: 'µs/row' },
          { key: 'rss', label: 'peak RSS' },
          { key: 'status', label: `target < ${RIGHTSIZING_TARGET_S} s` },
        ],
        out.map((x) => ({
          label: x.label,
          proc: seconds(x.processWallMs),
          spread: x.spreadMs.map((m) => (m / 1000).toFixed(2)).join(' '),
          inner: seconds(x.wallMs),
          overRead: x.id === 'read' ? '-' : x.wallMs > read.wallMs ? seconds(x.wallMs - read.wallMs) : '~0 (within noise)',
          perRow: num((x.wallMs * 1000) / x.rows),
          rss: mib(x.maxRssKiB),
          status: cs[x.id] ? verdict(cs[x.id]) : 'info',
        })),
      ),
    );
    ctx.print(`rightsizing runs: worker threads as the CLI's default (--jobs auto = ${availableParallelism()} on this machine; allocations identical to one thread).`);
  }
  bar.done();
  return { checks, data: { repeats, ...data } };
}
