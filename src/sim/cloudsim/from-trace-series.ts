// Adapter from the project's trace readers (src/traces, e.g. planetlabFormat) to the scenario's
// input: one Float64Array of CPU % per VM, in the reader's file-name order. Pure.
import { InputError } from '../../core/errors.js';
import type { TraceSeries } from '../../traces/format.js';

/** CPU % series of each trace series, checked to be in percent and on a 300 s step. */
export function cpuPctFromSeries(series: readonly TraceSeries[], stepSeconds = 300): Float64Array[] {
  return series.map((s) => {
    const cpu = s.values.cpu;
    if (cpu === undefined) throw new InputError('series has no CPU values', { file: s.file, field: 'cpu' });
    if (s.units.cpu !== 'percent') throw new InputError(`CPU must be in percent, got ${s.units.cpu}`, { file: s.file, field: 'cpu' });
    if (s.stepSeconds !== stepSeconds) throw new InputError(`step must be ${stepSeconds} s, got ${s.stepSeconds}`, { file: s.file });
    return cpu;
  });
}
