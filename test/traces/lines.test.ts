// readText + forEachLine (the whole-file path the Bitbrains reader takes) give exactly the lines
// readLines (Node's readline) gives, for any mix of LF, CRLF and lone CR, a BOM and gzip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { forEachLine, readLines, readText } from '../../src/traces/common/files.js';
import { TraceFormatError } from '../../src/core/errors.js';

function linesOf(text: string): string[] {
  const out: string[] = [];
  forEachLine(text, (t, s, e) => void out.push(t.slice(s, e)));
  return out;
}

async function viaReadline(file: string): Promise<string[]> {
  const out: string[] = [];
  for await (const l of readLines(file)) out.push(l);
  return out;
}

test('forEachLine splits as readline does (LF, CRLF, lone CR, BOM, gzip)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-lines-'));
  try {
    const piece = fc.constantFrom('a', 'bc', '1;\t2', ' ', '\n', '\r', '\r\n', '\n\n', 'é', '\ufeff');
    let k = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 40 }), fc.boolean(), fc.boolean(), async (parts, bom, gz) => {
        const text = (bom ? '\ufeff' : '') + parts.join('');
        const file = join(dir, `f${k++}.csv${gz ? '.gz' : ''}`);
        writeFileSync(file, gz ? gzipSync(Buffer.from(text, 'utf8')) : text);
        assert.deepEqual(linesOf(await readText(file)), await viaReadline(file));
      }),
      { numRuns: 300 },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('forEachLine numbers lines from 1', () => {
  const seen: Array<[string, number]> = [];
  forEachLine('x\n\ny', (t, s, e, n) => void seen.push([t.slice(s, e), n]));
  assert.deepEqual(seen, [['x', 1], ['', 2], ['y', 3]]);
});

test('readText: a missing file and corrupt gzip are trace errors naming the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'prescient-lines-'));
  try {
    await assert.rejects(readText(join(dir, 'nope.csv')), (e: unknown) => e instanceof TraceFormatError && /nope\.csv: no such file/.test(e.message));
    writeFileSync(join(dir, 'bad.csv.gz'), 'not gzip');
    await assert.rejects(readText(join(dir, 'bad.csv.gz')), (e: unknown) => e instanceof TraceFormatError && /bad\.csv\.gz: cannot read \(gzip\)/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
