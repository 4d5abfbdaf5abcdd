// The domain model: hosts, instances and time series on a fixed step.
import type { ResourceName, ResourceVector, Unit } from './resources.js';

export type Priority = 'critical' | 'high' | 'normal' | 'low';

export interface Host {
  id: string;
  capacity: ResourceVector;
  /** Powered on and accepting instances. */
  active: boolean;
  labels?: Record<string, string>;
}

export interface Instance {
  id: string;
  /** Host it runs on, or null while pending. */
  hostId: string | null;
  /** What the owner asked for. */
  request: ResourceVector;
  /** What prescient currently allocates (the enforced limit). */
  allocation: ResourceVector;
  priority: Priority;
  tenant?: string;
}

/**
 * A regularly sampled series: values[i] is the sample at startTimeS + i * stepSeconds.
 * Missing samples are NaN.
 */
export interface TimeSeries {
  id: string;
  resource: ResourceName;
  unit: Unit;
  stepSeconds: number;
  startTimeS: number;
  values: Float64Array;
}
