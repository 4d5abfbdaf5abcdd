// QemuDriver: real virtual machines, controlled over QMP. Implements the Driver port:
//
//   resize   memory (MiB)   -> balloon target; apply waits until query-balloon's `actual` is there
//            cpu (millicores)-> CPU quota of the VM's QEMU process cgroup (libvirt does the same),
//                               when a CgroupDriver is given (else only NaN is accepted)
//   hotplug  vcpus          -> device_add / device_del of CPUs in the slots query-hotpluggable-cpus
//                               lists; apply waits until the guest onlined the new CPUs
//   pin      cpus           -> affinity of every vCPU thread (query-cpus-fast thread ids)
//   migrate  from -> to     -> live migration to a second QEMU on loopback (-incoming
//                               tcp:127.0.0.1:PORT, migrate, query-migrate): total time and downtime
//                               are recorded; the target declares the hot-added CPUs; a failure or a
//                               timeout cancels (migrate_cancel) and leaves the source running
// Hosts are sets of host CPUs (default one per CPU: "cpu0", "cpu1"...): a VM on a host runs in
// that CPU set. Shadow instances: startShadow boots a small VM ahead; promote grows it.
//
// Every QEMU runs in its own process group and is killed with it (stop / stopAll); its socket,
// serial log and folder are removed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Action, HotplugAction, MigrateAction, PinAction, ResizeAction } from '../../core/plan.js';
import { applyPlan, DriverError, onceUndo, type Driver, type Undo } from '../../core/ports.js';
import { CgroupDriver } from '../cgroups/cgroup-driver.js';
import { QEMU_BINARY, type Accel } from './accel.js';
import { READY_MARKER, type GuestImage } from './guest-image.js';
import { QmpClient } from './qmp.js';
import { checkInstanceField, fieldError } from '../common.js';

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface GuestWorkload {
  /** Percent of one vCPU, low and high of the triangle wave. */
  cpuPct?: readonly [number, number];
  /** tmpfs ballast, MiB, low and high. */
  memoryMiB?: readonly [number, number];
  periodS?: number;
  phaseS?: number;
}

export interface VmSpec {
  id: string;
  /** Guest memory (-m), MiB: the most the balloon can give back. */
  memoryMiB: number;
  /** vCPUs at boot (default 1). */
  vcpus?: number;
  /** Most vCPUs (hotplug slots, default 2). */
  maxVcpus?: number;
  /** Host to start on (default the first). */
  host?: string;
  workload?: GuestWorkload;
}

export interface MigrationRecord {
  instance: string;
  from: string;
  to: string;
  status: string;
  totalTimeMs: number;
  downtimeMs: number;
  setupTimeMs: number;
  transferredBytes: number;
  /** Wall time of the whole action (target start, migration, switch-over). */
  wallMs: number;
}

export interface LatencyRecord {
  kind: 'boot' | 'balloon' | 'hotplug' | 'unplug' | 'pin' | 'promote';
  instance: string;
  ms: number;
  detail?: string;
}

export interface QemuDriverOptions {
  image: GuestImage;
  accel: Accel;
  /** CPU quota per VM through its QEMU process's cgroup (optional). */
  cgroups?: CgroupDriver;
  /** Hosts as CPU sets (default one per CPU this process may use). */
  hosts?: Record<string, readonly number[]>;
  binary?: string;
  /** Folder for sockets and serial logs (default a fresh one under the OS temp folder). */
  workDir?: string;
  bootTimeoutMs?: number;
  balloonTimeoutMs?: number;
  hotplugTimeoutMs?: number;
  migrationTimeoutMs?: number;
  /** Balloon deflate-on-oom: the guest may take memory back from the balloon when it would OOM (default off). */
  deflateOnOom?: boolean;
  /** Smallest balloon target accepted, MiB (default 64). */
  minMemoryMiB?: number;
  log?: (line: string) => void;
}

interface Proc {
  child: ChildProcess;
  pid: number;
  dir: string;
  sock: string;
  serial: string;
  qmp: QmpClient;
  exited: Promise<void>;
  /** cgroup instance key of the whole QEMU process (cpuset, accounting), when cgroups are used. */
  cgroup?: string;
  /** v1: the group of the vCPU threads alone, which carries the CPU quota (the emulator thread and QMP stay unthrottled). */
  vcpuGroup?: string;
}

interface HotSlot {
  type: string;
  props: Record<string, number>;
  id: string;
}

interface Vm {
  spec: Required<Pick<VmSpec, 'id' | 'memoryMiB' | 'vcpus' | 'maxVcpus'>> & VmSpec;
  host: string;
  proc: Proc;
  /** CPUs hot-added by this driver, in order (declared on migration targets). */
  plugged: HotSlot[];
  generation: number;
  cpuMillicores: number;
  shadow: boolean;
}

/** A CPU-time reading of a VM (host side). */
export interface VmSample {
  cpuNs: number;
  atMs: number;
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((res, rej) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.on('error', rej);
    p.on('close', (code) => (code === 0 ? res(out) : rej(new DriverError(`${cmd} ${args.join(' ')}: ${err.trim() || `exit ${code}`}`))));
  });
}

/** Cpus_allowed_list of a thread. */
async function threadCpus(pid: number, tid: number): Promise<string> {
  const s = await readFile(`/proc/${pid}/task/${tid}/status`, 'utf8');
  const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(s);
  if (!m) throw new DriverError(`no Cpus_allowed_list for thread ${tid}`);
  return m[1]!;
}

function cpuList(cpus: readonly number[]): string {
  return [...new Set(cpus)].sort((a, b) => a - b).join(',');
}

async function ownCpus(): Promise<number[]> {
  const s = await readFile('/proc/self/status', 'utf8');
  const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(s);
  const out: number[] = [];
  for (const part of (m?.[1] ?? '0').split(',')) {
    const [a, b] = part.split('-').map(Number);
    for (let i = a!; i <= (b ?? a!); i++) out.push(i);
  }
  return out;
}

export class QemuDriver implements Driver {
  readonly name = 'qemu';
  readonly migrations: MigrationRecord[] = [];
  readonly latencies: LatencyRecord[] = [];
  private readonly vms = new Map<string, Vm>();
  private readonly starting = new Set<Proc>();
  private workDir: string | undefined;
  private hostsCache: Record<string, readonly number[]> | undefined;
  private readonly log: (l: string) => void;

  constructor(readonly o: QemuDriverOptions) {
    this.log = o.log ?? (() => undefined);
  }

  get accel(): Accel {
    return this.o.accel;
  }

  async hosts(): Promise<Record<string, readonly number[]>> {
    if (this.o.hosts) return this.o.hosts;
    if (!this.hostsCache) {
      const h: Record<string, number[]> = {};
      for (const c of await ownCpus()) h[`cpu${c}`] = [c];
      this.hostsCache = h;
    }
    return this.hostsCache;
  }

  private async dir(): Promise<string> {
    if (!this.workDir) {
      this.workDir = this.o.workDir ?? (await mkdtemp(join(tmpdir(), 'prescient-qemu-')));
      await mkdir(this.workDir, { recursive: true });
    }
    return this.workDir;
  }

  has(id: string): boolean {
    return this.vms.has(id);
  }
  instances(): string[] {
    return [...this.vms.keys()];
  }
  hostOf(id: string): string {
    return this.vm(id).host;
  }
  pid(id: string): number {
    return this.vm(id).proc.pid;
  }
  qmp(id: string): QmpClient {
    return this.vm(id).proc.qmp;
  }
  async serial(id: string): Promise<string> {
    return readFile(this.vm(id).proc.serial, 'utf8').catch(() => '');
  }
  isShadow(id: string): boolean {
    return this.vm(id).shadow;
  }

  private vm(id: string, action?: Action): Vm {
    const v = this.vms.get(id);
    if (!v) throw new DriverError(`no instance "${id}" (no VM started with that id)`, action);
    return v;
  }

  // ------------------------------------------------------------------------------ processes

  private args(v: Vm, p: { sock: string; serial: string; incomingPort?: number }): string[] {
    const s = v.spec;
    const w = s.workload ?? {};
    const cpu = w.cpuPct ?? [10, 60];
    const mem = w.memoryMiB ?? [16, 96];
    const append = [
      'console=ttyS0',
      'quiet',
      'panic=-1',
      `prescient.cpu=${Math.round(cpu[0])},${Math.round(cpu[1])}`,
      `prescient.mem=${Math.round(mem[0])},${Math.round(mem[1])}`,
      `prescient.period=${Math.max(2, Math.round(w.periodS ?? 60))}`,
      `prescient.phase=${Math.max(0, Math.round(w.phaseS ?? 0))}`,
    ].join(' ');
    const a = [
      '-name', s.id,
      '-accel', this.o.accel,
      '-m', String(s.memoryMiB),
      '-smp', `${s.vcpus},sockets=1,cores=${s.maxVcpus},threads=1,maxcpus=${s.maxVcpus}`,
      '-display', 'none',
      '-monitor', 'none',
      '-nodefaults',
      '-no-reboot',
      '-serial', `file:${p.serial}`,
      // deflate-on-oom (option): a guest about to run out of memory takes pages back from the
      // balloon instead of killing its init. Linux then keeps MemTotal and counts the balloon
      // as used; without it MemTotal falls with the balloon.
      '-device', `virtio-balloon-pci,id=balloon0${this.o.deflateOnOom ? ',deflate-on-oom=on' : ''}`,
      '-qmp', `unix:${p.sock},server=on,wait=off`,
      '-kernel', this.o.image.kernel,
      '-initrd', this.o.image.initrd,
      '-append', append,
    ];
    if (p.incomingPort !== undefined) {
      // A migration target has every device the source has, hot-added CPUs included.
      for (const slot of v.plugged) {
        a.push('-device', [slot.type, `id=${slot.id}`, ...Object.entries(slot.props).map(([k, val]) => `${k}=${val}`)].join(','));
      }
      a.push('-incoming', `tcp:127.0.0.1:${p.incomingPort}`);
    }
    return a;
  }

  private async spawnQemu(v: Vm, tag: string, incomingPort?: number): Promise<Proc> {
    const base = await this.dir();
    const dir = join(base, `${v.spec.id}-${tag}`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const sock = join(dir, 'qmp.sock');
    const serial = join(dir, 'serial.log');
    const child = spawn(this.o.binary ?? QEMU_BINARY, this.args(v, { sock, serial, ...(incomingPort !== undefined ? { incomingPort } : {}) }), {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true, // its own process group: killed as one
    });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    const spawnError = new Promise<never>((_, rej) => child.once('error', (e) => rej(new DriverError(`cannot start ${this.o.binary ?? QEMU_BINARY}: ${e.message}`, undefined, { cause: e }))));
    const partial = { child, pid: child.pid ?? -1, dir, sock, serial, exited } as Proc;
    this.starting.add(partial);
    try {
      const qmp = await Promise.race([
        QmpClient.connect(sock, 15_000),
        spawnError,
        exited.then(() => {
          throw new DriverError(`QEMU for ${v.spec.id} exited at start: ${stderr.trim().split('\n').slice(-3).join(' ')}`);
        }),
      ]);
      partial.qmp = qmp;
      return partial;
    } catch (e) {
      await this.kill(partial);
      throw e;
    } finally {
      this.starting.delete(partial);
    }
  }

  private async kill(p: Proc): Promise<void> {
    p.qmp?.close();
    if (p.child.exitCode === null && p.child.signalCode === null) {
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {
        try {
          p.child.kill('SIGKILL');
        } catch {
          /* gone */
        }
      }
      await Promise.race([p.exited, sleep(5000)]);
    }
    for (const key of [p.vcpuGroup, p.cgroup]) {
      if (key && this.o.cgroups) await this.o.cgroups.destroy(key).catch((e) => this.log(`cgroup ${key}: ${(e as Error).message}`));
    }
    await rm(p.dir, { recursive: true, force: true });
  }

  private async waitSerial(p: Proc, text: string, timeoutMs: number, from = 0): Promise<number> {
    const t0 = performance.now();
    while (performance.now() - t0 < timeoutMs) {
      const s = await readFile(p.serial, 'utf8').catch(() => '');
      const k = s.indexOf(text, from);
      if (k >= 0) return performance.now() - t0;
      if (p.child.exitCode !== null || p.child.signalCode !== null) throw new DriverError(`QEMU ${p.dir} exited while waiting for "${text}" on the serial console`);
      await sleep(50);
    }
    throw new DriverError(`no "${text}" on the serial console of ${p.dir} within ${timeoutMs} ms`);
  }

  /** Puts the QEMU process into its own cgroup on the VM's host CPUs, with the VM's CPU quota. */
  private async placeProcess(v: Vm, p: Proc, host: string): Promise<void> {
    const cpus = (await this.hosts())[host]!;
    const cg = this.o.cgroups;
    if (cg) {
      const key = `vm-${v.spec.id}-${v.generation}`;
      const quota = Number.isFinite(v.cpuMillicores) ? { cpuMillicores: v.cpuMillicores } : {};
      const v1 = cg.layout.version === 1;
      await cg.create(key, { cpus, ...(v1 ? {} : quota) });
      p.cgroup = key;
      await cg.addProcess(key, p.pid);
      if (v1) {
        // The quota goes on the vCPU threads only: a throttled emulator thread would answer QMP
        // (balloon, migration) late, and the guest's CPU is what the quota means.
        await cg.create(`${key}-vcpus`, { cpus, ...quota });
        p.vcpuGroup = `${key}-vcpus`;
        await this.moveVcpuThreads(p);
      }
    } else {
      await run('taskset', ['-a', '-p', '-c', cpuList(cpus), String(p.pid)]);
    }
  }

  /** Puts every vCPU thread of the process into its quota group (after start, hotplug, migration). */
  private async moveVcpuThreads(p: Proc): Promise<void> {
    if (!p.vcpuGroup || !this.o.cgroups) return;
    const r = await p.qmp.execute<Array<{ 'thread-id': number }>>('query-cpus-fast');
    for (const c of r) await this.o.cgroups.addThread(p.vcpuGroup, c['thread-id'], ['cpu']);
  }

  private async enableGuestStats(p: Proc): Promise<void> {
    await p.qmp.execute('qom-set', { path: '/machine/peripheral/balloon0', property: 'guest-stats-polling-interval', value: 1 });
  }

  /** Boots a VM and waits for the guest's ready marker. */
  async start(spec: VmSpec): Promise<{ bootMs: number }> {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(spec.id)) throw new DriverError(`start: field id must be a short name of letters, digits, "_", "." or "-", got "${spec.id}"`);
    if (this.vms.has(spec.id)) throw new DriverError(`start: a VM "${spec.id}" already runs`);
    const vcpus = spec.vcpus ?? 1;
    const maxVcpus = spec.maxVcpus ?? Math.max(2, vcpus);
    if (!(Number.isInteger(spec.memoryMiB) && spec.memoryMiB >= 128)) throw new DriverError(`start ${spec.id}: field memoryMiB must be an integer >= 128, got ${spec.memoryMiB}`);
    if (!(Number.isInteger(vcpus) && vcpus >= 1 && Number.isInteger(maxVcpus) && maxVcpus >= vcpus && maxVcpus <= 64)) throw new DriverError(`start ${spec.id}: fields vcpus/maxVcpus must satisfy 1 <= vcpus <= maxVcpus <= 64, got ${vcpus}/${maxVcpus}`);
    const hosts = await this.hosts();
    const host = spec.host ?? Object.keys(hosts)[0]!;
    if (!hosts[host]) throw new DriverError(`start ${spec.id}: field host must be one of ${Object.keys(hosts).join(', ')}, got "${host}"`);
    const v: Vm = { spec: { ...spec, vcpus, maxVcpus }, host, plugged: [], generation: 0, cpuMillicores: vcpus * 1000, shadow: false, proc: undefined as unknown as Proc };
    const t0 = performance.now();
    const p = await this.spawnQemu(v, 'g0');
    try {
      await this.placeProcess(v, p, host);
      await this.waitSerial(p, READY_MARKER, this.o.bootTimeoutMs ?? 60_000);
      await this.enableGuestStats(p);
    } catch (e) {
      await this.kill(p);
      throw e;
    }
    v.proc = p;
    this.vms.set(spec.id, v);
    const bootMs = performance.now() - t0;
    this.latencies.push({ kind: 'boot', instance: spec.id, ms: bootMs, detail: this.o.accel });
    this.log(`qemu: ${spec.id} booted on ${host} in ${bootMs.toFixed(0)} ms (${this.o.accel})`);
    return { bootMs };
  }

  /** Stops a VM (QMP quit, then SIGKILL of its process group) and removes its files. Idempotent. */
  async stop(id: string): Promise<void> {
    const v = this.vms.get(id);
    if (!v) return;
    this.vms.delete(id);
    await v.proc.qmp.execute('quit', undefined, 2000).catch(() => undefined);
    await Promise.race([v.proc.exited, sleep(2000)]);
    await this.kill(v.proc);
  }

  /** Stops every VM (and any QEMU still starting) and removes the work folder. */
  async stopAll(): Promise<void> {
    for (const p of [...this.starting]) await this.kill(p);
    for (const id of [...this.vms.keys()]) await this.stop(id);
    if (this.workDir && !this.o.workDir) await rm(this.workDir, { recursive: true, force: true });
    this.workDir = undefined;
  }

  // ------------------------------------------------------------------------------ reading

  /** query-balloon's actual size, MiB. */
  async balloonMiB(id: string): Promise<number> {
    const r = await this.vm(id).proc.qmp.execute<{ actual: number }>('query-balloon');
    return r.actual / MiB;
  }

  /** The guest's own memory figures (virtio-balloon stats), MiB; NaN until the guest reported. */
  async guestMemory(id: string): Promise<{ totalMiB: number; freeMiB: number; availableMiB: number; usedMiB: number; lastUpdateS: number }> {
    const r = await this.vm(id).proc.qmp.execute<{ stats: Record<string, number>; 'last-update': number }>('qom-get', { path: '/machine/peripheral/balloon0', property: 'guest-stats' });
    const g = (k: string) => {
      const x = r.stats[k];
      return x === undefined || x < 0 ? NaN : x / MiB;
    };
    const total = g('stat-total-memory');
    const avail = g('stat-available-memory');
    return { totalMiB: total, freeMiB: g('stat-free-memory'), availableMiB: avail, usedMiB: total - avail, lastUpdateS: r['last-update'] };
  }

  /** Host CPU time the VM used so far (its cgroup's cpuacct, else its process's utime + stime). */
  async cpuSample(id: string): Promise<VmSample> {
    const v = this.vm(id);
    const atMs = performance.now();
    if (v.proc.cgroup && this.o.cgroups) {
      // Both groups: with co-mounted cpu,cpuacct the vCPU threads are accounted in their own group.
      let ns = (await this.o.cgroups.usage(v.proc.cgroup)).cpuUsageNs;
      if (v.proc.vcpuGroup) ns += (await this.o.cgroups.usage(v.proc.vcpuGroup)).cpuUsageNs;
      return { cpuNs: ns, atMs };
    }
    const t = await readFile(`/proc/${v.proc.pid}/stat`, 'utf8');
    const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
    return { cpuNs: ((Number(f[11]) + Number(f[12])) / 100) * 1e9, atMs };
  }

  /** The VM's CPU quota, millicores (cgroup read-back; NaN without cgroups). */
  async cpuQuota(id: string): Promise<number> {
    const v = this.vm(id);
    const key = v.proc.vcpuGroup ?? v.proc.cgroup;
    if (!key || !this.o.cgroups) return NaN;
    return (await this.o.cgroups.limits(key)).cpuMillicores;
  }

  async vcpuThreads(id: string): Promise<Array<{ index: number; threadId: number }>> {
    const r = await this.vm(id).proc.qmp.execute<Array<{ 'cpu-index': number; 'thread-id': number }>>('query-cpus-fast');
    return r.map((c) => ({ index: c['cpu-index'], threadId: c['thread-id'] }));
  }

  async vcpuAffinity(id: string): Promise<string[]> {
    const pid = this.vm(id).proc.pid;
    return Promise.all((await this.vcpuThreads(id)).map((t) => threadCpus(pid, t.threadId)));
  }

  /** Online CPUs the guest reported on its console since boot (cpu0 plus every "online" line). */
  async plugged(id: string): Promise<number> {
    const slots = await this.vm(id).proc.qmp.execute<Array<{ 'qom-path'?: string }>>('query-hotpluggable-cpus');
    return slots.filter((s) => s['qom-path'] !== undefined).length;
  }

  async status(id: string): Promise<string> {
    return (await this.vm(id).proc.qmp.execute<{ status: string }>('query-status')).status;
  }

  // ------------------------------------------------------------------------------ apply

  async apply(action: Action): Promise<Undo> {
    const kind = (action as { kind: unknown }).kind;
    checkInstanceField(action);
    switch (action.kind) {
      case 'resize':
        return this.resize(action);
      case 'hotplug':
        return this.hotplug(action);
      case 'pin':
        return this.pin(action);
      case 'migrate':
        return this.migrate(action);
      default:
        throw new DriverError(`the qemu driver does not apply action kind "${String(kind)}" (it applies resize, hotplug, pin and migrate)`, action);
    }
  }

  private async resize(a: ResizeAction): Promise<Undo> {
    if (!(Number.isNaN(a.cpu) || (Number.isFinite(a.cpu) && a.cpu > 0))) throw fieldError(a, 'cpu', `must be a finite number of millicores > 0, or NaN to leave it, got ${a.cpu}`);
    const v = this.vm(a.instance, a);
    const min = this.o.minMemoryMiB ?? 64;
    if (!(Number.isNaN(a.memory) || (Number.isFinite(a.memory) && a.memory >= min && a.memory <= v.spec.memoryMiB))) {
      throw fieldError(a, 'memory', `must be MiB from ${min} to the VM's ${v.spec.memoryMiB} (balloon range), or NaN to leave it, got ${a.memory}`);
    }
    if (!Number.isNaN(a.cpu) && !this.o.cgroups) throw fieldError(a, 'cpu', 'cannot be enforced: this qemu driver has no cgroups (pass NaN, or give it a CgroupDriver)');
    const undos: Undo[] = [];
    try {
      if (!Number.isNaN(a.cpu)) {
        const prev = v.cpuMillicores;
        const u = await this.o.cgroups!.apply({ kind: 'resize', instance: v.proc.vcpuGroup ?? v.proc.cgroup!, cpu: a.cpu, memory: NaN, reasons: a.reasons });
        v.cpuMillicores = a.cpu;
        undos.push(async () => {
          await u();
          v.cpuMillicores = prev;
        });
      }
      if (!Number.isNaN(a.memory)) {
        const prev = await this.balloonMiB(a.instance);
        await this.balloonTo(v, a.memory, a);
        undos.push(() => this.balloonTo(v, prev, a).then(() => undefined));
      }
    } catch (e) {
      for (const u of undos.reverse()) await Promise.resolve(u()).catch(() => undefined);
      throw e instanceof DriverError ? e : new DriverError(`resize ${a.instance}: ${(e as Error).message}`, a, { cause: e });
    }
    return onceUndo(async () => {
      for (const u of [...undos].reverse()) await u();
    });
  }

  /** Sets the balloon and waits until the guest gave (or took) the memory. Returns the ms taken. */
  async balloonTo(v: Vm, targetMiB: number, a?: Action): Promise<number> {
    const qmp = v.proc.qmp;
    const t0 = performance.now();
    const target = Math.round(targetMiB) * MiB;
    await qmp.execute('balloon', { value: target });
    const timeout = this.o.balloonTimeoutMs ?? 20_000;
    let actual = NaN;
    while (performance.now() - t0 < timeout) {
      actual = (await qmp.execute<{ actual: number }>('query-balloon')).actual;
      if (Math.abs(actual - target) <= MiB) {
        const ms = performance.now() - t0;
        this.latencies.push({ kind: 'balloon', instance: v.spec.id, ms, detail: `${Math.round(targetMiB)} MiB` });
        return ms;
      }
      await sleep(25);
    }
    throw new DriverError(`balloon ${v.spec.id}: asked ${Math.round(targetMiB)} MiB, the guest is at ${(actual / MiB).toFixed(1)} MiB after ${timeout} ms`, a);
  }

  private async hotSlots(v: Vm): Promise<Array<{ type: string; props: Record<string, number>; plugged: boolean; qomPath?: string }>> {
    const r = await v.proc.qmp.execute<Array<{ type: string; props: Record<string, number>; 'qom-path'?: string }>>('query-hotpluggable-cpus');
    return r
      .map((s) => ({ type: s.type, props: s.props, plugged: s['qom-path'] !== undefined, ...(s['qom-path'] ? { qomPath: s['qom-path'] } : {}) }))
      .sort((x, y) => (x.props['core-id'] ?? 0) - (y.props['core-id'] ?? 0) || (x.props['socket-id'] ?? 0) - (y.props['socket-id'] ?? 0));
  }

  private async hotplug(a: HotplugAction): Promise<Undo> {
    const v = this.vm(a.instance, a);
    if (!(Number.isInteger(a.vcpus) && a.vcpus >= v.spec.vcpus && a.vcpus <= v.spec.maxVcpus)) {
      throw fieldError(a, 'vcpus', `must be an integer from ${v.spec.vcpus} (boot vCPUs) to ${v.spec.maxVcpus} (maxcpus), got ${a.vcpus}`);
    }
    const now = v.spec.vcpus + v.plugged.length;
    if (a.vcpus === now) return () => undefined;
    if (a.vcpus > now) {
      const added = await this.plugCpus(v, a.vcpus - now, a);
      return onceUndo(() => this.unplugCpus(v, added, a));
    }
    const removed = v.plugged.slice(v.plugged.length - (now - a.vcpus));
    await this.unplugCpus(v, removed, a);
    return onceUndo(async () => {
      await this.plugCpus(v, removed.length, a);
    });
  }

  private async plugCpus(v: Vm, n: number, a: Action): Promise<HotSlot[]> {
    const free = (await this.hotSlots(v)).filter((s) => !s.plugged).slice(0, n);
    if (free.length < n) throw fieldError(a, 'vcpus', `asks ${n} more vCPUs, ${free.length} hotplug slots are free`);
    const added: HotSlot[] = [];
    try {
      for (const s of free) {
        const t0 = performance.now();
        const serialBefore = (await readFile(v.proc.serial, 'utf8').catch(() => '')).length;
        const id = `cpu-hot-${Object.values(s.props).join('-')}`;
        await v.proc.qmp.execute('device_add', { driver: s.type, id, ...s.props });
        const slot = { type: s.type, props: s.props, id };
        v.plugged.push(slot);
        added.push(slot);
        await this.moveVcpuThreads(v.proc);
        await this.waitSerial(v.proc, 'prescient: online', this.o.hotplugTimeoutMs ?? 30_000, serialBefore);
        this.latencies.push({ kind: 'hotplug', instance: v.spec.id, ms: performance.now() - t0, detail: id });
      }
    } catch (e) {
      await this.unplugCpus(v, added, a).catch(() => undefined);
      throw e instanceof DriverError ? e : new DriverError(`hotplug ${v.spec.id}: ${(e as Error).message}`, a, { cause: e });
    }
    return added;
  }

  private async unplugCpus(v: Vm, slots: HotSlot[], a: Action): Promise<void> {
    for (const s of [...slots].reverse()) {
      if (!v.plugged.includes(s)) continue;
      const t0 = performance.now();
      await v.proc.qmp.execute('device_del', { id: s.id });
      // The guest offlines the CPU and ejects it through ACPI; the slot then reads as free.
      const timeout = this.o.hotplugTimeoutMs ?? 30_000;
      for (;;) {
        const slots = await this.hotSlots(v);
        const still = slots.some((x) => x.qomPath !== undefined && x.qomPath.endsWith(`/${s.id}`));
        if (!still) break;
        if (performance.now() - t0 > timeout) throw new DriverError(`unplug ${s.id} of ${v.spec.id}: the guest did not release the CPU within ${timeout} ms`, a);
        await sleep(50);
      }
      v.plugged.splice(v.plugged.indexOf(s), 1);
      this.latencies.push({ kind: 'unplug', instance: v.spec.id, ms: performance.now() - t0, detail: s.id });
    }
  }

  private async pin(a: PinAction): Promise<Undo> {
    const cpus = a.cpus as unknown;
    if (!Array.isArray(cpus) || cpus.length === 0 || !cpus.every((c) => Number.isInteger(c) && c >= 0)) {
      throw fieldError(a, 'cpus', `must be a non-empty list of host CPU numbers, got ${JSON.stringify(cpus)}`);
    }
    const v = this.vm(a.instance, a);
    const allowed = [...(await this.hosts())[v.host]!];
    const outside = (cpus as number[]).filter((c) => !allowed.includes(c));
    if (outside.length > 0) throw fieldError(a, 'cpus', `has CPUs ${outside.join(', ')} outside host ${v.host}'s CPUs ${cpuList(allowed)}`);
    const t0 = performance.now();
    const threads = await this.vcpuThreads(a.instance);
    const pid = v.proc.pid;
    const prev = await Promise.all(threads.map((t) => threadCpus(pid, t.threadId)));
    const done: number[] = [];
    try {
      for (const t of threads) {
        await run('taskset', ['-p', '-c', cpuList(cpus as number[]), String(t.threadId)]);
        done.push(t.threadId);
      }
    } catch (e) {
      for (let i = 0; i < done.length; i++) await run('taskset', ['-p', '-c', prev[i]!, String(done[i])]).catch(() => undefined);
      throw new DriverError(`pin ${a.instance}: ${(e as Error).message}`, a, { cause: e });
    }
    this.latencies.push({ kind: 'pin', instance: a.instance, ms: performance.now() - t0, detail: cpuList(cpus as number[]) });
    return onceUndo(async () => {
      if (v.proc.pid !== pid) return; // migrated since: the threads are gone
      for (let i = 0; i < threads.length; i++) await run('taskset', ['-p', '-c', prev[i]!, String(threads[i]!.threadId)]).catch(() => undefined);
    });
  }

  private async migrate(a: MigrateAction): Promise<Undo> {
    const hosts = await this.hosts();
    if (typeof a.to !== 'string' || !hosts[a.to]) throw fieldError(a, 'to', `must name a host (${Object.keys(hosts).join(', ')}), got ${JSON.stringify(a.to)}`);
    const v = this.vm(a.instance, a);
    if (a.from !== '' && a.from !== v.host) throw fieldError(a, 'from', `says ${JSON.stringify(a.from)} but ${a.instance} runs on ${v.host}`);
    const from = v.host;
    if (a.to === from) return () => undefined;
    await this.liveMigrate(v, a.to, a);
    return onceUndo(async () => {
      if (this.vms.get(v.spec.id) !== v || v.host !== a.to) return;
      await this.liveMigrate(v, from, a);
    });
  }

  /**
   * Live migration to a new QEMU on `to`: target started with -incoming on a free loopback port
   * (declaring the hot-added CPUs), `migrate`, query-migrate until done; the source is stopped
   * only after the target runs. Failure or timeout: migrate_cancel, target killed, source kept.
   */
  async liveMigrate(v: Vm, to: string, a?: Action, o: { maxBandwidthBytesPerS?: number; uri?: string } = {}): Promise<MigrationRecord> {
    const t0 = performance.now();
    const src = v.proc;
    const port = await freePort();
    const gen = v.generation + 1;
    const target = await this.spawnQemu(v, `g${gen}`, port);
    const cleanupTarget = async () => {
      await this.kill(target);
    };
    try {
      const saved = v.generation;
      v.generation = gen;
      try {
        await this.placeProcess(v, target, to);
      } finally {
        v.generation = saved;
      }
      if (o.maxBandwidthBytesPerS !== undefined) await src.qmp.execute('migrate-set-parameters', { 'max-bandwidth': o.maxBandwidthBytesPerS });
      await src.qmp.execute('migrate', { uri: o.uri ?? `tcp:127.0.0.1:${port}` });
      const deadline = t0 + (this.o.migrationTimeoutMs ?? 60_000);
      let info: Record<string, unknown> = {};
      for (;;) {
        info = await src.qmp.execute<Record<string, unknown>>('query-migrate');
        const st = String(info['status'] ?? '');
        if (st === 'completed') break;
        if (st === 'failed' || st === 'cancelled') throw new DriverError(`migration of ${v.spec.id} to ${to} ${st}: ${String(info['error-desc'] ?? 'no reason given')}`, a);
        if (performance.now() > deadline) {
          await src.qmp.execute('migrate_cancel').catch(() => undefined);
          throw new DriverError(`migration of ${v.spec.id} to ${to} did not complete within ${this.o.migrationTimeoutMs ?? 60_000} ms (status ${st}); cancelled`, a);
        }
        await sleep(20);
      }
      // The target resumes by itself once the stream is complete.
      for (let i = 0; ; i++) {
        const st = (await target.qmp.execute<{ status: string }>('query-status')).status;
        if (st === 'running') break;
        if (i > 500) throw new DriverError(`migration target of ${v.spec.id} stays "${st}"`, a);
        await sleep(20);
      }
      const ram = (info['ram'] ?? {}) as Record<string, number>;
      const rec: MigrationRecord = {
        instance: v.spec.id,
        from: v.host,
        to,
        status: 'completed',
        totalTimeMs: Number(info['total-time'] ?? NaN),
        downtimeMs: Number(info['downtime'] ?? NaN),
        setupTimeMs: Number(info['setup-time'] ?? NaN),
        transferredBytes: Number(ram['transferred'] ?? NaN),
        wallMs: performance.now() - t0,
      };
      v.proc = target;
      v.host = to;
      v.generation = gen;
      await this.enableGuestStats(target).catch(() => undefined);
      await src.qmp.execute('quit', undefined, 2000).catch(() => undefined);
      await this.kill(src);
      this.migrations.push(rec);
      this.log(`qemu: migrated ${v.spec.id} ${rec.from} -> ${to}: total ${rec.totalTimeMs} ms, downtime ${rec.downtimeMs} ms`);
      return rec;
    } catch (e) {
      await src.qmp.execute('migrate_cancel').catch(() => undefined);
      await cleanupTarget();
      // The source keeps running: make sure it is not left paused.
      const st = await src.qmp.execute<{ status: string }>('query-status').catch(() => undefined);
      if (st && st.status !== 'running') await src.qmp.execute('cont').catch(() => undefined);
      throw e instanceof DriverError ? e : new DriverError(`migration of ${v.spec.id} to ${to}: ${(e as Error).message}`, a, { cause: e });
    }
  }

  /** Migrates by id (the migrate action without a plan), with options for tests and demos. */
  async migrateVm(id: string, to: string, o: { maxBandwidthBytesPerS?: number; uri?: string } = {}): Promise<MigrationRecord> {
    const hosts = await this.hosts();
    if (!hosts[to]) throw new DriverError(`migrate ${id}: field to must name a host (${Object.keys(hosts).join(', ')}), got "${to}"`);
    return this.liveMigrate(this.vm(id), to, undefined, o);
  }

  /** Cancels a migration in progress (the source keeps running). */
  async cancelMigration(id: string): Promise<void> {
    await this.vm(id).proc.qmp.execute('migrate_cancel');
  }

  // ------------------------------------------------------------------------------ shadows

  /**
   * Starts a shadow: the VM booted ahead of need with everything it will get later configured
   * as slots (maxVcpus, memoryMiB), but running small: one vCPU, the balloon at `smallMiB`, the
   * CPU quota at `smallMillicores`.
   */
  async startShadow(spec: VmSpec, small: { memoryMiB: number; cpuMillicores?: number }): Promise<{ bootMs: number }> {
    const r = await this.start({ ...spec, vcpus: 1 });
    const v = this.vm(spec.id);
    v.shadow = true;
    await this.apply({ kind: 'resize', instance: spec.id, cpu: this.o.cgroups ? (small.cpuMillicores ?? 100) : NaN, memory: small.memoryMiB, reasons: ['shadow'] });
    return r;
  }

  /** Grows a shadow to its full size (one plan: resize then hotplug; rolled back on failure). */
  async promote(id: string, full: { vcpus: number; memoryMiB: number; cpuMillicores?: number }): Promise<{ ms: number }> {
    const v = this.vm(id);
    if (!v.shadow) throw new DriverError(`promote: "${id}" is not a shadow`);
    const t0 = performance.now();
    const r = await applyPlan(this, {
      nowS: 0,
      actions: [
        // CPU quota and memory first: a throttled guest would online the new vCPU slowly.
        { kind: 'resize', instance: id, cpu: this.o.cgroups ? (full.cpuMillicores ?? full.vcpus * 1000) : NaN, memory: full.memoryMiB, reasons: ['promote'] },
        { kind: 'hotplug', instance: id, vcpus: full.vcpus, reasons: ['promote'] },
      ],
    });
    if (!r.ok) throw new DriverError(`promote ${id}: ${(r.failed!.error as Error).message} (rolled back)`, r.failed!.action, { cause: r.failed!.error });
    v.shadow = false;
    const ms = performance.now() - t0;
    this.latencies.push({ kind: 'promote', instance: id, ms });
    return { ms };
  }
}

export { type Vm as QemuVm };
