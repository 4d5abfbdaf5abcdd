// Benchmark 6: the control plane.
//   - telemetry ingestion over loopback HTTP: `prescient start --no-fleet` in its own process
//     (SQLite file store, once with synchronous=FULL and once with NORMAL; the control loop
//     ticking every second over the reporting instances), and concurrent agents POSTing /v1/telemetry batches from this process with
//     keep-alive connections (Node's fetch, i.e. undici). Two runs: a fixed offered load of 20,000
//     samples/s (target: achieved, with p99 latency < 50 ms), and a closed loop at full speed
//     (the ceiling). Same-run baseline: GET /healthz (no body, no store write) at the same
//     concurrency, the floor of an HTTP round trip on this machine.
//   - control loop tick time at 1,000 hosts and 10,000 instances (the embedded simulated fleet,
//     VPA fleet profile, forecasters spread over ticks, SQLite file store): first tick (initial
//     placement) and steady-state ticks after every forecaster exists. Telemetry is handed to the
//     loop between ticks, as agents' POSTs would be. Target: median steady tick < 100 ms.
//     Run once without and once with the markets (credits, spot auction); with markets the time of
//     each component's tick is reported too (wall and process CPU).
// Options (environment):
//   PRESCIENT_BENCH_SERVER=tick       only the control loop ticks (no ingestion runs)
//   PRESCIENT_BENCH_REF=<git revision> also builds that revision in a temporary folder (git archive,
//                                     this checkout's node_modules, tsc) and runs its ticks with
//                                     markets in the same run: before/after side by side.
//   PRESCIENT_BENCH_REF_DIST=<folder>  the same with a build made beforehand (its dist folder, with
//                                     node_modules reachable from it), e.g. this checkout with one
//                                     folder of an older revision.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, buildReference, check, dist, mib, note, num, runChild, seconds, table } from './lib/harness.mjs';

export const meta = {
  name: 'server',
  title: 'Control plane: telemetry ingestion over loopback HTTP, control loop tick at 1,000 hosts x 10,000 instances',
};

const TARGET_SAMPLES_PER_S = 20_000;
const TARGET_P99_MS = 50;
const TARGET_TICK_MS = 100;

/** A compiled module of this checkout's dist, or of a reference build's (`distRoot`). */
function distModule(distRoot, path) {
  if (!distRoot) return dist(path);
  const file = join(distRoot, path);
  if (!existsSync(file)) throw new Error(`${file} is missing in the reference build`);
  return new URL(`file://${file}`).href;
}

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

export const jobs = {
  /** Child: the control loop alone, in process, on a file store. */
  async tick({ hosts, instances, ticks, steadyFrom, markets = false, distRoot }, hooks = {}) {
    const d = (path) => distModule(distRoot, path);
    const { openSqliteStore } = await import(d('store/sqlite/sqlite-store.js'));
    const { ALL_TENANTS } = await import(d('core/store.js'));
    const { seededRng } = await import(d('core/rng.js'));
    const { createRegistry } = await import(d('policy/builtin.js'));
    const { PolicyRunner } = await import(d('policy/framework/decide.js'));
    const { compileProfile } = await import(d('policy/framework/profile.js'));
    const { defaultProfile } = await import(d('policy/profiles.js'));
    const { systemClock } = await import(d('server/clock.js'));
    const { ControlLoop } = await import(d('server/control-loop.js'));
    const { EventBus } = await import(d('server/events.js'));
    const { ServerMetrics } = await import(d('server/metrics.js'));
    const { SimulatedFleet } = await import(d('server/sim-fleet.js'));
    const { createMarketRuntime } = await import(d('server/markets/index.js'));
    const dir = mkdtempSync(join(tmpdir(), 'prescient-bench-tick-'));
    try {
      const store = openSqliteStore(join(dir, 'p.db'));
      const fleet = new SimulatedFleet({ hosts, instances, seed: 1 });
      const seed = fleet.seed();
      const now = Date.now();
      await store.transaction(async (tx) => {
        for (const h of seed.hosts) await tx.upsertHost(h, now);
        for (const i of seed.instances) await tx.upsertInstance(ALL_TENANTS, i, now);
      });
      fleet.adopt(seed.hosts, seed.instances);
      const runner = new PolicyRunner(compileProfile(defaultProfile({ policy: 'vpa', scenario: 'fleet' }), createRegistry(), { stepSeconds: 300 }));
      // markets: the credits component (every 3rd instance of the embedded fleet is burstable) and
      // the spot auction, as `prescient start` runs them; the negotiation has its own timer and is
      // measured by the markets bench.
      const market = markets ? createMarketRuntime({ stepMs: 300_000, store, clock: systemClock, negotiation: false }) : undefined;
      // each component's tick timed on its own (wall ms and process CPU ms), per loop tick
      const componentMs = {};
      let current;
      for (const name of ['credits', 'auction']) {
        const c = market?.component(name);
        if (!c) continue;
        const inner = c.tick.bind(c);
        c.tick = (ctx, out) => {
          const t0 = performance.now();
          const c0 = process.cpuUsage();
          try {
            return inner(ctx, out);
          } finally {
            const cpu = process.cpuUsage(c0);
            current[name] = { wallMs: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 };
          }
        };
        componentMs[name] = [];
      }
      const loop = new ControlLoop({ store, driver: fleet.driver, runner, clock: systemClock, rng: seededRng(1), events: new EventBus(), metrics: new ServerMetrics(false), tickMs: 1000, ...(market ? { markets: market } : {}) });
      await loop.load();
      const reports = [];
      for (let i = 0; i < ticks; i++) {
        for (const b of fleet.telemetry(i, Date.now())) loop.ingest(b);
        current = {};
        await hooks.beforeTick?.(i);
        const c0 = process.cpuUsage();
        const r = await loop.tick();
        const cpu = process.cpuUsage(c0);
        reports.push({ durationMs: r.durationMs, cpuMs: (cpu.user + cpu.system) / 1000, phasesMs: r.phasesMs, actions: r.actions, forecastsUpdated: r.forecastsUpdated, applied: r.applied, components: current });
      }
      await hooks.afterTicks?.();
      await loop.stop();
      const audit = await store.lastAuditSeq();
      await store.close();
      return { reports, steadyFrom, everyTicks: loop.forecastOptions.everyTicks, auditEntries: audit, heapUsedMiB: process.memoryUsage().heapUsed / 1048576 };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

/** Starts `prescient start` in a child process; resolves with its URL and admin token. */
function startServer(dir, extra = []) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'prescient'), 'start', '--port', '0', '--db', join(dir, 'p.db'), '--no-fleet', ...extra], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start in 20 s: ${out}`)), 20_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
      const url = /dashboard and API: (http:\/\/[^\s/]+)\//.exec(out)?.[1];
      const token = /admin token: +(psk_\S+)/.exec(out)?.[1];
      if (url && token) {
        clearTimeout(timer);
        resolvePromise({ child, url, token });
      }
    });
    child.on('error', reject);
  });
}

async function api(url, token, method, path, body) {
  const r = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return JSON.parse(text);
}

/**
 * Agents send batches of `profilesPerBatch` instances x `samplesPerProfile` samples. With `rate`
 * (samples/s) requests are offered on a fixed schedule (open loop: latency counts from the
 * scheduled send time, so queueing shows); without, each of `concurrency` clients sends as fast
 * as answers come back (closed loop).
 */
async function load({ url, agents, durationMs, concurrency, rate, profilesPerBatch, samplesPerProfile, path = '/v1/telemetry' }) {
  const latencies = [];
  let samples = 0;
  let errors = 0;
  let firstError;
  const perBatch = profilesPerBatch * samplesPerProfile;
  const t0 = performance.now();
  const end = t0 + durationMs;
  let seq = 0;
  const send = async (agent) => {
    const s = ++seq;
    const ts = Date.now();
    const body =
      path === '/v1/telemetry'
        ? JSON.stringify({
            agentId: agent.agentId,
            sequence: (agent.seq += 1),
            sentAtMs: ts,
            profiles: agent.instances.slice(0, profilesPerBatch).map((id, k) => ({
              instanceId: id,
              intervalMs: 1000,
              samples: Array.from({ length: samplesPerProfile }, (_, j) => ({
                timestampMs: ts * 100 + (s % 100) - j,
                values: { cpuMillicores: 100 + ((s * 7 + k + j) % 900), memoryMiB: 512 + ((s + k) % 256), cpuPressurePct: (s % 10) / 10 },
              })),
            })),
          })
        : undefined;
    const r = await fetch(`${url}${path}`, {
      method: body ? 'POST' : 'GET',
      headers: { authorization: `Bearer ${agent.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body } : {}),
    });
    const text = await r.text();
    if (!r.ok) {
      errors++;
      firstError ??= `${r.status} ${text.slice(0, 300)}`;
      return false;
    }
    return true;
  };
  if (rate) {
    const intervalMs = (perBatch / rate) * 1000;
    const inflight = new Set();
    let k = 0;
    while (performance.now() < end) {
      const due = t0 + k * intervalMs;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const agent = agents[k % agents.length];
      const scheduled = due;
      const p = send(agent).then((ok) => {
        if (ok) {
          latencies.push(performance.now() - scheduled);
          samples += perBatch;
        }
      });
      inflight.add(p);
      p.finally(() => inflight.delete(p));
      k++;
    }
    await Promise.all(inflight);
  } else {
    await Promise.all(
      Array.from({ length: concurrency }, async (_, c) => {
        const agent = agents[c % agents.length];
        while (performance.now() < end) {
          const a = performance.now();
          if (await send(agent)) {
            latencies.push(performance.now() - a);
            samples += perBatch;
          }
        }
      }),
    );
  }
  const elapsedS = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    errors,
    firstError,
    samplesPerS: samples / elapsedS,
    requestsPerS: latencies.length / elapsedS,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    max: latencies[latencies.length - 1],
  };
}

async function ingestion(ctx, synchronous, withBaseline) {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-bench-server-'));
  const { child, url, token } = await startServer(dir, ['--synchronous', synchronous]);
  try {
    // 1,000 instances, 10 agents of 100 instances each.
    const nAgents = 10;
    const perAgent = 100;
    const agents = [];
    for (let a = 0; a < nAgents; a++) {
      const ids = Array.from({ length: perAgent }, (_, k) => `bench-${a}-${k}`);
      for (const id of ids) await api(url, token, 'POST', '/v1/instances', { id, tenant: 'bench', request: { cpuMillicores: 2000, memoryMiB: 4096 } });
      const t = await api(url, token, 'POST', '/v1/tokens', { role: 'agent', tenant: 'bench', agentId: `bench-agent-${a}`, instanceIds: ids });
      agents.push({ token: t.token, agentId: t.agentId, instances: ids, seq: 0 });
    }
    await api(url, token, 'POST', '/v1/hosts', { id: 'bench-host-0', capacity: { cpuMillicores: 1_000_000, memoryMiB: 4_000_000 } });
    const durationMs = ctx.quick ? 4000 : 10_000;
    const shape = { profilesPerBatch: 20, samplesPerProfile: 10 };
    note('ingestion: warm-up');
    await load({ url, agents, durationMs: 1500, concurrency: 8, ...shape });
    note(`ingestion (${synchronous}): ${withBaseline ? 'healthz baseline, ' : ''}fixed ${TARGET_SAMPLES_PER_S} samples/s (best of ${ctx.quick ? 2 : 3}), full speed (${seconds(durationMs)} each)`);
    const base = withBaseline ? await load({ url, agents, durationMs: Math.min(durationMs, 3000), concurrency: 16, ...shape, path: '/healthz' }) : undefined;
    // Best of N by p99: the machine is shared and other work only ever adds latency.
    const fixedRuns = [];
    for (let k = 0; k < (ctx.quick ? 2 : 3); k++) fixedRuns.push(await load({ url, agents, durationMs, rate: TARGET_SAMPLES_PER_S, ...shape }));
    fixedRuns.sort((a, b) => a.p99 - b.p99);
    const fixed = { ...fixedRuns[0], p99Runs: fixedRuns.map((r) => r.p99) };
    const full = await load({ url, agents, durationMs, concurrency: 16, ...shape });
    const health = await fetch(`${url}/v1/status`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.json());
    return { synchronous, base, fixed, full, shape, agents: nAgents, instances: nAgents * perAgent, loop: { ticks: health.totals.ticks, overruns: health.totals.overruns, lastTickMs: health.lastTick?.durationMs } };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(ctx) {
  const checks = [];
  const data = {};

  const only = process.env.PRESCIENT_BENCH_SERVER;
  if (only !== undefined && only !== 'tick') throw new Error(`PRESCIENT_BENCH_SERVER must be "tick" (only the control loop ticks), got "${only}"`);
  if (only !== 'tick') await ingestionPart(ctx, checks, data);
  const refRev = process.env.PRESCIENT_BENCH_REF;
  const refDist = process.env.PRESCIENT_BENCH_REF_DIST;
  if (refRev && refDist) throw new Error('set PRESCIENT_BENCH_REF or PRESCIENT_BENCH_REF_DIST, not both');
  const ref = refRev ? buildReference(refRev) : refDist ? { dist: refDist, rev: refDist } : undefined;
  try {
    await tickPart(ctx, checks, data, ref);
  } finally {
    if (ref?.dir) rmSync(ref.dir, { recursive: true, force: true });
  }
  return { checks, data };
}

async function ingestionPart(ctx, checks, data) {
  // ---- ingestion
  const runs = [await ingestion(ctx, 'FULL', true), await ingestion(ctx, 'NORMAL', false)];
  data.ingestion = runs;
  const ing = runs[0];
  const batch = ing.shape.profilesPerBatch * ing.shape.samplesPerProfile;
  ctx.print(
    `Telemetry ingestion over loopback: ${ing.agents} agents, ${ing.instances} instances, batches of ${ing.shape.profilesPerBatch} instances x ${ing.shape.samplesPerProfile} samples (${batch} samples, ~${num((batch * 150) / 1024)} KiB); group commit; the control loop ticking meanwhile`,
  );
  const row = (name, r, unit) => ({
    name,
    rate: unit === 'samples' ? num(r.samplesPerS) : num(r.requestsPerS),
    unit,
    req: num(r.requestsPerS),
    p50: seconds(r.p50),
    p99: seconds(r.p99),
    max: seconds(r.max),
    errors: String(r.errors),
  });
  const rows = [row('GET /healthz, 16 clients (baseline)', ing.base, 'requests')];
  for (const r of runs) {
    rows.push(row(`${r.synchronous}: POST /v1/telemetry, ${num(TARGET_SAMPLES_PER_S)} samples/s offered`, r.fixed, 'samples'));
    rows.push(row(`${r.synchronous}: POST /v1/telemetry, 16 clients full speed`, r.full, 'samples'));
  }
  ctx.print(
    table(
      [
        { key: 'name', label: 'run (SQLite synchronous mode)' },
        { key: 'rate', label: 'achieved/s' },
        { key: 'unit', label: 'of', align: 'left' },
        { key: 'req', label: 'requests/s' },
        { key: 'p50', label: 'p50' },
        { key: 'p99', label: 'p99' },
        { key: 'max', label: 'max' },
        { key: 'errors', label: 'errors' },
      ],
      rows,
    ),
  );
  for (const r of runs) {
    ctx.print(`${r.synchronous}: p99 of each offered-rate run: ${r.fixed.p99Runs.map(seconds).join(', ')}; loop: ${r.loop.ticks} ticks, ${r.loop.overruns} overruns`);
    if (r.fixed.firstError || r.full.firstError) ctx.print(`${r.synchronous}: first error: ${r.fixed.firstError ?? r.full.firstError}`);
    checks.push(check(`${r.synchronous}: telemetry ingestion >= ${num(TARGET_SAMPLES_PER_S)} samples/s (offered at that rate)`, r.fixed.samplesPerS, TARGET_SAMPLES_PER_S * 0.98, 'higher', 'samples/s'));
    checks.push(check(`${r.synchronous}: telemetry p99 latency at ${num(TARGET_SAMPLES_PER_S)} samples/s < ${TARGET_P99_MS} ms`, r.fixed.p99, TARGET_P99_MS, 'lower', 'ms'));
  }

}

async function tickPart(ctx, checks, data, ref) {
  // ---- control loop tick
  const ticks = ctx.quick ? 100 : 140;
  const steadyFrom = ctx.quick ? 80 : 90;
  const runs = [{ markets: false }, { markets: true }, ...(ref ? [{ markets: true, ref }] : [])];
  for (const { markets, ref: runRef } of runs) {
    const label = (markets ? 'with markets (credits on every 3rd instance, spot auction)' : 'without markets') + (runRef ? ` at ${runRef.rev} (reference build)` : '');
    note(`tick: 1,000 hosts x 10,000 instances, ${label}, ${ticks} ticks in a child process`);
    const t = await runChild('server', 'tick', { hosts: 1000, instances: 10_000, ticks, steadyFrom, markets, ...(runRef ? { distRoot: runRef.dist } : {}) });
    const r = t.result;
    const steady = r.reports.slice(steadyFrom);
    const durs = steady.map((x) => x.durationMs).sort((a, b) => a - b);
    const phases = Object.keys(steady[0].phasesMs);
    const med = (xs) => quantile([...xs].sort((a, b) => a - b), 0.5);
    const first = r.reports[0];
    const d = { first, steadyMedianMs: quantile(durs, 0.5), steadyP95Ms: quantile(durs, 0.95), steadyMaxMs: durs[durs.length - 1], everyTicks: r.everyTicks, auditEntries: r.auditEntries, maxRssKiB: t.maxRssKiB, heapUsedMiB: r.heapUsedMiB, phasesMedianMs: Object.fromEntries(phases.map((p) => [p, med(steady.map((x) => x.phasesMs[p]))])), actionsMedian: med(steady.map((x) => x.actions)) };
    const components = Object.keys(steady[0].components ?? {});
    d.steadyCpuMedianMs = med(steady.map((x) => x.cpuMs));
    d.componentsMedianMs = Object.fromEntries(components.map((c) => [c, { wallMs: med(steady.map((x) => x.components[c]?.wallMs ?? 0)), cpuMs: med(steady.map((x) => x.components[c]?.cpuMs ?? 0)) }]));
    if (runRef) data.tickMarketsReference = { rev: runRef.rev, ...d };
    else if (markets) data.tickMarkets = d;
    else data.tick = d;
    ctx.print(`\nControl loop tick, 1,000 hosts x 10,000 instances, ${label} (vpa fleet profile; forecasters: 'fast' engine, horizon 12, 6 levels, each instance's step every ${r.everyTicks} ticks; SQLite FULL sync)`);
    ctx.print(
      table(
        [
          { key: 'what', label: 'ticks' },
          { key: 'total', label: 'total' },
          ...phases.map((p) => ({ key: p, label: p })),
          { key: 'actions', label: 'actions' },
        ],
        [
          { what: 'first (places 10,000 instances)', total: seconds(first.durationMs), ...Object.fromEntries(phases.map((p) => [p, seconds(first.phasesMs[p])])), actions: num(first.actions) },
          {
            what: `steady median (ticks ${steadyFrom}-${ticks - 1})`,
            total: seconds(d.steadyMedianMs),
            ...Object.fromEntries(phases.map((p) => [p, seconds(d.phasesMedianMs[p])])),
            actions: num(d.actionsMedian),
          },
          { what: 'steady p95 / max', total: `${seconds(d.steadyP95Ms)} / ${seconds(d.steadyMaxMs)}` },
        ],
      ),
    );
    ctx.print(`peak RSS ${mib(t.maxRssKiB)}, heap in use at the end ${num(r.heapUsedMiB)} MiB; ${num(r.auditEntries)} audit entries written; steady median process CPU per tick ${seconds(d.steadyCpuMedianMs)}`);
    if (components.length > 0) ctx.print(`market components, steady median per tick: ${components.map((c) => `${c} ${seconds(d.componentsMedianMs[c].wallMs)} (CPU ${seconds(d.componentsMedianMs[c].cpuMs)})`).join(', ')}`);
    if (runRef) {
      const now = data.tickMarkets;
      ctx.print(`this checkout vs ${runRef.rev}: tick median ${seconds(now.steadyMedianMs)} vs ${seconds(d.steadyMedianMs)}, markets phase median ${seconds(now.phasesMedianMs.markets)} vs ${seconds(d.phasesMedianMs.markets)}`);
      continue; // the target is checked on this checkout only
    }
    checks.push(check(`control loop tick, 1,000 hosts x 10,000 instances, ${label}, steady median < ${TARGET_TICK_MS} ms`, d.steadyMedianMs, TARGET_TICK_MS, 'lower', 'ms'));
  }
}
