// Property-based fuzz of request bodies: random JSON, malformed text, and valid bodies with one
// thing broken (a wrong type, NaN as a string, a negative or absurd quantity, an unknown field)
// always get a 4xx whose error names a field, and the store is unchanged afterwards.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { fieldPath } from '../../src/server/errors.js';
import { startTestService, storeSnapshot, validBatch, validProfile, type TestService } from './helpers.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

interface Target {
  name: string;
  method: 'POST' | 'PUT';
  url: string;
  token: (t: TestService) => string;
  body: (t: TestService) => Json;
}

const TARGETS: Target[] = [
  { name: 'workload profile', method: 'POST', url: '/submit_workload_profile', token: (t) => t.tenantA, body: () => validProfile({ instanceId: 'syn-0000' }) as Json },
  { name: 'bid', method: 'POST', url: '/submit_bid', token: (t) => t.tenantA, body: () => ({ profileId: 'prof-fuzz', price: 2.5, priority: 'low', instanceId: 'syn-0000' }) },
  {
    name: 'runtime feedback',
    method: 'POST',
    url: '/provide_runtime_feedback',
    token: (t) => t.tenantA,
    body: () => ({ instanceId: 'syn-0000', intervalMs: 1000, samples: [{ timestampMs: 1_700_000_000_000, values: { cpuMillicores: 100, memoryMiB: 200 } }], runtimeSeconds: 30 }),
  },
  { name: 'telemetry', method: 'POST', url: '/v1/telemetry', token: (t) => t.agent, body: (t) => validBatch(t.agentId, 77) as unknown as Json },
  { name: 'instance', method: 'POST', url: '/v1/instances', token: (t) => t.tenantA, body: () => ({ id: 'fuzz-1', priority: 'low', request: { cpuMillicores: 500, memoryMiB: 256, networkKiBps: 10 }, labels: { app: 'x' } }) },
  { name: 'host', method: 'POST', url: '/v1/hosts', token: (t) => t.admin, body: () => ({ id: 'fuzz-host', capacity: { cpuMillicores: 8000, memoryMiB: 16384 }, active: true }) },
  { name: 'global policy', method: 'PUT', url: '/v1/policies/global', token: (t) => t.admin, body: () => ({ aggressiveness: 0.5, maxMigrationsPerHour: 2, degradationThreshold: 0.1 }) },
  { name: 'token', method: 'POST', url: '/v1/tokens', token: (t) => t.admin, body: () => ({ role: 'agent', tenant: 'demo-a', agentId: 'fuzz-agent', instanceIds: ['syn-0000'], label: 'x' }) },
];

/** Keys whose numbers are quantities with an upper bound (an absurd value must be refused). */
const BOUNDED = new Set(['cpuMillicores', 'memoryMiB', 'networkKiBps', 'diskKiBps', 'average', 'peak', 'price', 'diskReadKiBps', 'diskWriteKiBps', 'networkRxKiBps', 'networkTxKiBps', 'aggressiveness', 'degradationThreshold', 'maxMigrationsPerHour', 'intervalMs', 'runtimeSeconds', 'expectedRuntimeSeconds', 'maxPerDay', 'maxDurationSeconds', 'ratePerHour', 'probability', 'multiplier', 'durationSeconds', 'cpuPressurePct']);

type Path = Array<string | number>;

function nodes(v: Json, path: Path = [], out: Array<{ path: Path; value: Json }> = []): Array<{ path: Path; value: Json }> {
  out.push({ path, value: v });
  if (Array.isArray(v)) v.forEach((x, i) => nodes(x, [...path, i], out));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) nodes(x, [...path, k], out);
  return out;
}

function setAt(root: Json, path: Path, value: Json): Json {
  if (path.length === 0) return value;
  const copy = structuredClone(root) as any;
  let cur = copy;
  for (let i = 0; i < path.length - 1; i++) cur = cur[path[i]!];
  cur[path[path.length - 1]!] = value;
  return copy;
}

/** One mutation that makes a valid body invalid, with the field the error should name (undefined: any). */
interface Mutation {
  body: Json;
  field?: string;
  what: string;
}

function mutations(base: Json): fc.Arbitrary<Mutation> {
  const all = nodes(base).filter((n) => !n.path.includes('custom'));
  return fc.tuple(fc.integer({ min: 0, max: all.length - 1 }), fc.nat(), fc.jsonValue()).map(([k, pick, extra]): Mutation => {
    const { path, value } = all[k]!;
    const field = fieldPath('', path);
    const key = path[path.length - 1];
    if (typeof value === 'number') {
      const bad: Json[] = ['NaN', 'Infinity', String(value), null, true, [], {}, -1, -0.5];
      if (typeof key === 'string' && BOUNDED.has(key)) bad.push(1e13, 1e300, -1e300);
      const b = bad[pick % bad.length]!;
      return { body: setAt(base, path, b), field, what: `${field} = ${JSON.stringify(b)}` };
    }
    if (typeof value === 'string') {
      const bad: Json[] = [12, null, false, [], { a: 1 }, '', 'x'.repeat(300), 'bad id with spaces'];
      const b = bad[pick % bad.length]!;
      // Some string fields take any text (a label): only type changes are always wrong there.
      const anyText = key === 'label' || path.includes('labels');
      const chosen = anyText && typeof b === 'string' && b.length < 200 ? 12 : b;
      return { body: setAt(base, path, chosen), field, what: `${field} = ${JSON.stringify(chosen).slice(0, 40)}` };
    }
    if (typeof value === 'boolean') {
      const b = (['true', 1, null] as Json[])[pick % 3]!;
      return { body: setAt(base, path, b), field, what: `${field} = ${JSON.stringify(b)}` };
    }
    if (Array.isArray(value)) {
      const b = (['x', 5, {}] as Json[])[pick % 3]!;
      return { body: setAt(base, path, b), field: path.length === 0 ? 'body' : field, what: `${field} = ${JSON.stringify(b)}` };
    }
    if (value !== null && typeof value === 'object') {
      if (path.includes('labels')) return { body: setAt(base, path, 'x'), field, what: `${field} = "x"` };
      const withExtra = { ...value, zzUnknownField: extra as Json };
      return { body: setAt(base, path, withExtra), what: `${field || 'body'} + unknown field` };
    }
    return { body: setAt(base, path, 'x'), what: `${field} = "x"` };
  });
}

describe('fuzzed request bodies', () => {
  let t: TestService;
  let snapshot: string;
  before(async () => {
    t = await startTestService();
    await t.svc.loop.tick();
    const p = await t.inject({ method: 'POST', url: '/v1/profiles', token: t.tenantA, payload: validProfile({ id: 'prof-fuzz' }) });
    assert.equal(p.statusCode, 201);
    snapshot = await storeSnapshot(t.svc.store);
  });
  after(() => t.close());

  const check = async (target: Target, payload: string | object, expectField: string | undefined, what: string): Promise<void> => {
    const r = await t.inject({
      method: target.method,
      url: target.url,
      token: target.token(t),
      headers: { 'content-type': 'application/json' },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });
    assert.ok(r.statusCode >= 400 && r.statusCode < 500, `${target.name}: ${what}: got ${r.statusCode} ${r.body}`);
    assert.equal(typeof r.json?.error?.field, 'string', `${target.name}: ${what}: names a field: ${r.body}`);
    assert.ok(r.json.error.field.length > 0);
    assert.ok(r.json.error.message.length > 0);
    if (expectField !== undefined) assert.equal(r.json.error.field, expectField, `${target.name}: ${what}: ${r.body}`);
    assert.equal(await storeSnapshot(t.svc.store), snapshot, `${target.name}: ${what}: the store changed`);
  };

  for (const target of TARGETS) {
    test(`${target.name}: one broken field -> 400 naming it, nothing stored`, async () => {
      // The valid body is accepted (in a throwaway service), so each failure is the mutation's doing.
      await fc.assert(
        fc.asyncProperty(mutations(target.body(t)), async (m) => check(target, m.body as object, m.field, m.what)),
        { numRuns: 60, seed: 4242 },
      );
    });
    test(`${target.name}: random JSON and malformed text -> 4xx naming a field, nothing stored`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.jsonValue().map((v) => ({ text: JSON.stringify(v) ?? 'null', what: 'random JSON' })),
            fc.string({ maxLength: 40 }).map((s) => ({ text: `{${s}`, what: 'malformed JSON' })),
          ),
          async ({ text, what }) => check(target, text, undefined, `${what} ${text.slice(0, 40)}`),
        ),
        { numRuns: 40, seed: 4243 },
      );
    });
  }
});

test('the base bodies of the fuzz are valid (so the fuzz tests the mutations)', async () => {
  const t = await startTestService();
  try {
    await t.inject({ method: 'POST', url: '/v1/profiles', token: t.tenantA, payload: validProfile({ id: 'prof-fuzz' }) });
    for (const target of TARGETS) {
      const r = await t.inject({ method: target.method, url: target.url, token: target.token(t), payload: target.body(t) as object });
      assert.ok(r.statusCode >= 200 && r.statusCode < 300, `${target.name}: ${r.statusCode} ${r.body}`);
    }
  } finally {
    await t.close();
  }
});
