// SPECpower-based host power models, computed exactly as CloudSim 3.0.3's PowerModelSpecPower
// (org.cloudbus.cloudsim.power.models.PowerModelSpecPower#getPower): linear interpolation between
// the measured points at 0 %, 10 %, ..., 100 % CPU, with the same floating-point steps.
// Pure: no I/O.

/** Power in watts at 0, 10, ..., 100 % CPU (11 points). */
export type PowerTableW = ArrayLike<number>;

/** HP ProLiant ML110 G4 (1 x Xeon 3040, 2 cores x 1860 MIPS). */
export const POWER_G4_XEON3040_W: PowerTableW = Object.freeze([86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117]);
/** HP ProLiant ML110 G5 (1 x Xeon 3075, 2 cores x 2660 MIPS). */
export const POWER_G5_XEON3075_W: PowerTableW = Object.freeze([93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135]);

/**
 * Power in watts at a CPU utilisation in [0, 1], as CloudSim computes it.
 * Returns NaN outside [0, 1] (CloudSim throws IllegalArgumentException there).
 */
export function specPowerW(table: PowerTableW, utilization: number): number {
  if (!(utilization >= 0 && utilization <= 1)) return Number.NaN;
  if (utilization % 0.1 === 0) return table[Math.trunc(utilization * 10)]!;
  const u1 = Math.floor(utilization * 10);
  const u2 = Math.ceil(utilization * 10);
  const p1 = table[u1]!;
  const p2 = table[u2]!;
  const delta = (p2 - p1) / 10;
  return p1 + delta * (utilization - u1 / 10) * 100;
}

/**
 * Energy (joules) over `timeS` seconds for a host going from `fromUtilization` to `toUtilization`:
 * the mean of the power at both ends, and 0 when the host was idle (switched off) at the start.
 * Same as CloudSim's PowerHost#getEnergyLinearInterpolation.
 */
export function energyLinearInterpolationJ(table: PowerTableW, fromUtilization: number, toUtilization: number, timeS: number): number {
  if (fromUtilization === 0) return 0;
  const fromPower = specPowerW(table, fromUtilization);
  const toPower = specPowerW(table, toUtilization);
  return (fromPower + (toPower - fromPower) / 2) * timeS;
}

/** CloudSim's HostDynamicWorkload#getUtilizationOfCpu clamp: (1, 1.01) becomes 1. */
export function clampUtilization(u: number): number {
  return u > 1 && u < 1.01 ? 1 : u;
}
