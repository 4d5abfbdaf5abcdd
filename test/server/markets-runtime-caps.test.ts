// CPU caps from several components and the merged plan: equal caps join their reasons (lowest cap
// wins otherwise), a cap on an instance whose policy resize it brings back to its allocation drops
// that resize, and the components' reasons arrays are never changed by the runtime.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resize, type Plan } from '../../src/core/plan.js';
import { seededRng } from '../../src/core/rng.js';
import type { ManagedInstance } from '../../src/server/control-loop.js';
import { MarketRuntime } from '../../src/server/markets/runtime.js';
import type { MarketComponent, MarketTickContext, MarketTickOutput } from '../../src/server/markets/types.js';

/** A component that caps instances with fixed reasons arrays (kept, to check nobody changes them). */
function capper(name: string, caps: Record<string, number>): MarketComponent & { reasons: Record<string, string[]> } {
  const reasons: Record<string, string[]> = Object.fromEntries(Object.keys(caps).map((id) => [id, [`${name}-${id}`]]));
  return {
    name,
    reasons,
    restore() {},
    tick(_ctx: MarketTickContext, out: MarketTickOutput) {
      for (const [id, cpu] of Object.entries(caps)) out.capCpu(id, cpu, reasons[id]!);
    },
    snapshot: () => undefined,
  };
}

const inst = (id: string, cpu: number, memory: number) => ({ state: { id, hostId: 'h', allocation: { cpu, memory }, lastUsage: { cpu: NaN, memory: NaN } }, labels: {} }) as unknown as ManagedInstance;

test('caps of several components: equal ones join reasons in component order, the lowest wins, a pointless resize is dropped; reasons arrays untouched', () => {
  const one = capper('one', { a: 500, b: 400, c: 300, d: 700 });
  const two = capper('two', { a: 500, b: 350, c: 300, d: 700 });
  const rt = new MarketRuntime({ components: [one, two], stepMs: 300_000 });
  const instances = new Map([
    ['a', inst('a', 1000, 512)],
    ['b', inst('b', 1000, 512)],
    ['c', inst('c', 300, 256)],
    ['d', inst('d', 700, 128)],
  ]);
  // the policy raises c and d; the caps bring them back to their allocations (nothing to apply)
  const plan: Plan = { nowS: 0, actions: [resize('c', 900, 256, ['policy-c']), resize('d', 1500, 128, ['policy-d']), resize('a', 2000, 512, ['policy-a'])] };
  const round = rt.tick({ tick: 1, loopNowS: 0, wallMs: 0, rng: seededRng(1), instances, hosts: new Map(), forecasts: new Map(), latestForecast: () => undefined, plan });
  assert.deepEqual(
    round.plan.actions.map((a) => (a.kind === 'resize' ? [a.instance, a.cpu, a.memory, [...a.reasons]] : a.kind)),
    [
      ['a', 500, 512, ['policy-a', 'one-a', 'two-a']],
      ['b', 350, 512, ['two-b']],
    ],
  );
  for (const c of [one, two]) for (const [id, r] of Object.entries(c.reasons)) assert.deepEqual(r, [`${c.name}-${id}`], `${c.name}'s reasons of ${id}`);
  // the actions do not share the components' arrays
  const b = round.plan.actions.find((a) => a.kind === 'resize' && a.instance === 'b')!;
  assert.notEqual(b.reasons, two.reasons.b);
  assert.equal(plan.actions.length, 3, 'the policy plan is not changed');
});
