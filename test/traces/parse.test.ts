import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseDecimal, parseSimpleDecimalAt } from '../../src/traces/common/parse.js';

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

test('parseSimpleDecimalAt gives exactly Number() where it answers, NaN where it leaves the text to Number()', () => {
  for (const s of ['0', '42', '1.5', '.5', '5.', '0012', '5851.9989', '8218624.0', '87.7799835', '123456789012345', '0.000000000000001234']) {
    assert.ok(Object.is(parseSimpleDecimalAt(`;${s};`, 1, s.length + 1), Number(s)), s);
  }
  for (const s of ['', '.', '-1', '+1', '1e3', '1..2', '1234567890123456', '0.26666666666666666', ' 1', 'x']) {
    assert.ok(Number.isNaN(parseSimpleDecimalAt(s, 0, s.length)), JSON.stringify(s));
  }
  const digits = fc.string({ unit: fc.constantFrom(...'0123456789'.split('')), maxLength: 12 });
  fc.assert(
    fc.property(digits, fc.option(digits), (a, b) => {
      const s = b === null ? a : `${a}.${b}`;
      const v = parseSimpleDecimalAt(s, 0, s.length);
      if (!Number.isNaN(v)) assert.ok(Object.is(v, Number(s)), s);
    }),
    { numRuns: 20000 },
  );
  // every double printed with up to 15 significant digits
  fc.assert(
    fc.property(fc.double({ min: 0, max: 1e15, noNaN: true }), fc.integer({ min: 1, max: 15 }), (x, p) => {
      const s = x.toPrecision(p);
      if (s.includes('e')) return;
      assert.ok(Object.is(parseSimpleDecimalAt(s, 0, s.length), Number(s)), s);
    }),
    { numRuns: 20000 },
  );
});
