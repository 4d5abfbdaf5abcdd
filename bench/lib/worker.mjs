// Child-process entry: node bench/lib/worker.mjs <module> <job> <json-args>
// Imports bench/<module>.bench.mjs, awaits its exported `jobs[job](args)` and prints the result as
// one JSON line (with the process's peak RSS) for runChild in harness.mjs.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BENCH_DIR, RESULT_MARK } from './harness.mjs';

const [module, job, rawArgs] = process.argv.slice(2);
const mod = await import(pathToFileURL(join(BENCH_DIR, `${module}.bench.mjs`)).href);
const fn = mod.jobs?.[job];
if (typeof fn !== 'function') {
  process.stderr.write(`bench worker: ${module}.bench.mjs has no job "${job}"\n`);
  process.exit(2);
}
const result = await fn(JSON.parse(rawArgs ?? '{}'));
const maxRssKiB = process.resourceUsage().maxRSS;
process.stdout.write(`${RESULT_MARK}${JSON.stringify({ result, maxRssKiB })}\n`);
