// Benchmark 4b: how simulator time grows with the workload. Synthetic workloads (the seeded
// generator, default mix) at multiples of a PlanetLab day: 1x = 1,052 instances x 288 samples
// (5-minute steps), k x = 1,052 k instances. Rightsizing streams series one at a time; the fleet
// scenario runs them all together on ceil(instances / 2) hosts (hosts grow with the instances).
// Each scale runs in its own process. Time per sample and the growth exponent between scales
// (1 = linear) show whether cost stays near-linear. A scale whose predicted time (extrapolated
// with the last exponent seen) exceeds the per-run budget (90 s; 300 s for the fleet, whose 100x
// takes one to two minutes; 15 s with --quick) is skipped, with a note.
import { dist, mib, num, runChild, seconds, table } from './lib/harness.mjs';

export const meta = {
  name: 'scaling',
  title: 'Simulator scaling: rightsizing and fleet at 1x .. 100x a PlanetLab day (synthetic)',
};

const BASE_INSTANCES = 1052;
const SAMPLES = 288;

/**
 * CPU time of the main thread alone, ms (Linux: /proc/self/task/<pid>/stat, 10 ms ticks; NaN
 * elsewhere). Process CPU also counts the garbage collector's helper threads.
 */
async function mainThreadCpuMs() {
  try {
    const { readFileSync } = await import('node:fs');
    const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

export const jobs = {
  /** Child: generate-only pass (the floor), then runSimulation on the same spec. */
  async run({ scenario, scale, policy }) {
    const { getTraceFormat } = await import(dist('traces/index.js'));
    const { runSimulation } = await import(dist('sim/run.js'));
    const instances = BASE_INSTANCES * scale;
    const trace = `synthetic:count=${instances},length=${SAMPLES},seed=1`;
    let t0 = performance.now();
    let samples = 0;
    for await (const s of getTraceFormat('synthetic').read(trace)) samples += s.length;
    const generateMs = performance.now() - t0;
    const generateRssKiB = process.resourceUsage().maxRSS;
    const m0 = await mainThreadCpuMs();
    t0 = performance.now();
    const c0 = process.cpuUsage();
    let readEndMs = NaN;
    const r = await runSimulation({
      scenario,
      trace,
      format: 'synthetic',
      policy,
      keepSeries: 0,
      onProgress: (phase) => {
        if (phase === 'read') readEndMs = performance.now() - t0;
      },
    });
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    // CPU time of the simulation (one thread): less disturbed than wall time on a shared machine
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const mainCpuMs = (await mainThreadCpuMs()) - m0;
    return { scenario, scale, instances, samples, rows: r.rows, hosts: r.hostsConfig?.hosts, generateMs, generateRssKiB, wallMs, cpuMs, mainCpuMs, readEndMs };
  },
};

async function sweep(ctx, scenario, scales, budgetMs) {
  const out = [];
  const bar = ctx.progress(`${scenario} scales`, scales.length);
  for (const scale of scales) {
    const last = out[out.length - 1];
    const prev = out[out.length - 2];
    if (last) {
      const exponent = prev ? Math.max(1, Math.log(last.wallMs / prev.wallMs) / Math.log(last.scale / prev.scale)) : 1;
      const predicted = last.wallMs * (scale / last.scale) ** exponent;
      if (predicted > budgetMs) {
        out.push({ scale, skipped: `predicted ${seconds(predicted)} (exponent ${exponent.toFixed(2)}) > ${seconds(budgetMs)} budget` });
        bar.tick();
        continue;
      }
    }
    if (last?.skipped) {
      out.push({ scale, skipped: 'a smaller scale was skipped' });
      bar.tick();
      continue;
    }
    const r = await runChild('scaling', 'run', { scenario, scale, policy: 'vpa' }, { timeoutMs: 900_000 });
    out.push({ ...r.result, maxRssKiB: r.maxRssKiB, processWallMs: r.processWallMs });
    bar.tick();
  }
  bar.done();
  return out;
}

function report(ctx, scenario, rows) {
  const base = rows[0];
  const done = rows.filter((r) => !r.skipped);
  ctx.print(
    table(
      [
        { key: 'scale', label: `${scenario} (vpa)` },
        { key: 'instances', label: 'instances' },
        { key: 'hosts', label: 'hosts' },
        { key: 'samples', label: 'samples' },
        { key: 'wall', label: 'runSimulation' },
        { key: 'gen', label: 'generate alone' },
        { key: 'perSample', label: 'µs/sample' },
        { key: 'growth', label: 'per-sample vs 1x' },
        { key: 'exp', label: 'exponent vs previous' },
        { key: 'cpuPerSample', label: 'CPU µs/sample' },
        { key: 'cpuExp', label: 'CPU exponent' },
        { key: 'mainPerSample', label: 'main-thread CPU µs/sample' },
        { key: 'mainExp', label: 'main-thread exponent' },
        { key: 'rss', label: 'peak RSS' },
        { key: 'genRss', label: 'peak RSS generating' },
      ],
      rows.map((r) => {
        if (r.skipped) return { scale: `${r.scale}x`, instances: num(BASE_INSTANCES * r.scale), wall: 'skipped' };
        const i = done.indexOf(r);
        const p = i > 0 ? done[i - 1] : undefined;
        return {
          scale: `${r.scale}x`,
          instances: num(r.instances),
          hosts: r.hosts ? num(r.hosts) : '-',
          samples: num(r.rows),
          wall: seconds(r.wallMs),
          gen: seconds(r.generateMs),
          perSample: num((r.wallMs * 1000) / r.rows),
          growth: `${(r.wallMs / r.rows / (base.wallMs / base.rows)).toFixed(2)}x`,
          exp: p ? (Math.log(r.wallMs / p.wallMs) / Math.log(r.scale / p.scale)).toFixed(2) : '-',
          cpuPerSample: Number.isFinite(r.cpuMs) ? num((r.cpuMs * 1000) / r.rows) : '-',
          cpuExp: p && Number.isFinite(r.cpuMs) && Number.isFinite(p.cpuMs) ? (Math.log(r.cpuMs / p.cpuMs) / Math.log(r.scale / p.scale)).toFixed(2) : '-',
          mainPerSample: Number.isFinite(r.mainCpuMs) ? num((r.mainCpuMs * 1000) / r.rows) : '-',
          mainExp: p && Number.isFinite(r.mainCpuMs) && Number.isFinite(p.mainCpuMs) ? (Math.log(r.mainCpuMs / p.mainCpuMs) / Math.log(r.scale / p.scale)).toFixed(2) : '-',
          rss: mib(r.maxRssKiB),
          genRss: mib(r.generateRssKiB),
        };
      }),
    ),
  );
  for (const r of rows) if (r.skipped) ctx.print(`${scenario} ${r.scale}x skipped: ${r.skipped}`);
}

export async function run(ctx) {
  const rightsizingScales = ctx.quick ? [1, 10] : [1, 10, 100];
  const fleetScales = ctx.quick ? [1, 3] : [1, 3, 10, 30, 100];
  const budgetMs = ctx.quick ? 15_000 : 90_000;
  // The fleet's 100x (105,200 instances on 52,600 hosts) takes one to two minutes of CPU: a
  // larger budget lets it run (the issue asks for 1x..100x) while a regression that makes it
  // superlinear again is still skipped rather than left running for many minutes.
  const fleetBudgetMs = ctx.quick ? 15_000 : 300_000;
  const rightsizing = await sweep(ctx, 'rightsizing', rightsizingScales, budgetMs);
  report(ctx, 'rightsizing', rightsizing);
  ctx.print('');
  const fleet = await sweep(ctx, 'fleet', fleetScales, fleetBudgetMs);
  report(ctx, 'fleet', fleet);
  ctx.print(
    `1x = ${num(BASE_INSTANCES)} instances x ${SAMPLES} samples (a PlanetLab day); "generate alone" = the synthetic generator by itself ` +
      `(a separate pass in the same process, before the simulation; "peak RSS generating" is the peak after that pass); exponent = log(time ratio) / log(scale ratio), 1.00 = linear; "CPU" columns: the simulation's CPU time (the process: the garbage collector's helper threads included), which other work on a shared machine disturbs less than wall time; "main-thread" columns: the main thread's CPU time alone (Linux, 10 ms ticks); per-run budget ${seconds(budgetMs)} (fleet ${seconds(fleetBudgetMs)}).`,
  );
  return { checks: [], data: { budgetMs, fleetBudgetMs, rightsizing, fleet } };
}
