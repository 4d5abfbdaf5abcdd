// Borrow/lend negotiation between instances on one host. Pure: one call = one round (the live
// loop runs one every `roundIntervalMs`, default 100 ms; the simulator one per trace step).
//
// Each instance owns an entitlement (units granted from the host's capacity when it joins) and
// holds an allocation = own - lent + borrowed, kept as resource units in the ledger
// (`alloc:<id>`; the host's unallocated capacity is `host:<id>`). Every transfer is a ledger move
// between two `alloc:` accounts, so the allocations always sum to the entitlements and never exceed
// the host's capacity; a round commits each resource's recalls, releases and loans as one
// transaction each (moves applied in order, each checked at its point, all or none: exactly what
// one transaction per transfer would accept). A round, per resource (CPU in millicores, memory in MiB):
//   1. need = max(usage, predicted need) for each instance (what its agent states).
//   2. recall: a lender whose need exceeds what it kept (own - lent) takes units back, from the
//      loans of its lowest-weight borrowers first, newest first (reason 'recalled-by-lender').
//   3. release: a borrower holding more than `releaseSlackUnits` whole units above its need returns
//      the units beyond that slack, newest loans first (the slack damps lend/return churn).
//   4. offers = whole units of own - lent - need - margin; requests = whole units of need -
//      allocation (units: default 0.1 vCPU = 100 millicores and 100 MiB).
//   5. arbitration by weighted max-min fairness (progressive filling): when the offers cannot
//      cover every request, each request gets min(request, lambda x weight) with lambda chosen so
//      the pool is used up; whole units left by rounding go by largest remainder, then weight.
//      weight = SLA class weight x (1 + criticality) x (1 + ageing x consecutive rounds in which
//      the instance requested and got nothing, capped at maxAgeRounds): priority without
//      starvation (a low class gets a share, and while it gets nothing that share keeps growing
//      until it wins a unit, even when the pool is a single unit a round).
//   6. matching: granted units are taken from the lenders with the largest offers first; each
//      (lender, borrower) pair is one loan (one move).
// Ties are broken by input order (pass instances in a stable order, e.g. by id).
// Cost: a round is linear in members plus transfers (a few thousand for 1,000 contested members):
// loans live in intrusive lists (no id lookups, newest-first walks without copies), per-statement
// buffers are reused across rounds, reasons share strings built once per lender, borrower or value,
// and the ledger takes one batch per kind. ReferenceNegotiator (negotiation-reference.ts) is the
// straightforward version it is tested against (same decisions) and benchmarked next to.
import { InputError, ValidationError, type Issue } from '../../core/errors.js';
import { account, Ledger, SYSTEM, type CommitResult, type Tx } from './ledger.js';
import { kv, MR } from './reasons.js';

export type SlaClass = 'gold' | 'silver' | 'bronze' | 'best-effort';
export const SLA_CLASSES: readonly SlaClass[] = ['gold', 'silver', 'bronze', 'best-effort'];
export type LendResource = 'cpu' | 'memory';

export interface NegotiationOptions {
  /** Grain of CPU transfers, millicores (default 100 = 0.1 vCPU). */
  cpuUnitMillicores?: number;
  /** Grain of memory transfers, MiB (default 100). */
  memoryUnitMiB?: number;
  /** Weight per SLA class (default gold 8, silver 4, bronze 2, best-effort 1). */
  slaWeights?: Partial<Record<SlaClass, number>>;
  /** Weight growth per consecutive round a request got nothing at all (default 0.5). */
  ageing?: number;
  /** Rounds of ageing counted at most (default 1000: any weight ratio up to 501 is overcome). */
  maxAgeRounds?: number;
  /** Units a lender keeps above its need (default 0). */
  lendMarginUnits?: number;
  /** Units a borrower may hold above its need before it returns any (default 1: damps churn). */
  releaseSlackUnits?: number;
  /** Round period, informational for the shells (default 100 ms). */
  roundIntervalMs?: number;
}

export interface CompiledNegotiationOptions {
  unit: Record<LendResource, number>;
  slaWeights: Record<SlaClass, number>;
  ageing: number;
  maxAgeRounds: number;
  lendMarginUnits: number;
  releaseSlackUnits: number;
  roundIntervalMs: number;
}

export function compileNegotiationOptions(o: NegotiationOptions = {}, path = 'negotiation'): CompiledNegotiationOptions {
  const c: CompiledNegotiationOptions = {
    unit: { cpu: o.cpuUnitMillicores ?? 100, memory: o.memoryUnitMiB ?? 100 },
    slaWeights: { gold: 8, silver: 4, bronze: 2, 'best-effort': 1, ...o.slaWeights },
    ageing: o.ageing ?? 0.5,
    maxAgeRounds: o.maxAgeRounds ?? 1000,
    lendMarginUnits: o.lendMarginUnits ?? 0,
    releaseSlackUnits: o.releaseSlackUnits ?? 1,
    roundIntervalMs: o.roundIntervalMs ?? 100,
  };
  const issues: Issue[] = [];
  const posInt = (p: string, v: number, zero = false) => {
    if (!Number.isSafeInteger(v) || v < 0 || (!zero && v === 0)) issues.push({ path: `${path}.${p}`, message: `must be a ${zero ? 'non-negative' : 'positive'} integer, got ${v}` });
  };
  posInt('cpuUnitMillicores', c.unit.cpu);
  posInt('memoryUnitMiB', c.unit.memory);
  for (const k of SLA_CLASSES) if (!(c.slaWeights[k] > 0)) issues.push({ path: `${path}.slaWeights.${k}`, message: `must be > 0, got ${c.slaWeights[k]}` });
  if (!(c.ageing >= 0)) issues.push({ path: `${path}.ageing`, message: `must be >= 0, got ${c.ageing}` });
  posInt('maxAgeRounds', c.maxAgeRounds, true);
  posInt('lendMarginUnits', c.lendMarginUnits, true);
  posInt('releaseSlackUnits', c.releaseSlackUnits, true);
  if (!(c.roundIntervalMs > 0)) issues.push({ path: `${path}.roundIntervalMs`, message: `must be > 0, got ${c.roundIntervalMs}` });
  if (issues.length > 0) throw new ValidationError(issues, 'invalid negotiation options');
  return c;
}

/** What an instance's agent states in a round. */
export interface AgentStatement {
  id: string;
  sla: SlaClass;
  /** Application criticality, >= 0 (0 = ordinary). */
  criticality: number;
  usageCpuMillicores: number;
  usageMemoryMiB: number;
  /** Predicted need over the next rounds (e.g. a forecast quantile). */
  needCpuMillicores: number;
  needMemoryMiB: number;
}

export interface Loan {
  id: string;
  resource: LendResource;
  lender: string;
  borrower: string;
  /** Base units (millicores or MiB), a multiple of the grain. */
  amount: number;
  sinceMs: number;
}

/** What a live shell persists of a host's negotiation (`exportState` / `restoreState`). */
export interface NegotiationState {
  loanSeq: number;
  loans: Loan[];
  /** Consecutive rounds without any grant, per member that has some. */
  starved: Record<string, Record<LendResource, number>>;
}

export interface TransferDecision {
  kind: 'loan' | 'recall' | 'release';
  resource: LendResource;
  loanId: string;
  lender: string;
  borrower: string;
  amount: number;
  reasons: string[];
}

export interface ResourceRoundStats {
  offeredUnits: number;
  requestedUnits: number;
  grantedUnits: number;
  recalledUnits: number;
  releasedUnits: number;
  /** Instances whose request was not fully met. */
  unmet: number;
}

export interface RoundResult {
  nowMs: number;
  transfers: TransferDecision[];
  stats: Record<LendResource, ResourceRoundStats>;
  /** Instances whose request was not fully met, with the units missing. */
  unmet: Array<{ id: string; resource: LendResource; missingUnits: number; reasons: string[] }>;
}

/** A loan as the negotiator keeps it: its two members, and its place in three insertion-ordered lists. */
class LoanRec {
  /** The lender's loans out of this resource, oldest first. */
  prevOut: LoanRec | null = null;
  nextOut: LoanRec | null = null;
  /** The borrower's loans in of this resource, oldest first. */
  prevIn: LoanRec | null = null;
  nextIn: LoanRec | null = null;
  /** Every loan of the host, oldest first (the order of `loans()` and of the exported state). */
  prevAll: LoanRec | null = null;
  nextAll: LoanRec | null = null;
  constructor(
    readonly id: string,
    readonly resource: LendResource,
    /** 0 = cpu, 1 = memory. */
    readonly ri: number,
    readonly lender: Member,
    readonly borrower: Member,
    public amount: number,
    readonly sinceMs: number,
  ) {}
}

/** A member's state, per resource index (0 = cpu, 1 = memory). */
class Member {
  readonly own: [number, number];
  readonly lent: [number, number] = [0, 0];
  readonly borrowed: [number, number] = [0, 0];
  /** Consecutive rounds with a request and no grant at all (ageing). */
  readonly starved: [number, number] = [0, 0];
  /** Loans out and in per resource (intrusive lists, oldest first: O(1) removal, newest-first walks). */
  readonly outHead: [LoanRec | null, LoanRec | null] = [null, null];
  readonly outTail: [LoanRec | null, LoanRec | null] = [null, null];
  readonly inHead: [LoanRec | null, LoanRec | null] = [null, null];
  readonly inTail: [LoanRec | null, LoanRec | null] = [null, null];
  weight = 1;
  /** The last round this member had a statement in (duplicate statements are refused). */
  stamp = 0;
  constructor(
    readonly id: string,
    /** Its ledger account (`alloc:<id>`), built once. */
    readonly acct: string,
    cpu: number,
    memory: number,
  ) {
    this.own = [cpu, memory];
  }
}

const RESOURCES: readonly LendResource[] = ['cpu', 'memory'];

/** The negotiation of one host: its members, their loans, and rounds over a shared ledger. */
export class HostNegotiator {
  readonly options: CompiledNegotiationOptions;
  private readonly members = new Map<string, Member>();
  private loanHead: LoanRec | null = null;
  private loanTail: LoanRec | null = null;
  private loanSeq = 0;
  private roundSeq = 0;
  private readonly hostAccount: string;
  // per-statement buffers, reused across rounds (grown when a round has more statements)
  private size = 0;
  private ms: Member[] = [];
  private need = new Float64Array(0);
  private offer = new Int32Array(0);
  private request = new Int32Array(0);
  private grant = new Int32Array(0);
  private weight = new Float64Array(0);
  private readonly lenders: number[] = [];
  private readonly borrowers: number[] = [];
  private readonly recallBuf: LoanRec[] = [];

  constructor(
    readonly hostId: string,
    readonly capacity: { cpuMillicores: number; memoryMiB: number },
    readonly ledger: Ledger = new Ledger(),
    options: NegotiationOptions = {},
    nowMs = 0,
  ) {
    this.options = compileNegotiationOptions(options);
    this.hostAccount = account.host(hostId);
    const tx = ledger.begin('host-capacity', nowMs, ['host-joined'], hostId);
    tx.move('cpu', SYSTEM.CAPACITY_ISSUER, this.hostAccount, capacity.cpuMillicores);
    tx.move('memory', SYSTEM.CAPACITY_ISSUER, this.hostAccount, capacity.memoryMiB);
    must(ledger.commit(tx));
  }

  /** Grants an instance its entitlement from the host's unallocated capacity (refused as a value when it does not fit). */
  join(id: string, entitlement: { cpuMillicores: number; memoryMiB: number }, nowMs: number): CommitResult {
    if (this.members.has(id)) throw new InputError(`instance "${id}" already on host ${this.hostId}`, { field: 'instance' });
    const acct = account.alloc(id);
    const tx = this.ledger.begin('entitlement', nowMs, ['joined-host', kv('host', this.hostId)], id);
    tx.move('cpu', this.hostAccount, acct, entitlement.cpuMillicores);
    tx.move('memory', this.hostAccount, acct, entitlement.memoryMiB);
    const r = this.ledger.commit(tx);
    if (r.ok) this.members.set(id, new Member(id, acct, entitlement.cpuMillicores, entitlement.memoryMiB));
    return r;
  }

  /** Reverts every loan of the instance (one ledger transaction each), then returns its entitlement to the host. */
  leave(id: string, nowMs: number): TransferDecision[] {
    const m = this.member(id);
    const out: TransferDecision[] = [];
    for (let ri = 0; ri < 2; ri++) {
      for (let l = m.outTail[ri]!; l !== null; ) {
        const prev = l.prevOut;
        out.push(this.revertNow(l, 'recall', [MR.RECALLED, 'lender-leaving'], nowMs));
        l = prev!;
      }
      for (let l = m.inTail[ri]!; l !== null; ) {
        const prev = l.prevIn;
        out.push(this.revertNow(l, 'release', [MR.RELEASED, 'borrower-leaving'], nowMs));
        l = prev!;
      }
    }
    const tx = this.ledger.begin('entitlement-return', nowMs, ['left-host'], id);
    tx.move('cpu', m.acct, this.hostAccount, m.own[0]);
    tx.move('memory', m.acct, this.hostAccount, m.own[1]);
    must(this.ledger.commit(tx));
    this.members.delete(id);
    return out;
  }

  private member(id: string): Member {
    const m = this.members.get(id);
    if (!m) throw new InputError(`instance "${id}" is not on host ${this.hostId}`, { field: 'instance' });
    return m;
  }

  /** Current allocation (own - lent + borrowed), as the ledger holds it. */
  allocation(id: string): { cpuMillicores: number; memoryMiB: number } {
    const acct = this.members.get(id)?.acct ?? account.alloc(id);
    return { cpuMillicores: this.ledger.balance(acct, 'cpu'), memoryMiB: this.ledger.balance(acct, 'memory') };
  }

  entitlement(id: string): { cpuMillicores: number; memoryMiB: number } {
    const m = this.member(id);
    return { cpuMillicores: m.own[0], memoryMiB: m.own[1] };
  }

  /** The open loans, oldest first (copies). */
  loans(): Loan[] {
    const out: Loan[] = [];
    for (let l = this.loanHead; l !== null; l = l.nextAll) out.push({ id: l.id, resource: l.resource, lender: l.lender.id, borrower: l.borrower.id, amount: l.amount, sinceMs: l.sinceMs });
    return out;
  }

  memberIds(): string[] {
    return [...this.members.keys()];
  }

  /** Unallocated capacity of the host (never negative). */
  unallocated(): { cpuMillicores: number; memoryMiB: number } {
    return { cpuMillicores: this.ledger.balance(this.hostAccount, 'cpu'), memoryMiB: this.ledger.balance(this.hostAccount, 'memory') };
  }

  /** Loans, the loan counter and each member's starved rounds, as plain data (restart continuity). */
  exportState(): NegotiationState {
    const starved: NegotiationState['starved'] = {};
    for (const m of this.members.values()) if (m.starved[0] > 0 || m.starved[1] > 0) starved[m.id] = { cpu: m.starved[0], memory: m.starved[1] };
    return { loanSeq: this.loanSeq, loans: this.loans(), starved };
  }

  /**
   * Re-creates exported loans between members that joined already (each one ledger transaction,
   * kind 'loan-restore'); loans whose lender or borrower is gone, or that no longer fit the
   * lender's allocation, are skipped and returned.
   */
  restoreState(state: NegotiationState, nowMs: number): Loan[] {
    const skipped: Loan[] = [];
    this.loanSeq = Math.max(this.loanSeq, state.loanSeq);
    const ids = new Set<string>();
    for (let l = this.loanHead; l !== null; l = l.nextAll) ids.add(l.id);
    for (const l of state.loans) {
      const lender = this.members.get(l.lender);
      const borrower = this.members.get(l.borrower);
      if (!lender || !borrower || lender === borrower || ids.has(l.id) || !(l.resource === 'cpu' || l.resource === 'memory') || !(Number.isSafeInteger(l.amount) && l.amount > 0)) {
        skipped.push(l);
        continue;
      }
      const r = this.ledger.transfer(l.resource, lender.acct, borrower.acct, l.amount, 'loan-restore', nowMs, [MR.LOAN, 'restored'], l.id);
      if (!r.ok) {
        skipped.push(l);
        continue;
      }
      const ri = l.resource === 'cpu' ? 0 : 1;
      this.link(new LoanRec(l.id, l.resource, ri, lender, borrower, l.amount, l.sinceMs));
      ids.add(l.id);
      lender.lent[ri] += l.amount;
      borrower.borrowed[ri] += l.amount;
    }
    for (const [id, s] of Object.entries(state.starved)) {
      const m = this.members.get(id);
      if (m) {
        m.starved[0] = s.cpu | 0;
        m.starved[1] = s.memory | 0;
      }
    }
    return skipped;
  }

  isMember(id: string): boolean {
    return this.members.has(id);
  }

  /** Appends a loan to the host's list, its lender's loans out and its borrower's loans in. */
  private link(l: LoanRec): void {
    const ri = l.ri;
    l.prevAll = this.loanTail;
    if (this.loanTail) this.loanTail.nextAll = l;
    else this.loanHead = l;
    this.loanTail = l;
    const lender = l.lender;
    l.prevOut = lender.outTail[ri]!;
    if (l.prevOut) l.prevOut.nextOut = l;
    else lender.outHead[ri] = l;
    lender.outTail[ri] = l;
    const borrower = l.borrower;
    l.prevIn = borrower.inTail[ri]!;
    if (l.prevIn) l.prevIn.nextIn = l;
    else borrower.inHead[ri] = l;
    borrower.inTail[ri] = l;
  }

  private unlink(l: LoanRec): void {
    const ri = l.ri;
    if (l.prevAll) l.prevAll.nextAll = l.nextAll;
    else this.loanHead = l.nextAll;
    if (l.nextAll) l.nextAll.prevAll = l.prevAll;
    else this.loanTail = l.prevAll;
    if (l.prevOut) l.prevOut.nextOut = l.nextOut;
    else l.lender.outHead[ri] = l.nextOut;
    if (l.nextOut) l.nextOut.prevOut = l.prevOut;
    else l.lender.outTail[ri] = l.prevOut;
    if (l.prevIn) l.prevIn.nextIn = l.nextIn;
    else l.borrower.inHead[ri] = l.nextIn;
    if (l.nextIn) l.nextIn.prevIn = l.prevIn;
    else l.borrower.inTail[ri] = l.prevIn;
    l.prevAll = l.nextAll = l.prevOut = l.nextOut = l.prevIn = l.nextIn = null;
  }

  /** The members' side of a revert (the ledger move is the caller's). */
  private applyRevert(loan: LoanRec, amount: number): void {
    const ri = loan.ri;
    loan.lender.lent[ri] -= amount;
    loan.borrower.borrowed[ri] -= amount;
    loan.amount -= amount;
    if (loan.amount === 0) this.unlink(loan);
  }

  /** A whole loan reverted as its own ledger transaction (an instance leaving). */
  private revertNow(loan: LoanRec, kind: 'recall' | 'release', reasons: string[], nowMs: number): TransferDecision {
    const amount = loan.amount;
    must(this.ledger.transfer(loan.resource, loan.borrower.acct, loan.lender.acct, amount, kind === 'recall' ? 'loan-revert' : 'loan-release', nowMs, reasons, loan.id));
    this.applyRevert(loan, amount);
    return { kind, resource: loan.resource, loanId: loan.id, lender: loan.lender.id, borrower: loan.borrower.id, amount, reasons };
  }

  /** A revert inside a round: its move joins the round's transaction of that kind. */
  private revertInto(tx: Tx, loan: LoanRec, amount: number, kind: 'recall' | 'release', reasons: string[]): TransferDecision {
    tx.move(loan.resource, loan.borrower.acct, loan.lender.acct, amount);
    this.applyRevert(loan, amount);
    return { kind, resource: loan.resource, loanId: loan.id, lender: loan.lender.id, borrower: loan.borrower.id, amount, reasons };
  }

  /** The lender's loans of resource `ri` in recall order (lowest-weight borrowers first, newest first) into recallBuf. */
  private recallOrder(m: Member, ri: number): LoanRec[] {
    const buf = this.recallBuf;
    buf.length = 0;
    for (let l = m.outTail[ri]!; l !== null; l = l.prevOut!) buf.push(l);
    const c = buf.length;
    if (c <= 24) {
      // stable insertion sort by borrower weight (newest first among equal weights)
      for (let k = 1; k < c; k++) {
        const x = buf[k]!;
        const w = x.borrower.weight;
        let j = k - 1;
        while (j >= 0 && buf[j]!.borrower.weight > w) {
          buf[j + 1] = buf[j]!;
          j--;
        }
        buf[j + 1] = x;
      }
    } else buf.sort(byBorrowerWeight);
    return buf;
  }

  private grow(n: number): void {
    if (n <= this.size) return;
    const size = Math.max(n, this.size * 2, 16);
    this.size = size;
    this.need = new Float64Array(size);
    this.offer = new Int32Array(size);
    this.request = new Int32Array(size);
    this.grant = new Int32Array(size);
    this.weight = new Float64Array(size);
  }

  /**
   * One negotiation round over the statements of (some or all of) the host's instances, at most
   * one statement per instance. The moves of each resource's recalls, releases and loans are
   * committed as one ledger transaction each ('loan-revert', 'loan-release', 'loan'; ref = the
   * host), applied in order: the round's transfers are in `transfers`, with their reasons.
   */
  round(nowMs: number, statements: readonly AgentStatement[]): RoundResult {
    const o = this.options;
    const n = statements.length;
    this.grow(n);
    const ms = this.ms;
    ms.length = n;
    const stamp = ++this.roundSeq;
    for (let i = 0; i < n; i++) {
      const s = statements[i]!;
      const m = this.member(s.id);
      if (m.stamp === stamp) throw new InputError(`two statements for "${s.id}" in one round`, { field: 'id' });
      m.stamp = stamp;
      ms[i] = m;
      if (!(s.criticality >= 0)) throw new InputError(`criticality of "${s.id}" must be >= 0, got ${s.criticality}`, { field: 'criticality' });
      const w = o.slaWeights[s.sla];
      if (w === undefined) throw new InputError(`unknown SLA class "${s.sla}" for "${s.id}"; valid: ${SLA_CLASSES.join(', ')}`, { field: 'sla' });
      m.weight = w * (1 + s.criticality);
    }
    const result: RoundResult = { nowMs, transfers: [], stats: { cpu: emptyStats(), memory: emptyStats() }, unmet: [] };
    const transfers = result.transfers;
    const { need, offer, request, grant, weight, lenders, borrowers } = this;
    const ledger = this.ledger;
    for (let ri = 0; ri < 2; ri++) {
      const r = RESOURCES[ri]!;
      const unit = o.unit[r];
      const st = result.stats[r];
      if (ri === 0) {
        for (let i = 0; i < n; i++) {
          const s = statements[i]!;
          const u = s.usageCpuMillicores;
          const p = s.needCpuMillicores;
          need[i] = Math.max(Number.isFinite(u) ? u : 0, Number.isFinite(p) ? p : 0);
        }
      } else {
        for (let i = 0; i < n; i++) {
          const s = statements[i]!;
          const u = s.usageMemoryMiB;
          const p = s.needMemoryMiB;
          need[i] = Math.max(Number.isFinite(u) ? u : 0, Number.isFinite(p) ? p : 0);
        }
      }
      // 2. recalls
      let tx: Tx | null = null;
      for (let i = 0; i < n; i++) {
        const m = ms[i]!;
        const lent = m.lent[ri];
        if (lent === 0) continue;
        const kept = m.own[ri] - lent;
        const nd = need[i]!;
        if (nd <= kept) continue;
        let deficit = Math.min(lent, Math.ceil((nd - kept) / unit) * unit);
        const out = this.recallOrder(m, ri);
        const needKv = kv('lenderNeed', nd);
        const keptKv = kv('kept', kept);
        tx ??= ledger.begin('loan-revert', nowMs, [MR.RECALLED], this.hostId);
        for (let k = 0; k < out.length; k++) {
          if (deficit <= 0) break;
          const loan = out[k]!;
          const amt = Math.min(loan.amount, deficit);
          transfers.push(this.revertInto(tx, loan, amt, 'recall', [MR.RECALLED, needKv, keptKv]));
          st.recalledUnits += amt / unit;
          deficit -= amt;
        }
        out.length = 0;
      }
      if (tx) must(ledger.commitInOrder(tx));
      // 3. releases
      tx = null;
      for (let i = 0; i < n; i++) {
        const m = ms[i]!;
        const borrowed = m.borrowed[ri];
        if (borrowed === 0) continue;
        const alloc = m.own[ri] - m.lent[ri] + borrowed;
        let excess = Math.min(borrowed, (Math.floor((alloc - need[i]!) / unit) - o.releaseSlackUnits) * unit);
        if (excess <= 0) continue;
        const needKv = kv('need', need[i]!);
        const allocKv = kv('allocation', alloc);
        tx ??= ledger.begin('loan-release', nowMs, [MR.RELEASED], this.hostId);
        for (let loan = m.inTail[ri]!; loan !== null && excess > 0; ) {
          const prev = loan.prevIn;
          const amt = Math.min(loan.amount, excess);
          transfers.push(this.revertInto(tx, loan, amt, 'release', [MR.RELEASED, needKv, allocKv]));
          st.releasedUnits += amt / unit;
          excess -= amt;
          loan = prev!;
        }
      }
      if (tx) must(ledger.commitInOrder(tx));
      // 4. offers and requests
      let pool = 0;
      let requested = 0;
      const ageing = o.ageing;
      const maxAge = o.maxAgeRounds;
      const margin = o.lendMarginUnits;
      for (let i = 0; i < n; i++) {
        const m = ms[i]!;
        const kept = m.own[ri] - m.lent[ri];
        const borrowed = m.borrowed[ri];
        const alloc = kept + borrowed;
        const nd = need[i]!;
        offer[i] = borrowed > 0 ? 0 : Math.max(0, Math.floor((kept - nd) / unit) - margin);
        request[i] = Math.max(0, Math.ceil((nd - alloc) / unit));
        pool += offer[i]!;
        requested += request[i]!;
        weight[i] = m.weight * (1 + ageing * Math.min(maxAge, m.starved[ri]));
        grant[i] = 0;
      }
      st.offeredUnits = pool;
      st.requestedUnits = requested;
      if (requested === 0) {
        for (let i = 0; i < n; i++) ms[i]!.starved[ri] = 0;
        continue;
      }
      // 5. arbitration
      const fair = requested > pool;
      if (!fair) for (let i = 0; i < n; i++) grant[i] = request[i]!;
      else waterFillN(request, weight, n, pool, grant);
      // 6. matching: lenders with the largest offers first, borrowers by weight
      lenders.length = 0;
      borrowers.length = 0;
      for (let i = 0; i < n; i++) {
        if (offer[i]! > 0) lenders.push(i);
        if (grant[i]! > 0) borrowers.push(i);
      }
      lenders.sort((a, b) => offer[b]! - offer[a]! || a - b);
      borrowers.sort((a, b) => weight[b]! - weight[a]! || a - b);
      const mode = fair ? MR.FAIR_SHARE : MR.REQUEST;
      tx = null;
      let li = 0;
      let left = lenders.length > 0 ? offer[lenders[0]!]! : 0;
      for (let bi = 0; bi < borrowers.length; bi++) {
        const b = borrowers[bi]!;
        let want = grant[b]!;
        const borrower = ms[b]!;
        const starved = borrower.starved[ri];
        let weightKv: string | undefined;
        let starvedKv: string | undefined;
        while (want > 0 && li < lenders.length) {
          if (left === 0) {
            li++;
            if (li >= lenders.length) break;
            left = offer[lenders[li]!]!;
          }
          const take = Math.min(want, left);
          const lender = ms[lenders[li]!]!;
          const amount = take * unit;
          const loanId = `${r}:${lender.id}>${borrower.id}#${++this.loanSeq}`;
          weightKv ??= kv('weight', weight[b]!);
          const reasons = [MR.LOAN, mode, kvInt(UNITS_KV, 'units', take), weightKv];
          if (starved > 0) reasons.push(MR.AGEING, (starvedKv ??= kvInt(STARVED_KV, 'starvedRounds', starved)));
          tx ??= ledger.begin('loan', nowMs, [MR.LOAN, mode], this.hostId);
          tx.move(r, lender.acct, borrower.acct, amount);
          this.link(new LoanRec(loanId, r, ri, lender, borrower, amount, nowMs));
          lender.lent[ri] += amount;
          borrower.borrowed[ri] += amount;
          transfers.push({ kind: 'loan', resource: r, loanId, lender: lender.id, borrower: borrower.id, amount, reasons });
          st.grantedUnits += take;
          want -= take;
          left -= take;
        }
      }
      if (tx) must(ledger.commitInOrder(tx));
      let poolKv: string | undefined;
      for (let i = 0; i < n; i++) {
        const m = ms[i]!;
        const q = request[i]!;
        const g = grant[i]!;
        m.starved[ri] = q > 0 && g === 0 ? m.starved[ri] + 1 : 0;
        if (q > g) {
          st.unmet++;
          poolKv ??= kv('poolUnits', pool);
          result.unmet.push({ id: m.id, resource: r, missingUnits: q - g, reasons: [MR.UNMET, kvInt(REQUESTED_KV, 'requestedUnits', q), kvInt(GRANTED_KV, 'grantedUnits', g), poolKv] });
        }
      }
    }
    lenders.length = 0;
    borrowers.length = 0;
    ms.length = 0;
    return result;
  }
}

function byBorrowerWeight(a: LoanRec, b: LoanRec): number {
  return a.borrower.weight - b.borrower.weight;
}

// `name=<integer>` reasons, built once per value (small integers) and shared.
const UNITS_KV: string[] = [];
const STARVED_KV: string[] = [];
const REQUESTED_KV: string[] = [];
const GRANTED_KV: string[] = [];
function kvInt(cache: string[], name: string, v: number): string {
  if (v >= 0 && v < 4096 && Number.isInteger(v)) return (cache[v] ??= kv(name, v));
  return kv(name, v);
}

/**
 * Weighted max-min fair split of `pool` whole units among `request`s: the result of progressive
 * filling one unit at a time, each unit to the unsatisfied request with the smallest share
 * grant/weight (ties: larger weight, then index). Equivalently the `pool` units with the smallest
 * "share before the unit" (k-1)/weight[i] over all requested units. Computed fast: a bisection on
 * the share level s finds the state "every unit whose share-before is below s" (a state on the
 * filling path: grant[i] = min(request[i], ceil(s x weight[i]))), then a heap hands out the few
 * units left (ties at the level). No unit can then move from one instance to another and raise the
 * smaller of their two shares.
 */
export function waterFill(request: ArrayLike<number>, weight: ArrayLike<number>, pool: number, grant: { [i: number]: number; length: number }): void {
  waterFillN(request, weight, request.length, pool, grant);
}

/**
 * waterFill over the first `n` entries. The bisection keeps only the requests whose term
 * min(request, ceil(s x weight)) still changes between its bounds (the others are summed once):
 * the same comparisons, so the same level, at a fraction of the work.
 */
function waterFillN(request: ArrayLike<number>, weight: ArrayLike<number>, n: number, pool: number, grant: { [i: number]: number; length: number }): void {
  let total = 0;
  let hi = 0;
  let m = 0;
  for (let i = 0; i < n; i++) {
    const q = request[i]!;
    total += q;
    if (q > 0) {
      hi = Math.max(hi, q / weight[i]!);
      m++;
    }
  }
  if (total <= pool) {
    for (let i = 0; i < n; i++) grant[i] = request[i]!;
    return;
  }
  const rq = new Float64Array(m);
  const wt = new Float64Array(m);
  for (let i = 0, j = 0; i < n; i++) {
    if (request[i]! > 0) {
      rq[j] = request[i]!;
      wt[j] = weight[i]!;
      j++;
    }
  }
  let base = 0;
  let lo = 0;
  hi += 1;
  for (let it = 0; it < 64 && hi - lo > 0; it++) {
    const mid = lo + (hi - lo) / 2;
    if (mid <= lo || mid >= hi) break;
    if ((it & 3) === 3) {
      // terms constant on [lo, hi] (monotone in s) leave the active set
      let k = 0;
      for (let j = 0; j < m; j++) {
        const q = rq[j]!;
        const w = wt[j]!;
        const a = Math.min(q, Math.ceil(lo * w));
        if (a === Math.min(q, Math.ceil(hi * w))) base += a;
        else {
          rq[k] = q;
          wt[k] = w;
          k++;
        }
      }
      m = k;
    }
    let c = base;
    for (let j = 0; j < m; j++) c += Math.min(rq[j]!, Math.ceil(mid * wt[j]!));
    if (c <= pool) lo = mid;
    else hi = mid;
  }
  let P = pool;
  for (let i = 0; i < n; i++) {
    const g = request[i]! > 0 ? Math.min(request[i]!, Math.ceil(lo * weight[i]!)) : 0;
    grant[i] = g;
    P -= g;
  }
  if (P <= 0) return;
  // Leftovers: a binary heap keyed by share, smallest first (ties: larger weight, then index).
  const heap: number[] = [];
  for (let i = 0; i < n; i++) if (grant[i]! < request[i]!) heap.push(i);
  for (let p = (heap.length >> 1) - 1; p >= 0; p--) siftDown(heap, p, grant, weight);
  while (P > 0 && heap.length > 0) {
    const i = heap[0]!;
    grant[i] = grant[i]! + 1;
    P--;
    if (grant[i]! >= request[i]!) {
      heap[0] = heap[heap.length - 1]!;
      heap.pop();
    }
    siftDown(heap, 0, grant, weight);
  }
}

function shareLess(a: number, b: number, grant: ArrayLike<number>, weight: ArrayLike<number>): boolean {
  const sa = grant[a]! / weight[a]!;
  const sb = grant[b]! / weight[b]!;
  return sa < sb || (sa === sb && (weight[a]! > weight[b]! || (weight[a]! === weight[b]! && a < b)));
}

function siftDown(heap: number[], pos: number, grant: ArrayLike<number>, weight: ArrayLike<number>): void {
  const len = heap.length;
  for (;;) {
    const l = 2 * pos + 1;
    const r = l + 1;
    let m = pos;
    if (l < len && shareLess(heap[l]!, heap[m]!, grant, weight)) m = l;
    if (r < len && shareLess(heap[r]!, heap[m]!, grant, weight)) m = r;
    if (m === pos) return;
    const t = heap[pos]!;
    heap[pos] = heap[m]!;
    heap[m] = t;
    pos = m;
  }
}

function emptyStats(): ResourceRoundStats {
  return { offeredUnits: 0, requestedUnits: 0, grantedUnits: 0, recalledUnits: 0, releasedUnits: 0, unmet: 0 };
}

function must(r: CommitResult): void {
  if (!r.ok) throw new InputError(`ledger refused ${r.kind}: ${r.account} would hold ${r.wouldBe} ${r.asset}`, { field: r.account });
}

/** Jain's fairness index of non-negative values: (sum x)^2 / (n sum x^2); 1 = all equal. */
export function jainIndex(values: ArrayLike<number>): number {
  let s = 0;
  let s2 = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    s += v;
    s2 += v * v;
    n++;
  }
  return n === 0 || s2 === 0 ? 1 : (s * s) / (n * s2);
}
