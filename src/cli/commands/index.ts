// Every CLI command, in the order `prescient --help` lists them. Each module is imported only
// when needed: a run of one command loads that command alone (so `prescient backtest` does not
// load the HTTP server, SQLite and the drivers that `start` and `demo` need); `--help`, no
// command or an unknown one loads them all.
import type { Command } from 'commander';

export type Register = (program: Command) => void;

export const COMMAND_LOADERS: ReadonlyArray<readonly [name: string, load: () => Promise<Register>]> = [
  ['backtest', async () => (await import('./backtest.js')).register],
  ['simulate', async () => (await import('./simulate.js')).register],
  ['start', async () => (await import('./start.js')).register],
  ['demo', async () => (await import('./demo.js')).register],
  ['markets', async () => (await import('./markets.js')).register],
  ['agent', async () => (await import('./agent.js')).register],
];

/** The register functions of every command, or only of `name` when it is one of them. */
export async function loadCommands(name?: string): Promise<Register[]> {
  const one = COMMAND_LOADERS.find(([n]) => n === name);
  return Promise.all((one ? [one] : COMMAND_LOADERS).map(([, load]) => load()));
}
