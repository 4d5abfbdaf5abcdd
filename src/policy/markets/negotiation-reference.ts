// The straightforward borrow/lend round, as first written: every loan and every revert is its own
// ledger transaction (kinds 'loan', 'loan-revert', 'loan-release', ref = the loan id, the
// decision's reasons), loans kept in Maps and Sets of ids, reasons built per transfer. Kept as the
// executable specification of `HostNegotiator` (negotiation.ts): the tests check that both make
// the same decisions (transfers, reasons, allocations, loans, stats, unmet) on random rounds, and
// bench/markets.bench.mjs times it next to the fast round in the same run. Not for production use.
import { InputError } from '../../core/errors.js';
import { account, Ledger, SYSTEM, type CommitResult } from './ledger.js';
import { compileNegotiationOptions, SLA_CLASSES, type AgentStatement, type CompiledNegotiationOptions, type LendResource, type Loan, type NegotiationOptions, type NegotiationState, type ResourceRoundStats, type RoundResult, type TransferDecision } from './negotiation.js';
import { kv, MR } from './reasons.js';

interface Member {
  id: string;
  index: number;
  own: Record<LendResource, number>;
  lent: Record<LendResource, number>;
  borrowed: Record<LendResource, number>;
  /** Consecutive rounds with a request and no grant at all (ageing). */
  starvedRounds: Record<LendResource, number>;
  /** Loan ids, oldest first (insertion-ordered sets: O(1) removal). */
  loansOut: Record<LendResource, Set<string>>;
  loansIn: Record<LendResource, Set<string>>;
  weight: number;
}

const RESOURCES: readonly LendResource[] = ['cpu', 'memory'];
const ASSET: Record<LendResource, 'cpu' | 'memory'> = { cpu: 'cpu', memory: 'memory' };

export class ReferenceNegotiator {
  readonly options: CompiledNegotiationOptions;
  private readonly members = new Map<string, Member>();
  private readonly loanMap = new Map<string, Loan>();
  private loanSeq = 0;
  private readonly hostAccount: string;

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
    const tx = this.ledger.begin('entitlement', nowMs, ['joined-host', kv('host', this.hostId)], id);
    tx.move('cpu', this.hostAccount, account.alloc(id), entitlement.cpuMillicores);
    tx.move('memory', this.hostAccount, account.alloc(id), entitlement.memoryMiB);
    const r = this.ledger.commit(tx);
    if (r.ok) {
      this.members.set(id, {
        id,
        index: this.members.size,
        own: { cpu: entitlement.cpuMillicores, memory: entitlement.memoryMiB },
        lent: { cpu: 0, memory: 0 },
        borrowed: { cpu: 0, memory: 0 },
        starvedRounds: { cpu: 0, memory: 0 },
        loansOut: { cpu: new Set(), memory: new Set() },
        loansIn: { cpu: new Set(), memory: new Set() },
        weight: 1,
      });
    }
    return r;
  }

  /** Reverts every loan of the instance, then returns its entitlement to the host. */
  leave(id: string, nowMs: number): TransferDecision[] {
    const m = this.member(id);
    const out: TransferDecision[] = [];
    for (const r of RESOURCES) {
      for (const lid of [...m.loansOut[r]].reverse()) out.push(this.revert(this.loanMap.get(lid)!, this.loanMap.get(lid)!.amount, 'recall', [MR.RECALLED, 'lender-leaving'], nowMs));
      for (const lid of [...m.loansIn[r]].reverse()) out.push(this.revert(this.loanMap.get(lid)!, this.loanMap.get(lid)!.amount, 'release', [MR.RELEASED, 'borrower-leaving'], nowMs));
    }
    const tx = this.ledger.begin('entitlement-return', nowMs, ['left-host'], id);
    tx.move('cpu', account.alloc(id), this.hostAccount, m.own.cpu);
    tx.move('memory', account.alloc(id), this.hostAccount, m.own.memory);
    must(this.ledger.commit(tx));
    this.members.delete(id);
    return out;
  }

  private member(id: string): Member {
    const m = this.members.get(id);
    if (!m) throw new InputError(`instance "${id}" is not on host ${this.hostId}`, { field: 'instance' });
    return m;
  }

  /** Current allocation (own - lent + borrowed). */
  allocation(id: string): { cpuMillicores: number; memoryMiB: number } {
    return { cpuMillicores: this.ledger.balance(account.alloc(id), 'cpu'), memoryMiB: this.ledger.balance(account.alloc(id), 'memory') };
  }

  entitlement(id: string): { cpuMillicores: number; memoryMiB: number } {
    const m = this.member(id);
    return { cpuMillicores: m.own.cpu, memoryMiB: m.own.memory };
  }

  loans(): Loan[] {
    return [...this.loanMap.values()];
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
    for (const m of this.members.values()) if (m.starvedRounds.cpu > 0 || m.starvedRounds.memory > 0) starved[m.id] = { ...m.starvedRounds };
    return { loanSeq: this.loanSeq, loans: this.loans().map((l) => ({ ...l })), starved };
  }

  /**
   * Re-creates exported loans between members that joined already (each one ledger transaction,
   * kind 'loan-restore'); loans whose lender or borrower is gone, or that no longer fit the
   * lender's allocation, are skipped and returned.
   */
  restoreState(state: NegotiationState, nowMs: number): Loan[] {
    const skipped: Loan[] = [];
    this.loanSeq = Math.max(this.loanSeq, state.loanSeq);
    for (const l of state.loans) {
      const lender = this.members.get(l.lender);
      const borrower = this.members.get(l.borrower);
      if (!lender || !borrower || lender === borrower || this.loanMap.has(l.id) || !(l.resource === 'cpu' || l.resource === 'memory') || !(Number.isSafeInteger(l.amount) && l.amount > 0)) {
        skipped.push(l);
        continue;
      }
      const r = this.ledger.transfer(ASSET[l.resource], account.alloc(l.lender), account.alloc(l.borrower), l.amount, 'loan-restore', nowMs, [MR.LOAN, 'restored'], l.id);
      if (!r.ok) {
        skipped.push(l);
        continue;
      }
      this.loanMap.set(l.id, { ...l });
      lender.loansOut[l.resource].add(l.id);
      borrower.loansIn[l.resource].add(l.id);
      lender.lent[l.resource] += l.amount;
      borrower.borrowed[l.resource] += l.amount;
    }
    for (const [id, s] of Object.entries(state.starved)) {
      const m = this.members.get(id);
      if (m) m.starvedRounds = { cpu: s.cpu | 0, memory: s.memory | 0 };
    }
    return skipped;
  }

  isMember(id: string): boolean {
    return this.members.has(id);
  }

  private revert(loan: Loan, amount: number, kind: 'recall' | 'release', reasons: string[], nowMs: number): TransferDecision {
    const asset = ASSET[loan.resource];
    must(this.ledger.transfer(asset, account.alloc(loan.borrower), account.alloc(loan.lender), amount, kind === 'recall' ? 'loan-revert' : 'loan-release', nowMs, reasons, loan.id));
    const lender = this.members.get(loan.lender)!;
    const borrower = this.members.get(loan.borrower)!;
    lender.lent[loan.resource] -= amount;
    borrower.borrowed[loan.resource] -= amount;
    loan.amount -= amount;
    if (loan.amount === 0) {
      this.loanMap.delete(loan.id);
      lender.loansOut[loan.resource].delete(loan.id);
      borrower.loansIn[loan.resource].delete(loan.id);
    }
    return { kind, resource: loan.resource, loanId: loan.id, lender: loan.lender, borrower: loan.borrower, amount, reasons };
  }

  /** One negotiation round over the statements of (some or all of) the host's instances. */
  round(nowMs: number, statements: readonly AgentStatement[]): RoundResult {
    const o = this.options;
    const n = statements.length;
    const ms: Member[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const s = statements[i]!;
      const m = this.member(s.id);
      ms[i] = m;
      if (!(s.criticality >= 0)) throw new InputError(`criticality of "${s.id}" must be >= 0, got ${s.criticality}`, { field: 'criticality' });
      const w = o.slaWeights[s.sla];
      if (w === undefined) throw new InputError(`unknown SLA class "${s.sla}" for "${s.id}"; valid: ${SLA_CLASSES.join(', ')}`, { field: 'sla' });
      m.weight = w * (1 + s.criticality);
    }
    const result: RoundResult = { nowMs, transfers: [], stats: { cpu: emptyStats(), memory: emptyStats() }, unmet: [] };
    const need = new Float64Array(n);
    const offer = new Int32Array(n);
    const request = new Int32Array(n);
    const grant = new Int32Array(n);
    const weight = new Float64Array(n);
    for (const r of RESOURCES) {
      const unit = o.unit[r];
      const st = result.stats[r];
      for (let i = 0; i < n; i++) {
        const s = statements[i]!;
        const u = r === 'cpu' ? s.usageCpuMillicores : s.usageMemoryMiB;
        const p = r === 'cpu' ? s.needCpuMillicores : s.needMemoryMiB;
        need[i] = Math.max(Number.isFinite(u) ? u : 0, Number.isFinite(p) ? p : 0);
      }
      // 2. recalls
      for (let i = 0; i < n; i++) {
        const m = ms[i]!;
        if (m.lent[r] === 0) continue;
        const kept = m.own[r] - m.lent[r];
        if (need[i]! <= kept) continue;
        let deficit = Math.min(m.lent[r], Math.ceil((need[i]! - kept) / unit) * unit);
        // lowest-weight borrowers first, newest loan first
        const out = [...m.loansOut[r]]
          .map((id, k) => ({ loan: this.loanMap.get(id)!, k }))
          .sort((a, b) => this.members.get(a.loan.borrower)!.weight - this.members.get(b.loan.borrower)!.weight || b.k - a.k);
        for (const { loan } of out) {
          if (deficit <= 0) break;
          const amt = Math.min(loan.amount, deficit);
          result.transfers.push(this.revert(loan, amt, 'recall', [MR.RECALLED, kv('lenderNeed', need[i]!), kv('kept', kept)], nowMs));
          st.recalledUnits += amt / unit;
          deficit -= amt;
        }
      }
      // 3. releases
      for (let i = 0; i < n; i++) {
        const m = ms[i]!;
        if (m.borrowed[r] === 0) continue;
        const alloc = m.own[r] - m.lent[r] + m.borrowed[r];
        let excess = Math.min(m.borrowed[r], (Math.floor((alloc - need[i]!) / unit) - o.releaseSlackUnits) * unit);
        if (excess <= 0) continue;
        const ins = [...m.loansIn[r]];
        for (let k = ins.length - 1; k >= 0 && excess > 0; k--) {
          const loan = this.loanMap.get(ins[k]!)!;
          const amt = Math.min(loan.amount, excess);
          result.transfers.push(this.revert(loan, amt, 'release', [MR.RELEASED, kv('need', need[i]!), kv('allocation', alloc)], nowMs));
          st.releasedUnits += amt / unit;
          excess -= amt;
        }
      }
      // 4. offers and requests
      let pool = 0;
      let requested = 0;
      for (let i = 0; i < n; i++) {
        const m = ms[i]!;
        const kept = m.own[r] - m.lent[r];
        const alloc = kept + m.borrowed[r];
        offer[i] = m.borrowed[r] > 0 ? 0 : Math.max(0, Math.floor((kept - need[i]!) / unit) - o.lendMarginUnits);
        request[i] = Math.max(0, Math.ceil((need[i]! - alloc) / unit));
        pool += offer[i]!;
        requested += request[i]!;
        weight[i] = m.weight * (1 + o.ageing * Math.min(o.maxAgeRounds, m.starvedRounds[r]));
        grant[i] = 0;
      }
      st.offeredUnits = pool;
      st.requestedUnits = requested;
      if (requested === 0) {
        for (let i = 0; i < n; i++) ms[i]!.starvedRounds[r] = 0;
        continue;
      }
      // 5. arbitration
      const fair = requested > pool;
      if (!fair) for (let i = 0; i < n; i++) grant[i] = request[i]!;
      else referenceWaterFill(request, weight, pool, grant);
      // 6. matching: lenders with the largest offers first, borrowers by weight
      const lenders: number[] = [];
      const borrowers: number[] = [];
      for (let i = 0; i < n; i++) {
        if (offer[i]! > 0) lenders.push(i);
        if (grant[i]! > 0) borrowers.push(i);
      }
      lenders.sort((a, b) => offer[b]! - offer[a]! || a - b);
      borrowers.sort((a, b) => weight[b]! - weight[a]! || a - b);
      let li = 0;
      let left = lenders.length > 0 ? offer[lenders[0]!]! : 0;
      for (const b of borrowers) {
        let want = grant[b]!;
        while (want > 0 && li < lenders.length) {
          if (left === 0) {
            li++;
            if (li >= lenders.length) break;
            left = offer[lenders[li]!]!;
          }
          const take = Math.min(want, left);
          const lender = ms[lenders[li]!]!;
          const borrower = ms[b]!;
          const amount = take * unit;
          const loanId = `${r}:${lender.id}>${borrower.id}#${++this.loanSeq}`;
          const reasons = [MR.LOAN, fair ? MR.FAIR_SHARE : MR.REQUEST, kv('units', take), kv('weight', weight[b]!)];
          if (borrower.starvedRounds[r] > 0) reasons.push(MR.AGEING, kv('starvedRounds', borrower.starvedRounds[r]));
          must(this.ledger.transfer(ASSET[r], account.alloc(lender.id), account.alloc(borrower.id), amount, 'loan', nowMs, reasons, loanId));
          this.loanMap.set(loanId, { id: loanId, resource: r, lender: lender.id, borrower: borrower.id, amount, sinceMs: nowMs });
          lender.loansOut[r].add(loanId);
          borrower.loansIn[r].add(loanId);
          lender.lent[r] += amount;
          borrower.borrowed[r] += amount;
          result.transfers.push({ kind: 'loan', resource: r, loanId, lender: lender.id, borrower: borrower.id, amount, reasons });
          st.grantedUnits += take;
          want -= take;
          left -= take;
        }
      }
      for (let i = 0; i < n; i++) {
        const m = ms[i]!;
        m.starvedRounds[r] = request[i]! > 0 && grant[i]! === 0 ? m.starvedRounds[r] + 1 : 0;
        if (request[i]! > grant[i]!) {
          st.unmet++;
          result.unmet.push({ id: m.id, resource: r, missingUnits: request[i]! - grant[i]!, reasons: [MR.UNMET, kv('requestedUnits', request[i]!), kv('grantedUnits', grant[i]!), kv('poolUnits', pool)] });
        }
      }
    }
    return result;
  }
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
export function referenceWaterFill(request: ArrayLike<number>, weight: ArrayLike<number>, pool: number, grant: { [i: number]: number; length: number }): void {
  const n = request.length;
  let total = 0;
  let hi = 0;
  for (let i = 0; i < n; i++) {
    total += request[i]!;
    if (request[i]! > 0) hi = Math.max(hi, request[i]! / weight[i]!);
  }
  if (total <= pool) {
    for (let i = 0; i < n; i++) grant[i] = request[i]!;
    return;
  }
  const req: number[] = [];
  for (let i = 0; i < n; i++) if (request[i]! > 0) req.push(i);
  const count = (s: number): number => {
    let c = 0;
    for (const i of req) c += Math.min(request[i]!, Math.ceil(s * weight[i]!));
    return c;
  };
  let lo = 0;
  hi += 1;
  for (let it = 0; it < 64 && hi - lo > 0; it++) {
    const mid = lo + (hi - lo) / 2;
    if (mid <= lo || mid >= hi) break;
    if (count(mid) <= pool) lo = mid;
    else hi = mid;
  }
  let P = pool;
  for (let i = 0; i < n; i++) {
    const g = request[i]! > 0 ? Math.min(request[i]!, Math.ceil(lo * weight[i]!)) : 0;
    grant[i] = g;
    P -= g;
  }
  if (P <= 0) return;
  const heap: number[] = [];
  for (let i = 0; i < n; i++) if (grant[i]! < request[i]!) heap.push(i);
  // Leftovers: a binary heap keyed by share, smallest first.
  const less = (a: number, b: number) => {
    const sa = grant[a]! / weight[a]!;
    const sb = grant[b]! / weight[b]!;
    return sa < sb || (sa === sb && (weight[a]! > weight[b]! || (weight[a]! === weight[b]! && a < b)));
  };
  const down = (pos: number) => {
    for (;;) {
      const l = 2 * pos + 1;
      const r = l + 1;
      let m = pos;
      if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
      if (m === pos) return;
      [heap[pos], heap[m]] = [heap[m]!, heap[pos]!];
      pos = m;
    }
  };
  for (let p = (heap.length >> 1) - 1; p >= 0; p--) down(p);
  while (P > 0 && heap.length > 0) {
    const i = heap[0]!;
    grant[i] = grant[i]! + 1;
    P--;
    if (grant[i]! >= request[i]!) {
      heap[0] = heap[heap.length - 1]!;
      heap.pop();
    }
    down(0);
  }
}

function emptyStats(): ResourceRoundStats {
  return { offeredUnits: 0, requestedUnits: 0, grantedUnits: 0, recalledUnits: 0, releasedUnits: 0, unmet: 0 };
}

function must(r: CommitResult): void {
  if (!r.ok) throw new InputError(`ledger refused ${r.kind}: ${r.account} would hold ${r.wouldBe} ${r.asset}`, { field: r.account });
}

