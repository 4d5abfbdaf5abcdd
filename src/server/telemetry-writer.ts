// Group commit for telemetry: batches that arrive while the store is busy are written together in
// one transaction (one fsync), and each request is answered only after the transaction that holds
// its batch committed, so an acknowledged batch is durable. The SQLite store is synchronous: a
// commit with fsync blocks the event loop for milliseconds, and one commit per POST would spend
// most of the loop's time waiting on the disk.
//
// Each batch keeps its own result (dedupe by agent and sequence happens inside the transaction,
// in order). If a group transaction fails, its batches are retried one by one, so one bad batch
// cannot fail the others.
import type { AppendTelemetryResult, Store } from '../core/store.js';
import type { TelemetryBatch } from '../core/telemetry.js';

interface Pending {
  batch: TelemetryBatch;
  receivedAtMs: number;
  resolve: (r: AppendTelemetryResult) => void;
  reject: (e: unknown) => void;
}

export class TelemetryWriter {
  private queue: Pending[] = [];
  private running: Promise<void> | null = null;
  private scheduled = false;
  /** Transactions committed and batches written (for tests and metrics). */
  readonly stats = { transactions: 0, batches: 0 };

  constructor(
    private readonly store: Store,
    /** Most batches in one transaction. */
    private readonly maxGroup = 256,
  ) {}

  append(batch: TelemetryBatch, receivedAtMs: number): Promise<AppendTelemetryResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ batch, receivedAtMs, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    // After the current I/O callbacks: requests parsed in the same turn join the group.
    setImmediate(() => {
      this.scheduled = false;
      this.running = this.drain().finally(() => {
        this.running = null;
        if (this.queue.length > 0) this.schedule();
      });
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const group = this.queue.splice(0, this.maxGroup);
      try {
        const results = await this.store.transaction(async (tx) => {
          const out: AppendTelemetryResult[] = [];
          for (const p of group) out.push(await tx.appendTelemetry(p.batch, p.receivedAtMs));
          return out;
        });
        this.stats.transactions++;
        this.stats.batches += group.length;
        group.forEach((p, i) => p.resolve(results[i]!));
      } catch {
        // Retry one by one: each request gets its own answer.
        for (const p of group) {
          try {
            const r = await this.store.appendTelemetry(p.batch, p.receivedAtMs);
            this.stats.transactions++;
            this.stats.batches++;
            p.resolve(r);
          } catch (e) {
            p.reject(e);
          }
        }
      }
    }
  }

  /** Resolves when everything queued so far is written. */
  async flush(): Promise<void> {
    while (this.running || this.queue.length > 0 || this.scheduled) {
      if (this.running) await this.running;
      else await new Promise((r) => setImmediate(r));
    }
  }
}
