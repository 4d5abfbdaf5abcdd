// Reads a PlanetLab day folder (one file per VM, one integer CPU % per line, 300 s apart) the way
// CloudSim's PlanetLabHelper + UtilizationModelPlanetLabInMemory do, with the file list sorted by
// name (String order, as Java's compareTo). This is the only file of the scenario that does I/O.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TraceFormatError } from '../../core/errors.js';

export interface PlanetLabDay {
  /** File names, sorted. VM i is built from names[i]. */
  names: string[];
  /** CPU % per 300 s sample, one array per VM. */
  cpuPct: Float64Array[];
}

/** Reads the first `samples` lines (288 = 24 h) of every file in `folder`. */
export function loadPlanetLabDay(folder: string, samples = 288): PlanetLabDay {
  const names = readdirSync(folder)
    .filter((n) => !n.startsWith('.') && statSync(join(folder, n)).isFile())
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const cpuPct: Float64Array[] = [];
  for (const name of names) {
    const file = join(folder, name);
    const text = readFileSync(file, 'utf8');
    const out = new Float64Array(samples);
    let line = 0;
    let start = 0;
    while (line < samples) {
      if (start >= text.length) {
        throw new TraceFormatError(`expected ${samples} lines of CPU %, found ${line}`, { file, line: line + 1 });
      }
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      const raw = text.slice(start, end).trim();
      // Integer.valueOf: an optional sign and decimal digits only.
      if (!/^[+-]?\d+$/.test(raw)) {
        throw new TraceFormatError(`not an integer CPU %: ${JSON.stringify(raw)}`, { file, line: line + 1, field: 'cpu_pct' });
      }
      out[line] = Number.parseInt(raw, 10);
      line++;
      start = end + 1;
    }
    cpuPct.push(out);
  }
  return { names, cpuPct };
}
