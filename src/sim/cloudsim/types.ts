// Contracts of the CloudSim PlanetLab scenario: the pluggable decision points (overload detection,
// VM selection, placement scoring), the options and the result. Pure types, no I/O.

/**
 * A read-only view of one host at decision time, as CloudSim's policies see it: the VMs it holds in
 * the current (tentative) allocation, their requested MIPS and their CPU history. During placement
 * the candidate VM is appended to the end of the VM list, exactly as CloudSim's vmCreate does before
 * it asks "is the host overloaded after allocation?".
 */
export interface HostView {
  /** Host index (0-based, CloudSim host id). */
  readonly index: number;
  /** Host type index (0 = HP ML110 G4, 1 = HP ML110 G5 for PlanetLab). */
  readonly type: number;
  /** Total CPU capacity (all cores), MIPS. */
  readonly totalMips: number;
  /** Capacity of one core (PE), MIPS. */
  readonly peMips: number;
  /** Network bandwidth, kbit/s (CloudSim units). */
  readonly bwKbps: number;
  /** Simulation time of the decision, seconds. */
  readonly timeS: number;
  /** DC step index of the decision (0 = first 300 s event). */
  readonly step: number;
  /**
   * CPU use of the host at its last update (CloudSim's cached utilizationMips), MIPS. CloudSim uses
   * it for "power now" (PowerHost#getPower), for switched-off hosts (== 0) and to rank
   * under-utilised hosts.
   */
  readonly cachedUtilizationMips: number;
  /** Number of VMs in the (tentative) list, candidate included. */
  vmCount(): number;
  /** VM index at position i of the list (list order = CloudSim's ArrayList order). */
  vm(i: number): number;
  /** Sum of the VMs' requested MIPS now, in list order (CloudSim's getCurrentRequestedTotalMips). */
  requestedMips(): number;
  /**
   * MIPS the host's scheduler has allocated to the VMs of the tentative list, candidate excluded
   * (CloudSim 3.0.3's PowerVmAllocationPolicyMigrationAbstract#getUtilizationOfCpuMips(host)).
   */
  allocatedMips(): number;
  /**
   * CloudSim's PowerHostUtilizationHistory#getUtilizationHistory: per past 300 s sample (most recent
   * first, up to 30), the sum over the VMs of (VM utilisation x VM MIPS / host MIPS), with trailing
   * zeros trimmed (an all-zero history has length 1). Fills `out`, returns the length.
   */
  utilizationHistory(out: Float64Array): number;
  /** Largest RAM of the VMs in the list, MB (Integer.MIN_VALUE when empty, as in CloudSim). */
  maxVmRamMb(): number;
  /** Extra MIPS CloudSim adds for VMs migrating in (0 at decision time in practice). */
  migratingInExtraMips(): number;
  /** Host power in watts at a utilisation in [0, 1] (NaN outside). */
  powerW(utilization: number): number;
  vmRequestedMips(vm: number): number;
  vmMips(vm: number): number;
  vmRamMb(vm: number): number;
  vmInMigration(vm: number): boolean;
  /** The VM's CPU utilisation history (fractions, most recent first, up to 30). Returns length. */
  vmUtilizationHistory(vm: number, out: Float64Array): number;
}

/** Why a detector decided what it decided: filled in place (no allocation per call). */
export interface OverloadVerdict {
  overloaded: boolean;
  /** The value compared (utilisation, or predicted utilisation x safety for LR). */
  metric: number;
  /** The bound it was compared with. */
  threshold: number;
  /** Which rule decided, e.g. 'thr', 'lr', 'lr-fallback-thr'. A constant string. */
  rule: string;
}

/** Decides whether a host is overloaded (CloudSim's isHostOverUtilized). Must have no side effects. */
export interface OverloadDetector {
  readonly name: string;
  detect(host: HostView, out: OverloadVerdict): boolean;
}

/** Picks the next VM to move off an overloaded host (CloudSim's PowerVmSelectionPolicy). -1 = none. */
export interface VmSelector {
  readonly name: string;
  select(host: HostView): number;
}

/**
 * Scores putting `vm` on `host` (lower is better; +Infinity or NaN rejects). CloudSim's PABFD score
 * is the power increase. Hosts are scanned in index order and the first strictly lowest score wins.
 */
export interface PlacementScorer {
  readonly name: string;
  score(host: HostView, vm: number): number;
}

export type CloudSimPolicyName = 'thr-mmt' | 'iqr-mmt' | 'mad-mmt' | 'lr-mmt' | 'lrr-mmt' | 'npa' | 'dvfs';

export interface CloudSimOptions {
  policy: CloudSimPolicyName;
  /**
   * THR: the utilisation threshold (0.8); IQR: 1.5; MAD: 2.5; LR/LRR: 1.2 (CloudSim's parameter
   * names it "safety parameter" for all but THR).
   */
  safetyParameter?: number;
  /** Number of hosts (800); host i is of type i % 2. */
  hosts?: number;
  /** 300 s. */
  schedulingIntervalS?: number;
  /** 86400 s. */
  simulationLimitS?: number;
  /** Threshold of the THR fallback used by IQR/MAD/LR while history is short (0.7). */
  fallbackThreshold?: number;
  /**
   * 'cloudsim' (default): VMs request their RAM and bandwidth only while being created; afterwards
   * they request 0 (PlanetLab cloudlets use UtilizationModelNull for RAM and BW), so RAM never limits
   * a migration, as in CloudSim 3.0.3. 'enforced': every VM always holds its full RAM and bandwidth.
   */
  resourceModel?: 'cloudsim' | 'enforced';
  /** Replace the policy's overload detector (also used for the "overloaded after allocation" check). */
  detector?: OverloadDetector;
  /** Replace the VM selection (MMT). */
  selector?: VmSelector;
  /** Replace the placement score (PABFD power increase); disables the idle-host shortcut. */
  scorer?: PlacementScorer;
  /** Keep every migration decision in the result (they always go to hooks.onDecision). */
  recordDecisions?: boolean;
  /** Keep the per-VM, per-step allocation matrix (default true). */
  recordAllocations?: boolean;
  /**
   * Scan hosts for a placement exactly like CloudSim's loop (index order, overload check before the
   * score) instead of the fast path. Same results, much slower: for checking the fast path.
   */
  referenceScan?: boolean;
}

export interface MigrationDecision {
  step: number;
  timeS: number;
  vm: number;
  fromHost: number;
  toHost: number;
  phase: 'overload' | 'underload';
  /** Detector rule that fired on the source host ('underload' for consolidation moves). */
  rule: string;
  metric: number;
  threshold: number;
}

export interface StepInfo {
  step: number;
  timeS: number;
  hostsActive: number;
  overloadedHosts: number;
  migrationsStarted: number;
  energyKwhSoFar: number;
}

export interface CloudSimHooks {
  onDecision?(decision: MigrationDecision): void;
  onStep?(info: StepInfo): void;
}

export interface CloudSimResult {
  policy: CloudSimPolicyName;
  hosts: number;
  vms: number;
  /** Time of the last processed event (CloudSim reports the termination time, 86400). */
  simulatedTimeS: number;
  energyKwh: number;
  migrations: number;
  hostShutdowns: number;
  /** SLA time per active host, %: violation time / active time, summed over hosts. */
  slatahPct: number;
  /** Performance degradation due to migration, %: MIPS-seconds lost in migration / requested. */
  pdmPct: number;
  /** SLATAH x PDM, %. */
  slavPct: number;
  /** Energy x SLAV (kWh, with SLAV as a fraction). */
  esv: number;
  /** CloudSim's "overall SLA violation", %. */
  overallSlaViolationPct: number;
  /** CloudSim's "average SLA violation", %. */
  averageSlaViolationPct: number;
  /** Host-hours with CPU in use (the denominator of SLATAH). */
  activeHostHours: number;
  /** Number of DC scheduling steps processed. */
  steps: number;
  /** Hosts with CPU in use after each step. */
  hostsActive: Int32Array;
  /**
   * allocations[step * vms + vm]: MIPS allocated to the VM (on its host) after the step, in % of the
   * VM's MIPS; NaN once the VM is gone (CloudSim removes a VM whose demand reaches exactly 0).
   * Empty when recordAllocations is false.
   */
  allocations: Float32Array;
  /** VMs removed because their demand was 0 (CloudSim treats them as finished). */
  vmsRemoved: number;
  /** Migration counts by reason ('overload:thr', 'overload:lr-fallback-thr', 'underload', ...). */
  reasons: Record<string, number>;
  /** Every migration decision when recordDecisions is set. */
  decisions: MigrationDecision[];
  /** Largest sum of VM RAM held on one host at any update, MB (exceeds 4096 in 'cloudsim' mode). */
  maxHostRamMb: number;
  /** Situations where CloudSim itself would have stopped (e.g. power model argument > 1). */
  anomalies: number;
  /** Wall-clock is not measured here (pure core): callers time the call. */
}
