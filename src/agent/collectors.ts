// Collectors: read the kernel's files for one target (the host, a cgroup, a process) and turn two
// successive readings into one sample of canonical metric values. All parsing and arithmetic is
// in ./parsers.ts; this file only reads files and keeps the previous reading.
//
// Every collector has the same contract: `collect(monoMs)` reads the files now; the first call
// only primes the counters (rates need two readings) and its result must not be reported; a
// metric whose files do not exist on this kernel (no PSI, no memory.peak...) is skipped and said
// once through `log`; a process or cgroup that went away throws TargetGoneError.
import { execFileSync } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PrescientError } from '../core/errors.js';
import type { MetricValues } from '../core/telemetry.js';
import {
  bytesToMiB,
  diskRates,
  hostCpuMillicores,
  ioRates,
  memoryUsedMiB,
  microsToMillicores,
  nanosToMillicores,
  netRates,
  parseBlkioServiceBytes,
  parseDiskstats,
  parseFlatKeyed,
  parseIoStatV2,
  parseMeminfo,
  parseNetDev,
  parsePidStat,
  parsePressure,
  parseProcStat,
  parseSingleValue,
  pidCpuMillicores,
  type DiskCounters,
  type IoBytes,
  type NetCounters,
  type PidStat,
  type ProcStat,
} from './parsers.js';

export const METRIC_NAMES = ['cpu', 'memory', 'pressure', 'disk', 'network'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

/** One sample's worth of values for one target. */
export interface Reading {
  values: MetricValues;
  /** Metrics with no field in the contract (throttling, peaks, per-thread CPU), by name. */
  custom: Record<string, number>;
}

export interface Collector {
  /** For logs: "host", "cgroup v1 machine/vm1", "pid 1234 (qemu)". */
  readonly label: string;
  collect(monoMs: number): Promise<Reading>;
}

export type Log = (line: string) => void;

/** The target (process, cgroup) no longer exists: stop sampling it. */
export class TargetGoneError extends PrescientError {
  constructor(what: string, options?: { cause?: unknown }) {
    super('E_INPUT', `${what} no longer exists`, options);
  }
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Errors meaning "this kernel does not have that file": ENOENT, and EOPNOTSUPP when PSI is compiled in but disabled (psi=0). */
function isAbsent(err: unknown): boolean {
  const c = errno(err);
  return c === 'ENOENT' || c === 'EOPNOTSUPP' || c === 'ENOTSUP' || c === 'ENOTDIR';
}

/**
 * Reads optional files: the first time a file turns out absent it is remembered (and logged once),
 * so later ticks do not pay for the failed open. Other read errors are logged once per file and
 * code, and the metric is skipped for that tick.
 */
class FileReader {
  private readonly absent = new Set<string>();
  private readonly warned = new Set<string>();
  constructor(
    private readonly label: string,
    private readonly log: Log,
  ) {}

  async optional(path: string, what: string): Promise<string | undefined> {
    if (this.absent.has(path)) return undefined;
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      if (isAbsent(err)) {
        this.absent.add(path);
        this.log(`${this.label}: ${what} not available on this system (${path}: ${errno(err)}); skipped`);
      } else {
        this.warnOnce(path, err);
      }
      return undefined;
    }
  }

  warnOnce(path: string, err: unknown): void {
    const key = `${path}:${errno(err) ?? (err as Error)?.message}`;
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log(`${this.label}: reading ${path} failed: ${(err as Error)?.message ?? err}; metric skipped`);
  }

  /** Runs a parse; a parse error is logged once and the metric skipped. */
  parse<T>(path: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      this.warnOnce(path, err);
      return undefined;
    }
  }
}

function finite(v: number): number | undefined {
  return Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** Sets a field only when the value is a finite non-negative number. */
function put<K extends keyof MetricValues>(values: MetricValues, key: K, v: number | undefined): void {
  if (v === undefined) return;
  const f = finite(v);
  if (f !== undefined) values[key] = f as MetricValues[K];
}

// ---------------------------------------------------------------------------------------------

export interface HostCollectorOptions {
  metrics: ReadonlySet<MetricName>;
  log: Log;
  /** Where /proc and /sys are (fixture trees in tests). */
  procRoot?: string;
  sysRoot?: string;
}

/** The host itself: /proc/stat, /proc/meminfo, /proc/pressure, /proc/diskstats, /proc/net/dev. */
export class HostCollector implements Collector {
  readonly label = 'host';
  private readonly proc: string;
  private readonly sys: string;
  private readonly files: FileReader;
  private prevMonoMs: number | undefined;
  private prevStat: ProcStat | undefined;
  private prevDisks: DiskCounters[] | undefined;
  private prevNet: NetCounters[] | undefined;
  private wholeDisks: Set<string> | undefined | null = null;

  constructor(private readonly opts: HostCollectorOptions) {
    this.proc = opts.procRoot ?? '/proc';
    this.sys = opts.sysRoot ?? '/sys';
    this.files = new FileReader('host', opts.log);
  }

  async collect(monoMs: number): Promise<Reading> {
    const m = this.opts.metrics;
    const values: MetricValues = {};
    const elapsedMs = this.prevMonoMs === undefined ? 0 : monoMs - this.prevMonoMs;
    this.prevMonoMs = monoMs;
    const jobs: Array<Promise<void>> = [];
    if (m.has('cpu')) jobs.push(this.cpu(values));
    if (m.has('memory')) jobs.push(this.memory(values));
    if (m.has('pressure')) {
      jobs.push(this.pressure('cpu', 'cpuPressurePct', values), this.pressure('memory', 'memoryPressurePct', values), this.pressure('io', 'ioPressurePct', values));
    }
    if (m.has('disk')) jobs.push(this.disk(values, elapsedMs));
    if (m.has('network')) jobs.push(this.network(values, elapsedMs));
    await Promise.all(jobs);
    return { values, custom: {} };
  }

  private async cpu(values: MetricValues): Promise<void> {
    const path = join(this.proc, 'stat');
    const text = await this.files.optional(path, 'CPU (/proc/stat)');
    if (text === undefined) return;
    const cur = this.files.parse(path, () => parseProcStat(text, path));
    if (!cur) return;
    if (this.prevStat) put(values, 'cpuMillicores', hostCpuMillicores(this.prevStat, cur));
    this.prevStat = cur;
  }

  private async memory(values: MetricValues): Promise<void> {
    const path = join(this.proc, 'meminfo');
    const text = await this.files.optional(path, 'memory (/proc/meminfo)');
    if (text === undefined) return;
    put(values, 'memoryMiB', this.files.parse(path, () => memoryUsedMiB(parseMeminfo(text, path), path)));
  }

  private async pressure(resource: string, key: 'cpuPressurePct' | 'memoryPressurePct' | 'ioPressurePct', values: MetricValues): Promise<void> {
    const path = join(this.proc, 'pressure', resource);
    const text = await this.files.optional(path, `${resource} pressure (PSI)`);
    if (text === undefined) return;
    put(values, key, this.files.parse(path, () => parsePressure(text, path).some.avg10));
  }

  private async disk(values: MetricValues, elapsedMs: number): Promise<void> {
    if (this.wholeDisks === null) {
      try {
        this.wholeDisks = new Set(await readdir(join(this.sys, 'block')));
      } catch {
        this.wholeDisks = undefined; // no /sys: judge names by pattern
      }
    }
    const path = join(this.proc, 'diskstats');
    const text = await this.files.optional(path, 'disk I/O (/proc/diskstats)');
    if (text === undefined) return;
    const cur = this.files.parse(path, () => parseDiskstats(text, path));
    if (!cur) return;
    if (this.prevDisks && elapsedMs > 0) {
      const r = diskRates(this.prevDisks, cur, elapsedMs, this.wholeDisks ?? undefined);
      put(values, 'diskReadKiBps', r.readKiBps);
      put(values, 'diskWriteKiBps', r.writeKiBps);
    }
    this.prevDisks = cur;
  }

  private async network(values: MetricValues, elapsedMs: number): Promise<void> {
    const path = join(this.proc, 'net', 'dev');
    const text = await this.files.optional(path, 'network (/proc/net/dev)');
    if (text === undefined) return;
    const cur = this.files.parse(path, () => parseNetDev(text, path));
    if (!cur) return;
    if (this.prevNet && elapsedMs > 0) {
      const r = netRates(this.prevNet, cur, elapsedMs);
      put(values, 'networkRxKiBps', r.rxKiBps);
      put(values, 'networkTxKiBps', r.txKiBps);
    }
    this.prevNet = cur;
  }
}

// ---------------------------------------------------------------------------------------------

export type CgroupVersion = 1 | 2;

/** Where one cgroup's files are. v1: one directory per controller; v2: one directory. */
export interface CgroupLocation {
  version: CgroupVersion;
  name: string;
  /** v2: the cgroup's directory. */
  dir?: string;
  /** v1: the cgroup's directory in each controller hierarchy that has it. */
  cpuacct?: string;
  cpu?: string;
  memory?: string;
  blkio?: string;
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** v1 controller mount points, as systemd and Docker name them (cpu and cpuacct are often co-mounted). */
const V1_DIRS: Record<'cpuacct' | 'cpu' | 'memory' | 'blkio', string[]> = {
  cpuacct: ['cpuacct', 'cpu,cpuacct', 'cpuacct,cpu'],
  cpu: ['cpu', 'cpu,cpuacct', 'cpuacct,cpu'],
  memory: ['memory'],
  blkio: ['blkio'],
};

/**
 * Finds cgroup `name` (a path relative to the hierarchy root, e.g. "machine.slice/vm1") under
 * `root` (default /sys/fs/cgroup) and says which version it is. Pure v2 (root has
 * cgroup.controllers) -> v2. Hybrid: v1 if any v1 controller hierarchy has the cgroup, else v2 in
 * root/unified. Returns undefined if the cgroup exists nowhere.
 */
export async function locateCgroup(name: string, root = '/sys/fs/cgroup'): Promise<CgroupLocation | undefined> {
  const rel = name.replace(/^\/+/, '');
  if (rel.split('/').includes('..')) return undefined;
  if (await isFile(join(root, 'cgroup.controllers'))) {
    const dir = join(root, rel);
    return (await isDir(dir)) ? { version: 2, name: rel, dir } : undefined;
  }
  const v1: CgroupLocation = { version: 1, name: rel };
  let found = false;
  for (const ctl of Object.keys(V1_DIRS) as Array<keyof typeof V1_DIRS>) {
    for (const mount of V1_DIRS[ctl]) {
      const dir = join(root, mount, rel);
      if (await isDir(dir)) {
        v1[ctl] = dir;
        found = true;
        break;
      }
    }
  }
  if (found) return v1;
  const unified = join(root, 'unified', rel);
  if (await isFile(join(unified, 'cgroup.procs'))) return { version: 2, name: rel, dir: unified };
  return undefined;
}

export interface CgroupCollectorOptions {
  metrics: ReadonlySet<MetricName>;
  log: Log;
}

/**
 * One cgroup. v1: cpuacct.usage (ns), cpu.stat throttling, memory.usage_in_bytes and
 * max_usage_in_bytes, blkio.throttle.io_service_bytes. v2: cpu.stat usage_usec and throttling,
 * memory.current and memory.peak, io.stat, {cpu,memory,io}.pressure. Network is per network
 * namespace, not per cgroup: not reported. Custom metrics: cpuThrottledPeriods and
 * cpuThrottledMs (over the interval), memoryPeakMiB (since the cgroup was created or reset).
 */
export class CgroupCollector implements Collector {
  readonly label: string;
  private readonly files: FileReader;
  private prevMonoMs: number | undefined;
  private prevCpu: number | undefined;
  private prevThrottle: { periods: number; ms: number } | undefined;
  private prevIo: IoBytes | undefined;

  constructor(
    readonly location: CgroupLocation,
    private readonly opts: CgroupCollectorOptions,
  ) {
    this.label = `cgroup v${location.version} ${location.name}`;
    this.files = new FileReader(this.label, opts.log);
  }

  async collect(monoMs: number): Promise<Reading> {
    await this.assertExists();
    const m = this.opts.metrics;
    const values: MetricValues = {};
    const custom: Record<string, number> = {};
    const elapsedMs = this.prevMonoMs === undefined ? 0 : monoMs - this.prevMonoMs;
    this.prevMonoMs = monoMs;
    const v2 = this.location.version === 2;
    const jobs: Array<Promise<void>> = [];
    if (m.has('cpu')) jobs.push(v2 ? this.cpuV2(values, custom, elapsedMs) : this.cpuV1(values, custom, elapsedMs));
    if (m.has('memory')) jobs.push(this.memory(values, custom));
    if (m.has('pressure') && v2) {
      jobs.push(this.pressure('cpu', 'cpuPressurePct', values), this.pressure('memory', 'memoryPressurePct', values), this.pressure('io', 'ioPressurePct', values));
    }
    if (m.has('disk')) jobs.push(this.disk(values, elapsedMs));
    await Promise.all(jobs);
    return { values, custom };
  }

  private async assertExists(): Promise<void> {
    const l = this.location;
    const dir = l.dir ?? l.cpuacct ?? l.memory ?? l.cpu ?? l.blkio;
    if (dir && !(await isDir(dir))) throw new TargetGoneError(this.label);
  }

  private throttle(custom: Record<string, number>, periods: number | undefined, ms: number | undefined): void {
    if (periods === undefined || ms === undefined) return;
    if (this.prevThrottle) {
      custom['cpuThrottledPeriods'] = Math.max(0, periods - this.prevThrottle.periods);
      custom['cpuThrottledMs'] = Math.max(0, ms - this.prevThrottle.ms);
    }
    this.prevThrottle = { periods, ms };
  }

  private async cpuV1(values: MetricValues, custom: Record<string, number>, elapsedMs: number): Promise<void> {
    const { cpuacct, cpu } = this.location;
    if (cpuacct) {
      const path = join(cpuacct, 'cpuacct.usage');
      const text = await this.files.optional(path, 'CPU usage (cpuacct.usage)');
      const ns = text === undefined ? undefined : this.files.parse(path, () => parseSingleValue(text, path));
      if (ns !== undefined) {
        if (this.prevCpu !== undefined && elapsedMs > 0) put(values, 'cpuMillicores', nanosToMillicores(this.prevCpu, ns, elapsedMs));
        this.prevCpu = ns;
      }
    }
    if (cpu) {
      const path = join(cpu, 'cpu.stat');
      const text = await this.files.optional(path, 'CPU throttling (cpu.stat)');
      const s = text === undefined ? undefined : this.files.parse(path, () => parseFlatKeyed(text, path));
      // v1: throttled_time is in nanoseconds
      if (s) this.throttle(custom, s['nr_throttled'], s['throttled_time'] === undefined ? undefined : s['throttled_time'] / 1e6);
    }
  }

  private async cpuV2(values: MetricValues, custom: Record<string, number>, elapsedMs: number): Promise<void> {
    const path = join(this.location.dir!, 'cpu.stat');
    const text = await this.files.optional(path, 'CPU (cpu.stat)');
    const s = text === undefined ? undefined : this.files.parse(path, () => parseFlatKeyed(text, path));
    if (!s) return;
    const us = s['usage_usec'];
    if (us !== undefined) {
      if (this.prevCpu !== undefined && elapsedMs > 0) put(values, 'cpuMillicores', microsToMillicores(this.prevCpu, us, elapsedMs));
      this.prevCpu = us;
    }
    // throttling fields exist only with the cpu controller enabled
    this.throttle(custom, s['nr_throttled'], s['throttled_usec'] === undefined ? undefined : s['throttled_usec'] / 1000);
  }

  private async memory(values: MetricValues, custom: Record<string, number>): Promise<void> {
    const l = this.location;
    const dir = l.version === 2 ? l.dir : l.memory;
    if (!dir) return;
    const [curName, peakName] = l.version === 2 ? ['memory.current', 'memory.peak'] : ['memory.usage_in_bytes', 'memory.max_usage_in_bytes'];
    const [curText, peakText] = await Promise.all([
      this.files.optional(join(dir, curName), `memory (${curName})`),
      this.files.optional(join(dir, peakName), `peak memory (${peakName})`),
    ]);
    if (curText !== undefined) put(values, 'memoryMiB', this.files.parse(join(dir, curName), () => bytesToMiB(parseSingleValue(curText, join(dir, curName)))));
    if (peakText !== undefined) {
      const peak = this.files.parse(join(dir, peakName), () => bytesToMiB(parseSingleValue(peakText, join(dir, peakName))));
      if (peak !== undefined && Number.isFinite(peak)) custom['memoryPeakMiB'] = peak;
    }
  }

  private async pressure(resource: string, key: 'cpuPressurePct' | 'memoryPressurePct' | 'ioPressurePct', values: MetricValues): Promise<void> {
    const path = join(this.location.dir!, `${resource}.pressure`);
    const text = await this.files.optional(path, `${resource} pressure (${resource}.pressure)`);
    if (text === undefined) return;
    put(values, key, this.files.parse(path, () => parsePressure(text, path).some.avg10));
  }

  private async disk(values: MetricValues, elapsedMs: number): Promise<void> {
    const l = this.location;
    const path = l.version === 2 ? join(l.dir!, 'io.stat') : l.blkio ? join(l.blkio, 'blkio.throttle.io_service_bytes') : undefined;
    if (!path) return;
    const text = await this.files.optional(path, 'disk I/O');
    if (text === undefined) return;
    const cur = this.files.parse(path, () => (l.version === 2 ? parseIoStatV2(text, path) : parseBlkioServiceBytes(text, path)));
    if (!cur) return;
    if (this.prevIo && elapsedMs > 0) {
      const r = ioRates(this.prevIo, cur, elapsedMs);
      put(values, 'diskReadKiBps', r.readKiBps);
      put(values, 'diskWriteKiBps', r.writeKiBps);
    }
    this.prevIo = cur;
  }
}

// ---------------------------------------------------------------------------------------------

/** USER_HZ and the page size, from getconf; 100 and 4096 (every common Linux) when it is missing. */
export function systemConstants(): { ticksPerSecond: number; pageSizeBytes: number } {
  const get = (name: string, fallback: number): number => {
    try {
      const v = Number(execFileSync('getconf', [name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      return Number.isInteger(v) && v > 0 ? v : fallback;
    } catch {
      return fallback;
    }
  };
  return { ticksPerSecond: get('CLK_TCK', 100), pageSizeBytes: get('PAGESIZE', 4096) };
}

export interface PidCollectorOptions {
  metrics: ReadonlySet<MetricName>;
  log: Log;
  /** Also report each thread's CPU as custom metric `thread.<tid>.cpuMillicores`. */
  threads?: boolean;
  /** At most this many threads (the busiest) are reported per sample. Default 64. */
  maxThreads?: number;
  procRoot?: string;
  ticksPerSecond?: number;
  pageSizeBytes?: number;
}

/**
 * One process: CPU from utime+stime of /proc/<pid>/stat, memory from its resident set; with
 * `threads`, each thread's CPU from /proc/<pid>/task/<tid>/stat. A process that exited, or whose
 * pid now belongs to another process (different start time), is gone.
 */
export class PidCollector implements Collector {
  readonly label: string;
  private readonly proc: string;
  private readonly ticksPerSecond: number;
  private readonly pageSizeBytes: number;
  private prevMonoMs: number | undefined;
  private prev: PidStat | undefined;
  private prevThreads = new Map<number, PidStat>();

  constructor(
    readonly pid: number,
    private readonly opts: PidCollectorOptions,
  ) {
    this.label = `pid ${pid}`;
    this.proc = opts.procRoot ?? '/proc';
    const c = opts.ticksPerSecond === undefined || opts.pageSizeBytes === undefined ? systemConstants() : undefined;
    this.ticksPerSecond = opts.ticksPerSecond ?? c!.ticksPerSecond;
    this.pageSizeBytes = opts.pageSizeBytes ?? c!.pageSizeBytes;
  }

  private async readStat(path: string): Promise<PidStat | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (errno(err) === 'ENOENT' || errno(err) === 'ESRCH') return undefined;
      throw err;
    }
    return parsePidStat(text, path);
  }

  async collect(monoMs: number): Promise<Reading> {
    const path = join(this.proc, String(this.pid), 'stat');
    const cur = await this.readStat(path);
    if (!cur || cur.state === 'Z' || cur.state === 'X' || (this.prev && cur.startTimeTicks !== this.prev.startTimeTicks)) {
      throw new TargetGoneError(`${this.label}${this.prev ? ` (${this.prev.comm})` : ''}`);
    }
    const elapsedMs = this.prevMonoMs === undefined ? 0 : monoMs - this.prevMonoMs;
    this.prevMonoMs = monoMs;
    const values: MetricValues = {};
    const custom: Record<string, number> = {};
    const m = this.opts.metrics;
    if (m.has('cpu')) {
      if (this.prev && elapsedMs > 0) put(values, 'cpuMillicores', pidCpuMillicores(this.prev, cur, elapsedMs, this.ticksPerSecond));
      if (this.opts.threads) await this.threads(custom, elapsedMs);
    }
    if (m.has('memory')) put(values, 'memoryMiB', bytesToMiB(cur.rssPages * this.pageSizeBytes));
    this.prev = cur;
    return { values, custom };
  }

  private async threads(custom: Record<string, number>, elapsedMs: number): Promise<void> {
    const taskDir = join(this.proc, String(this.pid), 'task');
    let tids: number[];
    try {
      tids = (await readdir(taskDir)).map(Number).filter((t) => Number.isInteger(t));
    } catch (err) {
      if (errno(err) === 'ENOENT') return; // exited between the two reads; caught on the next tick
      throw err;
    }
    const now = new Map<number, PidStat>();
    const rates: Array<[number, number]> = [];
    await Promise.all(
      tids.map(async (tid) => {
        const s = await this.readStat(join(taskDir, String(tid), 'stat'));
        if (!s) return; // the thread ended
        now.set(tid, s);
        const p = this.prevThreads.get(tid);
        if (p && p.startTimeTicks === s.startTimeTicks && elapsedMs > 0) rates.push([tid, pidCpuMillicores(p, s, elapsedMs, this.ticksPerSecond)]);
      }),
    );
    this.prevThreads = now;
    rates.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    for (const [tid, mc] of rates.slice(0, this.opts.maxThreads ?? 64)) custom[`thread.${tid}.cpuMillicores`] = mc;
  }
}
