// CgroupDriver: instances are cgroups (processes, containers, and VMs: libvirt and Firecracker
// put each VM in one). Implements the Driver port:
//
//   resize  cpu (millicores) -> CPU quota (v1 cpu.cfs_quota_us over cpu.cfs_period_us; v2 cpu.max)
//                               and shares / weight in proportion (1000 millicores = 1024 shares,
//                               the Kubernetes convention; v2 weight by the systemd conversion);
//           memory (MiB)    -> memory limit (v1 memory.limit_in_bytes; v2 memory.max). Raising is
//                               immediate. Lowering below usage fails with EBUSY on v1: the driver
//                               then shrinks in steps toward usage + a guard and says what was
//                               reached ('strict': the limit goes back and apply throws with that
//                               figure; 'best-effort': the reached limit stays, reported).
//           NaN leaves that resource as it is.
//   pin     cpus            -> cpuset.cpus (core assignment).
//   migrate from -> to      -> cpuset.cpus of the target "host": each host is a set of CPUs (by
//                               default one host per online CPU, "cpu0", "cpu1"...): moving a task
//                               between cores is migration in the seed's sense.
// Every apply reads the previous values first and returns an undo that writes them back
// (idempotent). Bad input throws a DriverError naming the field, before anything is written.
import { join } from 'node:path';
import type { Action, MigrateAction, PinAction, ResizeAction } from '../../core/plan.js';
import { DriverError, onceUndo, type Driver, type Undo } from '../../core/ports.js';
import { parseFlatKeyed, parsePressure, parseSingleValue } from '../../agent/parsers.js';
import {
  addPid,
  createGroup,
  detectCgroups,
  errnoOf,
  formatCpuList,
  groupDirs,
  groupPids,
  parseCpuList,
  readText,
  removeGroup,
  writeText,
  type CgroupLayout,
  type DetectOptions,
  type GroupDirs,
} from './cgroup-fs.js';
import { checkInstanceField, fieldError } from '../common.js';

const MiB = 1024 * 1024;
/** v1 memory.limit_in_bytes at or above this means "no limit" (the kernel shows 2^63 - page). */
const V1_UNLIMITED = 2 ** 62;
/** The kernel refuses CFS quotas under 1 ms. */
const MIN_QUOTA_US = 1000;

export interface CgroupDriverOptions {
  layout: CgroupLayout;
  /** Prefix of the group names the driver creates (default "prescient-"). */
  prefix?: string;
  /** Write the CPU quota on resize (default true). */
  cpuQuota?: boolean;
  /** Write shares / weight in proportion on resize (default true). */
  cpuShares?: boolean;
  /** CFS period for new quotas, µs (default: the group's current period, 100000 on a new group). */
  cpuPeriodUs?: number;
  /** What a memory limit may not go under when it must shrink in steps: usage + guard (default 8 MiB). */
  memoryGuardMiB?: number;
  /** Steps from the current limit to usage + guard (default 8). */
  memoryShrinkSteps?: number;
  /** 'strict' (default): a limit that could not be reached is put back and apply throws. */
  memoryShrink?: 'strict' | 'best-effort';
  /** Hosts as CPU sets for migrate (default: one per CPU of the parent's cpuset, "cpu<N>"). */
  hosts?: Record<string, readonly number[]>;
  /** Called when a memory limit stopped short of its target (best-effort mode). */
  onPartialMemory?: (report: MemoryShrinkReport) => void;
}

export interface MemoryShrinkReport {
  instance: string;
  askedMiB: number;
  reachedMiB: number;
  usageMiB: number;
}

/** Usage counters of one group, read from its files. */
export interface CgroupUsage {
  /** Cumulative CPU time, ns (v1 cpuacct.usage; v2 cpu.stat usage_usec * 1000). */
  cpuUsageNs: number;
  cpuThrottledPeriods: number;
  cpuThrottledNs: number;
  memoryBytes: number;
  /** Peak since creation (v1 memory.max_usage_in_bytes; v2 memory.peak where the kernel has it). */
  memoryPeakBytes: number;
  /** Times the memory limit was hit (v1 memory.failcnt; v2 memory.events max). */
  memoryLimitHits: number;
  /** OOM kills in the group (v1 memory.oom_control oom_kill; v2 memory.events oom_kill). */
  oomKills: number;
  /** PSI "some" avg10, percent (v2 only; v1 groups have no pressure files: NaN). */
  cpuPressurePct: number;
  memoryPressurePct: number;
}

/** The limits a group has now, read back from its files. */
export interface CgroupLimits {
  /** Quota as millicores (Infinity = no quota). */
  cpuMillicores: number;
  /** v1 cpu.shares, or v2 cpu.weight converted back to shares. */
  cpuShares: number;
  cpus: number[];
  /** Memory limit, MiB (Infinity = no limit). */
  memoryMiB: number;
}

interface Group {
  name: string;
  dirs: GroupDirs;
  /** Created by this driver (removed by destroy), or adopted (left in place). */
  owned: boolean;
}

/** shares (2..262144) -> v2 weight (1..10000), as systemd and Kubernetes convert (integer division). */
export function sharesToWeight(shares: number): number {
  return Math.max(1, Math.min(10000, 1 + Math.floor(((shares - 2) * 9999) / 262142)));
}
export function weightToShares(weight: number): number {
  return Math.round(2 + ((weight - 1) * 262142) / 9999);
}
/** Kubernetes: shares = millicores * 1024 / 1000, at least 2. */
export function millicoresToShares(cpuMillicores: number): number {
  return Math.max(2, Math.min(262144, Math.round((cpuMillicores * 1024) / 1000)));
}

const VALID_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;

export class CgroupDriver implements Driver {
  readonly name = 'cgroups';
  readonly layout: CgroupLayout;
  private readonly groups = new Map<string, Group>();
  private readonly o: Required<Omit<CgroupDriverOptions, 'hosts' | 'onPartialMemory' | 'cpuPeriodUs'>> & Pick<CgroupDriverOptions, 'hosts' | 'onPartialMemory' | 'cpuPeriodUs'>;
  private hostsCache: Record<string, readonly number[]> | undefined;

  constructor(o: CgroupDriverOptions) {
    this.layout = o.layout;
    this.o = {
      prefix: 'prescient-',
      cpuQuota: true,
      cpuShares: true,
      memoryGuardMiB: 8,
      memoryShrinkSteps: 8,
      memoryShrink: 'strict',
      ...o,
    };
  }

  /** A driver on the detected layout, or why there is none (not root, no writable hierarchy). */
  static async open(o: Omit<CgroupDriverOptions, 'layout'> & DetectOptions = {}): Promise<CgroupDriver | { unavailable: string }> {
    const d = await detectCgroups(o);
    if (!d.ok) return { unavailable: d.reason };
    return new CgroupDriver({ ...o, layout: d.layout });
  }

  // ------------------------------------------------------------------------------ groups

  /** Creates the instance's group (under the layout's parent) and returns its directories. */
  async create(instance: string, init: { cpuMillicores?: number; memoryMiB?: number; cpus?: readonly number[] } = {}): Promise<GroupDirs> {
    if (!VALID_NAME.test(instance)) throw new DriverError(`create: field instance must match ${VALID_NAME}, got "${instance}"`);
    if (this.groups.has(instance)) throw new DriverError(`create: instance "${instance}" already exists`);
    const dirs = groupDirs(this.layout, `${this.o.prefix}${instance}`);
    await createGroup(this.layout, dirs);
    this.groups.set(instance, { name: instance, dirs, owned: true });
    try {
      if (init.cpus) await this.writeCpus(dirs, init.cpus);
      if (init.cpuMillicores !== undefined || init.memoryMiB !== undefined) {
        await this.apply({ kind: 'resize', instance, cpu: init.cpuMillicores ?? NaN, memory: init.memoryMiB ?? NaN, reasons: ['create'] });
      }
    } catch (e) {
      await this.destroy(instance).catch(() => undefined);
      throw e;
    }
    return dirs;
  }

  /** Manages an existing group (e.g. a libvirt VM's) without owning it: destroy leaves it. */
  adopt(instance: string, dirs: GroupDirs): void {
    if (!VALID_NAME.test(instance)) throw new DriverError(`adopt: field instance must match ${VALID_NAME}, got "${instance}"`);
    this.groups.set(instance, { name: instance, dirs, owned: false });
  }

  has(instance: string): boolean {
    return this.groups.has(instance);
  }
  instances(): string[] {
    return [...this.groups.keys()];
  }
  dirsOf(instance: string): GroupDirs {
    return this.group(instance).dirs;
  }

  /** Moves a process (all its threads) into the instance's group. */
  async addProcess(instance: string, pid: number): Promise<void> {
    await addPid(this.group(instance).dirs, pid);
  }

  /**
   * Moves one thread (v1 only: `tasks` of the given hierarchies, default cpu), e.g. a VM's vCPU
   * threads into a group whose quota leaves the emulator's main loop alone, as libvirt does.
   */
  async addThread(instance: string, tid: number, controllers: ReadonlyArray<'cpu' | 'cpuacct' | 'cpuset' | 'memory'> = ['cpu']): Promise<void> {
    if (this.layout.version !== 1) throw new DriverError('moving single threads needs cgroup v1 (v2 threaded groups are not used)');
    const { dirs } = this.group(instance);
    for (const c of controllers) await writeText(join(dirs[c], 'tasks'), String(tid));
  }

  async pids(instance: string): Promise<number[]> {
    return groupPids(this.group(instance).dirs);
  }

  /** Kills the group's tasks and removes it (owned groups only; adopted ones are forgotten). Idempotent. */
  async destroy(instance: string): Promise<void> {
    const g = this.groups.get(instance);
    if (!g) return;
    if (g.owned) await removeGroup(g.dirs);
    this.groups.delete(instance);
  }

  /** Destroys every group this driver created; reports the failures together. */
  async destroyAll(): Promise<void> {
    const errors: unknown[] = [];
    for (const id of [...this.groups.keys()]) await this.destroy(id).catch((e) => errors.push(e));
    if (errors.length > 0) throw new DriverError(`could not remove ${errors.length} cgroup(s): ${errors.map((e) => (e as Error).message).join('; ')}`);
  }

  private group(instance: string, action?: Action): Group {
    const g = this.groups.get(instance);
    if (!g) throw new DriverError(`no instance "${instance}" (no cgroup created or adopted for it)`, action);
    return g;
  }

  // ------------------------------------------------------------------------------ reading

  async usage(instance: string): Promise<CgroupUsage> {
    const { dirs } = this.group(instance);
    const v2 = this.layout.version === 2;
    const u: CgroupUsage = {
      cpuUsageNs: NaN,
      cpuThrottledPeriods: NaN,
      cpuThrottledNs: NaN,
      memoryBytes: NaN,
      memoryPeakBytes: NaN,
      memoryLimitHits: NaN,
      oomKills: NaN,
      cpuPressurePct: NaN,
      memoryPressurePct: NaN,
    };
    const num = async (path: string): Promise<number> => parseSingleValue(await readText(path), path);
    const keyed = async (path: string): Promise<Record<string, number>> => parseFlatKeyed(await readText(path), path);
    const optional = async <T>(p: Promise<T>): Promise<T | undefined> => p.catch(() => undefined);
    if (v2) {
      const d = dirs.cpu;
      const s = await keyed(join(d, 'cpu.stat'));
      u.cpuUsageNs = (s['usage_usec'] ?? NaN) * 1000;
      u.cpuThrottledPeriods = s['nr_throttled'] ?? NaN;
      u.cpuThrottledNs = (s['throttled_usec'] ?? NaN) * 1000;
      u.memoryBytes = await num(join(d, 'memory.current'));
      u.memoryPeakBytes = (await optional(num(join(d, 'memory.peak')))) ?? NaN;
      const ev = await optional(keyed(join(d, 'memory.events')));
      u.memoryLimitHits = ev?.['max'] ?? NaN;
      u.oomKills = ev?.['oom_kill'] ?? NaN;
      const cpuP = await optional(readText(join(d, 'cpu.pressure')));
      if (cpuP !== undefined) u.cpuPressurePct = parsePressure(cpuP, join(d, 'cpu.pressure')).some.avg10;
      const memP = await optional(readText(join(d, 'memory.pressure')));
      if (memP !== undefined) u.memoryPressurePct = parsePressure(memP, join(d, 'memory.pressure')).some.avg10;
    } else {
      u.cpuUsageNs = await num(join(dirs.cpuacct, 'cpuacct.usage'));
      const s = await optional(keyed(join(dirs.cpu, 'cpu.stat')));
      u.cpuThrottledPeriods = s?.['nr_throttled'] ?? NaN;
      u.cpuThrottledNs = s?.['throttled_time'] ?? NaN;
      u.memoryBytes = await num(join(dirs.memory, 'memory.usage_in_bytes'));
      u.memoryPeakBytes = await num(join(dirs.memory, 'memory.max_usage_in_bytes'));
      u.memoryLimitHits = await num(join(dirs.memory, 'memory.failcnt'));
      const oom = await optional(keyed(join(dirs.memory, 'memory.oom_control')));
      u.oomKills = oom?.['oom_kill'] ?? NaN;
    }
    return u;
  }

  async limits(instance: string): Promise<CgroupLimits> {
    const { dirs } = this.group(instance);
    if (this.layout.version === 2) {
      const [quota, period] = (await readText(join(dirs.cpu, 'cpu.max'))).split(/\s+/);
      const weight = Number(await readText(join(dirs.cpu, 'cpu.weight')));
      const mem = await readText(join(dirs.memory, 'memory.max'));
      return {
        cpuMillicores: quota === 'max' ? Infinity : (Number(quota) / Number(period)) * 1000,
        cpuShares: weightToShares(weight),
        cpus: parseCpuList(await this.effectiveCpusText(dirs)),
        memoryMiB: mem === 'max' ? Infinity : Number(mem) / MiB,
      };
    }
    const quota = Number(await readText(join(dirs.cpu, 'cpu.cfs_quota_us')));
    const period = Number(await readText(join(dirs.cpu, 'cpu.cfs_period_us')));
    const mem = Number(await readText(join(dirs.memory, 'memory.limit_in_bytes')));
    return {
      cpuMillicores: quota < 0 ? Infinity : (quota / period) * 1000,
      cpuShares: Number(await readText(join(dirs.cpu, 'cpu.shares'))),
      cpus: parseCpuList(await readText(join(dirs.cpuset, 'cpuset.cpus'))),
      memoryMiB: mem >= V1_UNLIMITED ? Infinity : mem / MiB,
    };
  }

  private async effectiveCpusText(dirs: GroupDirs): Promise<string> {
    const own = await readText(join(dirs.cpuset, 'cpuset.cpus'));
    return own !== '' ? own : readText(join(dirs.cpuset, 'cpuset.cpus.effective'));
  }

  /** CPUs the parent allows (what pin and migrate may choose from). */
  async allowedCpus(): Promise<number[]> {
    const p = this.layout.parents.cpuset;
    const file = this.layout.version === 2 ? 'cpuset.cpus.effective' : 'cpuset.effective_cpus';
    const text = await readText(join(p, file)).catch(() => readText(join(p, 'cpuset.cpus')));
    return parseCpuList(text);
  }

  /** Hosts as CPU sets (the option, or one per allowed CPU: "cpu0", "cpu1"...). */
  async hosts(): Promise<Record<string, readonly number[]>> {
    if (this.o.hosts) return this.o.hosts;
    if (!this.hostsCache) {
      const h: Record<string, number[]> = {};
      for (const c of await this.allowedCpus()) h[`cpu${c}`] = [c];
      this.hostsCache = h;
    }
    return this.hostsCache;
  }

  /** The host whose CPU set equals the instance's cpuset, or '' when none does. */
  async hostOf(instance: string): Promise<string> {
    const cpus = formatCpuList((await this.limits(instance)).cpus);
    for (const [id, set] of Object.entries(await this.hosts())) if (formatCpuList(set) === cpus) return id;
    return '';
  }

  // ------------------------------------------------------------------------------ apply

  async apply(action: Action): Promise<Undo> {
    const kind = (action as { kind: unknown }).kind;
    checkInstanceField(action);
    switch (action.kind) {
      case 'resize':
        return this.resize(action);
      case 'pin':
        return this.pin(action);
      case 'migrate':
        return this.migrate(action);
      default:
        throw new DriverError(`the cgroups driver does not apply action kind "${String(kind)}" (it applies resize, pin and migrate)`, action);
    }
  }

  private async resize(a: ResizeAction): Promise<Undo> {
    if (!(Number.isNaN(a.cpu) || (Number.isFinite(a.cpu) && a.cpu > 0))) throw fieldError(a, 'cpu', `must be a finite number of millicores > 0, or NaN to leave it, got ${a.cpu}`);
    if (!(Number.isNaN(a.memory) || (Number.isFinite(a.memory) && a.memory > 0))) throw fieldError(a, 'memory', `must be a finite number of MiB > 0, or NaN to leave it, got ${a.memory}`);
    const g = this.group(a.instance, a);
    const undos: Undo[] = [];
    const rollback = async () => {
      for (const u of undos.reverse()) await u();
    };
    try {
      if (!Number.isNaN(a.cpu)) undos.push(await this.writeCpu(g.dirs, a.cpu));
      if (!Number.isNaN(a.memory)) undos.push(await this.writeMemory(g, a));
    } catch (e) {
      await rollback().catch(() => undefined);
      if (e instanceof DriverError) throw e;
      throw new DriverError(`resize ${a.instance}: ${(e as Error).message}`, a, { cause: e });
    }
    return onceUndo(rollback);
  }

  /** Writes quota and shares; returns how to put back the previous values. */
  private async writeCpu(dirs: GroupDirs, cpuMillicores: number): Promise<Undo> {
    if (this.layout.version === 2) {
      const maxFile = join(dirs.cpu, 'cpu.max');
      const weightFile = join(dirs.cpu, 'cpu.weight');
      const prevMax = await readText(maxFile);
      const prevWeight = await readText(weightFile);
      const period = this.o.cpuPeriodUs ?? (Number(prevMax.split(/\s+/)[1]) || 100000);
      if (this.o.cpuQuota) await writeText(maxFile, `${Math.max(MIN_QUOTA_US, Math.round((cpuMillicores / 1000) * period))} ${period}`);
      if (this.o.cpuShares) await writeText(weightFile, String(sharesToWeight(millicoresToShares(cpuMillicores))));
      return async () => {
        await writeText(maxFile, prevMax);
        await writeText(weightFile, prevWeight);
      };
    }
    const quotaFile = join(dirs.cpu, 'cpu.cfs_quota_us');
    const periodFile = join(dirs.cpu, 'cpu.cfs_period_us');
    const sharesFile = join(dirs.cpu, 'cpu.shares');
    const prevQuota = await readText(quotaFile);
    const prevPeriod = await readText(periodFile);
    const prevShares = await readText(sharesFile);
    if (this.o.cpuQuota) {
      const period = this.o.cpuPeriodUs ?? Number(prevPeriod);
      if (String(period) !== prevPeriod) {
        await writeText(quotaFile, '-1'); // a period change must not leave an invalid quota/period pair
        await writeText(periodFile, String(period));
      }
      await writeText(quotaFile, String(Math.max(MIN_QUOTA_US, Math.round((cpuMillicores / 1000) * period))));
    }
    if (this.o.cpuShares) await writeText(sharesFile, String(millicoresToShares(cpuMillicores)));
    return async () => {
      await writeText(quotaFile, '-1');
      await writeText(periodFile, prevPeriod);
      await writeText(quotaFile, prevQuota);
      await writeText(sharesFile, prevShares);
    };
  }

  private memFiles(dirs: GroupDirs): { limit: string; usage: string } {
    return this.layout.version === 2
      ? { limit: join(dirs.memory, 'memory.max'), usage: join(dirs.memory, 'memory.current') }
      : { limit: join(dirs.memory, 'memory.limit_in_bytes'), usage: join(dirs.memory, 'memory.usage_in_bytes') };
  }

  private async readLimitBytes(dirs: GroupDirs): Promise<number> {
    const t = await readText(this.memFiles(dirs).limit);
    if (t === 'max') return Infinity;
    const n = Number(t);
    return n >= V1_UNLIMITED ? Infinity : n;
  }

  private async writeLimitBytes(dirs: GroupDirs, bytes: number): Promise<void> {
    const v2 = this.layout.version === 2;
    await writeText(this.memFiles(dirs).limit, bytes === Infinity ? (v2 ? 'max' : '-1') : String(bytes));
  }

  /**
   * Sets the memory limit. Raising is immediate; lowering first tries the target, and when the
   * kernel refuses (EBUSY: usage cannot be reclaimed under it), shrinks in steps toward
   * max(target, usage + guard). Returns what was reached.
   */
  async setMemoryLimit(instance: string, targetMiB: number): Promise<MemoryShrinkReport> {
    const { dirs } = this.group(instance);
    const target = targetMiB === Infinity ? Infinity : Math.round(targetMiB * MiB);
    const cur = await this.readLimitBytes(dirs);
    const page = 4096;
    const usageBytes = async () => parseSingleValue(await readText(this.memFiles(dirs).usage), this.memFiles(dirs).usage);
    if (target >= cur) {
      await this.writeLimitBytes(dirs, target);
      return { instance, askedMiB: targetMiB, reachedMiB: targetMiB, usageMiB: (await usageBytes()) / MiB };
    }
    try {
      await this.writeLimitBytes(dirs, target);
      return { instance, askedMiB: targetMiB, reachedMiB: targetMiB, usageMiB: (await usageBytes()) / MiB };
    } catch (e) {
      if (errnoOf(e) !== 'EBUSY') throw e;
    }
    const usage = await usageBytes();
    const floor = Math.max(target, Math.ceil((usage + this.o.memoryGuardMiB * MiB) / page) * page);
    const start = cur === Infinity ? Math.max(floor, usage * 2) : cur;
    let reached = cur;
    const steps = Math.max(1, this.o.memoryShrinkSteps);
    for (let k = 1; k <= steps; k++) {
      const v = Math.ceil((start - ((start - floor) * k) / steps) / page) * page;
      if (v >= reached) continue;
      try {
        await this.writeLimitBytes(dirs, v);
        reached = v;
      } catch (e) {
        if (errnoOf(e) !== 'EBUSY') throw e;
        break;
      }
    }
    return { instance, askedMiB: targetMiB, reachedMiB: reached / MiB, usageMiB: usage / MiB };
  }

  private async writeMemory(g: Group, a: ResizeAction): Promise<Undo> {
    const prev = await this.readLimitBytes(g.dirs);
    const restore = async () => {
      const r = await this.setMemoryLimit(g.name, prev === Infinity ? Infinity : prev / MiB);
      if (r.reachedMiB * MiB > prev + 4096) throw new DriverError(`undo resize ${g.name}: memory limit back to ${r.reachedMiB.toFixed(1)} MiB only, not ${(prev / MiB).toFixed(1)} (usage ${r.usageMiB.toFixed(1)} MiB)`, a);
    };
    const r = await this.setMemoryLimit(g.name, a.memory);
    if (Math.abs(r.reachedMiB - a.memory) > 1 / 256) {
      if (this.o.memoryShrink === 'best-effort') {
        this.o.onPartialMemory?.(r);
        return restore;
      }
      await restore().catch(() => undefined);
      throw new DriverError(
        `resize ${g.name}: field memory: the limit could not go down to ${a.memory} MiB: the group uses ${r.usageMiB.toFixed(1)} MiB that the kernel could not reclaim; ` +
          `it reached ${r.reachedMiB.toFixed(1)} MiB in steps (usage + ${this.o.memoryGuardMiB} MiB guard) and was put back to ${prev === Infinity ? 'no limit' : `${(prev / MiB).toFixed(1)} MiB`}`,
        a,
      );
    }
    return restore;
  }

  private async checkCpus(a: Action, cpus: unknown): Promise<number[]> {
    if (!Array.isArray(cpus) || cpus.length === 0 || !cpus.every((c) => Number.isInteger(c) && c >= 0)) {
      throw fieldError(a, 'cpus', `must be a non-empty list of CPU numbers, got ${JSON.stringify(cpus)}`);
    }
    const allowed = await this.allowedCpus();
    const bad = (cpus as number[]).filter((c) => !allowed.includes(c));
    if (bad.length > 0) throw fieldError(a, 'cpus', `has CPUs ${bad.join(', ')} outside the allowed set ${formatCpuList(allowed)}`);
    return cpus as number[];
  }

  private async writeCpus(dirs: GroupDirs, cpus: readonly number[]): Promise<Undo> {
    const file = join(dirs.cpuset, 'cpuset.cpus');
    const prev = await readText(file);
    await writeText(file, formatCpuList(cpus));
    return async () => {
      await writeText(file, prev);
    };
  }

  private async pin(a: PinAction): Promise<Undo> {
    const cpus = await this.checkCpus(a, a.cpus);
    const g = this.group(a.instance, a);
    return onceUndo(await this.writeCpus(g.dirs, cpus));
  }

  private async migrate(a: MigrateAction): Promise<Undo> {
    const hosts = await this.hosts();
    const to = hosts[a.to];
    if (typeof a.to !== 'string' || !to) throw fieldError(a, 'to', `must name a host (a CPU set: ${Object.keys(hosts).join(', ')}), got ${JSON.stringify(a.to)}`);
    const g = this.group(a.instance, a);
    if (a.from !== '') {
      const now = await this.hostOf(a.instance);
      if (now !== a.from) throw fieldError(a, 'from', `says ${JSON.stringify(a.from)} but ${a.instance} runs on ${now === '' ? 'no single host' : now}`);
    }
    return onceUndo(await this.writeCpus(g.dirs, await this.checkCpus(a, [...to])));
  }
}
