// The cgroup filesystem: finding the hierarchies (v2 where the unified hierarchy has the
// controllers, v1 otherwise), creating and removing one group per instance in each controller,
// and reading / writing its files. No policy here: cgroup-driver.ts decides what to write.
//
// v1 (hybrid hosts, older kernels): one hierarchy per controller (cpu, cpuacct, cpuset, memory;
// cpu and cpuacct are often co-mounted as "cpu,cpuacct"). v2: one directory per group with
// cpu.max, cpu.weight, cpuset.cpus, memory.max, memory.current, memory.peak and PSI files.
import { access, mkdir, readFile, readdir, rmdir, stat, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { DriverError } from '../../core/ports.js';

export type CgroupController = 'cpu' | 'cpuacct' | 'cpuset' | 'memory';
export const CONTROLLERS: readonly CgroupController[] = ['cpu', 'cpuacct', 'cpuset', 'memory'];

/** Where the hierarchies are, and the parent group new instances are created under. */
export interface CgroupLayout {
  version: 1 | 2;
  /** The parent group's directory in each controller hierarchy (v2: the same directory for all). */
  parents: Record<CgroupController, string>;
}

export type CgroupDetection = { ok: true; layout: CgroupLayout } | { ok: false; reason: string };

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** A file that proves a v1 hierarchy carries the controller. */
const V1_MARKER: Record<CgroupController, string> = {
  cpu: 'cpu.cfs_quota_us',
  cpuacct: 'cpuacct.usage',
  cpuset: 'cpuset.cpus',
  memory: 'memory.limit_in_bytes',
};
const V1_MOUNTS: Record<CgroupController, string[]> = {
  cpu: ['cpu', 'cpu,cpuacct', 'cpuacct,cpu'],
  cpuacct: ['cpuacct', 'cpu,cpuacct', 'cpuacct,cpu'],
  cpuset: ['cpuset'],
  memory: ['memory'],
};

/** This process's group in each v1 hierarchy ("4:memory:/a/b" -> memory: "/a/b"), from /proc/self/cgroup. */
export function parseProcCgroup(text: string): { v1: Map<string, string>; v2?: string } {
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') v2 = m[3]!;
    else for (const c of m[2]!.split(',')) v1.set(c, m[3]!);
  }
  return v2 === undefined ? { v1 } : { v1, v2 };
}

export interface DetectOptions {
  /** Default /sys/fs/cgroup. */
  root?: string;
  /**
   * The parent group, relative to each hierarchy's root. Default: v1, this process's own group in
   * each hierarchy (so instances stay inside whatever contains us); v2, "prescient" at the root.
   */
  parent?: string;
  /** Text of /proc/self/cgroup (tests). */
  procSelfCgroup?: string;
}

const V2_NEEDED = ['cpu', 'cpuset', 'memory'];

async function v2Controllers(dir: string): Promise<string[]> {
  try {
    return (await readFile(join(dir, 'cgroup.controllers'), 'utf8')).trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * Finds a usable cgroup layout: v2 where the unified hierarchy (pure at the root, or hybrid at
 * root/unified) has the cpu, cpuset and memory controllers; else v1 where every one of cpu,
 * cpuacct, cpuset and memory is mounted. Says why not otherwise (and when not writable).
 */
export async function detectCgroups(o: DetectOptions = {}): Promise<CgroupDetection> {
  const root = o.root ?? '/sys/fs/cgroup';
  if (typeof process.getuid === 'function' && process.getuid() !== 0 && o.root === undefined) {
    return { ok: false, reason: 'not root: creating cgroups needs root (or a delegated subtree)' };
  }
  for (const unified of [root, join(root, 'unified')]) {
    const ctl = await v2Controllers(unified);
    if (V2_NEEDED.every((c) => ctl.includes(c))) {
      const dir = join(unified, o.parent ?? 'prescient');
      const layout: CgroupLayout = { version: 2, parents: { cpu: dir, cpuacct: dir, cpuset: dir, memory: dir } };
      return checkWritable(layout);
    }
  }
  let self: Map<string, string> = new Map();
  if (o.parent === undefined) {
    let text = o.procSelfCgroup;
    if (text === undefined) {
      try {
        text = await readFile('/proc/self/cgroup', 'utf8');
      } catch {
        text = '';
      }
    }
    self = parseProcCgroup(text).v1;
  }
  const parents: Partial<Record<CgroupController, string>> = {};
  const missing: string[] = [];
  for (const c of CONTROLLERS) {
    let found: string | undefined;
    for (const m of V1_MOUNTS[c]) {
      const mount = join(root, m);
      if (await exists(join(mount, V1_MARKER[c]))) {
        found = join(mount, o.parent ?? self.get(c) ?? '/');
        break;
      }
    }
    if (found) parents[c] = found;
    else missing.push(c);
  }
  if (missing.length > 0) return { ok: false, reason: `no cgroup v2 hierarchy with cpu, cpuset and memory, and no v1 hierarchy for ${missing.join(', ')} under ${root}` };
  return checkWritable({ version: 1, parents: parents as Record<CgroupController, string> });
}

async function checkWritable(layout: CgroupLayout): Promise<CgroupDetection> {
  for (const dir of new Set(Object.values(layout.parents))) {
    try {
      if (!(await exists(dir))) await mkdir(dir, { recursive: true });
      await access(dir, constants.W_OK);
    } catch (e) {
      return { ok: false, reason: `cgroup ${dir} not writable: ${(e as Error).message}` };
    }
  }
  if (layout.version === 2) {
    // Controllers must be enabled for the parent's children, and on the path down to it.
    try {
      await enableV2Controllers(layout.parents.cpu);
    } catch (e) {
      return { ok: false, reason: `cannot enable cpu, cpuset and memory for the children of ${layout.parents.cpu}: ${(e as Error).message}` };
    }
  }
  return { ok: true, layout };
}

async function enableV2Controllers(dir: string): Promise<void> {
  const have = await v2Controllers(dir);
  const missing = V2_NEEDED.filter((c) => !have.includes(c));
  if (missing.length > 0) throw new Error(`controllers ${missing.join(', ')} not available in ${dir}`);
  await writeFile(join(dir, 'cgroup.subtree_control'), V2_NEEDED.map((c) => `+${c}`).join(' '));
}

/** The directories of one group (v2: the same directory under every key). */
export type GroupDirs = Record<CgroupController, string>;

export function groupDirs(layout: CgroupLayout, name: string): GroupDirs {
  return {
    cpu: join(layout.parents.cpu, name),
    cpuacct: join(layout.parents.cpuacct, name),
    cpuset: join(layout.parents.cpuset, name),
    memory: join(layout.parents.memory, name),
  };
}

export function uniqueDirs(d: GroupDirs): string[] {
  return [...new Set(Object.values(d))];
}

export async function readText(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (e) {
    throw new DriverError(`cannot read ${path}: ${(e as Error).message}`, undefined, { cause: e });
  }
}

/** Writes a cgroup file. Errors keep their errno code (EBUSY, EINVAL...) in `cause`. */
export async function writeText(path: string, value: string): Promise<void> {
  await writeFile(path, value);
}

export function errnoOf(e: unknown): string | undefined {
  const c = (e as { code?: unknown })?.code;
  return typeof c === 'string' ? c : undefined;
}

/** "0-2,5" -> [0, 1, 2, 5]. */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new DriverError(`bad cpu list "${text}"`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}

export function formatCpuList(cpus: readonly number[]): string {
  return [...new Set(cpus)].sort((a, b) => a - b).join(',');
}

/** Creates the group in every hierarchy; cpuset groups get the parent's cpus and mems (v1 starts them empty). */
export async function createGroup(layout: CgroupLayout, dirs: GroupDirs): Promise<void> {
  for (const d of uniqueDirs(dirs)) await mkdir(d, { recursive: true });
  if (layout.version === 1) {
    const parent = layout.parents.cpuset;
    const cpus = await readText(join(parent, 'cpuset.effective_cpus')).catch(() => readText(join(parent, 'cpuset.cpus')));
    const mems = await readText(join(parent, 'cpuset.effective_mems')).catch(() => readText(join(parent, 'cpuset.mems')));
    await writeText(join(dirs.cpuset, 'cpuset.cpus'), cpus);
    await writeText(join(dirs.cpuset, 'cpuset.mems'), mems);
  }
}

/** Pids in the group (union over the hierarchies). */
export async function groupPids(dirs: GroupDirs): Promise<number[]> {
  const pids = new Set<number>();
  for (const d of uniqueDirs(dirs)) {
    let text = '';
    try {
      text = await readFile(join(d, 'cgroup.procs'), 'utf8');
    } catch {
      continue;
    }
    for (const l of text.split('\n')) if (l.trim() !== '') pids.add(Number(l));
  }
  return [...pids];
}

export async function addPid(dirs: GroupDirs, pid: number): Promise<void> {
  for (const d of uniqueDirs(dirs)) await writeText(join(d, 'cgroup.procs'), String(pid));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Kills every task in the group (SIGKILL), waits until it is empty, and removes the group's
 * directories (children first). Missing directories are fine: removal is idempotent.
 */
export async function removeGroup(dirs: GroupDirs, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = await groupPids(dirs);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    if (Date.now() > deadline) throw new DriverError(`cgroup still has tasks ${pids.join(', ')} after ${timeoutMs} ms of SIGKILL`);
    await sleep(20);
  }
  for (const d of uniqueDirs(dirs)) await removeTree(d);
}

async function removeTree(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e);
    try {
      if ((await stat(p)).isDirectory()) await removeTree(p);
    } catch {
      /* raced */
    }
  }
  for (let attempt = 0; ; attempt++) {
    try {
      await rmdir(dir);
      return;
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return;
      if (errnoOf(e) === 'EBUSY' && attempt < 50) {
        await sleep(20);
        continue;
      }
      throw new DriverError(`cannot remove cgroup ${dir}: ${(e as Error).message}`, undefined, { cause: e });
    }
  }
}
