// The `prescient` command line. Each command lives in src/cli/commands/<name>.ts and exports
// `register(program)`. commander parses arguments, prints --help for every command and exits
// non-zero with a clear message on bad arguments.
import { Command, CommanderError } from 'commander';
import { PrescientError } from '../core/errors.js';
import { loadCommands } from './commands/index.js';

/**
 * The program with every command, or with only `command` when it names one (what `main` does
 * for a run of that command: the other commands' modules are not loaded).
 */
export async function buildProgram(command?: string): Promise<Command> {
  const program = new Command();
  program
    .name('prescient')
    .description('Predictive resource manager for virtualized hosts: forecasts demand and acts first.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of await loadCommands(command)) register(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // argv = [node, script, command, ...]: options before the command (only --help / --version
  // are global) mean no command was named, and then every command is loaded.
  const first = argv[2];
  const program = await buildProgram(first !== undefined && !first.startsWith('-') ? first : undefined);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed the message (or the help / version text).
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof PrescientError) {
      process.stderr.write(`prescient: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}
