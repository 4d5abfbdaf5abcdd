import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ValidationError } from '../../../src/core/errors.js';
import { compileInstanceClasses, CreditBook, MCMS_PER_MILLICREDIT, T3_INSTANCE_CLASSES } from '../../../src/policy/markets/credits.js';
import { account, SYSTEM } from '../../../src/policy/markets/ledger.js';

const MIN = 60_000;
const HOUR = 3_600_000;

// AWS, Amazon EC2 User Guide, "Key concepts and definitions for burstable performance
// instances", credit table, T3 rows: type, credits earned per hour, maximum earned credits that
// can be accrued, vCPUs, baseline utilization per vCPU (%).
const PUBLISHED_T3 = [
  ['t3.nano', 6, 144, 2, 5],
  ['t3.micro', 12, 288, 2, 10],
  ['t3.small', 24, 576, 2, 20],
  ['t3.medium', 24, 576, 2, 20],
  ['t3.large', 36, 864, 2, 30],
  ['t3.xlarge', 96, 2304, 4, 40],
  ['t3.2xlarge', 192, 4608, 8, 40],
] as const;

test('the shipped T3 classes are the published table, row by row', () => {
  assert.deepEqual(
    T3_INSTANCE_CLASSES.map((c) => [c.name, c.creditsPerHour, c.maxEarnedCredits, c.vcpus, c.baselinePercent]),
    PUBLISHED_T3.map((r) => [...r]),
  );
});

test('each class earns exactly its published credits per hour and caps at 24 h of them', () => {
  for (const [name, perHour, max] of PUBLISHED_T3) {
    const book = new CreditBook();
    book.launch('i', { tenant: 't', className: name, mode: 'standard' }, 0);
    book.accrue('i', HOUR, HOUR, 0);
    assert.equal(book.balance('i'), perHour * 1000, `${name} per hour`);
    for (let h = 2; h <= 30; h++) book.accrue('i', h * HOUR, HOUR, 0);
    assert.equal(book.balance('i'), max * 1000, `${name} cap`);
  }
});

test('accrual is exact for steps of any length: 1 s, 300 s and 7 ms steps over the same hour agree', () => {
  for (const stepMs of [1000, 300_000, 7, 100]) {
    const book = new CreditBook();
    book.launch('i', { tenant: 't', className: 't3.nano', mode: 'standard' }, 0);
    let t = 0;
    while (t + stepMs <= HOUR) {
      t += stepMs;
      book.accrue('i', t, stepMs, 20); // 20 millicores = 1 % of 2 vCPUs (baseline is 100)
    }
    if (t < HOUR) book.accrue('i', HOUR, HOUR - t, 20);
    // earned 6 credits, used 2 vCPUs x 1 % x 60 min = 1.2 credits: 4.8 credits
    assert.equal(book.balance('i'), 4800, `step ${stepMs} ms`);
    assert.equal(book.state('i').carryMcms, 0);
  }
});

test("AWS's example: a t3.nano at 2 % for an hour accrues 6 - 2.4 = 3.6 credits", () => {
  const book = new CreditBook();
  book.launch('i', { tenant: 't', className: 't3.nano', mode: 'standard' }, 0);
  for (let m = 1; m <= 60; m++) book.accrue('i', m * MIN, MIN, 40);
  assert.equal(book.balance('i'), 3600);
});

test('standard mode: an empty balance throttles to the baseline; credits on hand are spent first', () => {
  const book = new CreditBook();
  book.launch('i', { tenant: 't', className: 't3.micro', mode: 'standard' }, 0);
  const r0 = book.accrue('i', MIN, MIN, 2000);
  // baseline 10 % x 2 vCPUs = 200 millicores: what the minute earns is all it may use
  assert.equal(r0.grantedMillicores, 200);
  assert.equal(r0.throttledMillicores, 2000 - 200);
  assert.ok(r0.reasons.includes('throttled-to-baseline'));
  assert.equal(book.balance('i'), 0);
  const r1 = book.accrue('i', 2 * MIN, MIN, 150);
  assert.equal(r1.grantedMillicores, 150, 'below the baseline nothing is throttled');
  assert.equal(book.balance('i'), 50, '(200 - 150) millicores for a minute = 0.05 credits');
  // bank 10 credits, then burst at 2 vCPUs: a minute costs 2 credits and earns 0.2
  for (let m = 3; m < 3 + 60; m++) book.accrue('i', m * MIN, MIN, 0);
  assert.equal(book.balance('i'), 12_050);
  const bal = book.balance('i');
  const r2 = book.accrue('i', 64 * MIN, MIN, 2000);
  assert.equal(r2.grantedMillicores, 2000);
  assert.equal(book.balance('i'), bal - 2000 + 200);
  assert.equal(book.surplus('i'), 0);
});

test('unlimited mode: surplus credits keep it bursting, are repaid from later earnings, and the excess over 24 h of earnings is charged at the end of the hour', () => {
  const book = new CreditBook(undefined, { surplusChargeMicrosPerVcpuHour: 50_000 });
  book.launch('i', { tenant: 't', className: 't3.nano', mode: 'unlimited' }, 0);
  const r = book.accrue('i', MIN, MIN, 2000);
  assert.equal(r.grantedMillicores, 2000, 'never throttled');
  assert.equal(book.surplus('i'), 2000 - 100);
  // idle for 10 minutes: earns 0.1 credits a minute, all of it repays surplus
  for (let m = 2; m <= 11; m++) book.accrue('i', m * MIN, MIN, 0);
  assert.equal(book.surplus('i'), 1900 - 1000);
  assert.equal(book.balance('i'), 0);
  // burst at full speed for the rest of a long stretch: 2 credits/min - 0.1 earned
  let t = 11 * MIN;
  while (book.surplus('i') <= 144_000) {
    t += MIN;
    book.accrue('i', t, MIN, 2000);
  }
  assert.equal(book.ledger.balance(SYSTEM.SURPLUS_CHARGES, 'money'), 0, 'nothing charged before the hour ends');
  const hourEnd = Math.ceil(t / HOUR) * HOUR;
  let charged = 0;
  while (t < hourEnd) {
    t += MIN;
    const s = book.accrue('i', t, MIN, 2000);
    charged += s.chargedMicros;
    if (s.surplusChargedMillicredits > 0) assert.equal(book.surplus('i'), 144_000, 'charged down to the cap');
  }
  assert.ok(charged > 0);
  assert.equal(book.ledger.balance(SYSTEM.SURPLUS_CHARGES, 'money'), charged);
  assert.equal(-book.ledger.balance(account.invoice('t'), 'money'), charged);
  // stopping charges the remaining surplus: 144 credits x 0.05 / 60 = 0.12 = 120,000 micros
  const st = book.stop('i', t);
  assert.equal(st.chargedMillicredits, 144_000);
  assert.equal(st.chargedMicros, 120_000);
  assert.equal(book.surplus('i'), 0);
});

test('switching unlimited to standard charges the surplus at once; credits persist 7 days after a stop, then expire', () => {
  const book = new CreditBook();
  book.launch('i', { tenant: 't', className: 't3.small', mode: 'unlimited' }, 0);
  book.accrue('i', MIN, MIN, 2000);
  const sw = book.setMode('i', 'standard', MIN);
  assert.equal(sw.chargedMillicredits, 2000 - 400);
  assert.equal(book.surplus('i'), 0);
  for (let h = 1; h <= 2; h++) book.accrue('i', MIN + h * HOUR, HOUR, 0);
  assert.equal(book.balance('i'), 48_000);
  book.stop('i', 3 * HOUR);
  assert.equal(book.start('i', 3 * HOUR + 6 * 24 * HOUR).expiredMillicredits, 0);
  assert.equal(book.balance('i'), 48_000);
  book.stop('i', 10 * 24 * HOUR);
  assert.equal(book.start('i', 18 * 24 * HOUR).expiredMillicredits, 48_000);
  assert.equal(book.ledger.balance(SYSTEM.CREDIT_EXPIRED, 'credit'), 48_000);
});

test('bad classes are rejected with every problem and its path', () => {
  try {
    compileInstanceClasses([
      { name: 'x', vcpus: 2, baselinePercent: 5, creditsPerHour: 7, maxEarnedCredits: 168 },
      { name: 'y', vcpus: 0, baselinePercent: 5, creditsPerHour: 6, maxEarnedCredits: 144 },
      { name: 'z', vcpus: 2, baselinePercent: 5, creditsPerHour: 6, maxEarnedCredits: 100 },
    ]);
    assert.fail('expected ValidationError');
  } catch (e) {
    assert.ok(e instanceof ValidationError);
    assert.deepEqual(e.issues.map((i) => i.path), ['classes[0].creditsPerHour', 'classes[1].vcpus', 'classes[2].maxEarnedCredits']);
  }
  const book = new CreditBook();
  assert.throws(() => book.launch('i', { tenant: 't', className: 't9.huge' }, 0), /unknown instance class "t9.huge"; valid: t3.nano/);
});

test('property: the ledger balance x 60,000 + carry is exactly the rational balance (standard mode), totals stay zero, balance stays in [0, cap]', () => {
  const step = fc.record({ stepMs: fc.integer({ min: 1, max: 900_000 }), demand: fc.integer({ min: 0, max: 2000 }) });
  fc.assert(
    fc.property(fc.constantFrom('t3.nano', 't3.large'), fc.array(step, { maxLength: 200 }), (cls, steps) => {
      const book = new CreditBook();
      book.launch('i', { tenant: 't', className: cls, mode: 'standard' }, 0);
      const c = book.classes.get(cls)!;
      const cap = c.capMillicredits * MCMS_PER_MILLICREDIT;
      let x = 0; // exact balance, millicore-ms
      let t = 0;
      for (const s of steps) {
        t += s.stepMs;
        const E = c.baselineMillicores * s.stepMs;
        const U = s.demand * s.stepMs;
        let expectGranted = s.demand;
        if (x + E - U > cap) x = cap;
        else if (x + E - U >= 0) x = x + E - U;
        else {
          expectGranted = Math.floor((x + E) / s.stepMs);
          x = x + E - expectGranted * s.stepMs;
        }
        const r = book.accrue('i', t, s.stepMs, s.demand);
        assert.equal(r.grantedMillicores, expectGranted);
        assert.equal(book.balance('i') * MCMS_PER_MILLICREDIT + book.state('i').carryMcms, x);
        assert.ok(book.balance('i') >= 0 && book.balance('i') <= c.capMillicredits);
        assert.equal(book.ledger.total('credit'), 0);
      }
    }),
    { numRuns: 150 },
  );
});

test('property (unlimited): earned - used is exactly balance - surplus + charged, and the surplus is never above the cap after an hour ends', () => {
  const step = fc.record({ stepMs: fc.integer({ min: 1000, max: 1_800_000 }), demand: fc.integer({ min: 0, max: 8000 }) });
  fc.assert(
    fc.property(fc.array(step, { maxLength: 150 }), (steps) => {
      const book = new CreditBook();
      book.launch('i', { tenant: 't', className: 't3.2xlarge', mode: 'unlimited' }, 0);
      const c = book.classes.get('t3.2xlarge')!;
      let net = 0; // exact earned - used, millicore-ms
      let charged = 0;
      let t = 0;
      for (const s of steps) {
        const before = Math.floor(t / HOUR);
        t += s.stepMs;
        const r = book.accrue('i', t, s.stepMs, s.demand);
        net += (c.baselineMillicores - r.grantedMillicores) * s.stepMs;
        assert.equal(r.grantedMillicores, s.demand, 'unlimited never throttles');
        charged += r.surplusChargedMillicredits;
        if (Math.floor(t / HOUR) > before) assert.ok(book.surplus('i') <= c.capMillicredits);
        assert.equal(book.ledger.total('credit'), 0);
        assert.equal(book.ledger.total('money'), 0);
      }
      const bal = book.balance('i') * MCMS_PER_MILLICREDIT + book.state('i').carryMcms;
      const sur = book.surplus('i') * MCMS_PER_MILLICREDIT;
      // Without reaching the cap nothing is discarded and the books reconcile exactly.
      if (book.ledger.journal.every((e) => !e.reasons.includes('credit-balance-at-cap'))) {
        assert.equal(net, bal - sur - charged * MCMS_PER_MILLICREDIT);
      }
      assert.equal(book.ledger.balance(SYSTEM.SURPLUS_SETTLED, 'credit'), 0 - charged);
    }),
    { numRuns: 150 },
  );
});
