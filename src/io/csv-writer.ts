// A buffered, synchronous CSV writer for long runs (the time-stepped loops never await).
import { closeSync, openSync, writeSync } from 'node:fs';

/** CSV field for a number: shortest round-trip text; empty for a missing (non-finite) value. */
export function csvNumber(x: number): string {
  return Number.isFinite(x) ? String(x) : '';
}

/** CSV field for text, quoted only when it must be. */
export function csvText(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export class CsvWriter {
  private readonly fd: number;
  private buf: string[] = [];
  private size = 0;
  rows = 0;

  constructor(
    readonly path: string,
    header: readonly string[],
  ) {
    this.fd = openSync(path, 'w');
    writeSync(this.fd, `${header.map(csvText).join(',')}\n`);
  }

  /** Appends one already-formatted line (without the newline). */
  line(text: string): void {
    this.buf.push(text, '\n');
    this.size += text.length + 1;
    this.rows++;
    if (this.size > 1 << 20) this.flush();
  }

  /** Appends bytes that already hold complete CSV lines (`rows` counts them). */
  bytes(data: Uint8Array, rows: number): void {
    this.flush();
    writeSync(this.fd, data);
    this.rows += rows;
  }

  flush(): void {
    if (this.buf.length === 0) return;
    writeSync(this.fd, this.buf.join(''));
    this.buf = [];
    this.size = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}
