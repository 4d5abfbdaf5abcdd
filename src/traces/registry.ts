// Trace formats by name.
import { InputError } from '../core/errors.js';
import type { TraceFormat } from './format.js';
import { alibabaFormat } from './alibaba/alibaba-format.js';
import { bitbrainsFormat } from './bitbrains/bitbrains-format.js';
import { csvFormat } from './csv/csv-format.js';
import { google2011Format } from './google2011/google2011-format.js';
import { planetlabFormat } from './planetlab/planetlab-format.js';
import { syntheticFormat } from './synthetic/synthetic-format.js';

const FORMATS: readonly TraceFormat[] = [
  planetlabFormat,
  bitbrainsFormat,
  google2011Format,
  alibabaFormat,
  csvFormat,
  syntheticFormat,
];

/** Names accepted by getTraceFormat, e.g. for a CLI `--format` choice list. */
export const TRACE_FORMAT_NAMES: readonly string[] = Object.freeze(FORMATS.map((f) => f.name));

/** The format named `name`; throws an InputError listing the valid names otherwise. */
export function getTraceFormat(name: string): TraceFormat {
  const format = FORMATS.find((f) => f.name === name);
  if (!format) {
    throw new InputError(`unknown trace format ${JSON.stringify(name)}; valid formats: ${TRACE_FORMAT_NAMES.join(', ')}`, {
      field: 'format',
    });
  }
  return format;
}
