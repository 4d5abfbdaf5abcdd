// Pure parsers of the kernel's text interfaces (/proc and cgroup files) and the rate arithmetic
// on two readings. No I/O here: src/agent/collectors.ts reads the files and hands the text in, so
// every function is unit-tested against fixture text with hand-computed results.
//
// Formats: proc(5) and the kernel's Documentation (filesystems/proc.rst, admin-guide/iostats.rst,
// accounting/psi.rst, admin-guide/cgroup-v1/{cpuacct,memory}.rst, admin-guide/cgroup-v2.rst).
import { InputError } from '../core/errors.js';

const KIB = 1024;
const MIB = 1024 * 1024;

function bad(file: string, line: number, field: string, message: string): InputError {
  return new InputError(message, { file, line, field });
}

function toCount(text: string | undefined, file: string, line: number, field: string): number {
  if (text === undefined) throw bad(file, line, field, 'missing');
  if (!/^\d+$/.test(text)) throw bad(file, line, field, `expected a non-negative integer, got "${text}"`);
  return Number(text);
}

function lines(text: string): string[] {
  return text.split('\n');
}

// ---------------------------------------------------------------------------------------------
// /proc/stat

/** Cumulative CPU time in USER_HZ ticks (jiffies), summed over all CPUs. */
export interface CpuTimes {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

export interface ProcStat {
  /** The aggregate `cpu` line. */
  total: CpuTimes;
  /** Number of `cpuN` lines: the CPUs online. */
  cpuCount: number;
}

const CPU_FIELDS: Array<keyof CpuTimes> = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'];

export function parseProcStat(text: string, file = '/proc/stat'): ProcStat {
  let total: CpuTimes | undefined;
  let cpuCount = 0;
  const ls = lines(text);
  for (let i = 0; i < ls.length; i++) {
    const parts = ls[i]!.trim().split(/\s+/);
    const head = parts[0];
    if (head === 'cpu') {
      // Kernels before 2.6.11 have fewer columns; missing ones count as zero. guest and guest_nice
      // (columns 9 and 10) are already included in user and nice, so they are not read.
      const t = {} as CpuTimes;
      CPU_FIELDS.forEach((f, k) => {
        const v = parts[k + 1];
        t[f] = v === undefined ? 0 : toCount(v, file, i + 1, f);
      });
      if (parts.length < 5) throw bad(file, i + 1, 'cpu', `expected at least 4 counters, got ${parts.length - 1}`);
      total = t;
    } else if (head !== undefined && /^cpu\d+$/.test(head)) {
      cpuCount++;
    }
  }
  if (!total) throw bad(file, 1, 'cpu', 'no aggregate "cpu" line');
  if (cpuCount === 0) throw bad(file, 1, 'cpuN', 'no per-CPU "cpuN" lines');
  return { total, cpuCount };
}

export function busyJiffies(t: CpuTimes): number {
  return t.user + t.nice + t.system + t.irq + t.softirq + t.steal;
}

export function totalJiffies(t: CpuTimes): number {
  return busyJiffies(t) + t.idle + t.iowait;
}

/**
 * Host CPU use between two readings, in millicores:
 * busy_delta / total_delta * cores * 1000 (iowait counts as idle).
 */
export function hostCpuMillicores(prev: ProcStat, cur: ProcStat): number {
  const busy = busyJiffies(cur.total) - busyJiffies(prev.total);
  const total = totalJiffies(cur.total) - totalJiffies(prev.total);
  if (total <= 0 || busy <= 0) return 0;
  return Math.min(1, busy / total) * cur.cpuCount * 1000;
}

// ---------------------------------------------------------------------------------------------
// /proc/meminfo

/** Fields of /proc/meminfo, in kB as the file gives them (the kernel's kB are KiB). */
export type Meminfo = Record<string, number>;

export function parseMeminfo(text: string, file = '/proc/meminfo'): Meminfo {
  const out: Meminfo = {};
  const ls = lines(text);
  for (let i = 0; i < ls.length; i++) {
    const l = ls[i]!.trim();
    if (l === '') continue;
    const m = /^([A-Za-z0-9_()]+):\s+(\d+)(?:\s+kB)?$/.exec(l);
    if (!m) throw bad(file, i + 1, l.split(':')[0] ?? '', `expected "Name: <number> [kB]", got "${l}"`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

/**
 * Memory in use, MiB: MemTotal - MemAvailable. Kernels before 3.14 have no MemAvailable; there
 * the estimate is MemFree + Buffers + Cached.
 */
export function memoryUsedMiB(info: Meminfo, file = '/proc/meminfo'): number {
  const total = info['MemTotal'];
  if (total === undefined) throw bad(file, 1, 'MemTotal', 'missing');
  let available = info['MemAvailable'];
  if (available === undefined) {
    const free = info['MemFree'];
    if (free === undefined) throw bad(file, 1, 'MemAvailable', 'missing (and no MemFree to estimate it)');
    available = free + (info['Buffers'] ?? 0) + (info['Cached'] ?? 0);
  }
  return Math.max(0, total - available) / KIB;
}

// ---------------------------------------------------------------------------------------------
// Pressure stall information: /proc/pressure/{cpu,memory,io} and cgroup v2 <resource>.pressure

export interface PressureLine {
  avg10: number;
  avg60: number;
  avg300: number;
  /** Total stall time, microseconds. */
  totalUs: number;
}

export interface Pressure {
  some: PressureLine;
  /** Absent for cpu on kernels before 5.13 (and meaningless for cpu at the system level). */
  full?: PressureLine;
}

export function parsePressure(text: string, file: string): Pressure {
  const out: Partial<Pressure> = {};
  const ls = lines(text);
  for (let i = 0; i < ls.length; i++) {
    const l = ls[i]!.trim();
    if (l === '') continue;
    const m = /^(some|full)\s+avg10=([\d.]+)\s+avg60=([\d.]+)\s+avg300=([\d.]+)\s+total=(\d+)$/.exec(l);
    if (!m) throw bad(file, i + 1, l.split(/\s+/)[0] ?? '', `expected "some|full avg10=.. avg60=.. avg300=.. total=..", got "${l}"`);
    out[m[1] as 'some' | 'full'] = { avg10: Number(m[2]), avg60: Number(m[3]), avg300: Number(m[4]), totalUs: Number(m[5]) };
  }
  if (!out.some) throw bad(file, 1, 'some', 'no "some" line');
  return out as Pressure;
}

// ---------------------------------------------------------------------------------------------
// /proc/diskstats

export interface DiskCounters {
  name: string;
  /** 512-byte sectors, whatever the device's real sector size (iostats.rst). */
  sectorsRead: number;
  sectorsWritten: number;
}

export function parseDiskstats(text: string, file = '/proc/diskstats'): DiskCounters[] {
  const out: DiskCounters[] = [];
  const ls = lines(text);
  for (let i = 0; i < ls.length; i++) {
    const p = ls[i]!.trim().split(/\s+/);
    if (p.length === 1 && p[0] === '') continue;
    if (p.length < 14) throw bad(file, i + 1, 'fields', `expected at least 14 fields, got ${p.length}`);
    const name = p[2]!;
    out.push({ name, sectorsRead: toCount(p[5], file, i + 1, `${name}.sectors_read`), sectorsWritten: toCount(p[9], file, i + 1, `${name}.sectors_written`) });
  }
  return out;
}

/** Virtual devices never counted: loop and RAM disks, zram swap, and stacked devices (device
 * mapper, md RAID) whose I/O is already counted on the disks beneath them. */
const VIRTUAL_DISK = /^(loop|ram|zram|dm-|md)\d*/;
/** Partition names when /sys/block is not available: sda1, vda2, xvdb3, nvme0n1p1, mmcblk0p1. */
const PARTITION = /^((sd|vd|xvd|hd)[a-z]+\d+|(nvme\d+n\d+|mmcblk\d+)p\d+)$/;

/**
 * Whether a diskstats entry is a whole physical (or virtio) disk. `wholeDisks` is the listing of
 * /sys/block (whole disks only, partitions live under them); without it, names are judged by pattern.
 */
export function isWholeDisk(name: string, wholeDisks?: ReadonlySet<string>): boolean {
  if (VIRTUAL_DISK.test(name)) return false;
  if (wholeDisks) return wholeDisks.has(name);
  return !PARTITION.test(name);
}

export interface IoRates {
  readKiBps: number;
  writeKiBps: number;
}

/** Read/write KiB/s over whole disks between two readings `elapsedMs` apart. */
export function diskRates(prev: DiskCounters[], cur: DiskCounters[], elapsedMs: number, wholeDisks?: ReadonlySet<string>): IoRates {
  const before = new Map(prev.map((d) => [d.name, d]));
  let read = 0;
  let write = 0;
  for (const d of cur) {
    if (!isWholeDisk(d.name, wholeDisks)) continue;
    const p = before.get(d.name);
    if (!p) continue; // appeared in between: no baseline yet
    read += Math.max(0, d.sectorsRead - p.sectorsRead);
    write += Math.max(0, d.sectorsWritten - p.sectorsWritten);
  }
  return { readKiBps: perSecond((read * 512) / KIB, elapsedMs), writeKiBps: perSecond((write * 512) / KIB, elapsedMs) };
}

function perSecond(amount: number, elapsedMs: number): number {
  return elapsedMs > 0 ? (amount * 1000) / elapsedMs : 0;
}

// ---------------------------------------------------------------------------------------------
// /proc/net/dev

export interface NetCounters {
  name: string;
  rxBytes: number;
  txBytes: number;
}

export function parseNetDev(text: string, file = '/proc/net/dev'): NetCounters[] {
  const out: NetCounters[] = [];
  const ls = lines(text);
  for (let i = 0; i < ls.length; i++) {
    const l = ls[i]!;
    const colon = l.indexOf(':');
    if (colon < 0 || l.includes('|')) continue; // the two header lines
    const name = l.slice(0, colon).trim();
    const p = l.slice(colon + 1).trim().split(/\s+/);
    if (p.length < 16) throw bad(file, i + 1, name, `expected 16 counters, got ${p.length}`);
    out.push({ name, rxBytes: toCount(p[0], file, i + 1, `${name}.rx_bytes`), txBytes: toCount(p[8], file, i + 1, `${name}.tx_bytes`) });
  }
  return out;
}

/** Receive/transmit KiB/s over every interface but loopback. A counter that went back (interface
 * re-created) contributes nothing for that interval. */
export function netRates(prev: NetCounters[], cur: NetCounters[], elapsedMs: number): { rxKiBps: number; txKiBps: number } {
  const before = new Map(prev.map((d) => [d.name, d]));
  let rx = 0;
  let tx = 0;
  for (const d of cur) {
    if (d.name === 'lo') continue;
    const p = before.get(d.name);
    if (!p) continue;
    rx += Math.max(0, d.rxBytes - p.rxBytes);
    tx += Math.max(0, d.txBytes - p.txBytes);
  }
  return { rxKiBps: perSecond(rx / KIB, elapsedMs), txKiBps: perSecond(tx / KIB, elapsedMs) };
}

// ---------------------------------------------------------------------------------------------
// /proc/<pid>/stat and /proc/<pid>/task/<tid>/stat

export interface PidStat {
  pid: number;
  comm: string;
  state: string;
  /** User and system CPU time, clock ticks (sysconf(_SC_CLK_TCK)). */
  utimeTicks: number;
  stimeTicks: number;
  numThreads: number;
  /** Start time after boot, clock ticks: a different value under the same pid is another process. */
  startTimeTicks: number;
  rssPages: number;
}

export function parsePidStat(text: string, file: string): PidStat {
  const l = text.trim();
  // comm is in parentheses and may itself hold spaces and parentheses: it ends at the LAST ')'.
  const open = l.indexOf('(');
  const close = l.lastIndexOf(')');
  if (open < 0 || close < open) throw bad(file, 1, 'comm', 'expected "pid (comm) state ..."');
  const pid = toCount(l.slice(0, open).trim(), file, 1, 'pid');
  const rest = l.slice(close + 1).trim().split(/\s+/);
  // rest[0] is field 3 (state) of proc(5); field n is rest[n - 3].
  if (rest.length < 22) throw bad(file, 1, 'fields', `expected at least 24 fields, got ${rest.length + 2}`);
  return {
    pid,
    comm: l.slice(open + 1, close),
    state: rest[0]!,
    utimeTicks: toCount(rest[11], file, 1, 'utime'),
    stimeTicks: toCount(rest[12], file, 1, 'stime'),
    numThreads: toCount(rest[17], file, 1, 'num_threads'),
    startTimeTicks: toCount(rest[19], file, 1, 'starttime'),
    rssPages: toCount(rest[21], file, 1, 'rss'),
  };
}

/** CPU of a process or thread between two readings, millicores:
 * (utime+stime)_delta / ticksPerSecond / elapsed_seconds * 1000. */
export function pidCpuMillicores(prev: PidStat, cur: PidStat, elapsedMs: number, ticksPerSecond: number): number {
  const ticks = cur.utimeTicks + cur.stimeTicks - (prev.utimeTicks + prev.stimeTicks);
  if (ticks <= 0 || elapsedMs <= 0) return 0;
  return (ticks * 1000 * 1000) / (ticksPerSecond * elapsedMs);
}

// ---------------------------------------------------------------------------------------------
// cgroup files

/** A file holding one number (cpuacct.usage, memory.usage_in_bytes, memory.current...).
 * "max" (v2, no limit) reads as Infinity. */
export function parseSingleValue(text: string, file: string): number {
  const t = text.trim();
  if (t === 'max') return Infinity;
  if (!/^\d+$/.test(t)) throw bad(file, 1, 'value', `expected a non-negative integer, got "${t.slice(0, 40)}"`);
  return Number(t);
}

/** A flat-keyed file: "key value" per line (cpu.stat, memory.stat, cpuacct.stat). */
export function parseFlatKeyed(text: string, file: string): Record<string, number> {
  const out: Record<string, number> = {};
  const ls = lines(text);
  for (let i = 0; i < ls.length; i++) {
    const l = ls[i]!.trim();
    if (l === '') continue;
    const p = l.split(/\s+/);
    if (p.length !== 2) throw bad(file, i + 1, p[0] ?? '', `expected "key value", got "${l}"`);
    out[p[0]!] = toCount(p[1], file, i + 1, p[0]!);
  }
  return out;
}

/** Bytes read and written, summed over devices. */
export interface IoBytes {
  readBytes: number;
  writeBytes: number;
}

/** cgroup v2 io.stat: "MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=..". */
export function parseIoStatV2(text: string, file: string): IoBytes {
  let readBytes = 0;
  let writeBytes = 0;
  const ls = lines(text);
  for (let i = 0; i < ls.length; i++) {
    const p = ls[i]!.trim().split(/\s+/);
    if (p.length < 2) continue;
    for (const kv of p.slice(1)) {
      const [k, v] = kv.split('=');
      if (k === 'rbytes') readBytes += toCount(v, file, i + 1, `${p[0]}.rbytes`);
      else if (k === 'wbytes') writeBytes += toCount(v, file, i + 1, `${p[0]}.wbytes`);
    }
  }
  return { readBytes, writeBytes };
}

/** cgroup v1 blkio.throttle.io_service_bytes: "MAJ:MIN Read|Write|Sync|Async|Discard|Total N" and a final "Total N". */
export function parseBlkioServiceBytes(text: string, file: string): IoBytes {
  let readBytes = 0;
  let writeBytes = 0;
  const ls = lines(text);
  for (let i = 0; i < ls.length; i++) {
    const p = ls[i]!.trim().split(/\s+/);
    if (p.length !== 3) continue; // blank, or the closing "Total N"
    if (p[1] === 'Read') readBytes += toCount(p[2], file, i + 1, `${p[0]}.Read`);
    else if (p[1] === 'Write') writeBytes += toCount(p[2], file, i + 1, `${p[0]}.Write`);
  }
  return { readBytes, writeBytes };
}

export function ioRates(prev: IoBytes, cur: IoBytes, elapsedMs: number): IoRates {
  return {
    readKiBps: perSecond(Math.max(0, cur.readBytes - prev.readBytes) / KIB, elapsedMs),
    writeKiBps: perSecond(Math.max(0, cur.writeBytes - prev.writeBytes) / KIB, elapsedMs),
  };
}

/** cgroup v1 cpuacct.usage (ns) between two readings, millicores: ns_delta / elapsed_ns * 1000. */
export function nanosToMillicores(prevNs: number, curNs: number, elapsedMs: number): number {
  const d = curNs - prevNs;
  if (d <= 0 || elapsedMs <= 0) return 0;
  return d / elapsedMs / 1000;
}

/** cgroup v2 cpu.stat usage_usec between two readings, millicores: us_delta / elapsed_us * 1000. */
export function microsToMillicores(prevUs: number, curUs: number, elapsedMs: number): number {
  const d = curUs - prevUs;
  if (d <= 0 || elapsedMs <= 0) return 0;
  return d / elapsedMs;
}

export function bytesToMiB(bytes: number): number {
  return bytes / MIB;
}
