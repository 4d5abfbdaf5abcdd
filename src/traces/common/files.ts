// File listing, series ids and line-by-line reading shared by the file-based trace formats.
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip, gunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { InputError, TraceFormatError } from '../../core/errors.js';

/**
 * The files of `path` that `accept` takes: `path` itself when it is a file, else the regular,
 * non-hidden files directly in the folder (no recursion), sorted by plain string order (as
 * CloudSim does). A missing path throws an InputError naming it.
 */
export async function listTraceFiles(path: string, accept: (name: string) => boolean = () => true): Promise<string[]> {
  let info;
  try {
    info = await stat(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const what = code === 'ENOENT' ? 'no such file or folder' : `cannot read (${code ?? String(cause)})`;
    throw new InputError(what, { file: path }, { cause });
  }
  if (info.isFile()) return [path];
  if (!info.isDirectory()) throw new InputError('neither a file nor a folder', { file: path });
  const entries = await readdir(path, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && !e.name.startsWith('.') && accept(e.name))
    .map((e) => e.name)
    .sort()
    .map((name) => join(path, name));
}

/** Series id of a file: its name without a trailing `.gz`, then without a trailing `.csv`. */
export function seriesIdOf(file: string): string {
  let name = basename(file);
  if (name.endsWith('.gz')) name = name.slice(0, -3);
  if (name.endsWith('.csv')) name = name.slice(0, -4);
  return name;
}

/**
 * Streams the lines of a file (gunzipped when it ends in `.gz`), without line terminators
 * (LF or CRLF) and without a leading UTF-8 byte order mark. Read errors and corrupt gzip data are rethrown as TraceFormatError naming the file.
 * Breaking out of the loop closes the file.
 */
export async function* readLines(file: string): AsyncGenerator<string, void, undefined> {
  const source = createReadStream(file);
  let input: Readable = source;
  if (file.endsWith('.gz')) {
    const gunzip = createGunzip();
    source.on('error', (err) => gunzip.destroy(err));
    input = source.pipe(gunzip);
  }
  const rl = createInterface({ input, crlfDelay: Infinity });
  let first = true;
  try {
    for await (const line of rl) {
      if (first) {
        first = false;
        if (line.charCodeAt(0) === 0xfeff) {
          yield line.slice(1); // a UTF-8 byte order mark, as spreadsheet exports write
          continue;
        }
      }
      yield line;
    }
  } catch (cause) {
    if (cause instanceof TraceFormatError) throw cause;
    const code = (cause as NodeJS.ErrnoException).code;
    const message = cause instanceof Error ? cause.message : String(cause);
    const what = code === 'ENOENT' ? 'no such file' : `cannot read${file.endsWith('.gz') ? ' (gzip)' : ''}: ${message}`;
    throw new TraceFormatError(what, { file }, { cause });
  } finally {
    rl.close();
    input.destroy();
    source.destroy();
  }
}

const gunzipAsync = promisify(gunzip);

/**
 * The whole text of a file (gunzipped when it ends in `.gz`), for `forEachLine`: for files that fit in memory, much faster than `readLines` (no per-line stream events).
 * Read errors and corrupt gzip data are TraceFormatErrors naming the file, as in `readLines`.
 */
export async function readText(file: string): Promise<string> {
  let text: string;
  try {
    const raw = await readFile(file);
    text = (file.endsWith('.gz') ? await gunzipAsync(raw) : raw).toString('utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const message = cause instanceof Error ? cause.message : String(cause);
    const what = code === 'ENOENT' ? 'no such file' : `cannot read${file.endsWith('.gz') ? ' (gzip)' : ''}: ${message}`;
    throw new TraceFormatError(what, { file }, { cause });
  }
  return text;
}

/**
 * Calls `fn(text, start, end, lineNumber)` for every line of `text`, as `readLines` (Node's
 * readline) splits them: at LF, CRLF or a lone CR, terminators excluded, no line after a final
 * terminator, a leading UTF-8 byte order mark left out of the first line. Lines are given as
 * index ranges, so a caller can parse fields without copying.
 */
export function forEachLine(text: string, fn: (text: string, start: number, end: number, lineNumber: number) => void): void {
  const n = text.length;
  let start = 0;
  let line = 0;
  if (text.charCodeAt(0) === 0xfeff) {
    start = 1;
    if (n === 1) {
      fn(text, 1, 1, 1); // a file holding only the mark is one empty line to readline
      return;
    }
  }
  if (text.indexOf('\r') === -1) {
    // LF only (the common case): one indexOf per line
    while (start < n) {
      let end = text.indexOf('\n', start);
      if (end === -1) end = n;
      fn(text, start, end, ++line);
      start = end + 1;
    }
    return;
  }
  while (start < n) {
    let end = start;
    while (end < n) {
      const c = text.charCodeAt(end);
      if (c === 10 || c === 13) break;
      end++;
    }
    fn(text, start, end, ++line);
    start = end < n && text.charCodeAt(end) === 13 && end + 1 < n && text.charCodeAt(end + 1) === 10 ? end + 2 : end + 1;
  }
}
