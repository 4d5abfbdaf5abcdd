// Records the traces the markets equivalence tests compare with: run it with the code whose
// decisions are the reference (it was run at df8ccb6, whose market code is ee8a11c's, before the market phase was made
// cheaper), never to make a failing equivalence test pass after a change meant to be equivalent.
//   node --import tsx test/markets-equivalence-record.ts
import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { allTraces } from './policy/markets/equivalence-scenario.js';
import { runMarketsScenario } from './server/markets-equivalence-scenario.js';

const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
// what the traces depend on: the markets (pure and live), core, and the store the runtime writes to
const deps = ['src/policy/markets', 'src/server/markets', 'src/core', 'src/store'];
const dirty = execFileSync('git', ['status', '--porcelain', '--', ...deps], { encoding: 'utf8' }).trim() !== '';
const recordedAt = `${commit}${dirty ? ` (with uncommitted changes under ${deps.join(', ')})` : ''}`;
writeFileSync('test/policy/markets/fixtures/equivalence.json', `${JSON.stringify({ recordedAt, node: process.version, ...allTraces() })}\n`);
const ticks = await runMarketsScenario();
writeFileSync('test/server/fixtures/markets-equivalence.json', `${JSON.stringify({ recordedAt, node: process.version, ticks }, null, 0).replace(/\},\{"tick"/g, '},\n{"tick"')}\n`);
console.log(`recorded at ${recordedAt}: ${ticks.length} ticks`);
