// CloudSim 3.0.3 PlanetLab consolidation scenario: public API. Pure (the loader lives in
// ./load-planetlab.ts and is not re-exported here).
export { runCloudSimPlanetLab, PLANETLAB_HOST_TYPES, PLANETLAB_VM_TYPES } from './engine.js';
export type { StepState, CloudSimStateHooks, HostTypeSpec, VmTypeSpec } from './engine.js';
export {
  ThresholdDetector,
  IqrDetector,
  MadDetector,
  LocalRegressionDetector,
  MinimumMigrationTimeSelector,
  PowerIncreaseScorer,
  cloudsimPolicyParts,
  HISTORY_LENGTH,
} from './policies.js';
export { cpuPctFromSeries } from './from-trace-series.js';
export { specPowerW, energyLinearInterpolationJ, clampUtilization, POWER_G4_XEON3040_W, POWER_G5_XEON3075_W } from './power-model.js';
export type * from './types.js';
