// Burstable CPU credits, following the EC2 model (Amazon EC2 User Guide, "Key concepts and
// definitions for burstable performance instances" and "Unlimited mode concepts"):
//
//  - 1 credit = one vCPU at 100 % for one minute (= 2 vCPUs at 25 % for 2 minutes, ...).
//  - Earned per hour = baseline share per vCPU x vCPUs x 60; earned continuously (EC2 accounts at
//    millisecond resolution: so do we, for steps of any whole number of milliseconds).
//  - Spent = vCPUs in use x minutes. The balance changes by earned - spent.
//  - The balance is capped at the credits earnable in 24 hours; earnings above it are discarded.
//  - standard mode: with the balance empty, CPU is throttled to the baseline. (EC2 lowers it
//    "gradually"; here the step's grant is baseline + whatever the balance still covers.)
//  - unlimited mode: with the balance empty the instance keeps bursting on surplus credits; later
//    earnings repay the surplus first; surplus above the 24-hour earnings is charged in money at
//    the end of the hour, and all surplus is charged when the instance stops, terminates or is
//    switched to standard. The charge is a flat rate per vCPU-hour (default $0.05, as EC2 Linux
//    T3: 50,000 micro-units), i.e. rate / 60 per surplus credit, rounded half up to a micro-unit.
//  - T3 has no launch credits; accrued credits persist 7 days after a stop (then expire).
//
// Exact books: the ledger holds milli-credits (integers). A step's exact change is computed in
// millicore-milliseconds (1 milli-credit = 60,000 of them) and the sub-milli-credit remainder is
// carried per instance (`carryMcms`, always in [0, 60,000)), so no fraction is ever lost or
// invented: after any sequence of steps, ledger balance x 60,000 + carry equals the exact rational
// balance. The ledger records the net change of each step (as CloudWatch's CPUCreditBalance does);
// the step result also gives the gross earned and used amounts.
import { z } from 'zod';
import { InputError, ValidationError, type Issue } from '../../core/errors.js';
import { account, Ledger, MILLICREDITS_PER_CREDIT, SYSTEM, type BalanceCell, type CommitResult, type Move } from './ledger.js';
import { kv, MR } from './reasons.js';

/** Millicore-milliseconds per milli-credit (1 credit = 1,000 millicores x 60,000 ms). */
export const MCMS_PER_MILLICREDIT = 60_000;
const HOUR_MS = 3_600_000;

/** A burstable instance class, as published (configuration, not code). */
export interface InstanceClass {
  name: string;
  vcpus: number;
  /** Baseline utilisation per vCPU, percent (t3.nano: 5). */
  baselinePercent: number;
  /** Credits earned per hour (t3.nano: 6). */
  creditsPerHour: number;
  /** Maximum earned credits that can be accrued (t3.nano: 144). */
  maxEarnedCredits: number;
}

/**
 * The T3 family as AWS publishes it (EC2 User Guide, burstable credit table: credits earned per
 * hour, maximum earned credits that can be accrued, vCPUs, baseline utilisation per vCPU).
 */
export const T3_INSTANCE_CLASSES: readonly InstanceClass[] = Object.freeze([
  { name: 't3.nano', vcpus: 2, baselinePercent: 5, creditsPerHour: 6, maxEarnedCredits: 144 },
  { name: 't3.micro', vcpus: 2, baselinePercent: 10, creditsPerHour: 12, maxEarnedCredits: 288 },
  { name: 't3.small', vcpus: 2, baselinePercent: 20, creditsPerHour: 24, maxEarnedCredits: 576 },
  { name: 't3.medium', vcpus: 2, baselinePercent: 20, creditsPerHour: 24, maxEarnedCredits: 576 },
  { name: 't3.large', vcpus: 2, baselinePercent: 30, creditsPerHour: 36, maxEarnedCredits: 864 },
  { name: 't3.xlarge', vcpus: 4, baselinePercent: 40, creditsPerHour: 96, maxEarnedCredits: 2304 },
  { name: 't3.2xlarge', vcpus: 8, baselinePercent: 40, creditsPerHour: 192, maxEarnedCredits: 4608 },
]);

/** A class with its derived integer rates. */
export interface CompiledClass extends InstanceClass {
  /** Baseline in millicores for the whole instance (t3.nano: 5 % x 2 vCPUs = 100). */
  baselineMillicores: number;
  /** All vCPUs busy, millicores. */
  maxMillicores: number;
  /** Balance cap in milli-credits. */
  capMillicredits: number;
}

const classSchema = z.object({
  name: z.string().min(1),
  vcpus: z.number().int().positive(),
  baselinePercent: z.number().positive().max(100),
  creditsPerHour: z.number().positive(),
  maxEarnedCredits: z.number().positive(),
});

/**
 * Validates classes (every problem with its path) and derives their integer rates. The rules
 * checked are EC2's own: credits per hour = baseline x vCPUs x 60, cap = 24 h of earnings; the
 * baseline must be a whole number of millicores and the cap a whole number of milli-credits.
 */
export function compileInstanceClasses(classes: unknown, path = 'classes'): Map<string, CompiledClass> {
  const issues: Issue[] = [];
  const out = new Map<string, CompiledClass>();
  if (!Array.isArray(classes)) throw new ValidationError([{ path, message: 'must be an array of instance classes' }], 'invalid instance classes');
  classes.forEach((raw, i) => {
    const p = `${path}[${i}]`;
    const r = classSchema.safeParse(raw);
    if (!r.success) {
      for (const is of r.error.issues) issues.push({ path: `${p}.${is.path.join('.')}`, message: is.message });
      return;
    }
    const c = r.data;
    const expectedPerHour = (c.baselinePercent / 100) * c.vcpus * 60;
    if (Math.abs(expectedPerHour - c.creditsPerHour) > 1e-9) {
      issues.push({ path: `${p}.creditsPerHour`, message: `must equal baselinePercent/100 x vcpus x 60 = ${expectedPerHour}, got ${c.creditsPerHour}` });
    }
    if (Math.abs(c.maxEarnedCredits - 24 * c.creditsPerHour) > 1e-9) {
      issues.push({ path: `${p}.maxEarnedCredits`, message: `must equal 24 h of earnings = ${24 * c.creditsPerHour}, got ${c.maxEarnedCredits}` });
    }
    const baselineMillicores = c.baselinePercent * c.vcpus * 10;
    if (Math.abs(baselineMillicores - Math.round(baselineMillicores)) > 1e-9) {
      issues.push({ path: `${p}.baselinePercent`, message: `baseline x vCPUs must be a whole number of millicores, got ${baselineMillicores}` });
    }
    const capMillicredits = c.maxEarnedCredits * MILLICREDITS_PER_CREDIT;
    if (Math.abs(capMillicredits - Math.round(capMillicredits)) > 1e-9) {
      issues.push({ path: `${p}.maxEarnedCredits`, message: `must be a whole number of milli-credits, got ${c.maxEarnedCredits}` });
    }
    if (out.has(c.name)) issues.push({ path: `${p}.name`, message: `duplicate class name "${c.name}"` });
    out.set(c.name, { ...c, baselineMillicores: Math.round(baselineMillicores), maxMillicores: c.vcpus * 1000, capMillicredits: Math.round(capMillicredits) });
  });
  if (issues.length > 0) throw new ValidationError(issues, 'invalid instance classes');
  return out;
}

export type CreditMode = 'standard' | 'unlimited';

export interface CreditBookOptions {
  /** Instance classes (default T3_INSTANCE_CLASSES). */
  classes?: readonly InstanceClass[];
  /** Money charged per vCPU-hour of surplus credits, micro-units (default 50,000 = 0.05). */
  surplusChargeMicrosPerVcpuHour?: number;
  /** Accrued credits persist this long after a stop (default 7 days, as T3). */
  creditLifespanAfterStopMs?: number;
  /** Credits per bonding unit (default 100). */
  bondUnitCredits?: number;
  /** Bonding tax in basis points of the bonded credits (default 100 = 1 %), rounded up to a milli-credit. */
  bondingTaxBasisPoints?: number;
}

export interface CompiledCreditOptions {
  surplusChargeMicrosPerVcpuHour: number;
  creditLifespanAfterStopMs: number;
  bondUnitMillicredits: number;
  bondingTaxBasisPoints: number;
}

export interface CreditInstanceState {
  id: string;
  tenant: string;
  cls: CompiledClass;
  mode: CreditMode;
  running: boolean;
  /** Exact sub-milli-credit remainder, millicore-ms, in [0, 60,000). */
  carryMcms: number;
  /** floor(time / 1 h) of the last hour-end check (surplus charge). */
  hourMark: number;
  stoppedAtMs: number | null;
  launchedAtMs: number;
}

/** What one accrual step did (exact figures where they are not ledger integers). */
export interface AccrualResult {
  id: string;
  demandMillicores: number;
  /** CPU the instance may use this step, average millicores (standard: throttled when the balance ran out). */
  grantedMillicores: number;
  throttledMillicores: number;
  /** Gross credits earned and used during the step (exact, in credits). */
  earnedCredits: number;
  usedCredits: number;
  /** Net ledger change of the earned balance, milli-credits (signed). */
  balanceDeltaMillicredits: number;
  discardedMillicredits: number;
  surplusSpentMillicredits: number;
  surplusRepaidMillicredits: number;
  surplusChargedMillicredits: number;
  chargedMicros: number;
  balanceMillicredits: number;
  surplusMillicredits: number;
  reasons: string[];
}

/**
 * An instance of a book as a loop over every instance each step holds it: `handles()` lists them
 * in launch order and `accrueHandle` takes one back, with no lookup by id.
 */
export interface CreditHandle {
  readonly id: string;
  /** The live state (the object `peek` returns; read only). */
  readonly state: Readonly<CreditInstanceState>;
}

/** The book's record of an instance: its state and its two credit balances (cells, no lookup by name). */
interface Inst extends CreditHandle {
  readonly state: CreditInstanceState;
  /** The book it belongs to; null once terminated (a kept handle is then stale). */
  book: CreditBook | null;
  readonly creditsAccount: string;
  readonly surplusAccount: string;
  readonly credits: BalanceCell;
  readonly surplus: BalanceCell;
}

export type BondResult =
  | { ok: true; units: number; bondedMillicredits: number; taxMillicredits: number; totalUnits: number; reasons: string[] }
  | { ok: false; units: number; needMillicredits: number; haveMillicredits: number; reasons: string[] };

/** Credit accounts of many instances over one ledger. Pure: time comes in as arguments. */
export class CreditBook {
  readonly classes: Map<string, CompiledClass>;
  readonly options: CompiledCreditOptions;
  private readonly instances = new Map<string, Inst>();
  /** The balances every accrual moves credits from or to. */
  private readonly issuerCell: BalanceCell;
  private readonly spentCell: BalanceCell;
  /** `handles()` (null: to be built again). */
  private handleList: Inst[] | null = null;

  constructor(
    readonly ledger: Ledger = new Ledger(),
    options: CreditBookOptions = {},
  ) {
    this.classes = compileInstanceClasses(options.classes ?? T3_INSTANCE_CLASSES);
    this.issuerCell = this.ledger.cell(SYSTEM.CREDIT_ISSUER, 'credit');
    this.spentCell = this.ledger.cell(SYSTEM.CREDIT_SPENT, 'credit');
    const issues: Issue[] = [];
    const rate = options.surplusChargeMicrosPerVcpuHour ?? 50_000;
    if (!Number.isSafeInteger(rate) || rate < 0) issues.push({ path: 'surplusChargeMicrosPerVcpuHour', message: `must be a non-negative integer, got ${rate}` });
    const life = options.creditLifespanAfterStopMs ?? 7 * 24 * HOUR_MS;
    if (!(life >= 0)) issues.push({ path: 'creditLifespanAfterStopMs', message: `must be >= 0, got ${life}` });
    const unit = options.bondUnitCredits ?? 100;
    if (!(unit > 0) || !Number.isSafeInteger(unit * MILLICREDITS_PER_CREDIT)) issues.push({ path: 'bondUnitCredits', message: `must be a positive whole number of milli-credits, got ${unit}` });
    const tax = options.bondingTaxBasisPoints ?? 100;
    if (!Number.isSafeInteger(tax) || tax < 0 || tax > 10_000) issues.push({ path: 'bondingTaxBasisPoints', message: `must be an integer in [0, 10000], got ${tax}` });
    if (issues.length > 0) throw new ValidationError(issues, 'invalid credit options');
    this.options = { surplusChargeMicrosPerVcpuHour: rate, creditLifespanAfterStopMs: life, bondUnitMillicredits: unit * MILLICREDITS_PER_CREDIT, bondingTaxBasisPoints: tax };
  }

  private get(id: string): CreditInstanceState {
    return this.inst(id).state;
  }

  private inst(id: string): Inst {
    const i = this.instances.get(id);
    if (!i) throw new InputError(`unknown credit instance "${id}"`, { field: 'instance' });
    return i;
  }

  /** The book's record of a new instance (its balances' cells at 0 until it earns). */
  private add(s: CreditInstanceState): void {
    const creditsAccount = account.credits(s.id);
    const surplusAccount = account.surplus(s.id);
    this.handleList = null;
    this.instances.set(s.id, { id: s.id, state: s, book: this, creditsAccount, surplusAccount, credits: this.ledger.cell(creditsAccount, 'credit'), surplus: this.ledger.cell(surplusAccount, 'credit') });
  }

  has(id: string): boolean {
    return this.instances.has(id);
  }

  /** Starts a new instance with an empty balance (T3 has no launch credits). */
  launch(id: string, o: { tenant: string; className: string; mode?: CreditMode }, nowMs: number): CreditInstanceState {
    if (this.instances.has(id)) throw new InputError(`credit instance "${id}" already exists`, { field: 'instance' });
    const cls = this.classes.get(o.className);
    if (!cls) throw new InputError(`unknown instance class "${o.className}"; valid: ${[...this.classes.keys()].join(', ')}`, { field: 'className' });
    const s: CreditInstanceState = { id, tenant: o.tenant, cls, mode: o.mode ?? 'unlimited', running: true, carryMcms: 0, hourMark: Math.floor(nowMs / HOUR_MS), stoppedAtMs: null, launchedAtMs: nowMs };
    this.add(s);
    return s;
  }

  state(id: string): Readonly<CreditInstanceState> & { balanceMillicredits: number; surplusMillicredits: number; bondUnits: number } {
    const s = this.get(id);
    return { ...s, balanceMillicredits: this.balance(id), surplusMillicredits: this.surplus(id), bondUnits: this.bondUnits(id) };
  }

  /** Accrued (earned, unspent) credits, milli-credits. */
  balance(id: string): number {
    return this.ledger.balance(account.credits(id), 'credit');
  }

  /** Surplus credits spent and not yet repaid or charged, milli-credits (>= 0). */
  surplus(id: string): number {
    return 0 - this.ledger.balance(account.surplus(id), 'credit');
  }

  bondUnits(id: string): number {
    return this.ledger.balance(account.bonds(id), 'bond');
  }

  /**
   * One accrual step of `stepMs` milliseconds ending at `nowMs`, during which the instance wants
   * `demandMillicores` on average (clamped to its vCPUs). Returns what it may use and the books.
   */
  accrue(id: string, nowMs: number, stepMs: number, demandMillicores: number): AccrualResult {
    return this.accrueInst(this.inst(id), nowMs, stepMs, demandMillicores);
  }

  /**
   * Each instance's handle in launch order, for a loop over every instance each step (the same
   * array until an instance is launched or terminated: do not change it).
   */
  handles(): readonly CreditHandle[] {
    return (this.handleList ??= [...this.instances.values()]);
  }

  /**
   * `accrue` for a handle from `handles()` (the same step, without the lookup by id). With `into`
   * (a result this book returned before), the result is written into it, its reasons array
   * included, instead of a new one (a loop over every instance each step keeps one per instance).
   */
  accrueHandle(h: CreditHandle, nowMs: number, stepMs: number, demandMillicores: number, into?: AccrualResult): AccrualResult {
    const inst = h as Inst;
    if (inst.book !== this) throw new InputError(`credit instance "${h.id}" is not in this book (terminated?)`, { field: 'instance' });
    return this.accrueInst(inst, nowMs, stepMs, demandMillicores, into);
  }

  private accrueInst(inst: Inst, nowMs: number, stepMs: number, demandMillicores: number, into?: AccrualResult): AccrualResult {
    const s = inst.state;
    const id = s.id;
    if (!Number.isSafeInteger(stepMs) || stepMs <= 0) throw new InputError(`stepMs must be a positive whole number of milliseconds, got ${stepMs}`, { field: 'stepMs' });
    if (!Number.isFinite(demandMillicores) || demandMillicores < 0) {
      throw new InputError(`demand of "${id}" must be a finite number >= 0 millicores, got ${demandMillicores}`, { field: 'demandMillicores' });
    }
    const cls = s.cls;
    const demand = Math.min(cls.maxMillicores, Math.round(demandMillicores));
    const K = MCMS_PER_MILLICREDIT;
    let r: AccrualResult;
    let reasons: string[];
    if (into) {
      r = into;
      reasons = r.reasons;
      while (reasons.length > 0) reasons.pop(); // (cheaper than setting the length)
      r.id = id;
      r.demandMillicores = demand;
      r.grantedMillicores = demand;
      r.throttledMillicores = 0;
      r.earnedCredits = 0;
      r.usedCredits = 0;
      r.balanceDeltaMillicredits = 0;
      r.discardedMillicredits = 0;
      r.surplusSpentMillicredits = 0;
      r.surplusRepaidMillicredits = 0;
      r.surplusChargedMillicredits = 0;
      r.chargedMicros = 0;
      r.balanceMillicredits = 0;
      r.surplusMillicredits = 0;
    } else {
      reasons = [];
      r = {
        id,
        demandMillicores: demand,
        grantedMillicores: demand,
        throttledMillicores: 0,
        earnedCredits: 0,
        usedCredits: 0,
        balanceDeltaMillicredits: 0,
        discardedMillicredits: 0,
        surplusSpentMillicredits: 0,
        surplusRepaidMillicredits: 0,
        surplusChargedMillicredits: 0,
        chargedMicros: 0,
        balanceMillicredits: 0,
        surplusMillicredits: 0,
        reasons,
      };
    }
    if (!s.running) {
      r.grantedMillicores = 0;
      r.throttledMillicores = demand;
      reasons.push('stopped');
      r.balanceMillicredits = inst.credits.v;
      r.surplusMillicredits = 0 - inst.surplus.v;
      return r;
    }
    const E = cls.baselineMillicores * stepMs;
    let U = demand * stepMs;
    const credits = inst.creditsAccount;
    const surplusAccount = inst.surplusAccount;
    const bal = inst.credits.v;
    const surplus = 0 - inst.surplus.v;
    // the step's moves (one transaction, no reasons: as a Tx begun before any reason was pushed),
    // with the cells of their balances (no lookup by account name)
    let m1: Move | undefined;
    let m2: Move | undefined;
    let c1: BalanceCell[] = NO_CELLS;
    let c2: BalanceCell[] = NO_CELLS;
    if (U <= E) {
      const g = E - U + s.carryMcms;
      let gMilli = Math.floor(g / K);
      let carry = g - gMilli * K;
      const repay = Math.min(gMilli, surplus);
      if (repay > 0) {
        m1 = { asset: 'credit', from: SYSTEM.CREDIT_ISSUER, to: surplusAccount, amount: repay };
        c1 = [this.issuerCell, inst.surplus];
        gMilli -= repay;
        r.surplusRepaidMillicredits = repay;
        reasons.push(MR.SURPLUS_REPAID, kv('repaidMillicredits', repay));
      }
      const room = cls.capMillicredits - bal;
      if (gMilli > room || (gMilli === room && carry > 0)) {
        r.discardedMillicredits = gMilli - room;
        gMilli = room;
        carry = 0;
        reasons.push(MR.AT_CAP);
        if (r.discardedMillicredits > 0) reasons.push(MR.DISCARDED, kv('discardedMillicredits', r.discardedMillicredits));
      }
      if (gMilli > 0) {
        const earn: Move = { asset: 'credit', from: SYSTEM.CREDIT_ISSUER, to: credits, amount: gMilli };
        if (m1) {
          m2 = earn;
          c2 = [this.issuerCell, inst.credits];
        } else {
          m1 = earn;
          c1 = [this.issuerCell, inst.credits];
        }
        reasons.push(MR.EARNED);
      }
      r.balanceDeltaMillicredits = gMilli;
      s.carryMcms = carry;
    } else {
      const need = U - E;
      const avail = bal * K + s.carryMcms;
      if (need <= avail) {
        const rem = avail - need;
        const newBal = Math.floor(rem / K);
        s.carryMcms = rem - newBal * K;
        m1 = { asset: 'credit', from: credits, to: SYSTEM.CREDIT_SPENT, amount: bal - newBal };
        c1 = [inst.credits, this.spentCell];
        r.balanceDeltaMillicredits = newBal - bal;
        reasons.push(MR.SPENT);
      } else if (s.mode === 'standard') {
        const granted = Math.floor((E + avail) / stepMs);
        U = granted * stepMs;
        const rem = E + avail - U;
        const newBal = Math.floor(rem / K);
        s.carryMcms = rem - newBal * K;
        m1 = { asset: 'credit', from: credits, to: SYSTEM.CREDIT_SPENT, amount: bal - newBal };
        c1 = [inst.credits, this.spentCell];
        r.balanceDeltaMillicredits = newBal - bal;
        r.grantedMillicores = granted;
        r.throttledMillicores = demand - granted;
        reasons.push(MR.SPENT, MR.THROTTLED_TO_BASELINE, kv('grantedMillicores', granted), kv('demandMillicores', demand));
      } else {
        const short = need - avail;
        const sMilli = Math.ceil(short / K);
        s.carryMcms = sMilli * K - short;
        m1 = { asset: 'credit', from: credits, to: SYSTEM.CREDIT_SPENT, amount: bal };
        m2 = { asset: 'credit', from: surplusAccount, to: SYSTEM.CREDIT_SPENT, amount: sMilli };
        c1 = [inst.credits, this.spentCell];
        c2 = [inst.surplus, this.spentCell];
        r.balanceDeltaMillicredits = -bal;
        r.surplusSpentMillicredits = sMilli;
        reasons.push(MR.SPENT, MR.SURPLUS_SPENT, kv('surplusSpentMillicredits', sMilli));
      }
    }
    r.earnedCredits = E / (K * MILLICREDITS_PER_CREDIT);
    r.usedCredits = U / (K * MILLICREDITS_PER_CREDIT);
    mustCommit(m2 ? this.ledger.commitMoves('credit-accrual', nowMs, NO_REASONS, id, [m1!, m2], [c1[0]!, c1[1]!, c2[0]!, c2[1]!]) : this.ledger.commitMoves('credit-accrual', nowMs, NO_REASONS, id, m1 ? [m1] : [], c1));
    // End of an hour: surplus above the 24-hour earnings is charged.
    const hour = Math.floor(nowMs / HOUR_MS);
    if (hour > s.hourMark) {
      s.hourMark = hour;
      const excess = 0 - inst.surplus.v - cls.capMillicredits;
      if (s.mode === 'unlimited' && excess > 0) {
        const c = this.chargeSurplus(s, excess, nowMs, MR.SURPLUS_CHARGED_OVER_CAP);
        r.surplusChargedMillicredits = excess;
        r.chargedMicros = c;
        reasons.push(MR.SURPLUS_CHARGED_OVER_CAP, kv('chargedMillicredits', excess), kv('chargedMicros', c));
      }
    }
    r.balanceMillicredits = inst.credits.v;
    r.surplusMillicredits = 0 - inst.surplus.v;
    return r;
  }

  /** Money for `millicredits` of surplus: rate per vCPU-hour / 60 per credit, rounded half up. */
  surplusChargeMicros(millicredits: number): number {
    const perHourMilli = 60 * MILLICREDITS_PER_CREDIT;
    return Math.floor((millicredits * this.options.surplusChargeMicrosPerVcpuHour + perHourMilli / 2) / perHourMilli);
  }

  private chargeSurplus(s: CreditInstanceState, millicredits: number, nowMs: number, reason: string): number {
    if (millicredits <= 0) return 0;
    const micros = this.surplusChargeMicros(millicredits);
    const tx = this.ledger.begin('surplus-charge', nowMs, [reason, kv('millicredits', millicredits), kv('micros', micros)], s.id);
    tx.move('credit', SYSTEM.SURPLUS_SETTLED, account.surplus(s.id), millicredits);
    tx.move('money', account.invoice(s.tenant), SYSTEM.SURPLUS_CHARGES, micros);
    mustCommit(this.ledger.commit(tx));
    return micros;
  }

  /** Switches the credit mode; unlimited -> standard charges the surplus at once (as EC2). */
  setMode(id: string, mode: CreditMode, nowMs: number): { chargedMillicredits: number; chargedMicros: number } {
    const s = this.get(id);
    let charged = 0;
    let micros = 0;
    if (s.mode === 'unlimited' && mode === 'standard') {
      charged = this.surplus(id);
      micros = this.chargeSurplus(s, charged, nowMs, MR.SURPLUS_CHARGED_ON_MODE_SWITCH);
    }
    s.mode = mode;
    return { chargedMillicredits: charged, chargedMicros: micros };
  }

  /** Stops the instance: its surplus is charged; accrued credits persist for the lifespan. */
  stop(id: string, nowMs: number): { chargedMillicredits: number; chargedMicros: number } {
    const s = this.get(id);
    const charged = this.surplus(id);
    const micros = this.chargeSurplus(s, charged, nowMs, MR.SURPLUS_CHARGED_ON_STOP);
    s.running = false;
    s.stoppedAtMs = nowMs;
    return { chargedMillicredits: charged, chargedMicros: micros };
  }

  /** Starts a stopped instance; credits older than the lifespan have expired. */
  start(id: string, nowMs: number): { expiredMillicredits: number } {
    const s = this.get(id);
    if (s.running) return { expiredMillicredits: 0 };
    let expired = 0;
    if (s.stoppedAtMs !== null && nowMs - s.stoppedAtMs > this.options.creditLifespanAfterStopMs) expired = this.expire(s, nowMs);
    s.running = true;
    s.stoppedAtMs = null;
    s.hourMark = Math.floor(nowMs / HOUR_MS);
    return { expiredMillicredits: expired };
  }

  /** Terminates: surplus charged, accrued credits lost, the instance forgotten (its bonds stay bonded). */
  terminate(id: string, nowMs: number): { chargedMillicredits: number; chargedMicros: number; expiredMillicredits: number } {
    const s = this.get(id);
    const c = s.running ? this.stop(id, nowMs) : { chargedMillicredits: 0, chargedMicros: 0 };
    const expired = this.expire(s, nowMs);
    const inst = this.instances.get(id)!;
    inst.book = null;
    this.instances.delete(id);
    this.handleList = null;
    return { ...c, expiredMillicredits: expired };
  }

  private expire(s: CreditInstanceState, nowMs: number): number {
    const bal = this.balance(s.id);
    s.carryMcms = 0;
    if (bal > 0) mustCommit(this.ledger.transfer('credit', account.credits(s.id), SYSTEM.CREDIT_EXPIRED, bal, 'credit-expiry', nowMs, [MR.CREDITS_EXPIRED], s.id));
    return bal;
  }

  /** Milli-credits (bonded + tax) that bonding `units` costs. */
  bondCost(units: number): { bondedMillicredits: number; taxMillicredits: number } {
    const bonded = units * this.options.bondUnitMillicredits;
    const tax = Math.ceil((bonded * this.options.bondingTaxBasisPoints) / 10_000);
    return { bondedMillicredits: bonded, taxMillicredits: tax };
  }

  /** Most units the instance can bond now. */
  maxBondable(id: string): number {
    const bal = this.balance(id);
    let n = Math.floor(bal / (this.options.bondUnitMillicredits * (1 + this.options.bondingTaxBasisPoints / 10_000)));
    while (n > 0) {
      const c = this.bondCost(n);
      if (c.bondedMillicredits + c.taxMillicredits <= bal) break;
      n--;
    }
    return Math.max(0, n);
  }

  /**
   * Bonds accrued credits into `units` bonding units. Irreversible: the credits go to the bonded
   * escrow (nothing ever leaves it) and the tax to the bonding-tax account, in one transaction.
   */
  bond(id: string, units: number, nowMs: number): BondResult {
    this.get(id);
    if (!Number.isSafeInteger(units) || units <= 0) throw new InputError(`bonding units must be a positive integer, got ${units}`, { field: 'units' });
    const { bondedMillicredits, taxMillicredits } = this.bondCost(units);
    const have = this.balance(id);
    const need = bondedMillicredits + taxMillicredits;
    if (need > have) {
      return { ok: false, units, needMillicredits: need, haveMillicredits: have, reasons: [MR.INSUFFICIENT_CREDITS, kv('needMillicredits', need), kv('haveMillicredits', have)] };
    }
    const reasons = [MR.BONDED, kv('units', units), MR.BONDING_TAX, kv('taxMillicredits', taxMillicredits)];
    const tx = this.ledger.begin('bond', nowMs, reasons, id);
    tx.move('credit', account.credits(id), SYSTEM.BONDED, bondedMillicredits);
    tx.move('credit', account.credits(id), SYSTEM.BONDING_TAX, taxMillicredits);
    tx.move('bond', SYSTEM.BOND_ISSUER, account.bonds(id), units);
    mustCommit(this.ledger.commit(tx));
    return { ok: true, units, bondedMillicredits, taxMillicredits, totalUnits: this.bondUnits(id), reasons };
  }

  ids(): string[] {
    return [...this.instances.keys()];
  }

  /** The instance's live state (read only; no copy, no balances: for per-step loops). */
  peek(id: string): Readonly<CreditInstanceState> | undefined {
    return this.instances.get(id)?.state;
  }

  /** An instance's book state as plain data (what a live shell persists; balances live in the ledger). */
  exportState(id: string): CreditInstanceExport {
    const s = this.get(id);
    return { id: s.id, tenant: s.tenant, className: s.cls.name, mode: s.mode, running: s.running, carryMcms: s.carryMcms, hourMark: s.hourMark, stoppedAtMs: s.stoppedAtMs, launchedAtMs: s.launchedAtMs };
  }

  /**
   * Re-creates an exported instance (restart continuity), without touching the ledger (its
   * balances are restored with the ledger). Throws InputError on an unknown class or a bad carry.
   */
  restoreState(e: CreditInstanceExport): void {
    if (this.instances.has(e.id)) throw new InputError(`credit instance "${e.id}" already exists`, { field: 'instance' });
    const cls = this.classes.get(e.className);
    if (!cls) throw new InputError(`unknown instance class "${e.className}"; valid: ${[...this.classes.keys()].join(', ')}`, { field: 'className' });
    if (!(Number.isSafeInteger(e.carryMcms) && e.carryMcms >= 0 && e.carryMcms < MCMS_PER_MILLICREDIT)) {
      throw new InputError(`carryMcms of "${e.id}" must be an integer in [0, ${MCMS_PER_MILLICREDIT}), got ${e.carryMcms}`, { field: 'carryMcms' });
    }
    if (e.mode !== 'standard' && e.mode !== 'unlimited') throw new InputError(`mode of "${e.id}" must be standard or unlimited, got ${String(e.mode)}`, { field: 'mode' });
    this.add({ id: e.id, tenant: e.tenant, cls, mode: e.mode, running: e.running, carryMcms: e.carryMcms, hourMark: e.hourMark, stoppedAtMs: e.stoppedAtMs, launchedAtMs: e.launchedAtMs });
  }
}

/** CreditBook.exportState / restoreState: an instance's book state with its class by name. */
export type CreditInstanceExport = Omit<CreditInstanceState, 'cls'> & { className: string };

/** The reasons of an accrual's ledger entry (its figures are in the AccrualResult). */
const NO_REASONS: readonly string[] = Object.freeze([]);
const NO_CELLS: BalanceCell[] = [];

/** A commit the rules guarantee (checked above); a refusal here is a bug, reported as such. */
function mustCommit(r: CommitResult): void {
  if (!r.ok) throw new InputError(`ledger refused ${r.kind}: ${r.account} would hold ${r.wouldBe} ${r.asset}`, { field: r.account });
}
