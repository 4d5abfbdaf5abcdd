// `prescient start` (what `npm start` runs): the control plane. An SQLite store, the embedded
// simulated fleet driven by the seeded synthetic workload (so there is live data), the control
// loop, the HTTP API and the dashboard route. Prints the URL and, at first start, the admin token.
// SIGINT / SIGTERM stop it cleanly (the loop finishes its tick, the store is closed).
import type { Command } from 'commander';
import { InputError } from '../../core/errors.js';
import { DEFAULT_NEGOTIATION_MS } from '../../server/markets/negotiation-component.js';
import { DEFAULTS, startService, type Service } from '../../server/service.js';

interface StartCliOptions {
  port: string;
  host: string;
  db: string;
  tickMs: string;
  stepSeconds: string;
  hosts: string;
  instances: string;
  seed: string;
  policy: string;
  fleet: boolean;
  rotateAdminToken?: boolean;
  synchronous: string;
  negotiationMs: string;
}

function integer(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InputError(`--${name} must be an integer from ${min} to ${max}, got "${v}"`, { field: name });
  return n;
}

export interface StartOptions {
  port: number;
  host: string;
  dbPath: string;
  tickMs: number;
  stepSeconds: number;
  hosts: number;
  instances: number;
  seed: number;
  policy: string;
  fleet: boolean;
  rotateAdminToken: boolean;
  synchronous: 'FULL' | 'NORMAL';
  /** Borrow/lend negotiation round period, ms (0 = off). */
  negotiationMs: number;
}

export function parseStartOptions(o: StartCliOptions): StartOptions {
  const sync = o.synchronous.toUpperCase();
  if (sync !== 'FULL' && sync !== 'NORMAL') throw new InputError(`--synchronous must be FULL or NORMAL, got "${o.synchronous}"`, { field: 'synchronous' });
  const step = Number(o.stepSeconds);
  if (!(Number.isFinite(step) && step > 0 && step <= 86_400)) throw new InputError(`--step-seconds must be a number in (0, 86400], got "${o.stepSeconds}"`, { field: 'step-seconds' });
  return {
    port: integer('port', o.port, 0, 65_535),
    host: o.host,
    dbPath: o.db,
    tickMs: integer('tick-ms', o.tickMs, 10, 3_600_000),
    stepSeconds: step,
    hosts: integer('hosts', o.hosts, 1, 100_000),
    instances: integer('instances', o.instances, 0, 1_000_000),
    seed: integer('seed', o.seed, -(2 ** 31), 2 ** 31 - 1),
    policy: o.policy,
    fleet: o.fleet,
    rotateAdminToken: o.rotateAdminToken === true,
    synchronous: sync,
    negotiationMs: integer('negotiation-ms', o.negotiationMs ?? String(DEFAULT_NEGOTIATION_MS), 0, 3_600_000),
  };
}

export async function runStart(o: StartOptions, print: (text: string) => void): Promise<Service> {
  const svc = await startService({
    port: o.port,
    host: o.host,
    dbPath: o.dbPath,
    tickMs: o.tickMs,
    stepSeconds: o.stepSeconds,
    fleet: o.fleet ? { hosts: o.hosts, instances: o.instances, seed: o.seed } : false,
    seed: o.seed,
    policy: o.policy,
    rotateAdminToken: o.rotateAdminToken,
    synchronous: o.synchronous,
    negotiationMs: o.negotiationMs,
  });
  const lines = [
    'prescient control plane',
    `  dashboard and API: ${svc.url}/`,
  ];
  if (svc.adminToken) {
    lines.push(`  admin token:       ${svc.adminToken}`);
    lines.push('                     (shown once: only its sha256 digest is stored; `prescient start --rotate-admin-token` issues a new one)');
    lines.push(`  dashboard link:    ${svc.url}/#token=${svc.adminToken}`);
  } else {
    lines.push('  admin token:       created at first start, not shown again (`prescient start --rotate-admin-token` issues a new one)');
  }
  lines.push(
    `  fleet:             ${o.fleet ? `${svc.loop.hostIds().length} simulated hosts, ${svc.loop.instanceIds().length} instances (synthetic workload, seed ${o.seed}; one tick = one ${o.stepSeconds} s step)` : 'none (no embedded fleet)'}`,
    `  control loop:      policy ${o.policy}, a tick every ${o.tickMs} ms`,
    `  markets:           spot auction every tick; borrow/lend ${o.negotiationMs > 0 ? `rounds every ${o.negotiationMs} ms` : 'off'}`,
    `  store:             ${o.dbPath}`,
    `  API:               ${svc.url}/openapi.json   health: ${svc.url}/healthz   metrics: ${svc.url}/metrics`,
    'Ctrl-C stops.',
    '',
  );
  print(lines.join('\n'));
  return svc;
}

export function register(program: Command): void {
  program
    .command('start')
    .description('Start the control plane: HTTP API, dashboard, control loop and an embedded simulated fleet (SQLite store)')
    .option('--port <n>', 'TCP port (0 = any free port)', String(DEFAULTS.port))
    .option('--host <addr>', 'address to listen on', DEFAULTS.host)
    .option('--db <path>', 'SQLite database file (created with its folder)', DEFAULTS.dbPath)
    .option('--tick-ms <n>', 'control loop interval, ms', String(DEFAULTS.tickMs))
    .option('--step-seconds <s>', 'model seconds one tick stands for (the embedded workload has 300 s samples)', String(DEFAULTS.stepSeconds))
    .option('--hosts <n>', 'simulated hosts of the embedded fleet (first start only)', String(DEFAULTS.hosts))
    .option('--instances <n>', 'simulated instances of the embedded fleet (first start only)', String(DEFAULTS.instances))
    .option('--seed <n>', 'seed of the synthetic workload and of the control loop', String(DEFAULTS.seed))
    .option('--policy <name>', 'rightsizing policy of the control loop', DEFAULTS.policy)
    .option('--no-fleet', 'no embedded simulated fleet (hosts and instances come through the API)')
    .option('--rotate-admin-token', 'revoke the admin tokens and print a new one')
    .option('--synchronous <mode>', 'SQLite durability: FULL (fsync per commit) or NORMAL', 'FULL')
    .option('--negotiation-ms <n>', 'borrow/lend negotiation round period, ms (0 = off)', String(DEFAULT_NEGOTIATION_MS))
    .action(async (opts: StartCliOptions) => {
      const o = parseStartOptions(opts);
      const svc = await runStart(o, (t) => process.stdout.write(t));
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        process.stdout.write(`\nprescient: ${signal}: stopping (finishing the current tick, closing the store)\n`);
        svc.close().then(
          () => process.exit(0),
          (err: unknown) => {
            process.stderr.write(`prescient: error while stopping: ${(err as Error)?.message ?? err}\n`);
            process.exit(1);
          },
        );
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
}
