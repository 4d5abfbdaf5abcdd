// The telemetry agent's public surface: `runAgent` is what `prescient agent` runs.
import { Agent, type AgentStats } from './agent.js';
import type { Log } from './collectors.js';
import { buildTargets, type AgentConfig } from './config.js';

export { Agent, systemClock, type AgentClock, type AgentOptions, type AgentStats, type AgentTarget } from './agent.js';
export { CgroupCollector, HostCollector, locateCgroup, METRIC_NAMES, PidCollector, TargetGoneError, type Collector, type MetricName, type Reading } from './collectors.js';
export { AGENT_DEFAULTS, buildTargets, parseAgentConfig, TOKEN_ENV, type AgentCliInput, type AgentConfig, type TargetSpec } from './config.js';
export { Spool } from './spool.js';
export { backoffDelayMs, Sender } from './sender.js';

export interface RunAgentOptions {
  log: Log;
  /** Stops the agent when aborted (the CLI wires SIGINT and SIGTERM to it). */
  signal?: AbortSignal;
  /** How long a stopping agent keeps trying to empty its spool, ms. Default 2000. */
  drainMs?: number;
}

/** Runs the agent until `signal` aborts or `config.durationMs` has passed; resolves with its statistics. */
export async function runAgent(config: AgentConfig, o: RunAgentOptions): Promise<AgentStats> {
  const targets = await buildTargets(config, o.log);
  const agent = new Agent({
    serverUrl: config.serverUrl,
    token: config.token,
    agentId: config.agentId,
    targets,
    intervalMs: config.intervalMs,
    batchMs: config.batchMs,
    spoolDir: config.spoolDir,
    spoolMaxBytes: config.spoolMaxBytes,
    log: o.log,
  });
  await agent.start();
  await new Promise<void>((resolve) => {
    const timer = config.durationMs !== undefined ? setTimeout(resolve, config.durationMs) : undefined;
    if (o.signal?.aborted) resolve();
    o.signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return agent.stop(o.drainMs ?? 2000);
}
