import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { PrescientError, ValidationError } from '../../src/core/errors.js';
import { compileProfile, createRegistry, PluginRegistry, type PluginEntry } from '../../src/policy/index.js';

const env = { stepSeconds: 300 };

test('a duplicate policy name is rejected', () => {
  const r = createRegistry();
  const dup: PluginEntry = { name: 'vpa', description: 'x', points: ['rightsize'], args: z.object({}), create: () => ({ name: 'vpa', recommend: () => ({ cpu: 1, memory: 1, reasons: [] }) }) as never };
  assert.throws(() => r.register(dup), (e: unknown) => e instanceof PrescientError && /already registered/.test(e.message));
});

test('an unknown policy name gets an error listing the valid ones', () => {
  const r = createRegistry();
  assert.throws(
    () => r.get('vpaa', 'rightsize'),
    (e: unknown) => e instanceof PrescientError && e.code === 'E_POLICY' && /unknown rightsize policy "vpaa"/.test(e.message) && /static/.test(e.message) && /vpa/.test(e.message),
  );
});

test('every argument problem is collected with its path', () => {
  const r = createRegistry();
  const cfg = {
    rightsize: { name: 'vpa', args: { targetPercentile: 2, safetyMarginFraction: -1, nope: true } },
    filters: [{ name: 'host-fit', args: { threshold: 'high' } }, { name: 'no-such-filter' }],
    scorers: [{ name: 'most-allocated', weight: -3 }],
  };
  try {
    compileProfile(cfg, r, env);
    assert.fail('expected a ValidationError');
  } catch (e) {
    assert.ok(e instanceof ValidationError, String(e));
    const paths = e.issues.map((i) => i.path);
    assert.ok(paths.includes('rightsize.args.targetPercentile'), paths.join(' | '));
    assert.ok(paths.includes('rightsize.args.safetyMarginFraction'), paths.join(' | '));
    assert.ok(paths.some((p) => p.startsWith('rightsize.args')) && e.message.includes('nope'), e.message);
    assert.ok(paths.includes('filters[0].args.threshold'), paths.join(' | '));
    assert.ok(paths.includes('filters[1].name'), paths.join(' | '));
    assert.ok(paths.includes('scorers[0].weight'), paths.join(' | '));
  }
});

test('a plugin named for a point it does not implement is an issue naming the valid ones', () => {
  try {
    compileProfile({ rightsize: { name: 'host-fit' } }, createRegistry(), env);
    assert.fail('expected a ValidationError');
  } catch (e) {
    assert.ok(e instanceof ValidationError);
    assert.equal(e.issues[0]!.path, 'rightsize.name');
    assert.match(e.issues[0]!.message, /does not implement rightsize/);
    assert.match(e.issues[0]!.message, /static, vpa/);
  }
});

test('defaults are applied and one plugin used at two points is one instance', () => {
  const p = compileProfile(
    { rightsize: { name: 'static' }, filters: [{ name: 'host-fit' }], overload: { name: 'host-fit' }, victim: { name: 'min-migration-time' } },
    createRegistry(),
    env,
  );
  assert.equal(p.filters[0], p.overload as unknown);
  assert.equal(p.overcommit, false);
  assert.equal(p.plugins.length, 3);
});

test('a registry rejects badly formed names', () => {
  const r = new PluginRegistry();
  assert.throws(() => r.register({ name: 'Bad Name', description: '', points: ['rightsize'], args: z.object({}), create: () => ({ name: 'x' }) }), /kebab-case/);
});
