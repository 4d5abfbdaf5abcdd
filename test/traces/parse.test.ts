import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseDecimal } from '../../src/traces/common/parse.js';

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const reference = (s: string): number => (DECIMAL.test(s) ? Number(s) : Number.NaN);

test('parseDecimal accepts exactly plain decimals', () => {
  for (const s of ['0', '42', '-3', '+7', '1.5', '.5', '5.', '1e3', '2.5E-4', '0012', '5851.9989', '1.6703488E7']) {
    assert.equal(parseDecimal(s), Number(s), s);
  }
  for (const s of ['', ' ', ' 1', '1 ', 'abc', '0x10', '0X1f', '0b1', '0o7', 'Infinity', '-Infinity', 'NaN', '1e', '.', '-', '1,5', '1_000', '--1', 'e5']) {
    assert.ok(Number.isNaN(parseDecimal(s)), JSON.stringify(s));
  }
});

test('parseDecimal agrees with the plain-decimal regular expression (property)', () => {
  const chars = fc.constantFrom(...'0123456789.+-eExXbBoO Inf,_'.split(''));
  fc.assert(
    fc.property(fc.string({ unit: chars, maxLength: 12 }), (s) => {
      assert.ok(Object.is(parseDecimal(s), reference(s)), JSON.stringify(s));
    }),
    { numRuns: 5000 },
  );
  fc.assert(fc.property(fc.double({ noNaN: true }), (x) => assert.ok(Object.is(parseDecimal(String(x)), reference(String(x))))));
});
