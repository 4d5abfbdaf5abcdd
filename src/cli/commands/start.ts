// `prescient start` (what `npm start` runs). The control plane (HTTP API, drivers, store) is not
// built yet; until it is, `start` says so and runs the demo tour (src/cli/commands/demo.ts):
// a forecasting backtest and a rightsizing simulation on a seeded synthetic workload.
import type { Command } from 'commander';
import { parseDemoOptions, runDemo, withDemoOptions, type DemoCliOptions } from './demo.js';

export const START_NOTICE =
  'prescient: the control plane (HTTP API, host drivers, store) is not built yet.\n' +
  'Running the demo instead: the forecasting engine and the policy simulator on a synthetic workload.\n' +
  'Next: `prescient backtest --help` and `prescient simulate --help` run the same on real traces.\n\n';

export function register(program: Command): void {
  withDemoOptions(
    program
      .command('start')
      .description('Start prescient (control plane not built yet: runs the demo, as `prescient demo all`)'),
  ).action(async (opts: DemoCliOptions) => {
    const o = parseDemoOptions('all', opts);
    process.stdout.write(START_NOTICE);
    const started = performance.now();
    await runDemo(o, (t) => process.stdout.write(t));
    process.stdout.write(`\ndone in ${((performance.now() - started) / 1000).toFixed(1)} s; outputs in ${o.out}/\n`);
  });
}
