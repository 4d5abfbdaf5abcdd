// The agent's durable buffer: every batch is written to disk BEFORE it is sent, one file per
// batch, and removed only once the server acknowledged it (or rejected it as bad). A crash, a
// restart or a server outage loses nothing within the size bound; beyond it the OLDEST batches
// are dropped and counted.
//
// Layout of the spool directory:
//   batch-<sequence, 16 digits>.json   one TelemetryBatch each (written as temp + fsync + rename)
//   state.json                         {"nextSequence": n}, written the same way
//   lock                               pid of the agent using the directory
//   *.tmp                              a write interrupted by a crash: removed on open
//   *.corrupt                          a batch file that did not parse: set aside, never sent
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PrescientError } from '../core/errors.js';
import { telemetryBatchSchema, type TelemetryBatch } from '../core/telemetry.js';
import type { Log } from './collectors.js';

const BATCH_FILE = /^batch-(\d{1,16})\.json$/;
const STATE_FILE = 'state.json';
const LOCK_FILE = 'lock';

export function batchFileName(sequence: number): string {
  return `batch-${String(sequence).padStart(16, '0')}.json`;
}

/** Writes a file so that after a crash it holds either the old or the new content, never a mix. */
export async function writeFileAtomic(dir: string, name: string, data: string): Promise<void> {
  const tmp = join(dir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, name));
  await fsyncDir(dir);
}

async function fsyncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errno(err) === 'EPERM';
  }
}

/** Spool directories opened by this process (a lock file with our own pid is only stale if not here). */
const openHere = new Set<string>();

export interface SpoolOptions {
  dir: string;
  /** Total size of the batch files kept; beyond it the oldest are dropped. */
  maxBytes: number;
  log: Log;
  /**
   * Sequence of the first batch of a spool that has none yet (no state, no batch files). The
   * agent passes the wall clock in ms: an agent whose spool was wiped then never reuses a
   * sequence the server already acknowledged (it would be taken for a resend and not stored).
   */
  firstSequence: number;
}

export interface AppendResult {
  sequence: number;
  /** Oldest batches dropped to stay within the bound by this append. */
  dropped: number;
}

export class Spool {
  private readonly sizes = new Map<number, number>();
  /** Pending sequences in ascending order. */
  private order: number[] = [];
  private bytes = 0;
  private next: number;
  private droppedTotal = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** The batch the sender has in flight, exempt from being dropped over the bound. */
  private sending: number | undefined;

  private constructor(
    private readonly opts: SpoolOptions,
    next: number,
  ) {
    this.next = next;
  }

  /** Opens (creating) the directory, takes its lock, clears interrupted writes and loads what is pending. */
  static async open(opts: SpoolOptions): Promise<Spool> {
    const dir = opts.dir;
    await mkdir(dir, { recursive: true });
    await lock(dir);
    try {
      const names = await readdir(dir);
      let state: number | undefined;
      const pending: Array<[number, number]> = [];
      for (const name of names) {
        if (name.endsWith('.tmp')) {
          await unlink(join(dir, name)).catch(() => {});
          continue;
        }
        const m = BATCH_FILE.exec(name);
        if (m) pending.push([Number(m[1]), (await stat(join(dir, name))).size]);
      }
      try {
        const s = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as { nextSequence?: unknown };
        if (typeof s.nextSequence === 'number' && Number.isSafeInteger(s.nextSequence) && s.nextSequence >= 0) state = s.nextSequence;
        else opts.log(`spool ${dir}: ${STATE_FILE} has no valid nextSequence; recovered from the batch files`);
      } catch (err) {
        if (errno(err) !== 'ENOENT') opts.log(`spool ${dir}: ${STATE_FILE} unreadable (${(err as Error).message}); recovered from the batch files`);
      }
      pending.sort((a, b) => a[0] - b[0]);
      // The batch file is written before the state: after a crash in between, the files know better.
      const afterFiles = pending.length > 0 ? pending[pending.length - 1]![0] + 1 : undefined;
      const next = Math.max(state ?? afterFiles ?? opts.firstSequence, afterFiles ?? 0);
      const spool = new Spool(opts, next);
      for (const [seq, size] of pending) {
        spool.sizes.set(seq, size);
        spool.order.push(seq);
        spool.bytes += size;
      }
      if (state === undefined) await writeFileAtomic(dir, STATE_FILE, JSON.stringify({ nextSequence: next }));
      if (pending.length > 0) opts.log(`spool ${dir}: resuming with ${pending.length} unsent batches (${(spool.bytes / 1024).toFixed(1)} KiB), sequences ${pending[0]![0]}..${pending[pending.length - 1]![0]}`);
      return spool;
    } catch (err) {
      await unlock(dir);
      throw err;
    }
  }

  get dir(): string {
    return this.opts.dir;
  }

  /** The sequence the next appended batch gets. */
  get nextSequence(): number {
    return this.next;
  }

  /** Oldest pending batch, if any. */
  oldest(): number | undefined {
    return this.order[0];
  }

  pending(): number[] {
    return [...this.order];
  }

  stats(): { batches: number; bytes: number; droppedTotal: number } {
    return { batches: this.order.length, bytes: this.bytes, droppedTotal: this.droppedTotal };
  }

  /** Serializes appends and removals (one file operation on the index at a time). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => {});
    return run;
  }

  /**
   * Gives the next sequence to `make`, writes the batch durably, then persists the next sequence.
   * If the spool would exceed its bound, the oldest batches are dropped first (never the new one).
   */
  append(make: (sequence: number) => TelemetryBatch): Promise<AppendResult> {
    return this.serial(async () => {
      if (this.closed) throw new PrescientError('E_INTERNAL', `spool ${this.dir} is closed`);
      const sequence = this.next;
      const batch = make(sequence);
      if (batch.sequence !== sequence) throw new PrescientError('E_INTERNAL', `batch has sequence ${batch.sequence}, spool gave ${sequence}`);
      const text = JSON.stringify(batch);
      const size = Buffer.byteLength(text);
      const droppedSeqs: number[] = [];
      while (this.bytes + size > this.opts.maxBytes) {
        // the batch being sent is not dropped: it is already on its way to the server
        const at = this.order[0] === this.sending ? 1 : 0;
        if (at >= this.order.length) break;
        const old = this.order.splice(at, 1)[0]!;
        this.bytes -= this.sizes.get(old)!;
        this.sizes.delete(old);
        droppedSeqs.push(old);
        await unlink(join(this.dir, batchFileName(old))).catch((err) => {
          if (errno(err) !== 'ENOENT') throw err;
        });
      }
      if (droppedSeqs.length > 0) {
        this.droppedTotal += droppedSeqs.length;
        this.opts.log(
          `spool ${this.dir} over its bound of ${(this.opts.maxBytes / 1048576).toFixed(2)} MiB: dropped the ${droppedSeqs.length} oldest batches ` +
            `(sequences ${droppedSeqs[0]}..${droppedSeqs[droppedSeqs.length - 1]}); ${this.droppedTotal} dropped since start`,
        );
      }
      if (size > this.opts.maxBytes) this.opts.log(`spool ${this.dir}: batch ${sequence} alone (${size} bytes) exceeds the bound; kept anyway`);
      await writeFileAtomic(this.dir, batchFileName(sequence), text);
      this.sizes.set(sequence, size);
      this.order.push(sequence);
      this.bytes += size;
      this.next = sequence + 1;
      await writeFileAtomic(this.dir, STATE_FILE, JSON.stringify({ nextSequence: this.next }));
      return { sequence, dropped: droppedSeqs.length };
    });
  }

  /**
   * The stored batch, or undefined if it is no longer pending (dropped meanwhile). A file that
   * does not parse is renamed *.corrupt, logged and treated as gone.
   */
  async read(sequence: number): Promise<TelemetryBatch | undefined> {
    if (!this.sizes.has(sequence)) return undefined;
    const path = join(this.dir, batchFileName(sequence));
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (errno(err) === 'ENOENT') {
        await this.forget(sequence);
        return undefined;
      }
      throw err;
    }
    let parsed: ReturnType<typeof telemetryBatchSchema.safeParse>;
    try {
      parsed = telemetryBatchSchema.safeParse(JSON.parse(text));
    } catch (err) {
      parsed = { success: false, error: err } as never;
    }
    if (parsed.success && parsed.data.sequence === sequence) return parsed.data;
    const why = parsed.success ? `holds sequence ${parsed.data.sequence}` : String((parsed.error as Error)?.message ?? parsed.error).split('\n')[0];
    this.opts.log(`spool ${this.dir}: ${batchFileName(sequence)} is not a valid batch (${why}); set aside as .corrupt`);
    await this.serial(async () => {
      await rename(path, `${path}.corrupt`).catch(() => {});
      this.drop(sequence);
    });
    return undefined;
  }

  /**
   * Marks the batch the sender is sending now (undefined: none). The bound never drops it: it
   * may already have reached the server, and counting it as dropped would be a lie.
   */
  markSending(sequence: number | undefined): void {
    this.sending = sequence;
  }

  /** Removes a batch that the server acknowledged or rejected. Removing one already gone is a no-op. */
  remove(sequence: number): Promise<void> {
    return this.serial(async () => {
      if (!this.sizes.has(sequence)) return;
      await unlink(join(this.dir, batchFileName(sequence))).catch((err) => {
        if (errno(err) !== 'ENOENT') throw err;
      });
      this.drop(sequence);
    });
  }

  private forget(sequence: number): Promise<void> {
    return this.serial(async () => this.drop(sequence));
  }

  private drop(sequence: number): void {
    const size = this.sizes.get(sequence);
    if (size === undefined) return;
    this.sizes.delete(sequence);
    this.bytes -= size;
    this.order = this.order.filter((s) => s !== sequence);
  }

  /** Waits for pending writes and releases the directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.serial(async () => {
      this.closed = true;
    });
    await unlock(this.dir);
  }
}

async function lock(dir: string): Promise<void> {
  const path = join(dir, LOCK_FILE);
  const key = resolve(dir);
  if (openHere.has(key)) throw new PrescientError('E_CONFIG', `spool ${dir} is already open in this process`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      openHere.add(key);
      return;
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw err;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
        throw new PrescientError('E_CONFIG', `spool ${dir} is in use by another agent (pid ${pid}); give each agent its own --spool`);
      }
      await unlink(path).catch(() => {}); // stale: its agent is gone
    }
  }
  throw new PrescientError('E_CONFIG', `spool ${dir}: could not take the lock ${path}`);
}

async function unlock(dir: string): Promise<void> {
  openHere.delete(resolve(dir));
  await unlink(join(dir, LOCK_FILE)).catch(() => {});
}
