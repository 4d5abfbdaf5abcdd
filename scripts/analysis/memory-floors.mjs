#!/usr/bin/env node
// Post-hoc study of memory allocations against their trace: where the violations of one policy
// fall, what floors on the running peak would cost, and how much a causal signal says about them.
// Reads two `prescient simulate` output folders (the policy studied and a reference, e.g. vpa) and
// the trace; writes a report to stdout. Research aid, not part of the product: needs `npm run build`.
//
//   ./bin/prescient simulate --trace ../shared/traces/google2011 --format google2011 --policy predictive --out /tmp/g-pred
//   ./bin/prescient simulate --trace ../shared/traces/google2011 --format google2011 --policy vpa --out /tmp/g-vpa
//   node scripts/analysis/memory-floors.mjs --trace ../shared/traces/google2011 --format google2011 \
//     --policy-out /tmp/g-pred --reference-out /tmp/g-vpa [--window SAMPLES]
//
// Floors are applied after the fact (max of the policy's allocation and the floor), without feedback
// into the policy. The running peak at sample t is the maximum usage over the `--window` samples
// before t (default: all of them). Every floor is causal: it uses samples before t only. The
// "oracle" line is not: it is the cheapest per-instance multiplier of the running peak that removes
// all of that instance's violations, chosen knowing them, and bounds what targeting could gain.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { getTraceFormat } from '../../dist/traces/index.js';

const { values: args } = parseArgs({
  options: {
    trace: { type: 'string' },
    format: { type: 'string' },
    'policy-out': { type: 'string' },
    'reference-out': { type: 'string' },
    window: { type: 'string' },
  },
});
for (const k of ['trace', 'format', 'policy-out', 'reference-out']) {
  if (!args[k]) throw new Error(`memory-floors: --${k} is required`);
}
const window = args.window ? Number(args.window) : Infinity;
if (!(window > 0)) throw new Error(`memory-floors: --window must be a positive number of samples, got ${args.window}`);

/** allocations.csv → Map(instance → { start, memory: Float64Array }) (rows of one instance are contiguous, indices ascending). */
async function readAllocations(dir) {
  const file = join(dir, 'allocations.csv');
  const out = new Map();
  const rl = createInterface({ input: createReadStream(file) });
  let line = 0;
  let cur;
  for await (const text of rl) {
    line++;
    if (line === 1) {
      if (text !== 'instance,index,cpu,memory') throw new Error(`${file}:1: unexpected header ${JSON.stringify(text)}`);
      continue;
    }
    const [id, index, , memory] = text.split(',');
    const i = Number(index);
    const m = Number(memory);
    if (!Number.isInteger(i) || !Number.isFinite(m)) throw new Error(`${file}:${line}: bad index or memory`);
    if (!cur || cur.id !== id) {
      cur = { id, start: i, values: [] };
      out.set(id, cur);
    }
    if (i !== cur.start + cur.values.length) throw new Error(`${file}:${line}: ${id} index ${i} is not contiguous`);
    cur.values.push(m);
  }
  return out;
}

const [policy, reference] = await Promise.all([readAllocations(args['policy-out']), readAllocations(args['reference-out'])]);

/** Per instance: usage, allocations, the running peak before each scored sample and causal features. */
const series = [];
for await (const s of getTraceFormat(args.format).read(args.trace)) {
  const p = policy.get(s.id);
  const r = reference.get(s.id);
  if (!p || !r) continue;
  const u = s.values.memory;
  if (!u) throw new Error(`memory-floors: ${s.id} has no memory series`);
  const start = p.start;
  const n = p.values.length;
  const peak = new Float64Array(n);
  const roughness = new Float64Array(n); // mean |Δusage| over the last 48 samples ÷ the running peak
  // The peak over the `window` samples before t: a deque of indices with decreasing usage.
  const deque = [];
  let head = 0;
  let j = 0;
  // Sum of |Δusage| over the pairs (j - 1, j) with j in [max(1, t - 48), t).
  let absDiff = 0;
  for (let k = 0; k < n; k++) {
    const t = start + k;
    for (; j < t; j++) {
      while (deque.length > head && u[deque[deque.length - 1]] <= u[j]) deque.pop();
      deque.push(j);
      if (j >= 1) absDiff += Math.abs(u[j] - u[j - 1]);
      if (j - 48 >= 1) absDiff -= Math.abs(u[j - 48] - u[j - 49]);
    }
    while (deque[head] < t - window) head++;
    const m = u[deque[head]];
    peak[k] = m;
    const c = t - Math.max(1, t - 48);
    roughness[k] = c > 0 && m > 0 ? absDiff / c / m : 0;
  }
  let sizeSum = 0;
  for (let j = 0; j < start; j++) sizeSum += u[j];
  series.push({
    id: s.id,
    usage: Float64Array.from(u.slice(start, start + n)),
    prev: Float64Array.from(u.slice(start - 1, start - 1 + n)),
    policy: Float64Array.from(p.values),
    reference: Float64Array.from(r.values),
    peak,
    roughness,
    size: sizeSum / start,
  });
}
let usageSum = 0;
let samples = 0;
for (const s of series) {
  for (const v of s.usage) usageSum += v;
  samples += s.usage.length;
}

/** Violations and slack of an allocation per series and sample. */
function evaluate(allocation) {
  let allocated = 0;
  let violations = 0;
  for (const s of series) {
    for (let k = 0; k < s.usage.length; k++) {
      const a = allocation(s, k);
      allocated += a;
      if (s.usage[k] > a) violations++;
    }
  }
  return { violations, rate: violations / samples, slack: 1 - usageSum / allocated, allocated };
}
/** The policy's allocation raised to a floor. */
const floored = (floor) => (s, k) => Math.max(s.policy[k], floor(s, k));
const fmt = (r) => `${r.violations} violations (${r.rate.toFixed(5)}), slack ${r.slack.toFixed(3)}`;

const ref = evaluate((s, k) => s.reference[k]);
const base = evaluate((s, k) => s.policy[k]);
console.log(`${series.length} instances, ${samples} scored samples`);
console.log(`reference: ${fmt(ref)}`);
console.log(`policy:    ${fmt(base)}`);
const slackBar = 0.8 * ref.slack;
console.log(`bar: violations <= ${ref.violations}, slack <= ${slackBar.toFixed(4)} (allocation <= ${(usageSum / (1 - slackBar)).toFixed(0)}, the policy has ${(usageSum / (1 - slackBar) - base.allocated).toFixed(0)} to spend)`);

// Where the policy's violations fall relative to the running peak, and which the reference shares.
let below = 0;
let near = 0;
let spike = 0;
let shared = 0;
for (const s of series) {
  for (let k = 0; k < s.usage.length; k++) {
    if (s.usage[k] <= s.policy[k]) continue;
    const r = s.usage[k] / s.peak[k];
    if (r <= 1) below++;
    else if (r <= 1.2) near++;
    else spike++;
    if (s.usage[k] > s.reference[k]) shared++;
  }
}
console.log(`\npolicy violations: ${below} at or below the running peak, ${near} new peaks within 1.2x of it, ${spike} above 1.2x; ${shared} at samples where the reference also violates`);

console.log('\nfloors (max of the policy allocation and the floor):');
for (const m of [1.0, 1.05, 1.1, 1.15, 1.2, 1.3]) console.log(`  ${m.toFixed(2)} x running peak: ${fmt(evaluate(floored((s, k) => m * s.peak[k])))}`);
const medianSize = [...series.map((s) => s.size)].sort((a, b) => a - b)[Math.floor(series.length / 2)];
// (an instance that used nothing before scoring has no size: no floor)
for (const c of [0.2, 0.3]) {
  console.log(`  (1 + ${c} x (size / median size)^-1) x running peak: ${fmt(evaluate(floored((s, k) => (s.size > 0 ? (1 + c * (medianSize / s.size)) * s.peak[k] : -Infinity))))}`);
}
for (const c of [4, 8, 12]) console.log(`  (1 + ${c} x roughness) x running peak: ${fmt(evaluate(floored((s, k) => (1 + c * s.roughness[k]) * s.peak[k])))}`);

// Oracle: per instance, the smallest multiplier of the running peak that removes all its violations.
let oracleExtra = 0;
let oracleInstances = 0;
let atZeroPeak = 0; // violations no multiplier of the peak removes (nothing used before them)
for (const s of series) {
  let need = 0;
  for (let k = 0; k < s.usage.length; k++) {
    if (!(s.usage[k] > s.policy[k])) continue;
    if (s.peak[k] > 0) need = Math.max(need, (s.usage[k] / s.peak[k]) * (1 + 1e-9));
    else atZeroPeak++;
  }
  if (need === 0) continue;
  oracleInstances++;
  for (let k = 0; k < s.usage.length; k++) oracleExtra += Math.max(s.policy[k], need * s.peak[k]) - s.policy[k];
}
console.log(`\noracle (not causal): per-instance multipliers on ${oracleInstances} instances remove every violation for ${oracleExtra.toFixed(0)} of extra allocation${atZeroPeak ? ` (except ${atZeroPeak} at a peak of 0, which no multiplier removes)` : ''}`);

// How well causal features rank the samples that turn out to be violations (AUC; 0.5 = no information).
function auc(score) {
  const rows = [];
  let undefinedScores = 0; // e.g. a ratio to a peak of 0: left out
  for (const s of series) {
    for (let k = 0; k < s.usage.length; k++) {
      const x = score(s, k);
      if (Number.isFinite(x)) rows.push([x, s.usage[k] > s.policy[k] ? 1 : 0]);
      else undefinedScores++;
    }
  }
  rows.sort((a, b) => a[0] - b[0]);
  let rankSum = 0;
  let positives = 0;
  for (let i = 0; i < rows.length; ) {
    let j = i;
    while (j < rows.length && rows[j][0] === rows[i][0]) j++;
    const avgRank = (i + 1 + j) / 2;
    for (let q = i; q < j; q++) if (rows[q][1]) {
      rankSum += avgRank;
      positives++;
    }
    i = j;
  }
  const negatives = rows.length - positives;
  const value = (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
  return `${value.toFixed(3)}${undefinedScores ? ` (${undefinedScores} samples without a score left out)` : ''}`;
}
console.log('\nAUC of causal features for "this sample violates the policy":');
console.log(`  previous usage / running peak (low = memory dropped): ${auc((s, k) => -s.prev[k] / s.peak[k])}`);
console.log(`  policy allocation / running peak (low = allocation under the peak): ${auc((s, k) => -s.policy[k] / s.peak[k])}`);
console.log(`  roughness (mean |change| over 4 h / peak): ${auc((s, k) => s.roughness[k])}`);
console.log(`  instance size (mean usage before scoring): ${auc((s) => s.size)}`);
