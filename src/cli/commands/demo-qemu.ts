// `prescient demo qemu`: the full loop on real virtual machines. Boots two or three QEMU guests
// (the Debian-built test guest; KVM when a bounded probe boots it, TCG otherwise), each running a
// varying CPU and memory workload, and lets the control plane shape them live:
//
//   guest stats over QMP + host CPU time of each VM -> telemetry -> the control loop (forecasters,
//   policy, applyPlan with rollback) -> QemuDriver: CPU quota through the VM's cgroup, memory
//   through the balloon -> observed on the next sample
//
// with the HTTP API and dashboard of `prescient start` (same service, SQLite store). Half-way
// through, one VM is live-migrated to the other host (a CPU set) and the migration is recorded in
// the audit log and the event stream with its total time and downtime. Every QEMU, cgroup and
// file it started is removed at the end, on Ctrl-C too.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../../core/errors.js';
import { describeAction, type Action } from '../../core/plan.js';
import { DriverError, type Driver, type Undo } from '../../core/ports.js';
import { ALL_TENANTS } from '../../core/store.js';
import type { TelemetryBatch } from '../../core/telemetry.js';
import { CgroupDriver } from '../../drivers/cgroups/cgroup-driver.js';
import { chooseAccel, qemuAvailable } from '../../drivers/qemu/accel.js';
import { defaultGuestCacheDir, ensureGuestImage } from '../../drivers/qemu/guest-image.js';
import { QemuDriver, type MigrationRecord, type VmSpec } from '../../drivers/qemu/qemu-driver.js';
import { startService, type Service } from '../../server/service.js';
import { openSqliteStore } from '../../store/sqlite/sqlite-store.js';

export interface QemuDemoOptions {
  vms: number;
  seconds: number;
  tickMs: number;
  port: number;
  policy: string;
  memoryMiB: number;
  /** Migrate one VM after this many seconds (default: half-way); negative = never. */
  migrateAfterS?: number;
}

export const QEMU_DEMO_DEFAULTS = { vms: 3, seconds: 90, tickMs: 2000, port: 8080, policy: 'vpa', memoryMiB: 512 } as const;

export interface QemuDemoResult {
  accel: string;
  bootMs: number[];
  ticks: number;
  actionsApplied: number;
  planFailures: number;
  balloonMs: number[];
  migration?: MigrationRecord;
  url: string;
}

/**
 * Keeps the control plane's resizes inside what a VM can take: the balloon between a floor
 * (what the guest uses plus a guard, at least 128 MiB) and the VM's memory; the CPU quota of its
 * vCPU threads between 250 millicores and its vCPUs. The policy's number is what the loop records; the VM gets the
 * clamped one (printed).
 */
export class VmBoundsDriver implements Driver {
  readonly name = 'qemu';
  readonly usedMiB = new Map<string, number>();
  constructor(
    readonly inner: QemuDriver,
    readonly specs: Map<string, VmSpec>,
    readonly guardMiB = 96,
    readonly minCpuMillicores = 250,
  ) {}
  async apply(action: Action): Promise<Undo> {
    if (action.kind === 'power') {
      // A host here is a CPU set of this machine: "off" means nothing runs on it, which is
      // checked, not done (the CPUs stay online).
      const hosts = await this.inner.hosts();
      if (!hosts[action.host]) throw new DriverError(`power: field host must be one of ${Object.keys(hosts).join(', ')}, got "${action.host}"`, action);
      const busy = this.inner.instances().filter((id) => this.inner.hostOf(id) === action.host);
      if (!action.on && busy.length > 0) throw new DriverError(`power off ${action.host}: field host still runs ${busy.join(', ')}`, action);
      return () => undefined;
    }
    if (action.kind !== 'resize') return this.inner.apply(action);
    const spec = this.specs.get(action.instance);
    if (!spec) throw new DriverError(`no instance "${action.instance}"`, action);
    const floor = Math.max(128, Math.ceil((this.usedMiB.get(action.instance) ?? 0) + this.guardMiB));
    const memory = Number.isFinite(action.memory) ? Math.min(spec.memoryMiB, Math.max(floor, Math.round(action.memory))) : NaN;
    const maxCpu = (spec.maxVcpus ?? 2) * 1000;
    const cpu = Number.isFinite(action.cpu) && this.inner.o.cgroups ? Math.min(maxCpu, Math.max(this.minCpuMillicores, Math.round(action.cpu))) : NaN;
    return this.inner.apply({ ...action, cpu, memory });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runQemuDemo(o: QemuDemoOptions, write: (text: string) => void, signal?: AbortSignal): Promise<QemuDemoResult> {
  const q = await qemuAvailable();
  if (!q.ok) throw new InputError(`${q.reason}. On Debian: apt-get install --no-install-recommends qemu-system-x86 busybox-static cpio (or bash scripts/ci/install-drivers.sh)`);
  write(`${q.version}\n`);
  const image = await ensureGuestImage({ log: (l) => write(`${l}\n`) });
  const accel = await chooseAccel(image, { cacheDir: defaultGuestCacheDir(), log: (l) => write(`${l}\n`) });
  write(`accelerator: ${accel.accel.toUpperCase()} (${accel.reason})\n`);
  const cg = await CgroupDriver.open({ prefix: `prescient-demo-${process.pid}-` });
  const cgroups = cg instanceof CgroupDriver ? cg : undefined;
  if (!cgroups) write(`cgroups: not used (${(cg as { unavailable: string }).unavailable}); only memory (balloon) is shaped\n`);
  const qemu = new QemuDriver({ image, accel: accel.accel, ...(cgroups ? { cgroups } : {}), balloonTimeoutMs: 4000, deflateOnOom: true, log: (l) => write(`${l}\n`) });
  const hosts = Object.keys(await qemu.hosts());
  const specs = new Map<string, VmSpec>();
  const workloads: Array<VmSpec['workload']> = [
    { cpuPct: [10, 80], memoryMiB: [32, 192], periodS: 40, phaseS: 0 },
    { cpuPct: [40, 90], memoryMiB: [64, 128], periodS: 30, phaseS: 10 },
    { cpuPct: [5, 40], memoryMiB: [16, 256], periodS: 60, phaseS: 30 },
  ];
  for (let i = 0; i < o.vms; i++) {
    const id = `vm-${String.fromCharCode(97 + i)}`;
    specs.set(id, { id, memoryMiB: o.memoryMiB, vcpus: 1, maxVcpus: 2, host: hosts[i % hosts.length]!, workload: workloads[i % workloads.length]! });
  }
  const bounds = new VmBoundsDriver(qemu, specs);
  const dir = mkdtempSync(join(tmpdir(), 'prescient-demo-qemu-'));
  const store = openSqliteStore(join(dir, 'prescient.db'), { synchronous: 'NORMAL' });
  let svc: Service | undefined;
  let sampler: ReturnType<typeof setInterval> | undefined;
  const result: QemuDemoResult = { accel: accel.accel, bootMs: [], ticks: 0, actionsApplied: 0, planFailures: 0, balloonMs: [], url: '' };
  try {
    write(`booting ${o.vms} guests (${o.memoryMiB} MiB, 1 of 2 vCPUs each) on hosts ${hosts.join(', ')}...\n`);
    const boots = await Promise.all([...specs.values()].map((s) => qemu.start(s)));
    result.bootMs = boots.map((b) => b.bootMs);

    // The store holds the hosts (CPU sets) and the VMs before the control plane loads it.
    const now = Date.now();
    await store.transaction(async (tx) => {
      for (const h of hosts) await tx.upsertHost({ id: h, capacity: { cpuMillicores: 1000, memoryMiB: o.memoryMiB * o.vms, diskKiBps: 0, networkKiBps: 0 }, active: true, labels: { kind: 'cpuset' } }, now);
      for (const s of specs.values()) {
        const v = { cpuMillicores: 2000, memoryMiB: s.memoryMiB, diskKiBps: 0, networkKiBps: 0 };
        await tx.upsertInstance(ALL_TENANTS, { id: s.id, tenant: 'demo', hostId: s.host!, priority: 'normal', request: v, allocation: { ...v, cpuMillicores: 1000 }, state: 'running', labels: { driver: 'qemu', accel: accel.accel } }, now);
      }
    });
    svc = await startService({ store, fleet: false, driver: bounds, port: o.port, tickMs: o.tickMs, stepSeconds: o.tickMs / 1000, policy: o.policy, seed: 1, logger: false });
    svc.events.subscribe((e) => {
      if (e.type === 'plan-failed') {
        const d = e.data as { action?: Action; error?: string };
        write(`plan rolled back: ${d.action ? describeAction(d.action) : '?'}: ${d.error ?? ''}\n`);
      }
    });
    write(
      `\ncontrol plane: ${svc.url}/  (policy ${o.policy}, a tick every ${o.tickMs} ms)\n` +
        (svc.adminToken ? `dashboard:     ${svc.url}/#token=${svc.adminToken}\n` : '') +
        `running ${o.seconds} s; each line: VM host cpu used/quota millicores, guest memory used/balloon MiB\n\n`,
    );

    // Telemetry: host CPU time of each VM and the guest's own memory figures.
    const prev = new Map<string, { cpuNs: number; atMs: number }>();
    let sequence = 0;
    let sampling = false;
    const sample = async () => {
      if (sampling || !svc) return;
      sampling = true;
      try {
        const profiles: TelemetryBatch['profiles'] = [];
        const ts = Date.now();
        for (const id of specs.keys()) {
          if (!qemu.has(id)) continue;
          const c = await qemu.cpuSample(id).catch(() => undefined);
          const m = await qemu.guestMemory(id).catch(() => undefined);
          const p = prev.get(id);
          if (c) prev.set(id, c);
          const values: { cpuMillicores?: number; memoryMiB?: number } = {};
          if (c && p && c.atMs > p.atMs && c.cpuNs >= p.cpuNs) values.cpuMillicores = ((c.cpuNs - p.cpuNs) / 1e6 / (c.atMs - p.atMs)) * 1000;
          if (m && Number.isFinite(m.usedMiB)) {
            values.memoryMiB = m.usedMiB;
            bounds.usedMiB.set(id, m.usedMiB);
          }
          if (values.cpuMillicores !== undefined || values.memoryMiB !== undefined) profiles.push({ instanceId: id, intervalMs: o.tickMs, samples: [{ timestampMs: ts, values }] });
        }
        if (profiles.length > 0) {
          const batch: TelemetryBatch = { agentId: 'demo-qemu', sequence: sequence++, sentAtMs: ts, profiles };
          await svc.store.appendTelemetry(batch, ts);
          svc.loop.ingest(batch);
        }
      } finally {
        sampling = false;
      }
    };
    sampler = setInterval(() => void sample().catch((e) => write(`telemetry: ${(e as Error).message}\n`)), o.tickMs);

    const t0 = Date.now();
    const migrateAt = o.migrateAfterS ?? o.seconds / 2;
    let migrated = false;
    while (Date.now() - t0 < o.seconds * 1000 && !signal?.aborted) {
      await sleep(Math.min(o.tickMs * 2, 5000));
      const lines: string[] = [];
      for (const id of specs.keys()) {
        const m = svc.loop.instance(id);
        const quota = await qemu.cpuQuota(id).catch(() => NaN);
        const balloon = await qemu.balloonMiB(id).catch(() => NaN);
        const used = m?.state.lastUsage;
        lines.push(`${id}@${qemu.hostOf(id)} cpu ${fmt(used?.cpu)}/${fmt(quota)} mem ${fmt(used?.memory)}/${fmt(balloon)}`);
      }
      const r = svc.loop.lastReport;
      write(`t=${String(Math.round((Date.now() - t0) / 1000)).padStart(3)}s tick ${r?.tick ?? '-'} actions ${svc.loop.totals.actionsApplied} | ${lines.join(' | ')}\n`);
      if (!migrated && migrateAt >= 0 && (Date.now() - t0) / 1000 >= migrateAt && hosts.length > 1) {
        migrated = true;
        result.migration = await migrateOne(svc, qemu, [...specs.keys()][specs.size > 1 ? 1 : 0]!, hosts, write);
      }
    }
    result.ticks = svc.loop.totals.ticks;
    result.actionsApplied = svc.loop.totals.actionsApplied;
    result.planFailures = svc.loop.totals.planFailures;
    result.balloonMs = qemu.latencies.filter((l) => l.kind === 'balloon').map((l) => l.ms);
    result.url = svc.url;
    const med = [...result.balloonMs].sort((a, b) => a - b)[Math.floor(result.balloonMs.length / 2)];
    write(
      `\n${result.ticks} ticks, ${result.actionsApplied} actions applied, ${result.planFailures} plans rolled back; ` +
        `${result.balloonMs.length} balloon steps (median ${med === undefined ? '-' : med.toFixed(0)} ms)` +
        (result.migration ? `; migration ${result.migration.totalTimeMs} ms, downtime ${result.migration.downtimeMs} ms` : '') +
        '\n',
    );
    return result;
  } finally {
    if (sampler) clearInterval(sampler);
    await svc?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    await qemu.stopAll().catch((e) => write(`stopping VMs: ${(e as Error).message}\n`));
    await cgroups?.destroyAll().catch((e) => write(`removing cgroups: ${(e as Error).message}\n`));
    rmSync(dir, { recursive: true, force: true });
  }
}

function fmt(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? '-' : String(Math.round(x));
}

/** Live-migrates a VM to another host and tells the control plane: model, store, audit, events. */
async function migrateOne(svc: Service, qemu: QemuDriver, id: string, hosts: string[], write: (t: string) => void): Promise<MigrationRecord | undefined> {
  const from = qemu.hostOf(id);
  const to = hosts.find((h) => h !== from)!;
  const action: Action = { kind: 'migrate', instance: id, from, to, reasons: ['demo: operator-requested live migration'] };
  write(`\nmigrating ${id} ${from} -> ${to} (live, over loopback)...\n`);
  const atMs = Date.now();
  try {
    await qemu.apply(action);
  } catch (e) {
    write(`migration failed, ${id} keeps running on ${from}: ${(e as Error).message}\n`);
    await svc.store.appendAudit([{ atMs, actor: 'demo', action, reasons: [...action.reasons], result: 'failed', error: (e as Error).message, instanceId: id, hostId: from, tenant: 'demo' }]).catch(() => undefined);
    return undefined;
  }
  const rec = qemu.migrations.at(-1)!;
  const m = svc.loop.instance(id);
  if (m) (m.state as { hostId: string | null }).hostId = to;
  await svc.store.transaction(async (tx) => {
    await tx.updateInstances(ALL_TENANTS, [{ id, hostId: to }], Date.now());
    await tx.appendAudit([{ atMs, actor: 'demo', action: { ...action, totalTimeMs: rec.totalTimeMs, downtimeMs: rec.downtimeMs }, reasons: [...action.reasons], result: 'applied', instanceId: id, hostId: to, tenant: 'demo' }]);
  });
  svc.events.publish('actions', { atMs, result: 'applied', count: 1, actions: [action], truncated: false, migration: rec }, 'demo');
  write(`migrated ${id} ${from} -> ${to}: total ${rec.totalTimeMs} ms, downtime ${rec.downtimeMs} ms, ${(rec.transferredBytes / 2 ** 20).toFixed(0)} MiB sent\n\n`);
  return rec;
}

function int(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InputError(`--${name} must be an integer from ${min} to ${max}, got "${v}"`, { field: name });
  return n;
}

export interface QemuDemoCliOptions {
  vms: string;
  seconds: string;
  tickMs: string;
  port: string;
  policy: string;
  memory: string;
}

export function parseQemuDemoOptions(o: QemuDemoCliOptions): QemuDemoOptions {
  return {
    vms: int('vms', o.vms, 1, 3),
    seconds: int('seconds', o.seconds, 5, 86_400),
    tickMs: int('tick-ms', o.tickMs, 500, 60_000),
    port: int('port', o.port, 0, 65_535),
    policy: o.policy,
    memoryMiB: int('memory', o.memory, 256, 4096),
  };
}

/** Adds `qemu` under `prescient demo`. */
export function registerQemuDemo(demo: Command): void {
  demo
    .command('qemu')
    .description('Boot 2-3 QEMU guests, let the control plane shape them live (balloon, CPU quota), migrate one; dashboard at the printed URL')
    .option('--vms <n>', 'guests to boot (1-3)', String(QEMU_DEMO_DEFAULTS.vms))
    .option('--seconds <n>', 'how long to run', String(QEMU_DEMO_DEFAULTS.seconds))
    .option('--tick-ms <n>', 'control loop interval, ms', String(QEMU_DEMO_DEFAULTS.tickMs))
    .option('--port <n>', 'HTTP port of the API and dashboard (0 = any free port)', String(QEMU_DEMO_DEFAULTS.port))
    .option('--policy <name>', 'rightsizing policy', QEMU_DEMO_DEFAULTS.policy)
    .option('--memory <mib>', 'memory of each guest, MiB (the balloon works below it)', String(QEMU_DEMO_DEFAULTS.memoryMiB))
    .action(async (opts: QemuDemoCliOptions) => {
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await runQemuDemo(parseQemuDemoOptions(opts), (t) => process.stdout.write(t), ac.signal);
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}
