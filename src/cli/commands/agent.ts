// `prescient agent --server URL --token T`: the telemetry agent (src/agent). Samples the host,
// chosen cgroups and processes, batches the samples, spools them on disk and sends them to the
// control plane's /v1/telemetry, retrying with backoff while it is down.
import type { Command } from 'commander';
import { AGENT_DEFAULTS, METRIC_NAMES, parseAgentConfig, runAgent, TOKEN_ENV, type AgentCliInput } from '../../agent/index.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function register(program: Command): void {
  program
    .command('agent')
    .description('Run the telemetry agent: sample this host, cgroups or processes and send performance profiles to the control plane')
    .option('--server <url>', 'control plane base URL (batches go to <url>/v1/telemetry)')
    .option('--token <token>', `agent bearer token (or set ${TOKEN_ENV}, which keeps it out of the process list)`)
    .option('--agent-id <id>', 'this agent\'s id (default: --host-id, else the hostname)')
    .option('--host-id <instanceId>', 'sample the host itself (/proc) and report it as this instance (the default target when no other is given)')
    .option('--cgroup <name=instanceId>', 'sample a cgroup (v1 or v2, path relative to --cgroup-root) as this instance; repeatable', collect)
    .option('--pid <pid=instanceId>', 'sample a process (/proc/<pid>/stat) as this instance; repeatable', collect)
    .option('--threads', 'with --pid: also report per-thread CPU (custom metrics thread.<tid>.cpuMillicores)')
    .option('--interval-ms <ms>', `sampling interval (default ${AGENT_DEFAULTS.intervalMs})`)
    .option('--batch-ms <ms>', `how often a batch is made and sent (default ${AGENT_DEFAULTS.batchMs}, or the interval if longer)`)
    .option('--metrics <list>', `comma-separated metric set (default ${METRIC_NAMES.join(',')})`)
    .option('--spool <dir>', `on-disk buffer of unsent batches (default ${AGENT_DEFAULTS.spoolDir})`)
    .option('--spool-max-mb <MiB>', `bound of the spool; beyond it the oldest batches are dropped (default ${AGENT_DEFAULTS.spoolMaxMb})`)
    .option('--cgroup-root <dir>', `where the cgroup hierarchies are mounted (default ${AGENT_DEFAULTS.cgroupRoot})`)
    .option('--duration-ms <ms>', 'stop after this long (default: run until SIGINT/SIGTERM)')
    .action(async (opts: AgentCliInput) => {
      const config = parseAgentConfig(opts, process.env);
      const log = (l: string) => process.stderr.write(`${new Date().toISOString()} agent: ${l}\n`);
      const stop = new AbortController();
      const onSignal = (sig: NodeJS.Signals) => {
        log(`${sig}: stopping (spooling the last samples, sending for up to 2 s)`);
        stop.abort();
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const s = await runAgent(config, { log, signal: stop.signal });
        log(
          `stopped: ${s.ticks} ticks, ${s.samplesSpooled} samples in ${s.batchesSpooled} batches; server stored ${s.sender.stored}, ` +
            `rejected ${s.sender.rejected}; ${s.spool.batches} still spooled, ${s.spool.droppedTotal} dropped over the bound`,
        );
      } finally {
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
      }
    });
}
