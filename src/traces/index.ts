// Public entry point of the trace readers.
//
//   import { getTraceFormat } from './traces/index.js';
//   for await (const s of getTraceFormat('bitbrains').read('../shared/traces/bitbrains-rnd/2013-7')) {
//     console.log(s.id, s.length, s.values.cpu?.[0], s.units.cpu);
//   }
export type { ReadOptions, TraceFormat, TraceSeries } from './format.js';
export { getTraceFormat, TRACE_FORMAT_NAMES } from './registry.js';
export { planetlabFormat } from './planetlab/planetlab-format.js';
export { bitbrainsFormat } from './bitbrains/bitbrains-format.js';
export { google2011Format } from './google2011/google2011-format.js';
export { alibabaFormat } from './alibaba/alibaba-format.js';
export { csvFormat } from './csv/csv-format.js';
export { syntheticFormat, parseSyntheticSpec } from './synthetic/synthetic-format.js';
export {
  generateWorkload,
  generateWorkloadSeries,
  DEFAULT_WORKLOAD_MIX,
  WORKLOAD_ARCHETYPES,
  type GenerateWorkloadOptions,
  type WorkloadArchetype,
  type WorkloadMix,
} from './synthetic/generate-workload.js';
