// Ledger.commitMoves (with or without the balances' cells) commits exactly what begin + move +
// commit does: the same refusals, entries and balances, on random transactions of one to three
// moves between accounts that may or may not go negative (zero amounts included); cells that are
// not the ledger's own balances of the moves' accounts are refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { InputError } from '../../../src/core/errors.js';
import { ASSETS, Ledger, type Asset, type Move } from '../../../src/policy/markets/ledger.js';

const ACCOUNTS = ['system:issuer', 'system:sink', 'credits:a', 'credits:b', 'surplus:a', 'tenant:x'];

const move = fc.record({
  asset: fc.constantFrom<Asset>('credit', 'money'),
  from: fc.constantFrom(...ACCOUNTS),
  to: fc.constantFrom(...ACCOUNTS),
  amount: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 50 })),
});

test('commitMoves, with or without cells, commits what begin + move + commit does', () => {
  fc.assert(
    fc.property(fc.array(fc.array(move, { minLength: 0, maxLength: 3 }), { maxLength: 60 }), (txs) => {
      const seenA: unknown[] = [];
      const seenB: unknown[] = [];
      const seenC: unknown[] = [];
      const a = new Ledger({ onCommit: (e) => seenA.push(e) });
      const b = new Ledger({ onCommit: (e) => seenB.push(e) });
      const c = new Ledger({ onCommit: (e) => seenC.push(e) });
      for (const [k, moves] of txs.entries()) {
        const valid = moves.filter((m) => m.amount === 0 || m.from !== m.to);
        const tx = a.begin('t', k, ['why'], `r${k}`);
        for (const m of valid) tx.move(m.asset, m.from, m.to, m.amount);
        const ra = a.commit(tx);
        const rb = b.commitMoves('t', k, ['why'], `r${k}`, valid.map((m) => ({ ...m })));
        const rc = c.commitMoves('t', k, ['why'], `r${k}`, valid.map((m) => ({ ...m })), valid.flatMap((m: Move) => [c.cell(m.from, m.asset), c.cell(m.to, m.asset)]));
        assert.deepEqual(rb, ra);
        assert.deepEqual(rc, ra);
      }
      assert.deepEqual(seenB, seenA);
      assert.deepEqual(seenC, seenA);
      for (const asset of ASSETS) {
        assert.deepEqual(b.accounts(asset), a.accounts(asset));
        assert.deepEqual(c.accounts(asset), a.accounts(asset));
        assert.equal(c.total(asset), 0);
        for (const acc of ACCOUNTS) assert.equal(c.balance(acc, asset), a.balance(acc, asset));
      }
    }),
    { numRuns: 300 },
  );
});

test('commitMoves refuses cells that are not the ledger\'s balances of the moves\' accounts', () => {
  const l = new Ledger();
  const other = new Ledger();
  const m = (): Move[] => [{ asset: 'credit', from: 'system:issuer', to: 'credits:a', amount: 5 }];
  assert.throws(() => l.commitMoves('t', 0, [], null, m(), [l.cell('system:issuer', 'credit'), l.cell('credits:b', 'credit')]), InputError);
  assert.throws(() => l.commitMoves('t', 0, [], null, m(), [l.cell('system:issuer', 'money'), l.cell('credits:a', 'credit')]), InputError);
  assert.throws(() => l.commitMoves('t', 0, [], null, m(), [other.cell('system:issuer', 'credit'), l.cell('credits:a', 'credit')]), InputError);
  assert.throws(() => l.commitMoves('t', 0, [], null, m(), [l.cell('system:issuer', 'credit')]), InputError);
  assert.equal(l.balance('credits:a', 'credit'), 0, 'nothing committed');
  assert.equal(l.seq, 0);
  assert.ok(l.commitMoves('t', 0, [], null, m(), [l.cell('system:issuer', 'credit'), l.cell('credits:a', 'credit')]).ok);
  assert.equal(l.balance('credits:a', 'credit'), 5);
});

test('a cell is the live balance, and a new one reads as no account', () => {
  const l = new Ledger();
  const cell = l.cell('credits:a', 'credit');
  assert.equal(cell.v, 0);
  assert.deepEqual(l.accounts('credit'), [], 'a 0 balance is not listed');
  l.transfer('credit', 'system:issuer', 'credits:a', 7, 't', 0);
  assert.equal(cell.v, 7);
  assert.equal(l.cell('credits:a', 'credit'), cell, 'one cell per balance');
  const v = l.version('credit');
  l.transfer('money', 'system:issuer', 'tenant:x', 1, 't', 0);
  assert.equal(l.version('credit'), v, 'another asset moved: the credit version stays');
  l.transfer('credit', 'credits:a', 'system:sink', 2, 't', 0);
  assert.notEqual(l.version('credit'), v);
});
