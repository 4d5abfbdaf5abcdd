// The control loop's ticks alone (the server bench's `tick` job, in this process), with a CPU
// profile of the steady ticks only: where a tick, and the markets phase in it, spend their time.
//
//   npm run build && node bench/tick-profile.mjs [--no-markets] [--ticks 100] [--from 60]
//       [--hosts 1000] [--instances 10000] [--profile out.cpuprofile] [--dist <dist folder>]
//
// Prints the steady medians (whole tick, phases, market components: wall and process CPU);
// with --profile, writes a V8 CPU profile (open it in Chrome DevTools) of ticks --from.. only.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { jobs } from './server.bench.mjs';

const { values: a } = parseArgs({
  options: {
    'no-markets': { type: 'boolean', default: false },
    ticks: { type: 'string', default: '100' },
    from: { type: 'string', default: '60' },
    hosts: { type: 'string', default: '1000' },
    instances: { type: 'string', default: '10000' },
    profile: { type: 'string' },
    dist: { type: 'string' },
  },
});
const ticks = Number(a.ticks);
const from = Number(a.from);
if (!(Number.isInteger(ticks) && Number.isInteger(from) && from >= 0 && from < ticks)) throw new Error(`--from must be an integer in [0, --ticks), got --from ${a.from} --ticks ${a.ticks}`);
let session;
const hooks = a.profile
  ? {
      async beforeTick(i) {
        if (i !== from) return;
        session = new Session();
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.setSamplingInterval', { interval: 100 });
        await session.post('Profiler.start');
      },
      async afterTicks() {
        const { profile } = await session.post('Profiler.stop');
        writeFileSync(resolve(a.profile), JSON.stringify(profile));
        session.disconnect();
      },
    }
  : {};
const r = await jobs.tick({ hosts: Number(a.hosts), instances: Number(a.instances), ticks, steadyFrom: from, markets: !a['no-markets'], ...(a.dist ? { distRoot: resolve(a.dist) } : {}) }, hooks);
const steady = r.reports.slice(from);
const med = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.ceil(0.5 * s.length) - 1];
};
const row = { ticks: steady.length, totalMs: med(steady.map((x) => x.durationMs)), cpuMs: med(steady.map((x) => x.cpuMs)) };
for (const p of Object.keys(steady[0].phasesMs)) row[p] = med(steady.map((x) => x.phasesMs[p]));
for (const c of Object.keys(steady[0].components ?? {})) {
  row[`${c}.wall`] = med(steady.map((x) => x.components[c]?.wallMs ?? 0));
  row[`${c}.cpu`] = med(steady.map((x) => x.components[c]?.cpuMs ?? 0));
}
for (const k of Object.keys(row)) row[k] = Math.round(row[k] * 100) / 100;
console.log(`steady medians (ms), ticks ${from}-${ticks - 1}:`, JSON.stringify(row));
if (a.profile) console.log(`wrote ${resolve(a.profile)}`);
