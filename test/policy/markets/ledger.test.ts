import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ASSETS, Ledger, SYSTEM, account, type Asset } from '../../../src/policy/markets/ledger.js';

test('a transfer moves an exact amount and the totals stay zero', () => {
  const l = new Ledger();
  assert.ok(l.transfer('money', SYSTEM.MONEY_ISSUER, account.tenant('a'), 1_000_000, 'deposit', 0).ok);
  assert.ok(l.transfer('money', account.tenant('a'), account.tenant('b'), 250_000, 'pay', 1).ok);
  assert.equal(l.balance(account.tenant('a'), 'money'), 750_000);
  assert.equal(l.balance(account.tenant('b'), 'money'), 250_000);
  assert.equal(l.balance(SYSTEM.MONEY_ISSUER, 'money'), -1_000_000);
  assert.equal(l.total('money'), 0);
  assert.deepEqual(l.journal.map((e) => e.seq), [1, 2]);
});

test('a transaction that would take a tenant below zero is refused as a value and changes nothing', () => {
  const l = new Ledger();
  l.transfer('credit', SYSTEM.CREDIT_ISSUER, account.credits('i'), 500, 'earn', 0);
  const tx = l.begin('bond', 1, ['test'], 'i').move('credit', account.credits('i'), SYSTEM.BONDED, 400).move('credit', account.credits('i'), SYSTEM.BONDING_TAX, 200);
  const r = l.commit(tx);
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.account, account.credits('i'));
    assert.equal(r.wouldBe, -100);
  }
  assert.equal(l.balance(account.credits('i'), 'credit'), 500);
  assert.equal(l.balance(SYSTEM.BONDED, 'credit'), 0);
  assert.equal(l.seq, 1, 'a refused transaction is not journalled');
});

test('a move within one transaction may fund a later one (net effect is what is checked)', () => {
  const l = new Ledger();
  const tx = l.begin('relay', 0).move('cpu', SYSTEM.CAPACITY_ISSUER, account.host('h'), 1000).move('cpu', account.host('h'), account.alloc('x'), 1000);
  assert.ok(l.commit(tx).ok);
  assert.equal(l.balance(account.alloc('x'), 'cpu'), 1000);
  assert.equal(l.balance(account.host('h'), 'cpu'), 0);
});

test('bad amounts are input errors naming the accounts, not decisions', () => {
  const l = new Ledger();
  assert.throws(() => l.begin('x', 0).move('money', 'a', 'b', 1.5), /amount must be a non-negative safe integer/);
  assert.throws(() => l.begin('x', 0).move('money', 'a', 'b', -1), /from a to b/);
  assert.throws(() => l.begin('x', 0).move('money', 'a', 'a', 1), /same account/);
});

test('property: any sequence of transactions keeps every asset total at exactly zero, never takes a guarded account negative, and the journal replays to the same balances', () => {
  const accts = ['system:issuer', 'system:sink', 'tenant:a', 'tenant:b', 'alloc:x', 'surplus:y'];
  const move = fc.record({
    asset: fc.constantFrom<Asset>(...ASSETS),
    from: fc.constantFrom(...accts),
    to: fc.constantFrom(...accts),
    amount: fc.integer({ min: 1, max: 1_000_000 }),
  });
  fc.assert(
    fc.property(fc.array(fc.array(move, { minLength: 1, maxLength: 4 }), { maxLength: 60 }), (txs) => {
      const l = new Ledger();
      let refused = 0;
      for (const moves of txs) {
        const tx = l.begin('t', 0);
        for (const m of moves) if (m.from !== m.to) tx.move(m.asset, m.from, m.to, m.amount);
        const before = ASSETS.map((a) => accts.map((acc) => l.balance(acc, a)));
        const r = l.commit(tx);
        if (!r.ok) {
          refused++;
          assert.deepEqual(ASSETS.map((a) => accts.map((acc) => l.balance(acc, a))), before, 'a refused transaction changed a balance');
        }
        for (const a of ASSETS) {
          assert.equal(l.total(a), 0);
          for (const acc of ['tenant:a', 'tenant:b', 'alloc:x']) assert.ok(l.balance(acc, a) >= 0, `${acc} ${a} negative`);
        }
      }
      const replayed = Ledger.replay(l.journal);
      for (const a of ASSETS) for (const acc of accts) assert.equal(replayed.balance(acc, a), l.balance(acc, a));
      assert.equal(l.seq + refused, txs.length);
    }),
    { numRuns: 200 },
  );
});

test('commitInOrder: a batch of transfers is applied in order, each checked at its point, all or none', () => {
  const l = new Ledger();
  l.transfer('cpu', SYSTEM.CAPACITY_ISSUER, account.alloc('a'), 1000, 'issue', 0);
  const ok = l.begin('loan', 1, ['batch'], 'h').move('cpu', account.alloc('a'), account.alloc('b'), 600).move('cpu', account.alloc('b'), account.alloc('c'), 500).move('memory', SYSTEM.CAPACITY_ISSUER, account.alloc('c'), 7);
  const r = l.commitInOrder(ok);
  assert.ok(r.ok);
  assert.deepEqual([l.balance(account.alloc('a'), 'cpu'), l.balance(account.alloc('b'), 'cpu'), l.balance(account.alloc('c'), 'cpu'), l.balance(account.alloc('c'), 'memory')], [400, 100, 500, 7]);
  assert.deepEqual(l.journal.at(-1)!.moves.length, 3, 'one entry with every move');
  // the third move would take b below zero: the first two are undone, nothing is journaled
  const before = ASSETS.map((a) => l.accounts(a));
  const bad = l.begin('loan', 2).move('cpu', account.alloc('a'), account.alloc('b'), 300).move('cpu', account.alloc('c'), account.alloc('d'), 500).move('cpu', account.alloc('b'), account.alloc('a'), 401);
  const refused = l.commitInOrder(bad);
  assert.equal(refused.ok, false);
  if (!refused.ok) assert.deepEqual([refused.account, refused.balance, refused.wouldBe], [account.alloc('b'), 400, -1]);
  assert.deepEqual(ASSETS.map((a) => l.accounts(a)), before);
  assert.equal(l.seq, 2);
  // stricter than commit: a move may not rely on a later one
  const later = () => l.begin('loan', 3).move('cpu', account.alloc('d'), account.alloc('a'), 10).move('cpu', account.alloc('c'), account.alloc('d'), 10);
  assert.equal(l.commitInOrder(later()).ok, false);
  assert.equal(l.commit(later()).ok, true);
  assert.deepEqual(Ledger.replay(l.journal).accounts('cpu'), l.accounts('cpu'));
});
