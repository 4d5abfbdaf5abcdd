// One interface for every trace format. A reader streams series one at a time, so a month of
// 500 VMs is never held twice (raw text is read line by line and parsed into typed arrays).
import type { ResourceName, Unit } from '../core/resources.js';

/** One series (a VM, container or machine) read from a trace, on a fixed step. */
export interface TraceSeries {
  /** File name without `.csv` / `.gz` (or the machine id for multi-series files). */
  id: string;
  /** Path of the file it came from. */
  file: string;
  /** Step between samples in seconds. */
  stepSeconds: number;
  /** Time of sample 0 in seconds (Unix seconds where the trace has them, else 0). */
  startTimeS: number;
  /** Number of samples (every array in `values` has this length). */
  length: number;
  /** Usage per resource in the format's canonical unit; NaN where a sample is missing. */
  values: Partial<Record<ResourceName, Float64Array>>;
  units: Partial<Record<ResourceName, Unit>>;
  /** Provisioned capacity per resource where the trace records it (same unit as values). */
  capacity?: Partial<Record<ResourceName, number>>;
  /** Rows skipped (documented per format), with their count. */
  skippedRows: number;
  /**
   * Actual time (Unix seconds) of each sample, for formats that keep irregular rows as they are
   * (bitbrains, csv): there `stepSeconds` is the median spacing. Absent when samples are on the
   * exact step grid.
   */
  timesS?: Float64Array;
  /** Samples that a resampling format (alibaba) filled by carrying the previous value forward. */
  filledSamples?: number;
  /** Descriptive labels (the synthetic generator sets `archetype`). */
  labels?: Record<string, string>;
}

export interface ReadOptions {
  /**
   * Called after each file is read (done and total count files, filtered-out ones included),
   * for progress display. For one-series-per-file formats that is after each series.
   */
  onProgress?: (done: number, total: number) => void;
  /** Only the series whose id passes. */
  filter?: (id: string) => boolean;
  /** Resampling step for formats with irregular rows (alibaba); ignored by the others. */
  stepSeconds?: number;
}

export interface TraceFormat {
  readonly name: string;
  readonly description: string;
  /** Resources this format carries. */
  readonly resources: readonly ResourceName[];
  /** Lists the files of `path` (a folder or a single file) this format will read, sorted by name. */
  listFiles(path: string): Promise<string[]>;
  /** Streams every series in `path`, in file-name order. */
  read(path: string, options?: ReadOptions): AsyncIterable<TraceSeries>;
}
