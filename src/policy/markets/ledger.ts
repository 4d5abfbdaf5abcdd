// One ledger for every market: CPU credits, money, resource units, bonding units and bidding
// priority. Pure and in memory; the control plane's store persists the journal later (each
// committed transaction is one append-only entry, the same shape as a SQLite transaction).
//
// Double entry: every movement takes an integer amount of one asset from one account to another,
// so the sum of every asset over all accounts is exactly zero after every transaction. Money and
// credits therefore never appear or vanish: earnings come out of an issuer account, spending goes
// into a sink account, and taxes and penalties go to named system accounts (SYSTEM below), so
// "conserved apart from taxes and penalties" is checked as "the totals, system accounts included,
// are exactly zero, and each tax account holds exactly the taxes charged".
//
// Atomicity: a transaction is built move by move and committed at once; commit checks every
// resulting balance against the account rules first and applies all of the moves or none of them
// (a refusal is a value with the reason, never a half-applied change).
import { InputError } from '../../core/errors.js';

/**
 * The assets, each an integer count of its smallest unit:
 *  - credit:   CPU credits in milli-credits (1 credit = one vCPU at 100 % for one minute)
 *  - money:    money in micro-units (the store's "microcredits": 1 unit = 1,000,000)
 *  - cpu:      CPU in millicores
 *  - memory:   memory in MiB
 *  - bond:     bonding units (whole units)
 *  - priority: bidding priority standing in milli-points
 */
export type Asset = 'credit' | 'money' | 'cpu' | 'memory' | 'bond' | 'priority';
export const ASSETS: readonly Asset[] = ['credit', 'money', 'cpu', 'memory', 'bond', 'priority'];

/** Milli-credits per credit. */
export const MILLICREDITS_PER_CREDIT = 1000;
/** Micro-units per money unit. */
export const MICROS_PER_UNIT = 1_000_000;

/**
 * Named system accounts. Every tax, penalty, issue and sink has its own, so a report can say
 * where each unit went. System accounts (prefix `system:`) may go below zero: an issuer's
 * negative balance is what it has issued.
 */
export const SYSTEM = {
  /** Issues earned CPU credits (its balance is minus every credit ever earned and kept). */
  CREDIT_ISSUER: 'system:credit-issuer',
  /** Receives the credits spent above baseline (burst usage). */
  CREDIT_SPENT: 'system:credit-spent',
  /** Receives accrued credits that expired (stopped longer than the credit lifespan). */
  CREDIT_EXPIRED: 'system:credit-expired',
  /** Settles surplus credits that were charged in money (its balance is minus the credits charged). */
  SURPLUS_SETTLED: 'system:surplus-settled',
  /** Receives the money charged for surplus credits (unlimited mode). */
  SURPLUS_CHARGES: 'system:surplus-charges',
  /** Holds bonded credits (bonding is irreversible: nothing ever leaves this account). */
  BONDED: 'system:bonded',
  /** Receives the bonding tax. */
  BONDING_TAX: 'system:bonding-tax',
  /** Issues bonding units. */
  BOND_ISSUER: 'system:bond-issuer',
  /** Issues money paid into tenant accounts from outside (deposits). */
  MONEY_ISSUER: 'system:money-issuer',
  /** Receives what running spot instances pay. */
  MARKET_REVENUE: 'system:market-revenue',
  /** Pays preemption fees on the operator's behalf (its balance is minus the fees it paid). */
  MARKET_PENALTIES: 'system:market-penalties',
  /** Receives bidding-priority reductions taken as preemption penalties. */
  PRIORITY_PENALTIES: 'system:priority-penalties',
  /** Issues host capacity (resource units) when a host joins. */
  CAPACITY_ISSUER: 'system:capacity',
} as const;

/** Account name helpers (one convention for every market). */
export const account = {
  credits: (instance: string) => `credits:${instance}`,
  /** Surplus credits spent by an unlimited instance, as a negative balance. */
  surplus: (instance: string) => `surplus:${instance}`,
  bonds: (instance: string) => `bonds:${instance}`,
  tenant: (tenant: string) => `tenant:${tenant}`,
  /** What a tenant has been billed and owes (may go negative: an amount due). */
  invoice: (tenant: string) => `invoice:${tenant}`,
  /** A tenant's bidding-priority standing (0 or below: reductions taken as penalties). */
  priority: (tenant: string) => `priority:${tenant}`,
  /** Unallocated capacity of a host (resource units). */
  host: (host: string) => `host:${host}`,
  /** Resource units held by an instance (its allocation). */
  alloc: (instance: string) => `alloc:${instance}`,
};

/** Account prefixes whose balances may go below zero (everything else must stay >= 0). */
export const NEGATIVE_ALLOWED_PREFIXES: readonly string[] = ['system:', 'surplus:', 'invoice:', 'priority:'];

export function defaultNegativeAllowed(accountName: string): boolean {
  for (const p of NEGATIVE_ALLOWED_PREFIXES) if (accountName.startsWith(p)) return true;
  return false;
}

export interface Move {
  asset: Asset;
  from: string;
  to: string;
  /** Positive safe integer, in the asset's unit. */
  amount: number;
}

export interface JournalEntry {
  /** Gap-free, increasing from 1. */
  seq: number;
  atMs: number;
  /** What kind of operation (e.g. 'credit-accrual', 'bond', 'loan', 'loan-revert', 'preemption-penalty'). */
  kind: string;
  moves: readonly Move[];
  reasons: readonly string[];
  /** What the entry is about (an instance, bid or loan id). */
  ref: string | null;
}

export type CommitResult =
  | { ok: true; entry: JournalEntry }
  | { ok: false; reason: 'insufficient'; account: string; asset: Asset; balance: number; wouldBe: number; kind: string };

export interface LedgerOptions {
  /** May this account go below zero? Default: the prefixes in NEGATIVE_ALLOWED_PREFIXES. */
  negativeAllowed?: (accountName: string, asset: Asset) => boolean;
  /** Keep every committed entry in memory (default true). */
  keepJournal?: boolean;
  /** Called after each commit (e.g. to persist it). */
  onCommit?: (entry: JournalEntry) => void;
}

/** The checks of a move with a non-zero amount (InputError: a bug, not a decision). */
function checkMove(asset: Asset, from: string, to: string, amount: number): void {
  if (!Number.isSafeInteger(amount) || amount < 0) {
    throw new InputError(`ledger move of ${asset} from ${from} to ${to}: amount must be a non-negative safe integer, got ${amount}`, { field: 'amount' });
  }
  if (from === to) throw new InputError(`ledger move of ${asset}: from and to are the same account (${from})`, { field: 'to' });
}

/** A transaction being built: moves are only checked and applied by `Ledger.commit`. */
export class Tx {
  readonly moves: Move[] = [];
  readonly reasons: string[];
  constructor(
    readonly kind: string,
    readonly atMs: number,
    reasons: readonly string[] = [],
    readonly ref: string | null = null,
  ) {
    this.reasons = reasons.slice();
  }

  /** Adds a movement; a zero amount is skipped. Throws InputError on a bad amount (a bug, not a decision). */
  move(asset: Asset, from: string, to: string, amount: number): this {
    if (amount === 0) return this;
    checkMove(asset, from, to, amount);
    this.moves.push({ asset, from, to, amount });
    return this;
  }

  get empty(): boolean {
    return this.moves.length === 0;
  }
}

/** A live balance (see `Ledger.cell`). */
export interface BalanceCell {
  readonly v: number;
}

interface Cell {
  v: number;
  /** Whose balance it is (checked when a caller hands cells back: commitMoves). */
  readonly name: string;
  readonly asset: Asset;
  readonly ledger: Ledger;
  /** defaultNegativeAllowed(name), once known (1 yes, 0 no, -1 not asked yet); only used with the default rule. */
  neg: number;
}

/** One asset's balances (one cell per account, updated in place), and a count of the commits that changed any of them. */
interface AssetBalances {
  readonly map: Map<string, Cell>;
  version: number;
}

export class Ledger {
  private readonly balances = new Map<Asset, AssetBalances>();
  private readonly journalEntries: JournalEntry[] = [];
  private seqCounter = 0;
  private readonly negativeAllowed: (accountName: string, asset: Asset) => boolean;
  private readonly keepJournal: boolean;
  private readonly onCommit: ((entry: JournalEntry) => void) | undefined;

  constructor(options: LedgerOptions = {}) {
    for (const a of ASSETS) this.balances.set(a, { map: new Map(), version: 0 });
    this.negativeAllowed = options.negativeAllowed ?? defaultNegativeAllowed;
    this.keepJournal = options.keepJournal ?? true;
    this.onCommit = options.onCommit;
  }

  /** Current balance of an account in one asset (0 for an account never used). */
  balance(accountName: string, asset: Asset): number {
    return this.balances.get(asset)!.map.get(accountName)?.v ?? 0;
  }

  /**
   * The live balance of an account (`.v`), for a reader that reads it often (every step for every
   * instance): no lookup by name. An account never used gets a cell at 0, which is the same as no
   * account everywhere (`balance`, `total` and `accounts` read a 0 balance as absent).
   */
  cell(accountName: string, asset: Asset): BalanceCell {
    const map = this.balances.get(asset)!.map;
    let c = map.get(accountName);
    if (c === undefined) map.set(accountName, (c = { v: 0, name: accountName, asset, ledger: this, neg: -1 }));
    return c;
  }

  /**
   * A number that changes whenever a balance of `asset` may have changed (a commit moving it, a
   * refused `commitInOrder` undone): a reader caching balances of that asset (e.g. bonding units
   * read every tick for every instance) re-reads them only when it moved.
   */
  version(asset: Asset): number {
    return this.balances.get(asset)!.version;
  }

  /** Sum over every account of one asset: always exactly 0 (double entry). */
  total(asset: Asset): number {
    let s = 0;
    for (const c of this.balances.get(asset)!.map.values()) s += c.v;
    return s;
  }

  /** Every account holding a non-zero balance of `asset`, with its balance. */
  accounts(asset: Asset): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    for (const [name, c] of this.balances.get(asset)!.map) if (c.v !== 0) out.push([name, c.v]);
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  /** Committed entries, oldest first (empty when keepJournal is false). */
  get journal(): readonly JournalEntry[] {
    return this.journalEntries;
  }

  /** Number of committed transactions. */
  get seq(): number {
    return this.seqCounter;
  }

  begin(kind: string, atMs: number, reasons: readonly string[] = [], ref: string | null = null): Tx {
    return new Tx(kind, atMs, reasons, ref);
  }

  /**
   * Checks every balance the transaction touches and applies all of its moves, or none: an
   * account that may not go negative and would is a refusal (a value, nothing changed).
   */
  commit(tx: Tx): CommitResult {
    return this.apply(tx.kind, tx.atMs, tx.reasons, tx.ref, tx.moves);
  }

  /**
   * `begin`, `move` for each of `moves` and `commit` in one call, for code that makes many one- or
   * two-move transactions (an accrual per instance and step): the same checks (a zero amount is
   * skipped, a bad one throws), the same entry, without a Tx. `moves` and `reasons` are taken as
   * they are (not copied): do not change them afterwards. With `cells` (what `cell` returned for
   * the `from` and `to` of each move, in that order; checked), balances are found without a lookup
   * by name.
   */
  commitMoves(kind: string, atMs: number, reasons: readonly string[], ref: string | null, moves: Move[], cells?: readonly BalanceCell[]): CommitResult {
    let zero = false;
    for (let k = 0; k < moves.length; k++) {
      const m = moves[k]!;
      if (m.amount === 0) {
        zero = true;
        continue;
      }
      checkMove(m.asset, m.from, m.to, m.amount);
      if (cells) {
        const f = cells[2 * k] as Cell | undefined;
        const t = cells[2 * k + 1] as Cell | undefined;
        if (!f || !t || f.ledger !== this || t.ledger !== this || f.name !== m.from || t.name !== m.to || f.asset !== m.asset || t.asset !== m.asset) {
          throw new InputError(`ledger ${kind}: the cells given for move ${k + 1} are not this ledger's ${m.asset} balances of ${m.from} and ${m.to}`, { field: 'cells' });
        }
      }
    }
    if (!zero) return this.apply(kind, atMs, reasons, ref, moves, cells as readonly Cell[] | undefined);
    const kept = moves.filter((m) => m.amount !== 0);
    const keptCells = cells ? (cells as readonly Cell[]).filter((_, i) => moves[i >> 1]!.amount !== 0) : undefined;
    return this.apply(kind, atMs, reasons, ref, kept, keptCells);
  }

  private apply(kind: string, atMs: number, reasons: readonly string[], ref: string | null, moves: readonly Move[], cells?: readonly Cell[]): CommitResult {
    if (cells && moves.length > 1) return this.applyCells(kind, atMs, reasons, ref, moves, cells);
    if (moves.length === 1) {
      const m = moves[0]!;
      const book = this.balances.get(m.asset)!;
      const map = book.map;
      const fc = cells ? cells[0] : map.get(m.from);
      const fromBal = fc?.v ?? 0;
      const wouldBe = fromBal - m.amount;
      if (wouldBe < 0 && !this.mayGoNegative(fc, m.from, m.asset)) {
        return { ok: false, reason: 'insufficient', account: m.from, asset: m.asset, balance: fromBal, wouldBe, kind: kind };
      }
      const tc = cells ? cells[1] : map.get(m.to);
      const toBal = (tc?.v ?? 0) + m.amount;
      if (!Number.isSafeInteger(wouldBe) || !Number.isSafeInteger(toBal)) {
        throw new InputError(`ledger ${kind}: a balance of ${m.asset} would leave the safe integer range`, { field: 'amount' });
      }
      if (fc) fc.v = wouldBe;
      else map.set(m.from, { v: wouldBe, name: m.from, asset: m.asset, ledger: this, neg: -1 });
      if (tc) tc.v = toBal;
      else map.set(m.to, { v: toBal, name: m.to, asset: m.asset, ledger: this, neg: -1 });
      book.version++;
    } else if (moves.length > 1) {
      // Net change per (asset, account), checked before anything is applied.
      const net = new Map<string, { asset: Asset; account: string; delta: number }>();
      const key = (a: Asset, acc: string) => `${a}\u0000${acc}`;
      for (const m of moves) {
        const kf = key(m.asset, m.from);
        const kt = key(m.asset, m.to);
        const f = net.get(kf) ?? { asset: m.asset, account: m.from, delta: 0 };
        f.delta -= m.amount;
        net.set(kf, f);
        const t = net.get(kt) ?? { asset: m.asset, account: m.to, delta: 0 };
        t.delta += m.amount;
        net.set(kt, t);
      }
      for (const n of net.values()) {
        const bal = this.balance(n.account, n.asset);
        const wouldBe = bal + n.delta;
        if (n.delta < 0 && wouldBe < 0 && !this.negativeAllowed(n.account, n.asset)) {
          return { ok: false, reason: 'insufficient', account: n.account, asset: n.asset, balance: bal, wouldBe, kind: kind };
        }
        if (!Number.isSafeInteger(wouldBe)) {
          throw new InputError(`ledger ${kind}: the ${n.asset} balance of ${n.account} would leave the safe integer range`, { field: 'amount' });
        }
      }
      for (const n of net.values()) {
        if (n.delta === 0) continue;
        const book = this.balances.get(n.asset)!;
        const c = book.map.get(n.account);
        if (c) c.v = c.v + n.delta;
        else book.map.set(n.account, { v: n.delta, name: n.account, asset: n.asset, ledger: this, neg: -1 });
        book.version++;
      }
    }
    // The entry takes the transaction's arrays (a committed Tx is not to be changed again).
    const entry: JournalEntry = { seq: ++this.seqCounter, atMs, kind, moves, reasons, ref };
    if (this.keepJournal) this.journalEntries.push(entry);
    this.onCommit?.(entry);
    return { ok: true, entry };
  }

  /**
   * `apply` of several moves with their cells: the same net check per account (accounts in the
   * order they first appear, `from` before `to`, move by move), then the same changes.
   */
  private applyCells(kind: string, atMs: number, reasons: readonly string[], ref: string | null, moves: readonly Move[], cells: readonly Cell[]): CommitResult {
    const accounts: Cell[] = [];
    const deltas: number[] = [];
    const add = (c: Cell, d: number) => {
      let k = accounts.indexOf(c);
      if (k < 0) {
        k = accounts.length;
        accounts.push(c);
        deltas.push(0);
      }
      deltas[k] = deltas[k]! + d;
    };
    for (let k = 0; k < moves.length; k++) {
      add(cells[2 * k]!, -moves[k]!.amount);
      add(cells[2 * k + 1]!, moves[k]!.amount);
    }
    for (let k = 0; k < accounts.length; k++) {
      const c = accounts[k]!;
      const delta = deltas[k]!;
      const bal = c.v;
      const wouldBe = bal + delta;
      if (delta < 0 && wouldBe < 0 && !this.mayGoNegative(c, c.name, c.asset)) {
        return { ok: false, reason: 'insufficient', account: c.name, asset: c.asset, balance: bal, wouldBe, kind };
      }
      if (!Number.isSafeInteger(wouldBe)) {
        throw new InputError(`ledger ${kind}: the ${c.asset} balance of ${c.name} would leave the safe integer range`, { field: 'amount' });
      }
    }
    for (let k = 0; k < accounts.length; k++) {
      if (deltas[k] === 0) continue;
      const c = accounts[k]!;
      c.v = c.v + deltas[k]!;
      this.balances.get(c.asset)!.version++;
    }
    const entry: JournalEntry = { seq: ++this.seqCounter, atMs, kind, moves, reasons, ref };
    if (this.keepJournal) this.journalEntries.push(entry);
    this.onCommit?.(entry);
    return { ok: true, entry };
  }

  /**
   * Commits a transaction whose moves are applied in order, each checked against the balance at
   * that point (exactly what committing them one by one would accept), all or none: on a refusal
   * the moves already applied are undone and nothing is journaled. For a batch of many transfers
   * (a negotiation round's loans) this is cheaper than `commit`, which nets the moves first, and
   * stricter (no move may rely on a later one).
   */
  commitInOrder(tx: Tx): CommitResult {
    const moves = tx.moves;
    const n = moves.length;
    let asset: Asset | undefined;
    let map: Map<string, Cell> = this.balances.get('cpu')!.map;
    for (let i = 0; i < n; i++) {
      const m = moves[i]!;
      if (m.asset !== asset) {
        asset = m.asset;
        const book = this.balances.get(asset)!;
        book.version++;
        map = book.map;
      }
      const fc = map.get(m.from);
      const fromBal = fc?.v ?? 0;
      const wouldBe = fromBal - m.amount;
      const tc = map.get(m.to);
      const toBal = (tc?.v ?? 0) + m.amount;
      const refused = wouldBe < 0 && !this.negativeAllowed(m.from, m.asset);
      const unsafe = !refused && (!Number.isSafeInteger(wouldBe) || !Number.isSafeInteger(toBal));
      if (refused || unsafe) {
        this.undo(moves, i);
        if (unsafe) throw new InputError(`ledger ${tx.kind}: a balance of ${m.asset} would leave the safe integer range (move ${i + 1} of ${n})`, { field: 'amount' });
        return { ok: false, reason: 'insufficient', account: m.from, asset: m.asset, balance: fromBal, wouldBe, kind: tx.kind };
      }
      if (fc) fc.v = wouldBe;
      else map.set(m.from, { v: wouldBe, name: m.from, asset: m.asset, ledger: this, neg: -1 });
      if (tc) tc.v = toBal;
      else map.set(m.to, { v: toBal, name: m.to, asset: m.asset, ledger: this, neg: -1 });
    }
    const entry: JournalEntry = { seq: ++this.seqCounter, atMs: tx.atMs, kind: tx.kind, moves, reasons: tx.reasons, ref: tx.ref };
    if (this.keepJournal) this.journalEntries.push(entry);
    this.onCommit?.(entry);
    return { ok: true, entry };
  }

  /** Takes back the first `count` moves, last first (a refused `commitInOrder`). */
  private undo(moves: readonly Move[], count: number): void {
    for (let j = count - 1; j >= 0; j--) {
      const m = moves[j]!;
      const book = this.balances.get(m.asset)!;
      book.version++;
      const map = book.map;
      map.get(m.to)!.v -= m.amount;
      map.get(m.from)!.v += m.amount;
    }
  }

  /** negativeAllowed(name, asset), remembered on the balance's cell when the rule is the default (a fixed rule of the name). */
  private mayGoNegative(c: Cell | undefined, name: string, asset: Asset): boolean {
    if (c === undefined || this.negativeAllowed !== defaultNegativeAllowed) return this.negativeAllowed(name, asset);
    if (c.neg < 0) c.neg = defaultNegativeAllowed(name) ? 1 : 0;
    return c.neg === 1;
  }

  /** One move as its own transaction. */
  transfer(asset: Asset, from: string, to: string, amount: number, kind: string, atMs: number, reasons: readonly string[] = [], ref: string | null = null): CommitResult {
    return this.commit(this.begin(kind, atMs, reasons, ref).move(asset, from, to, amount));
  }

  /**
   * Replays a journal onto an empty ledger and returns it (the store's recovery path, and a check
   * that the journal alone explains every balance).
   */
  static replay(entries: readonly JournalEntry[], options: LedgerOptions = {}): Ledger {
    const l = new Ledger({ ...options, negativeAllowed: () => true });
    for (const e of entries) {
      const tx = l.begin(e.kind, e.atMs, e.reasons, e.ref);
      for (const m of e.moves) tx.move(m.asset, m.from, m.to, m.amount);
      l.commit(tx);
    }
    return l;
  }
}
