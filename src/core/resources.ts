// Resource vectors with explicit units. A number always says its unit in its name.

/** The resources prescient forecasts and allocates. */
export type ResourceName = 'cpu' | 'memory' | 'disk' | 'network';
export const RESOURCE_NAMES: readonly ResourceName[] = ['cpu', 'memory', 'disk', 'network'];

/**
 * Units a series can be expressed in. Traces keep their canonical units:
 * Bitbrains CPU in cores in use, memory in MiB; PlanetLab and Google in percent.
 */
export type Unit = 'cores' | 'millicores' | 'percent' | 'MiB' | 'KiBps' | 'MIPS';

/** Amounts of every resource, each in a fixed unit. */
export interface ResourceVector {
  cpuMillicores: number;
  memoryMiB: number;
  diskKiBps: number;
  networkKiBps: number;
}

export const ZERO: Readonly<ResourceVector> = Object.freeze({ cpuMillicores: 0, memoryMiB: 0, diskKiBps: 0, networkKiBps: 0 });

export function vec(p: Partial<ResourceVector> = {}): ResourceVector {
  return { cpuMillicores: p.cpuMillicores ?? 0, memoryMiB: p.memoryMiB ?? 0, diskKiBps: p.diskKiBps ?? 0, networkKiBps: p.networkKiBps ?? 0 };
}

export function add(a: ResourceVector, b: ResourceVector): ResourceVector {
  return {
    cpuMillicores: a.cpuMillicores + b.cpuMillicores,
    memoryMiB: a.memoryMiB + b.memoryMiB,
    diskKiBps: a.diskKiBps + b.diskKiBps,
    networkKiBps: a.networkKiBps + b.networkKiBps,
  };
}

export function sub(a: ResourceVector, b: ResourceVector): ResourceVector {
  return {
    cpuMillicores: a.cpuMillicores - b.cpuMillicores,
    memoryMiB: a.memoryMiB - b.memoryMiB,
    diskKiBps: a.diskKiBps - b.diskKiBps,
    networkKiBps: a.networkKiBps - b.networkKiBps,
  };
}

export function scale(a: ResourceVector, k: number): ResourceVector {
  return { cpuMillicores: a.cpuMillicores * k, memoryMiB: a.memoryMiB * k, diskKiBps: a.diskKiBps * k, networkKiBps: a.networkKiBps * k };
}

/** True when every component of `a` is at most the matching one of `b` (within a tiny tolerance). */
export function fits(a: ResourceVector, b: ResourceVector, eps = 1e-9): boolean {
  return (
    a.cpuMillicores <= b.cpuMillicores + eps &&
    a.memoryMiB <= b.memoryMiB + eps &&
    a.diskKiBps <= b.diskKiBps + eps &&
    a.networkKiBps <= b.networkKiBps + eps
  );
}

export const coresToMillicores = (cores: number): number => cores * 1000;
export const millicoresToCores = (m: number): number => m / 1000;
export const kibToMiB = (kib: number): number => kib / 1024;
