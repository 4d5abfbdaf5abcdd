// Worker threads that each append their series' CSV rows to a part file of their own: the main
// thread copies the chunks back in series order, so the output is byte-identical to one thread.
import { closeSync, openSync, readSync } from 'node:fs';

/** Where one series' rows are: which worker's part file, at what byte offset, how long. */
export interface PartChunk {
  worker: number;
  offset: number;
  length: number;
  rows: number;
}

/** Appends every chunk, in ascending position order, from its worker's part file to `sink`. */
export function copyChunksInOrder(parts: readonly string[], chunks: ReadonlyMap<number, PartChunk>, sink: { bytes(data: Uint8Array, rows: number): void }): void {
  const fds = parts.map((p) => openSync(p, 'r'));
  try {
    let buf = Buffer.alloc(1 << 20);
    for (const position of [...chunks.keys()].sort((a, b) => a - b)) {
      const c = chunks.get(position)!;
      if (c.length === 0) continue;
      if (buf.length < c.length) buf = Buffer.alloc(c.length);
      readSync(fds[c.worker]!, buf, 0, c.length, c.offset);
      sink.bytes(buf.subarray(0, c.length), c.rows);
    }
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}
