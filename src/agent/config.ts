// The agent's options as given on the command line -> a checked configuration (every problem
// reported at once, by option name) -> the targets with their collectors.
import { existsSync } from 'node:fs';
import { PrescientError, ValidationError, type Issue } from '../core/errors.js';
import { instanceIdSchema } from '../core/telemetry.js';
import { CgroupCollector, HostCollector, locateCgroup, METRIC_NAMES, PidCollector, type Log, type MetricName } from './collectors.js';
import type { AgentTarget } from './agent.js';
import { defaultAgentId } from './agent.js';

export type TargetSpec =
  | { kind: 'host'; instanceId: string }
  | { kind: 'cgroup'; name: string; instanceId: string }
  | { kind: 'pid'; pid: number; instanceId: string };

export interface AgentConfig {
  serverUrl: string;
  token: string;
  agentId: string;
  intervalMs: number;
  batchMs: number;
  metrics: MetricName[];
  targets: TargetSpec[];
  /** Per-thread CPU for --pid targets. */
  threads: boolean;
  spoolDir: string;
  spoolMaxBytes: number;
  cgroupRoot: string;
  /** Stop by itself after this long (demos, tests); undefined = until SIGINT/SIGTERM. */
  durationMs?: number;
}

/** The options as commander hands them over (strings, repeatable ones as arrays). */
export interface AgentCliInput {
  server?: string;
  token?: string;
  agentId?: string;
  hostId?: string;
  cgroup?: string[];
  pid?: string[];
  threads?: boolean;
  intervalMs?: string;
  batchMs?: string;
  metrics?: string;
  spool?: string;
  spoolMaxMb?: string;
  cgroupRoot?: string;
  durationMs?: string;
}

export const TOKEN_ENV = 'PRESCIENT_AGENT_TOKEN';

export const AGENT_DEFAULTS = {
  intervalMs: 1000,
  batchMs: 5000,
  spoolDir: '.prescient/agent-spool',
  spoolMaxMb: 64,
  cgroupRoot: '/sys/fs/cgroup',
  metrics: [...METRIC_NAMES] as MetricName[],
};

function integer(issues: Issue[], path: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(v) || v < min || v > max) {
    issues.push({ path, message: `must be an integer from ${min} to ${max}, got "${text}"` });
    return fallback;
  }
  return v;
}

function checkInstanceId(issues: Issue[], path: string, id: string): void {
  const r = instanceIdSchema.safeParse(id);
  if (!r.success) issues.push({ path, message: `instance id "${id}": ${r.error.issues[0]?.message ?? 'invalid'}` });
}

/** NAME=instanceId (the id after the LAST "=", so a cgroup path may not hold one, but that is rare). */
function splitPair(issues: Issue[], path: string, text: string): [string, string] | undefined {
  const eq = text.lastIndexOf('=');
  if (eq <= 0 || eq === text.length - 1) {
    issues.push({ path, message: `expected NAME=instanceId, got "${text}"` });
    return undefined;
  }
  return [text.slice(0, eq), text.slice(eq + 1)];
}

export function parseAgentConfig(input: AgentCliInput, env: Record<string, string | undefined> = {}): AgentConfig {
  const issues: Issue[] = [];
  let serverUrl = '';
  if (!input.server) issues.push({ path: '--server', message: 'required (the control plane URL, e.g. http://127.0.0.1:8080)' });
  else {
    try {
      const u = new URL(input.server);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
      serverUrl = input.server.replace(/\/+$/, '');
    } catch {
      issues.push({ path: '--server', message: `must be an http:// or https:// URL, got "${input.server}"` });
    }
  }
  const token = input.token ?? env[TOKEN_ENV] ?? '';
  if (!token) issues.push({ path: '--token', message: `required (or set ${TOKEN_ENV})` });
  else if (/\s/.test(token)) issues.push({ path: '--token', message: 'must not contain whitespace' });

  const intervalMs = integer(issues, '--interval-ms', input.intervalMs, AGENT_DEFAULTS.intervalMs, 10, 3_600_000);
  const batchMs = integer(issues, '--batch-ms', input.batchMs, Math.max(AGENT_DEFAULTS.batchMs, intervalMs), 10, 86_400_000);
  if (batchMs < intervalMs) issues.push({ path: '--batch-ms', message: `must be at least --interval-ms (${intervalMs}), got ${batchMs}` });
  if (batchMs / intervalMs > 10_000) issues.push({ path: '--batch-ms', message: `holds more than 10000 samples per instance at --interval-ms ${intervalMs}` });
  const spoolMaxMb = integer(issues, '--spool-max-mb', input.spoolMaxMb, AGENT_DEFAULTS.spoolMaxMb, 1, 1_048_576);
  const durationMs = input.durationMs === undefined ? undefined : integer(issues, '--duration-ms', input.durationMs, 0, 1, 2 ** 31 - 1);

  let metrics = AGENT_DEFAULTS.metrics;
  if (input.metrics !== undefined) {
    const names = input.metrics.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = names.filter((n) => !(METRIC_NAMES as readonly string[]).includes(n));
    if (unknown.length > 0 || names.length === 0) issues.push({ path: '--metrics', message: `expected a comma-separated subset of ${METRIC_NAMES.join(',')}, got "${input.metrics}"` });
    else metrics = [...new Set(names)] as MetricName[];
  }

  const targets: TargetSpec[] = [];
  if (input.hostId !== undefined) {
    checkInstanceId(issues, '--host-id', input.hostId);
    targets.push({ kind: 'host', instanceId: input.hostId });
  }
  (input.cgroup ?? []).forEach((c, i) => {
    const pair = splitPair(issues, `--cgroup[${i}]`, c);
    if (!pair) return;
    checkInstanceId(issues, `--cgroup[${i}]`, pair[1]);
    if (pair[0].split('/').includes('..')) issues.push({ path: `--cgroup[${i}]`, message: `cgroup name "${pair[0]}" may not contain ".."` });
    targets.push({ kind: 'cgroup', name: pair[0], instanceId: pair[1] });
  });
  (input.pid ?? []).forEach((p, i) => {
    const pair = splitPair(issues, `--pid[${i}]`, p);
    if (!pair) return;
    const pid = Number(pair[0]);
    if (!/^\d+$/.test(pair[0]) || pid < 1 || !Number.isSafeInteger(pid)) issues.push({ path: `--pid[${i}]`, message: `"${pair[0]}" is not a process id` });
    checkInstanceId(issues, `--pid[${i}]`, pair[1]);
    targets.push({ kind: 'pid', pid, instanceId: pair[1] });
  });
  const seen = new Set<string>();
  for (const t of targets) {
    if (seen.has(t.instanceId)) issues.push({ path: 'targets', message: `instance id "${t.instanceId}" is given to two targets` });
    seen.add(t.instanceId);
  }
  const agentId = input.agentId ?? input.hostId ?? defaultAgentId();
  checkInstanceId(issues, '--agent-id', agentId);
  if (targets.length === 0) targets.push({ kind: 'host', instanceId: agentId });

  if (issues.length > 0) throw new ValidationError(issues, 'prescient agent: invalid options');
  return {
    serverUrl,
    token,
    agentId,
    intervalMs,
    batchMs,
    metrics,
    targets,
    threads: input.threads ?? false,
    spoolDir: input.spool ?? AGENT_DEFAULTS.spoolDir,
    spoolMaxBytes: spoolMaxMb * 1048576,
    cgroupRoot: input.cgroupRoot ?? AGENT_DEFAULTS.cgroupRoot,
    ...(durationMs !== undefined ? { durationMs } : {}),
  };
}

/** Builds a collector per target; a cgroup or process that does not exist is an error naming it. */
export async function buildTargets(config: AgentConfig, log: Log): Promise<AgentTarget[]> {
  const metrics = new Set(config.metrics);
  const out: AgentTarget[] = [];
  const issues: Issue[] = [];
  for (const t of config.targets) {
    if (t.kind === 'host') out.push({ instanceId: t.instanceId, collector: new HostCollector({ metrics, log }) });
    else if (t.kind === 'cgroup') {
      const loc = await locateCgroup(t.name, config.cgroupRoot);
      if (!loc) issues.push({ path: `--cgroup ${t.name}=${t.instanceId}`, message: `no cgroup "${t.name}" under ${config.cgroupRoot} (v1 controllers or v2)` });
      else out.push({ instanceId: t.instanceId, collector: new CgroupCollector(loc, { metrics, log }) });
    } else {
      if (!existsSync(`/proc/${t.pid}/stat`)) issues.push({ path: `--pid ${t.pid}=${t.instanceId}`, message: `no process ${t.pid}` });
      else out.push({ instanceId: t.instanceId, collector: new PidCollector(t.pid, { metrics, log, threads: config.threads }) });
    }
  }
  if (issues.length > 0) throw new ValidationError(issues, 'prescient agent: targets not found');
  if (out.length === 0) throw new PrescientError('E_CONFIG', 'prescient agent: nothing to sample');
  return out;
}
