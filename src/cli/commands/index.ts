// Every CLI command, in the order `prescient --help` lists them.
import type { Command } from 'commander';
import { register as backtest } from './backtest.js';
import { register as simulate } from './simulate.js';
import { register as start } from './start.js';
import { register as demo } from './demo.js';
import { register as markets } from './markets.js';
import { register as agent } from './agent.js';

export const COMMANDS: Array<(program: Command) => void> = [backtest, simulate];
COMMANDS.push(start, demo);
COMMANDS.push(markets);
COMMANDS.push(agent);
