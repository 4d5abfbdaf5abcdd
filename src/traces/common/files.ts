// File listing, series ids and line-by-line reading shared by the file-based trace formats.
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
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
