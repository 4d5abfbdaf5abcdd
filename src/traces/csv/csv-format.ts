// The generic CSV trace format (documented in ./README.md): a header, a time column, any of
// cpu/memory/disk/network, an optional series column, and an optional units comment.
import type { ReadOptions, TraceFormat, TraceSeries } from '../format.js';
import type { ResourceName, Unit } from '../../core/resources.js';
import { RESOURCE_NAMES } from '../../core/resources.js';
import { listTraceFiles, readLines, seriesIdOf } from '../common/files.js';
import { GrowableFloat64Array } from '../common/growable-array.js';
import { parseDecimal, parseUsage } from '../common/parse.js';
import { medianPositiveStep, streamFiles } from '../common/stream-files.js';
import { TraceFormatError } from '../../core/errors.js';

/** Unit of each resource when the file declares none. */
export const CSV_DEFAULT_UNITS: Readonly<Record<ResourceName, Unit>> = {
  cpu: 'cores',
  memory: 'MiB',
  disk: 'KiBps',
  network: 'KiBps',
};

/** Units a `# units:` line may declare, per resource. */
export const CSV_ALLOWED_UNITS: Readonly<Record<ResourceName, readonly Unit[]>> = {
  cpu: ['cores', 'millicores', 'percent', 'MIPS'],
  memory: ['MiB', 'percent'],
  disk: ['KiBps', 'percent'],
  network: ['KiBps', 'percent'],
};

/** Step reported for a series with fewer than two samples. */
export const CSV_FALLBACK_STEP_SECONDS = 300;

/**
 * Generic CSV reader (see src/traces/csv/README.md for the full format). Reads `path` when it is
 * a file, else the `.csv` / `.csv.gz` files in the folder. Rows are kept as they are (no
 * resampling): `timesS` holds each sample's time, `stepSeconds` is the median positive spacing.
 */
export const csvFormat: TraceFormat = {
  name: 'csv',
  description: 'Generic CSV: header with time and any of cpu,memory,disk,network (+ optional series); "# units:" line',
  resources: RESOURCE_NAMES,
  listFiles: (path: string) => listTraceFiles(path, isCsvFile),
  read(path: string, options?: ReadOptions): AsyncIterable<TraceSeries> {
    return (async function* () {
      const files = await listTraceFiles(path, isCsvFile);
      yield* streamFiles(files, options, readCsvFile, false);
    })();
  },
};

function isCsvFile(name: string): boolean {
  return name.endsWith('.csv') || name.endsWith('.csv.gz');
}

interface Columns {
  time: number;
  series: number;
  resources: Array<[ResourceName, number]>;
  width: number;
}

interface Builder {
  times: GrowableFloat64Array;
  values: Map<ResourceName, GrowableFloat64Array>;
  /** Line of the previous row, for the error when time does not increase. */
  lastLine: number;
}

const UNITS_COMMENT = /^#\s*units\s*:(.*)$/i;

async function readCsvFile(file: string, keep: (id: string) => boolean): Promise<TraceSeries[]> {
  const units: Record<ResourceName, Unit> = { ...CSV_DEFAULT_UNITS };
  let unitsDeclared = false;
  let columns: Columns | null = null;
  const builders = new Map<string, Builder | null>();
  const fileId = seriesIdOf(file);
  let line = 0;
  let skippedRows = 0;
  for await (const text of readLines(file)) {
    line++;
    const trimmed = text.trim();
    if (trimmed === '') {
      skippedRows++;
      continue;
    }
    if (trimmed.startsWith('#')) {
      const m = UNITS_COMMENT.exec(trimmed);
      if (m) {
        if (columns !== null) throw new TraceFormatError('"# units:" must come before the header', { file, line, field: 'units' });
        if (unitsDeclared) throw new TraceFormatError('units declared twice', { file, line, field: 'units' });
        parseUnits(m[1]!, units, { file, line });
        unitsDeclared = true;
      }
      continue;
    }
    const fields = text.split(',');
    if (columns === null) {
      columns = parseHeader(fields, { file, line });
      continue;
    }
    if (fields.length !== columns.width) {
      throw new TraceFormatError(`expected ${columns.width} comma-separated fields (as the header), found ${fields.length}`, {
        file,
        line,
      });
    }
    const id = columns.series >= 0 ? fields[columns.series]!.trim() : fileId;
    if (id === '') throw new TraceFormatError('empty series id', { file, line, field: 'series' });
    let b = builders.get(id);
    if (b === undefined) {
      b = keep(id) ? newBuilder(columns) : null;
      builders.set(id, b);
    }
    if (b === null) continue;
    const t = parseTime(fields[columns.time]!, { file, line });
    const n = b.times.length;
    if (n > 0 && !(t > b.times.at(n - 1))) {
      throw new TraceFormatError(
        `time ${fields[columns.time]!.trim()} is not after the previous row of series ${JSON.stringify(id)} (line ${b.lastLine})`,
        { file, line, field: 'time' },
      );
    }
    b.times.push(t);
    b.lastLine = line;
    for (const [resource, col] of columns.resources) {
      const cell = fields[col]!;
      b.values.get(resource)!.push(cell.trim() === '' ? Number.NaN : parseUsage(cell, resource, { file, line }));
    }
  }
  if (columns === null) {
    if (line === skippedRows) return []; // an empty file holds no series
    throw new TraceFormatError('missing header line', { file, line: line + 1 });
  }
  const out: TraceSeries[] = [];
  for (const id of [...builders.keys()].sort()) {
    const b = builders.get(id);
    if (!b) continue;
    const timesS = b.times.toArray();
    const values: Partial<Record<ResourceName, Float64Array>> = {};
    const seriesUnits: Partial<Record<ResourceName, Unit>> = {};
    for (const [resource, arr] of b.values) {
      values[resource] = arr.toArray();
      seriesUnits[resource] = units[resource];
    }
    out.push({
      id,
      file,
      stepSeconds: medianPositiveStep(timesS, CSV_FALLBACK_STEP_SECONDS),
      startTimeS: timesS.length > 0 ? timesS[0]! : 0,
      length: timesS.length,
      values,
      units: seriesUnits,
      skippedRows,
      timesS,
    });
  }
  return out;
}

function newBuilder(columns: Columns): Builder {
  const values = new Map<ResourceName, GrowableFloat64Array>();
  for (const [resource] of columns.resources) values.set(resource, new GrowableFloat64Array(256));
  return { times: new GrowableFloat64Array(256), values, lastLine: 0 };
}

function parseHeader(fields: string[], at: { file: string; line: number }): Columns {
  const names = fields.map((f) => f.trim().toLowerCase());
  const seen = new Set<string>();
  for (const n of names) {
    if (n !== '' && seen.has(n)) throw new TraceFormatError(`column ${JSON.stringify(n)} appears twice in the header`, { ...at, field: n });
    seen.add(n);
  }
  const time = names.indexOf('time');
  if (time < 0) {
    throw new TraceFormatError(`header has no "time" column (found: ${names.join(',')})`, { ...at, field: 'time' });
  }
  const resources: Array<[ResourceName, number]> = [];
  for (const r of RESOURCE_NAMES) {
    const i = names.indexOf(r);
    if (i >= 0) resources.push([r, i]);
  }
  if (resources.length === 0) {
    throw new TraceFormatError(`header has none of the columns ${RESOURCE_NAMES.join(', ')}`, at);
  }
  return { time, series: names.indexOf('series'), resources, width: names.length };
}

function parseUnits(spec: string, units: Record<ResourceName, Unit>, at: { file: string; line: number }): void {
  for (const part of spec.split(',')) {
    if (part.trim() === '') continue;
    const [rawResource, rawUnit, extra] = part.split('=').map((s) => s.trim());
    const resource = rawResource as ResourceName;
    if (!RESOURCE_NAMES.includes(resource) || rawUnit === undefined || extra !== undefined) {
      throw new TraceFormatError(
        `expected resource=unit with a resource among ${RESOURCE_NAMES.join(', ')}, got ${JSON.stringify(part.trim())}`,
        { ...at, field: 'units' },
      );
    }
    const allowed = CSV_ALLOWED_UNITS[resource];
    if (!allowed.includes(rawUnit as Unit)) {
      throw new TraceFormatError(`unit ${JSON.stringify(rawUnit)} for ${resource}; expected one of ${allowed.join(', ')}`, {
        ...at,
        field: 'units',
      });
    }
    units[resource] = rawUnit as Unit;
  }
}

const ISO_8601 = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * A time cell: Unix seconds (a decimal number) or ISO-8601 (`2024-03-01`,
 * `2024-03-01T12:00:00Z`, `2024-03-01 12:00:00+02:00`...); a date-time without offset is UTC.
 */
function parseTime(cell: string, at: { file: string; line: number }): number {
  const s = cell.trim();
  const n = parseDecimal(s);
  if (Number.isFinite(n)) return n;
  const m = ISO_8601.exec(s);
  if (m && isCalendarDate(m[1]!)) {
    const offset = m[3] === undefined ? 'Z' : m[3].length === 5 ? `${m[3].slice(0, 3)}:${m[3].slice(3)}` : m[3];
    const ms = Date.parse(m[2] === undefined ? `${m[1]}T00:00:00Z` : `${m[1]}T${m[2]}${offset}`);
    if (Number.isFinite(ms)) return ms / 1000;
  }
  throw new TraceFormatError(`not a time (Unix seconds or ISO-8601): ${JSON.stringify(s)}`, { ...at, field: 'time' });
}

/** True when `yyyy-mm-dd` names a real day (Date.parse would roll 2024-02-30 over to March). */
function isCalendarDate(ymd: string): boolean {
  const [y, mo, d] = ymd.split('-').map(Number) as [number, number, number];
  if (mo < 1 || mo > 12 || d < 1) return false;
  return d <= new Date(Date.UTC(y, mo, 0)).getUTCDate();
}
