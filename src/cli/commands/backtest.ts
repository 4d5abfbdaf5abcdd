import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('backtest')
    .description('Rolling-origin backtest of the forecasting engine over every series of a trace')
    .action(() => {
      throw new Error('not yet implemented');
    });
}
