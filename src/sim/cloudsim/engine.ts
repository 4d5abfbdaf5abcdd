// A fast, deterministic re-implementation of CloudSim 3.0.3's PlanetLab consolidation scenario
// (org.cloudbus.cloudsim.examples.power.planetlab + org.cloudbus.cloudsim.power). It reproduces the
// event timeline and the quirks of the reference code rather than the paper's description:
//
//  - time: VMs are created at t = 0 (with their full MIPS, RAM and bandwidth), cloudlets arrive at
//    t = 0.1, and the datacenter updates every 300 s from then on: 300.1, 600.1, ... (float sums);
//    the event at or after 86400 s is never processed. VM demand at time t is the trace value
//    interpolated linearly between 300 s samples (so 0.1 s past a sample).
//  - initial placement: VMs in id order with their full MIPS; PABFD scores the power at (MIPS already
//    allocated + the VM) against the cached utilisation 0, so VMs spread over empty hosts first;
//    DVFS/NPA use first fit.
//  - each round: over-utilised hosts (index order) -> MMT picks VMs until the host is fine ->
//    PABFD places them (sorted by demand, stable): power after = tentative scheduler allocation +
//    the VM's demand, power now = the host's cached utilisation of its last update; the "overloaded
//    after allocation" check only runs on hosts with MIPS allocated -> under-utilised hosts from the
//    least (cached) utilised up; hosts that just received VMs from overloaded hosts are NOT excluded,
//    so a VM can be moved twice in one round and both moves count -> all moves start at once.
//  - after creation VMs request 0 MB RAM and 0 bandwidth (UtilizationModelNull), so RAM never limits
//    a migration ('cloudsim' resource model); 'enforced' keeps the full RAM and bandwidth.
//  - a migration takes RAM / (bandwidth / 2) seconds; meanwhile the VM holds a slot on both hosts,
//    gets 90 % of its demand on the source, and the target books 10 % of it (and counts as being
//    under-provisioned, which is most of SLATAH).
//  - a VM whose demand is exactly 0 at an update is removed for good (CloudSim thinks it finished).
//  - energy: trapezoid of the power at the ends of each interval between updates, 0 for a host idle
//    at the start of the interval; intervals are split by migration completions.
//
// Pure: no node:* imports, no clock, no randomness.
import { InputError } from '../../core/errors.js';
import { HISTORY_LENGTH, PowerIncreaseScorer, cloudsimPolicyParts } from './policies.js';
import { POWER_G4_XEON3040_W, POWER_G5_XEON3075_W, clampUtilization, energyLinearInterpolationJ, specPowerW } from './power-model.js';
import type { PowerTableW } from './power-model.js';
import type {
  CloudSimHooks,
  CloudSimOptions,
  CloudSimResult,
  HostView,
  MigrationDecision,
  OverloadDetector,
  OverloadVerdict,
  PlacementScorer,
  VmSelector,
} from './types.js';
import { countNonZeroBeginning } from './math.js';

// Local copies of imported bindings used in hot loops: loaders that turn ES modules into CommonJS
// (tsx, bundlers) make every access to an imported binding a getter call.
const HIST = HISTORY_LENGTH;
const powerAt = specPowerW;
const clampU = clampUtilization;
const energyBetween = energyLinearInterpolationJ;
const trimmedLength = countNonZeroBeginning;

export interface HostTypeSpec {
  name: string;
  peMips: number;
  pes: number;
  ramMb: number;
  bwKbps: number;
  storageMb: number;
  powerW: PowerTableW;
}

export interface VmTypeSpec {
  mips: number;
  ramMb: number;
  bwKbps: number;
  sizeMb: number;
}

/** Host types of the PlanetLab example (Constants.java): host i is of type i % 2. */
export const PLANETLAB_HOST_TYPES: readonly HostTypeSpec[] = Object.freeze([
  { name: 'HP ProLiant ML110 G4 (Xeon 3040)', peMips: 1860, pes: 2, ramMb: 4096, bwKbps: 1_000_000, storageMb: 1_000_000, powerW: POWER_G4_XEON3040_W },
  { name: 'HP ProLiant ML110 G5 (Xeon 3075)', peMips: 2660, pes: 2, ramMb: 4096, bwKbps: 1_000_000, storageMb: 1_000_000, powerW: POWER_G5_XEON3075_W },
]);

/** VM types (Constants.java): VM i of n is of type floor(i / ceil(n / 4)). One core each. */
export const PLANETLAB_VM_TYPES: readonly VmTypeSpec[] = Object.freeze([
  { mips: 2500, ramMb: 870, bwKbps: 100_000, sizeMb: 2500 },
  { mips: 2000, ramMb: 1740, bwKbps: 100_000, sizeMb: 2500 },
  { mips: 1000, ramMb: 1740, bwKbps: 100_000, sizeMb: 2500 },
  { mips: 500, ramMb: 613, bwKbps: 100_000, sizeMb: 2500 },
]);

/** Lines UtilizationModelPlanetLabInMemory reads from a trace (24 h at 300 s). */
const CLOUDSIM_SAMPLES = 288;

/** CloudSim.getMinTimeBetweenEvents(): the VM-creation acknowledgement delay. */
const MIN_TIME_BETWEEN_EVENTS_S = 0.1;

const NO_HOST = -1;

/** Runs the scenario. `vms[i]` holds VM i's CPU % per 300 s sample (files sorted by name). */
export function runCloudSimPlanetLab(vms: readonly Float64Array[], options: CloudSimOptions, hooks: CloudSimStateHooks = {}): CloudSimResult {
  const sim = new PlanetLabSimulation(vms, options, hooks);
  return sim.run();
}

/** Read-only views of the simulator state, valid only during a hooks.onStepState call. */
export interface StepState {
  step: number;
  timeS: number;
  /** owners[vm] = host holding the VM (CloudSim's vmTable), -1 once removed. */
  owners: Int32Array;
  /** VMs listed on each host (owned and migrating in), in CloudSim list order. */
  hostVms: readonly (readonly number[])[];
  /** VMs migrating in to each host. */
  hostMigratingIn: readonly (readonly number[])[];
  inMigration: Uint8Array;
  /** Sum of the RAM of the VMs listed on each host, MB. */
  hostRamHeldMb: Float64Array;
  hostRamMb: Float64Array;
  /** MIPS allocated to each VM on its host at its last update. */
  vmAllocatedMips: Float64Array;
}

export interface CloudSimStateHooks extends CloudSimHooks {
  onStepState?(state: StepState): void;
}

class PlanetLabSimulation {
  // ---- configuration
  private readonly H: number;
  private readonly N: number;
  private readonly interval: number;
  private readonly limit: number;
  private readonly enforced: boolean;
  private readonly detector: OverloadDetector | null;
  private readonly selector: VmSelector | null;
  private readonly scorer: PlacementScorer;
  private readonly builtinScorer: boolean;
  private readonly migrationsEnabled: boolean;
  private readonly nonPowerAware: boolean;
  private readonly recordDecisions: boolean;
  private readonly recordAllocations: boolean;
  private readonly referenceScan: boolean;
  private readonly policy: CloudSimOptions['policy'];

  // ---- hosts
  readonly hType: Uint8Array;
  readonly hTotalMips: Float64Array;
  readonly hPeMips: Float64Array;
  readonly hRamMb: Float64Array;
  readonly hBwKbps: Float64Array;
  readonly hPower: PowerTableW[];
  readonly hMaxPowerW: Float64Array;
  readonly hVms: number[][];
  readonly hMigIn: number[][];
  readonly hUtilMips: Float64Array;
  readonly hPrevUtilMips: Float64Array;
  readonly hRamHeld: Float64Array;
  readonly hBwHeld: Float64Array;
  // host state history (CloudSim HostStateHistoryEntry), last pending entry
  private readonly hEntT: Float64Array;
  private readonly hEntAlloc: Float64Array;
  private readonly hEntReq: Float64Array;
  private readonly hEntActive: Uint8Array;
  private readonly hHasEnt: Uint8Array;
  private readonly hFinalActive: Uint8Array;
  private slaViolationTimeS = 0;
  private activeTimeS = 0;
  private shutdowns = 0;

  // ---- VMs
  readonly vMips: Float64Array;
  readonly vRam: Float64Array;
  readonly vBw: Float64Array;
  private readonly data: Float64Array; // N x dataLen, fractions
  private readonly dataLen: number;
  readonly vOwner: Int32Array;
  readonly vInMig: Uint8Array;
  readonly vAlive: Uint8Array;
  readonly vHist: Float64Array; // N x 30, most recent first
  readonly vHistLen: Uint8Array;
  private readonly vHistLastT: Float64Array;
  private readonly vReqT: Float64Array;
  private readonly vReq: Float64Array;
  readonly vAllocMips: Float64Array;
  // VM state history (CloudSim VmStateHistoryEntry), last pending entry + integrals
  private readonly vEntT: Float64Array;
  private readonly vEntAlloc: Float64Array;
  private readonly vEntReq: Float64Array;
  private readonly vEntMig: Uint8Array;
  private readonly vHasEnt: Uint8Array;
  private readonly vTotAlloc: Float64Array;
  private readonly vTotReq: Float64Array;
  private readonly vUnderMig: Float64Array;
  private slaViolationSum = 0;
  private slaViolationCount = 0;

  // ---- clock and totals
  private now = 0;
  private step = -1;
  private lastProcessTime = 0;
  private energyJ = 0;
  private migrations = 0;
  private vmsRemoved = 0;
  private anomalies = 0;
  private maxHostRam = 0;
  private instantiating = false;
  private vCreating = NO_HOST;
  private readonly reasons: Record<string, number> = {};
  private readonly decisions: MigrationDecision[] = [];

  // ---- planning (one optimizeAllocation round)
  private readonly pList: (number[] | null)[];
  private readonly pAvail: Float64Array;
  private readonly pRamFree: Float64Array;
  private readonly pBwFree: Float64Array;
  private readonly pCacheValid: Uint8Array;
  private readonly pReqSum: Float64Array;
  private readonly pHist: Float64Array;
  private readonly view: PlanView;
  private readonly verdict: OverloadVerdict = { overloaded: false, metric: 0, threshold: 0, rule: '' };
  private readonly pAllocSum: Float64Array;
  private readonly pAllocSumDirect: Uint8Array;
  private readonly pPowerNow: Float64Array;
  private readonly pNonBlankFlag: Uint8Array;
  private readonly pNonBlank: number[] = [];
  private blankByType: Int32Array[] = [];
  private allocScratch = new Float64Array(64);

  // ---- outputs
  private readonly hostsActive: number[] = [];
  private allocations: Float32Array;

  constructor(
    vms: readonly Float64Array[],
    options: CloudSimOptions,
    private readonly hooks: CloudSimStateHooks,
  ) {
    this.interval = options.schedulingIntervalS ?? 300;
    this.limit = options.simulationLimitS ?? 24 * 60 * 60;
    this.H = options.hosts ?? 800;
    this.N = vms.length;
    validateInputs(vms, this.H, this.interval, this.limit);
    this.policy = options.policy;
    this.enforced = (options.resourceModel ?? 'cloudsim') === 'enforced';
    const parts = cloudsimPolicyParts(options.policy, options.safetyParameter, this.interval, options.fallbackThreshold ?? 0.7);
    this.migrationsEnabled = parts.migrations;
    this.nonPowerAware = parts.nonPowerAware;
    this.detector = options.detector ?? parts.detector;
    this.selector = options.selector ?? parts.selector;
    this.scorer = options.scorer ?? new PowerIncreaseScorer();
    this.builtinScorer = options.scorer === undefined;
    this.recordDecisions = options.recordDecisions ?? false;
    this.recordAllocations = options.recordAllocations ?? true;
    this.referenceScan = options.referenceScan ?? false;

    const H = this.H;
    const N = this.N;
    this.hType = new Uint8Array(H);
    this.hTotalMips = new Float64Array(H);
    this.hPeMips = new Float64Array(H);
    this.hRamMb = new Float64Array(H);
    this.hBwKbps = new Float64Array(H);
    this.hMaxPowerW = new Float64Array(H);
    this.hPower = new Array<PowerTableW>(H);
    const powerTables = PLANETLAB_HOST_TYPES.map((t) => Float64Array.from(t.powerW));
    this.hVms = [];
    this.hMigIn = [];
    for (let h = 0; h < H; h++) {
      const type = h % PLANETLAB_HOST_TYPES.length;
      const spec = PLANETLAB_HOST_TYPES[type]!;
      this.hType[h] = type;
      this.hPeMips[h] = spec.peMips;
      this.hTotalMips[h] = spec.peMips * spec.pes; // PeList.getTotalMips: an int
      this.hRamMb[h] = spec.ramMb;
      this.hBwKbps[h] = spec.bwKbps;
      this.hPower[h] = powerTables[type]!;
      this.hMaxPowerW[h] = powerAt(spec.powerW, 1);
      this.hVms.push([]);
      this.hMigIn.push([]);
    }
    this.hUtilMips = new Float64Array(H);
    this.hPrevUtilMips = new Float64Array(H);
    this.hRamHeld = new Float64Array(H);
    this.hBwHeld = new Float64Array(H);
    this.hEntT = new Float64Array(H);
    this.hEntAlloc = new Float64Array(H);
    this.hEntReq = new Float64Array(H);
    this.hEntActive = new Uint8Array(H);
    this.hHasEnt = new Uint8Array(H);
    this.hFinalActive = new Uint8Array(H).fill(1);

    this.vMips = new Float64Array(N);
    this.vRam = new Float64Array(N);
    this.vBw = new Float64Array(N);
    const perType = Math.ceil(N / PLANETLAB_VM_TYPES.length);
    for (let v = 0; v < N; v++) {
      const spec = PLANETLAB_VM_TYPES[Math.floor(v / perType)]!;
      this.vMips[v] = spec.mips;
      this.vRam[v] = spec.ramMb;
      this.vBw[v] = spec.bwKbps;
    }
    // UtilizationModelPlanetLabInMemory: the first 288 samples (its buffer is 289 long) + a copy of
    // the last one, as fractions. Longer traces are cut, as CloudSim reads only 288 lines; a shorter
    // one (long enough for the simulated time) is padded with its last value.
    let maxLen = 0;
    for (const t of vms) if (t.length > maxLen) maxLen = t.length;
    const samples = Math.min(maxLen, CLOUDSIM_SAMPLES);
    this.dataLen = samples + 1;
    this.data = new Float64Array(N * this.dataLen);
    for (let v = 0; v < N; v++) {
      const src = vms[v]!;
      const base = v * this.dataLen;
      const own = Math.min(src.length, samples);
      for (let i = 0; i < own; i++) this.data[base + i] = src[i]! / 100.0;
      for (let i = own; i <= samples; i++) this.data[base + i] = this.data[base + own - 1]!;
    }
    this.vOwner = new Int32Array(N).fill(NO_HOST);
    this.vInMig = new Uint8Array(N);
    this.vAlive = new Uint8Array(N);
    this.vHist = new Float64Array(N * HIST);
    this.vHistLen = new Uint8Array(N);
    this.vHistLastT = new Float64Array(N);
    this.vReqT = new Float64Array(N).fill(Number.NaN);
    this.vReq = new Float64Array(N);
    this.vAllocMips = new Float64Array(N);
    this.vEntT = new Float64Array(N);
    this.vEntAlloc = new Float64Array(N);
    this.vEntReq = new Float64Array(N);
    this.vEntMig = new Uint8Array(N);
    this.vHasEnt = new Uint8Array(N);
    this.vTotAlloc = new Float64Array(N);
    this.vTotReq = new Float64Array(N);
    this.vUnderMig = new Float64Array(N);

    this.pList = new Array<number[] | null>(H).fill(null);
    this.pAvail = new Float64Array(H);
    this.pRamFree = new Float64Array(H);
    this.pBwFree = new Float64Array(H);
    this.pCacheValid = new Uint8Array(H);
    this.pReqSum = new Float64Array(H);
    this.pHist = new Float64Array(H * HIST);
    this.pAllocSum = new Float64Array(H);
    this.pAllocSumDirect = new Uint8Array(H);
    this.pPowerNow = new Float64Array(H);
    this.pNonBlankFlag = new Uint8Array(H);
    this.view = new PlanView(this);

    const maxSteps = Math.max(0, Math.ceil(this.limit / this.interval));
    this.allocations = this.recordAllocations ? new Float32Array(maxSteps * N) : new Float32Array(0);
  }

  // =====================================================================================
  // Demand
  // =====================================================================================

  /** UtilizationModelPlanetLabInMemory#getUtilization. */
  private utilAt(v: number, t: number): number {
    const I = this.interval;
    const base = v * this.dataLen;
    if (t % I === 0) return this.data[base + Math.trunc(Math.trunc(t) / Math.trunc(I))]!;
    const t1 = Math.floor(t / I);
    const t2 = Math.ceil(t / I);
    const u1 = this.data[base + t1]!;
    const u2 = this.data[base + t2]!;
    const delta = (u2 - u1) / ((t2 - t1) * I);
    return u1 + delta * (t - t1 * I);
  }

  /** The VM's requested MIPS now (CloudletSchedulerDynamicWorkload: utilisation x MIPS). */
  reqNow(v: number): number {
    // While VMs are created (t = 0) only the VM being created requests MIPS (its full MIPS): the
    // others have no cloudlet yet.
    if (this.instantiating) return v === this.vCreating ? this.vMips[v]! : 0;
    const t = this.now;
    if (this.vReqT[v] === t) return this.vReq[v]!;
    const r = this.utilAt(v, t) * this.vMips[v]!;
    this.vReqT[v] = t;
    this.vReq[v] = r;
    return r;
  }

  // =====================================================================================
  // Main loop
  // =====================================================================================

  run(): CloudSimResult {
    this.initialPlacement();
    // Cloudlets arrive with the VM-creation acknowledgement (0.1 s); the first update is one
    // scheduling interval later. Event times are float sums, as in CloudSim.
    let next = MIN_TIME_BETWEEN_EVENTS_S + this.interval;
    let terminatedByLimit = true;
    while (next < this.limit) {
      this.step++;
      const keepGoing = this.datacenterEvent(next);
      if (!keepGoing) {
        terminatedByLimit = false;
        break;
      }
      next = next + this.interval;
    }
    return this.finish(terminatedByLimit);
  }

  /**
   * VM creation at t = 0, in VM id order, each VM requesting its full MIPS, RAM and bandwidth.
   * Migration policies use their findHostForVm (PABFD against the allocations made so far: VMs
   * already created request 0 MIPS until their cloudlet arrives but hold their full MIPS);
   * DVFS/NPA use PowerVmAllocationPolicySimple (first fit).
   */
  private initialPlacement(): void {
    this.instantiating = true;
    this.now = 0;
    this.beginPlan();
    const H = this.H;
    const none = new Uint8Array(H);
    for (let v = 0; v < this.N; v++) {
      this.vCreating = v;
      const req = this.vMips[v]!;
      let chosen = NO_HOST;
      if (this.migrationsEnabled) {
        chosen = this.findHostForVm(v, none);
      } else {
        for (let h = 0; h < H; h++) {
          if (this.suitable(h, v, req)) {
            chosen = h;
            break;
          }
        }
      }
      if (chosen === NO_HOST) {
        throw new InputError(`VM ${v} (${req} MIPS, ${this.vRam[v]} MB) cannot be placed on any of the ${H} hosts`, { field: `vms[${v}]` });
      }
      this.planAdd(chosen, v);
    }
    this.vCreating = NO_HOST;
    for (let h = 0; h < H; h++) {
      const l = this.pList[h];
      if (l === null || l === undefined) continue;
      this.hVms[h] = l;
      for (const v of l) {
        this.holdResources(h, v, 1);
        this.vOwner[v] = h;
        this.vAlive[v] = 1;
      }
    }
    this.pList.fill(null);
    this.instantiating = false;
  }

  private holdResources(h: number, v: number, sign: 1 | -1): void {
    this.hRamHeld[h] = this.hRamHeld[h]! + sign * this.vRam[v]!;
    this.hBwHeld[h] = this.hBwHeld[h]! + sign * this.vBw[v]!;
    if (sign > 0 && this.hRamHeld[h]! > this.maxHostRam) this.maxHostRam = this.hRamHeld[h]!;
  }

  /** One VM_DATACENTER_EVENT. Returns false when no further event would be scheduled. */
  private datacenterEvent(t: number): boolean {
    this.now = t;
    let anyDemand: boolean;
    let overloaded = 0;
    let started = 0;
    if (this.nonPowerAware) {
      // PowerDatacenterNonPowerAware: every host at full power, whatever its load.
      const dt = t - this.lastProcessTime;
      let frame = 0;
      for (let h = 0; h < this.H; h++) frame += this.hMaxPowerW[h]! * dt;
      anyDemand = this.updateAllHosts(t);
      this.energyJ += frame;
      this.removeCompletedVms(t);
      this.lastProcessTime = t;
    } else {
      anyDemand = this.fullUpdate(t);
      if (this.migrationsEnabled) {
        const plan = this.optimizeAllocation(t);
        overloaded = plan.overloaded;
        const completions: number[] = [];
        for (let i = 0; i < plan.vms.length; i++) {
          this.startMigration(plan.vms[i]!, plan.targets[i]!, t, completions);
          const d = plan.decisions[i]!;
          this.migrations++;
          const key = d.phase === 'overload' ? `overload:${d.rule}` : 'underload';
          this.reasons[key] = (this.reasons[key] ?? 0) + 1;
          if (this.recordDecisions) this.decisions.push(d);
          this.hooks.onDecision?.(d);
        }
        started = plan.vms.length;
        this.recordStep(t, overloaded, started);
        this.processCompletions(completions);
        return anyDemand;
      }
    }
    this.recordStep(t, overloaded, started);
    return anyDemand;
  }

  private recordStep(t: number, overloaded: number, started: number): void {
    let active = 0;
    for (let h = 0; h < this.H; h++) if (this.hUtilMips[h]! > 0) active++;
    this.hostsActive.push(active);
    if (this.recordAllocations) {
      const needed = (this.step + 1) * this.N;
      if (needed > this.allocations.length) {
        const grown = new Float32Array(Math.max(needed, this.allocations.length * 2));
        grown.set(this.allocations);
        this.allocations = grown;
      }
      const base = this.step * this.N;
      for (let v = 0; v < this.N; v++) {
        this.allocations[base + v] = this.vAlive[v] ? (this.vAllocMips[v]! / this.vMips[v]!) * 100 : Number.NaN;
      }
    }
    this.hooks.onStep?.({
      step: this.step,
      timeS: t,
      hostsActive: active,
      overloadedHosts: overloaded,
      migrationsStarted: started,
      energyKwhSoFar: this.energyJ / 3.6e6,
    });
    if (this.hooks.onStepState) {
      this.hooks.onStepState({
        step: this.step,
        timeS: t,
        owners: this.vOwner,
        hostVms: this.hVms,
        hostMigratingIn: this.hMigIn,
        inMigration: this.vInMig,
        hostRamHeldMb: this.hRamHeld,
        hostRamMb: this.hRamMb,
        vmAllocatedMips: this.vAllocMips,
      });
    }
  }

  // =====================================================================================
  // Updates (Host/HostDynamicWorkload#updateVmsProcessing, PowerDatacenter energy)
  // =====================================================================================

  /** updateCloudetProcessingWithoutSchedulingFutureEventsForce. Returns whether demand remains. */
  private fullUpdate(t: number): boolean {
    this.now = t;
    const anyDemand = this.updateAllHosts(t);
    const dt = t - this.lastProcessTime;
    if (dt > 0) {
      let frame = 0;
      for (let h = 0; h < this.H; h++) {
        const total = this.hTotalMips[h]!;
        const prev = clampU(this.hPrevUtilMips[h]! / total);
        const cur = clampU(this.hUtilMips[h]! / total);
        if (prev > 1 || cur > 1) this.anomalies++;
        frame += energyBetween(this.hPower[h]!, prev, cur, dt);
      }
      this.energyJ += frame;
    }
    this.removeCompletedVms(t);
    this.lastProcessTime = t;
    return anyDemand;
  }

  private updateAllHosts(t: number): boolean {
    let any = false;
    for (let h = 0; h < this.H; h++) if (this.hostUpdate(h, t)) any = true;
    return any;
  }

  /** HostDynamicWorkload#updateVmsProcessing for one host. Returns whether any VM requests MIPS. */
  private hostUpdate(h: number, t: number): boolean {
    this.now = t;
    const list = this.hVms[h]!;
    const n = list.length;
    if (n === 0 && this.hUtilMips[h] === 0 && this.hHasEnt[h] === 1 && this.hEntActive[h] === 0) {
      // An empty host that was already idle: a new inactive entry would change no metric.
      this.hPrevUtilMips[h] = 0;
      return false;
    }
    // PowerVm#updateVmProcessing: one history value per 300 s event.
    const histDue = (t - MIN_TIME_BETWEEN_EVENTS_S) % this.interval === 0;
    if (histDue) for (let i = 0; i < n; i++) this.pushHistory(list[i]!, t);

    this.hPrevUtilMips[h] = this.hUtilMips[h]!;
    if (this.allocScratch.length < 3 * n) this.allocScratch = new Float64Array(6 * n);
    const scratch = this.allocScratch;
    const total = this.hTotalMips[h]!;
    const pe = this.hPeMips[h]!;
    const migIn = this.hMigIn[h]!;
    const anyIn = migIn.length > 0;
    // VmSchedulerTimeSharedOverSubscription, VMs allocated in list order from an empty scheduler.
    let avail = total;
    let oversubscribed = false;
    let effSum = 0;
    let any = false;
    for (let i = 0; i < n; i++) {
      const v = list[i]!;
      const r = this.reqNow(v);
      scratch[n + i] = r;
      if (r > 0) any = true;
      const capped = r > pe ? pe : r;
      const isIn = anyIn && migIn.includes(v);
      scratch[2 * n + i] = isIn ? 1 : 0;
      const eff = isIn ? capped * 0.1 : capped;
      effSum += eff;
      if (!oversubscribed) {
        if (avail >= eff) avail -= eff;
        else {
          // redistributeMipsDueToOverSubscription: from now on every VM gets a scaled share
          oversubscribed = true;
          avail = 0;
        }
      }
    }
    const scale = total / effSum;
    let util = 0;
    let hostReq = 0;
    for (let i = 0; i < n; i++) {
      const v = list[i]!;
      const r = scratch[n + i]!;
      const capped = r > pe ? pe : r;
      const isIn = scratch[2 * n + i] === 1;
      const isOut = !isIn && this.vInMig[v] === 1;
      let a: number;
      if (!oversubscribed) a = isOut ? capped * 0.9 : isIn ? capped * 0.1 : capped;
      else if (isOut) a = Math.floor(capped * scale * 0.9);
      else if (isIn) a = Math.floor(capped * 0.1 * scale);
      else a = Math.floor(capped * scale);
      if (!isIn) {
        this.vmEntry(v, t, a, r, isOut);
        this.vAllocMips[v] = a;
        if (isOut) a /= 0.9; // the source host still works for the whole VM
      }
      util += a;
      hostReq += r;
    }
    this.hUtilMips[h] = util;
    this.hostEntry(h, t, util, hostReq, util > 0);
    return any;
  }

  private pushHistory(v: number, t: number): void {
    if (!(t > this.vHistLastT[v]!)) return;
    const base = v * HIST;
    this.vHist.copyWithin(base + 1, base, base + HIST - 1);
    this.vHist[base] = this.utilAt(v, t);
    if (this.vHistLen[v]! < HIST) this.vHistLen[v] = this.vHistLen[v]! + 1;
    this.vHistLastT[v] = t;
  }

  /** HostDynamicWorkload#addStateHistoryEntry + the integration Helper does over the list. */
  private hostEntry(h: number, t: number, alloc: number, req: number, active: boolean): void {
    if (this.hHasEnt[h] && this.hEntT[h] === t) {
      this.hEntAlloc[h] = alloc;
      this.hEntReq[h] = req;
      this.hEntActive[h] = active ? 1 : 0;
      return;
    }
    if (this.hHasEnt[h]) {
      this.finalizeHostEntry(h);
      if (this.hEntActive[h]) {
        const dt = t - this.hEntT[h]!;
        this.activeTimeS += dt;
        if (this.hEntAlloc[h]! < this.hEntReq[h]!) this.slaViolationTimeS += dt;
      }
    }
    this.hHasEnt[h] = 1;
    this.hEntT[h] = t;
    this.hEntAlloc[h] = alloc;
    this.hEntReq[h] = req;
    this.hEntActive[h] = active ? 1 : 0;
  }

  private finalizeHostEntry(h: number): void {
    const active = this.hEntActive[h] === 1;
    if (this.hFinalActive[h] === 1 && !active) this.shutdowns++;
    this.hFinalActive[h] = active ? 1 : 0;
  }

  /** Vm#addStateHistoryEntry + Helper#getSlaMetrics integration. */
  private vmEntry(v: number, t: number, alloc: number, req: number, inMigration: boolean): void {
    if (this.vHasEnt[v] && this.vEntT[v] === t) {
      this.vEntAlloc[v] = alloc;
      this.vEntReq[v] = req;
      this.vEntMig[v] = inMigration ? 1 : 0;
      return;
    }
    if (this.vHasEnt[v]) {
      const dt = t - this.vEntT[v]!;
      const pa = this.vEntAlloc[v]!;
      const pr = this.vEntReq[v]!;
      this.vTotAlloc[v] = this.vTotAlloc[v]! + pa * dt;
      this.vTotReq[v] = this.vTotReq[v]! + pr * dt;
      if (pa < pr) {
        this.slaViolationSum += (pr - pa) / pr;
        this.slaViolationCount++;
        if (this.vEntMig[v]) this.vUnderMig[v] = this.vUnderMig[v]! + (pr - pa) * dt;
      }
    }
    this.vHasEnt[v] = 1;
    this.vEntT[v] = t;
    this.vEntAlloc[v] = alloc;
    this.vEntReq[v] = req;
    this.vEntMig[v] = inMigration ? 1 : 0;
  }

  /** "Remove completed VMs": a VM not in migration whose demand is exactly 0 is gone for good. */
  private removeCompletedVms(t: number): void {
    this.now = t;
    for (let h = 0; h < this.H; h++) {
      const list = this.hVms[h]!;
      let done: number[] | null = null;
      for (let i = 0; i < list.length; i++) {
        const v = list[i]!;
        if (this.vInMig[v]) continue;
        if (this.reqNow(v) === 0) (done ??= []).push(v);
      }
      if (done === null) continue;
      for (const v of done) {
        const owner = this.vOwner[v]!;
        if (owner !== NO_HOST) this.destroyOnHost(owner, v);
        this.vOwner[v] = NO_HOST;
        this.vAlive[v] = 0;
        this.vmsRemoved++;
      }
    }
  }

  private destroyOnHost(h: number, v: number): void {
    const list = this.hVms[h]!;
    const i = list.indexOf(v);
    if (i >= 0) {
      list.splice(i, 1);
      this.holdResources(h, v, -1);
    }
  }

  // =====================================================================================
  // Migrations (PowerDatacenter, Host#addMigratingInVm, Datacenter#processVmMigrate)
  // =====================================================================================

  private startMigration(v: number, target: number, t: number, completions: number[]): void {
    this.now = t;
    this.vInMig[v] = 1;
    if (this.enforced && (this.hRamMb[target]! - this.hRamHeld[target]! < this.vRam[v]! || this.hBwKbps[target]! - this.hBwHeld[target]! < this.vBw[v]!)) {
      this.anomalies++; // CloudSim would stop: "Allocation of VM to Host failed by RAM"
    }
    this.hMigIn[target]!.push(v);
    this.hVms[target]!.push(v);
    this.holdResources(target, v, 1);
    this.hostUpdate(target, t);
    const source = this.vOwner[v]!;
    if (source !== NO_HOST) this.hostUpdate(source, t);
    const delayS = this.vRam[v]! / (this.hBwKbps[target]! / (2 * 8000));
    completions.push(t + delayS, v, target);
  }

  private processCompletions(completions: number[]): void {
    const count = completions.length / 3;
    if (count === 0) return;
    const order = new Int32Array(count);
    for (let i = 0; i < count; i++) order[i] = i;
    // FutureQueue order: by time, then by insertion.
    const sorted = Array.from(order).sort((a, b) => completions[a * 3]! - completions[b * 3]! || a - b);
    let i = 0;
    while (i < count) {
      const t = completions[sorted[i]! * 3]!;
      if (!(t < this.limit)) return; // never processed: the simulation stops first
      let j = i;
      while (j < count && completions[sorted[j]! * 3]! === t) j++;
      // First VM_MIGRATE at this time: catch up (with energy), then move every VM, then one more
      // update once the last migration of this instant is done.
      if (t > this.lastProcessTime) this.fullUpdate(t);
      for (let k = i; k < j; k++) {
        const e = sorted[k]! * 3;
        this.completeMigration(completions[e + 1]!, completions[e + 2]!);
      }
      this.fullUpdate(t);
      i = j;
    }
  }

  private completeMigration(v: number, target: number): void {
    const owner = this.vOwner[v]!;
    if (owner !== NO_HOST) this.destroyOnHost(owner, v);
    this.vOwner[v] = NO_HOST;
    // Host#removeMigratingInVm
    const mi = this.hMigIn[target]!;
    const k = mi.indexOf(v);
    if (k >= 0) mi.splice(k, 1);
    this.destroyOnHost(target, v);
    this.vInMig[v] = 0;
    // allocateHostForVm(vm, host) -> vmCreate
    this.hVms[target]!.push(v);
    this.holdResources(target, v, 1);
    this.vOwner[v] = target;
  }

  // =====================================================================================
  // PowerVmAllocationPolicyMigrationAbstract#optimizeAllocation
  // =====================================================================================

  get timeNow(): number {
    return this.now;
  }

  get stepNow(): number {
    return this.step;
  }

  planList(h: number): number[] {
    return this.pList[h] ?? this.hVms[h]!;
  }

  private planMutable(h: number): number[] {
    let l = this.pList[h];
    if (l === null || l === undefined) {
      l = this.hVms[h]!.slice();
      this.pList[h] = l;
    }
    return l;
  }

  /** vmCreate in the tentative allocation. */
  private planAdd(h: number, v: number): void {
    const l = this.planMutable(h);
    if (l.length === 0 && this.hUtilMips[h] === 0) this.markNonBlank(h);
    l.push(v);
    this.pRamFree[h] = this.pRamFree[h]! - this.vRam[v]!;
    this.pBwFree[h] = this.pBwFree[h]! - this.vBw[v]!;
    if (!this.pCacheValid[h]) return;
    // Appending at the end: the sums in list order just gain one last term (exactly what a fresh
    // recomputation would give), and the scheduler's vmCreate subtracts the VM from what is left.
    const capped = this.allocBasis(v, this.hPeMips[h]!);
    if (this.pAvail[h]! >= capped && this.pAllocSumDirect[h]) {
      this.pAvail[h] = this.pAvail[h]! - capped;
      this.pAllocSum[h] = this.pAllocSum[h]! + capped;
      // (a VM just created at t = 0 requests nothing until its cloudlet arrives)
      this.pReqSum[h] = this.pReqSum[h]! + (this.instantiating ? 0 : this.reqNow(v));
      const base = h * HIST;
      const len = this.vHistLen[v]!;
      const vb = v * HIST;
      const mips = this.vMips[v]!;
      const total = this.hTotalMips[h]!;
      for (let k = 0; k < len; k++) this.pHist[base + k] = this.pHist[base + k]! + (this.vHist[vb + k]! * mips) / total;
    } else {
      this.pCacheValid[h] = 0;
    }
  }

  /** vmDestroy in the tentative allocation. */
  private planRemove(h: number, v: number): void {
    const l = this.planMutable(h);
    const i = l.indexOf(v);
    if (i < 0) return;
    l.splice(i, 1);
    this.pRamFree[h] = this.pRamFree[h]! + this.vRam[v]!;
    this.pBwFree[h] = this.pBwFree[h]! + this.vBw[v]!;
    this.pCacheValid[h] = 0;
  }

  private markNonBlank(h: number): void {
    if (this.pNonBlankFlag[h]) return;
    this.pNonBlankFlag[h] = 1;
    const a = this.pNonBlank;
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (a[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    a.splice(lo, 0, h);
  }

  /** MIPS a VM holds in the host's scheduler (before over-subscription scaling). */
  private allocBasis(v: number, pe: number): number {
    // At t = 0 created VMs keep the full MIPS they were given while being instantiated.
    if (this.instantiating) return this.vMips[v]!;
    const r = this.reqNow(v);
    return r > pe ? pe : r;
  }

  /**
   * Per-host sums over the tentative VM list, in list order: requested MIPS, the scheduler's
   * allocated MIPS (VmSchedulerTimeSharedOverSubscription: capped requests, or floor-scaled ones
   * when they exceed the host), its available MIPS, and the summed utilisation history.
   */
  private ensurePlanCache(h: number): void {
    if (this.pCacheValid[h]) return;
    const list = this.planList(h);
    const total = this.hTotalMips[h]!;
    const pe = this.hPeMips[h]!;
    const base = h * HIST;
    this.pHist.fill(0, base, base + HIST);
    let reqSum = 0;
    let cappedSum = 0;
    let direct = 0;
    let avail = total;
    let over = false;
    for (let i = 0; i < list.length; i++) {
      const v = list[i]!;
      reqSum += this.reqNow(v);
      const capped = this.allocBasis(v, pe);
      cappedSum += capped;
      direct += capped;
      if (!over) {
        if (avail >= capped) avail -= capped;
        else over = true;
      }
      const len = this.vHistLen[v]!;
      const vb = v * HIST;
      const mips = this.vMips[v]!;
      for (let k = 0; k < len; k++) this.pHist[base + k] = this.pHist[base + k]! + (this.vHist[vb + k]! * mips) / total;
    }
    let allocSum = direct;
    if (over) {
      const scale = total / cappedSum;
      allocSum = 0;
      for (let i = 0; i < list.length; i++) allocSum += Math.floor(this.allocBasis(list[i]!, pe) * scale);
    }
    this.pReqSum[h] = reqSum;
    this.pAllocSum[h] = allocSum;
    this.pAllocSumDirect[h] = over ? 0 : 1;
    this.pAvail[h] = over ? 0 : avail;
    this.pCacheValid[h] = 1;
  }

  planRequestedMips(h: number, extra: number): number {
    this.ensurePlanCache(h);
    const base = this.pReqSum[h]!;
    return extra >= 0 ? base + this.reqNow(extra) : base;
  }

  /** PowerVmAllocationPolicyMigrationAbstract#getUtilizationOfCpuMips(host) (3.0.3). */
  planAllocatedMips(h: number): number {
    this.ensurePlanCache(h);
    return this.pAllocSum[h]!;
  }

  planHistory(h: number, extra: number, out: Float64Array): number {
    this.ensurePlanCache(h);
    const base = h * HIST;
    for (let k = 0; k < HIST; k++) out[k] = this.pHist[base + k]!;
    if (extra >= 0) {
      const len = this.vHistLen[extra]!;
      const vb = extra * HIST;
      const mips = this.vMips[extra]!;
      const hostMips = this.hTotalMips[h]!;
      for (let k = 0; k < len; k++) out[k] = out[k]! + (this.vHist[vb + k]! * mips) / hostMips;
    }
    return trimmedLength(out, HIST);
  }

  vmHistory(v: number, out: Float64Array): number {
    const len = this.vHistLen[v]!;
    const vb = v * HIST;
    for (let k = 0; k < len; k++) out[k] = this.vHist[vb + k]!;
    return len;
  }

  migratingInExtraMips(h: number): number {
    // getUtilizationOfCpuMips adds allocated x 0.9 / 0.1 for each VM migrating in; none are in
    // flight when the policy runs (migrations last < 30 s), kept for completeness.
    const mi = this.hMigIn[h]!;
    if (mi.length === 0) return 0;
    const pe = this.hPeMips[h]!;
    let extra = 0;
    for (const v of mi) {
      const r = this.reqNow(v);
      extra += ((r > pe ? pe : r) * 0.1 * 0.9) / 0.1;
    }
    return extra;
  }

  private beginPlan(): void {
    const H = this.H;
    this.pList.fill(null);
    this.pCacheValid.fill(0);
    this.pNonBlankFlag.fill(0);
    this.pNonBlank.length = 0;
    const blank: number[][] = [];
    for (let k = 0; k < PLANETLAB_HOST_TYPES.length; k++) blank.push([]);
    for (let h = 0; h < H; h++) {
      this.pRamFree[h] = this.hRamMb[h]! - this.hRamHeld[h]!;
      this.pBwFree[h] = this.hBwKbps[h]! - this.hBwHeld[h]!;
      if (this.hUtilMips[h] !== 0 || this.hVms[h]!.length > 0) {
        this.pNonBlankFlag[h] = 1;
        this.pNonBlank.push(h);
      }
      if (this.hUtilMips[h] === 0) blank[this.hType[h]!]!.push(h);
    }
    this.blankByType = blank.map((l) => Int32Array.from(l));
    for (let h = 0; h < H; h++) this.pPowerNow[h] = powerAt(this.hPower[h]!, clampU(this.hUtilMips[h]! / this.hTotalMips[h]!));
  }

  /** A host no VM is (tentatively) on and idle at its last update: its score depends on its type only. */
  private isBlank(h: number): boolean {
    return this.hUtilMips[h] === 0 && this.planList(h).length === 0;
  }

  /** Host#isSuitableForVm against the tentative allocation. */
  private suitable(h: number, v: number, req: number): boolean {
    this.ensurePlanCache(h);
    if (!(this.hPeMips[h]! >= req && this.pAvail[h]! >= req)) return false;
    // Once created, PlanetLab VMs request 0 MB RAM and 0 bandwidth (UtilizationModelNull).
    if (this.enforced || this.instantiating) return this.pRamFree[h]! >= this.vRam[v]! && this.pBwFree[h]! >= this.vBw[v]!;
    return true;
  }

  /**
   * PowerVmAllocationPolicyMigrationAbstract#findHostForVm(vm, excludedHosts) (3.0.3).
   *
   * CloudSim scans the hosts in index order and keeps a host when it is suitable, not overloaded
   * after the allocation (checked only if it already has MIPS allocated) and strictly better than
   * the best so far: the result is the suitable, not-overloaded host with the lowest score, the
   * lowest index on ties. We score every suitable host first and then run the (costlier, side-
   * effect-free) overload check from the best score up, stopping at the first host that passes.
   */
  private findHostForVm(v: number, excluded: Uint8Array): number {
    const req = this.reqNow(v);
    if (this.referenceScan) return this.findHostForVmLiteral(v, req, excluded);
    this.candCount = 0;
    if (!this.builtinScorer) {
      for (let h = 0; h < this.H; h++) this.scoreHost(h, v, req, excluded);
      return this.pickBest(v);
    }
    // Blank hosts of one type all score the same and skip the overload check: only the first
    // suitable one of each type can win.
    for (const list of this.blankByType) {
      for (let i = 0; i < list.length; i++) {
        const h = list[i]!;
        if (!excluded[h] && this.isBlank(h) && this.suitable(h, v, req)) {
          this.scoreHost(h, v, req, excluded);
          break;
        }
      }
    }
    const nb = this.pNonBlank;
    const valid = this.pCacheValid;
    const avail = this.pAvail;
    for (let i = 0; i < nb.length; i++) {
      const h = nb[i]!;
      // cheap rejections first (same outcome as in scoreHost)
      if (excluded[h] || (valid[h] === 1 && avail[h]! < req)) continue;
      if (!this.isBlank(h)) this.scoreHost(h, v, req, excluded);
    }
    return this.pickBest(v);
  }

  /** CloudSim's loop, literally (slow; used by tests to check the fast path makes the same choices). */
  private findHostForVmLiteral(v: number, req: number, excluded: Uint8Array): number {
    let minPower = Number.MAX_VALUE;
    let chosen = NO_HOST;
    for (let h = 0; h < this.H; h++) {
      if (excluded[h] || !this.suitable(h, v, req)) continue;
      const allocated = this.pAllocSum[h]!;
      if (allocated !== 0 && this.detectAfterAllocation(h, v)) continue;
      this.view.bind(h, v);
      const s = this.scorer.score(this.view, v);
      if (Number.isNaN(s)) this.anomalies++;
      if (s < minPower) {
        minPower = s;
        chosen = h;
      }
    }
    return chosen;
  }

  private candCount = 0;
  private candHost = new Int32Array(0);
  private candScore = new Float64Array(0);

  /** Scores one suitable host and remembers it as a candidate. */
  private scoreHost(h: number, v: number, req: number, excluded: Uint8Array): void {
    if (excluded[h] || !this.suitable(h, v, req)) return;
    const allocated = this.pAllocSum[h]!; // valid: suitable() refreshed the cache
    let s: number;
    if (this.builtinScorer) {
      // PowerIncreaseScorer, inlined: getPowerAfterAllocation - PowerHost#getPower.
      const after = (allocated + this.migratingInExtraMips(h) + req) / this.hTotalMips[h]!;
      s = powerAt(this.hPower[h]!, after) - this.pPowerNow[h]!;
    } else {
      this.view.bind(h, v);
      s = this.scorer.score(this.view, v);
    }
    if (!(s < Number.MAX_VALUE)) {
      // CloudSim stops when the power model is asked for a utilisation above 100 %.
      if (Number.isNaN(s) && (allocated === 0 || !this.detectAfterAllocation(h, v))) this.anomalies++;
      return;
    }
    if (this.candHost.length <= this.candCount) {
      const n = Math.max(16, this.candHost.length * 2);
      const hh = new Int32Array(n);
      hh.set(this.candHost);
      const ss = new Float64Array(n);
      ss.set(this.candScore);
      this.candHost = hh;
      this.candScore = ss;
    }
    this.candHost[this.candCount] = h;
    this.candScore[this.candCount] = s;
    this.candCount++;
  }

  /** The lowest (score, index) candidate that is not overloaded after the allocation. */
  private pickBest(v: number): number {
    const n = this.candCount;
    const hs = this.candHost;
    const ss = this.candScore;
    for (let round = 0; round < n; round++) {
      let bi = -1;
      for (let i = 0; i < n; i++) {
        if (hs[i]! < 0) continue;
        if (bi < 0 || ss[i]! < ss[bi]! || (ss[i] === ss[bi] && hs[i]! < hs[bi]!)) bi = i;
      }
      if (bi < 0) return NO_HOST;
      const h = hs[bi]!;
      if (this.pAllocSum[h] !== 0 && this.detectAfterAllocation(h, v)) {
        hs[bi] = -1;
        continue;
      }
      return h;
    }
    return NO_HOST;
  }

  private detectAfterAllocation(h: number, v: number): boolean {
    this.view.bind(h, v);
    return this.detector!.detect(this.view, this.verdict);
  }

  private optimizeAllocation(t: number): { vms: number[]; targets: number[]; decisions: MigrationDecision[]; overloaded: number } {
    this.now = t;
    this.beginPlan();
    const H = this.H;
    const detector = this.detector!;
    const selector = this.selector!;
    const view = this.view;
    const verdict = this.verdict;
    const vms: number[] = [];
    const targets: number[] = [];
    const decisions: MigrationDecision[] = [];

    // 1. over-utilised hosts
    const overSet = new Uint8Array(H);
    const over: number[] = [];
    const overMetric = new Float64Array(H);
    const overThreshold = new Float64Array(H);
    const overRule: string[] = new Array<string>(H);
    for (let h = 0; h < H; h++) {
      view.bind(h, -1);
      if (detector.detect(view, verdict)) {
        overSet[h] = 1;
        over.push(h);
        overMetric[h] = verdict.metric;
        overThreshold[h] = verdict.threshold;
        overRule[h] = verdict.rule;
      }
    }

    // 2. VMs to migrate from them
    const toMigrate: number[] = [];
    const source = new Int32Array(this.N).fill(NO_HOST);
    for (const h of over) {
      for (;;) {
        view.bind(h, -1);
        const v = selector.select(view);
        if (v < 0) break;
        toMigrate.push(v);
        source[v] = h;
        this.planRemove(h, v);
        view.bind(h, -1);
        if (!detector.detect(view, verdict)) break;
      }
    }

    // 3. new placement (PABFD), excluding the over-utilised hosts
    this.sortByDemandDesc(toMigrate);
    for (const v of toMigrate) {
      const h = this.findHostForVm(v, overSet);
      if (h === NO_HOST) continue;
      this.planAdd(h, v);
      const from = source[v]!;
      vms.push(v);
      targets.push(h);
      decisions.push({
        step: this.step,
        timeS: t,
        vm: v,
        fromHost: from,
        toHost: h,
        phase: 'overload',
        rule: overRule[from] ?? '',
        metric: overMetric[from]!,
        threshold: overThreshold[from]!,
      });
    }

    // 4. under-utilised hosts, least utilised first (cached utilisation)
    const exclU = overSet.slice();
    const exclP = overSet.slice();
    const cand: number[] = [];
    const util = new Float64Array(H);
    for (let h = 0; h < H; h++) {
      const u = clampU(this.hUtilMips[h]! / this.hTotalMips[h]!);
      util[h] = u;
      if (u === 0) {
        exclU[h] = 1;
        exclP[h] = 1;
      } else if (!exclU[h] && u > 0 && u < 1) cand.push(h);
    }
    cand.sort((a, b) => util[a]! - util[b]! || a - b);
    for (let ci = 0; ci < cand.length; ci++) {
      const u = cand[ci]!;
      if (exclU[u]) continue;
      const list = this.planList(u);
      if (list.length === 0) continue; // areAllVmsMigratingOutOrAnyVmMigratingIn
      exclU[u] = 1;
      exclP[u] = 1;
      const moving: number[] = [];
      for (const v of list) if (!this.vInMig[v]) moving.push(v);
      if (moving.length === 0) continue;
      this.sortByDemandDesc(moving);
      const placedVm: number[] = [];
      const placedHost: number[] = [];
      let failed = false;
      for (const v of moving) {
        const h = this.findHostForVm(v, exclP);
        if (h === NO_HOST) {
          failed = true;
          break;
        }
        this.planAdd(h, v);
        placedVm.push(v);
        placedHost.push(h);
      }
      if (failed) {
        for (let k = 0; k < placedVm.length; k++) this.planRemove(placedHost[k]!, placedVm[k]!);
        continue;
      }
      for (let k = 0; k < placedVm.length; k++) {
        const h = placedHost[k]!;
        exclU[h] = 1;
        vms.push(placedVm[k]!);
        targets.push(h);
        decisions.push({
          step: this.step,
          timeS: t,
          vm: placedVm[k]!,
          fromHost: u,
          toHost: h,
          phase: 'underload',
          rule: 'underload',
          metric: util[u]!,
          threshold: Number.NaN,
        });
      }
    }
    // 5. restoreAllocation: the tentative state is simply dropped.
    this.pList.fill(null);
    return { vms, targets, decisions, overloaded: over.length };
  }

  /** PowerVmList.sortByCpuUtilization: by current demand in MIPS, descending, stable. */
  private sortByDemandDesc(list: number[]): void {
    list.sort((a, b) => this.reqNow(b) - this.reqNow(a));
  }

  // =====================================================================================
  // Results (Helper#printResults)
  // =====================================================================================

  private finish(terminatedByLimit: boolean): CloudSimResult {
    for (let h = 0; h < this.H; h++) if (this.hHasEnt[h]) this.finalizeHostEntry(h);
    let totalAlloc = 0;
    let totalReq = 0;
    let underMig = 0;
    for (let v = 0; v < this.N; v++) {
      totalAlloc += this.vTotAlloc[v]!;
      totalReq += this.vTotReq[v]!;
      underMig += this.vUnderMig[v]!;
    }
    const slatah = this.activeTimeS > 0 ? this.slaViolationTimeS / this.activeTimeS : 0;
    const pdm = totalReq > 0 ? underMig / totalReq : 0;
    const slav = slatah * pdm;
    const energyKwh = this.energyJ / (3600 * 1000);
    const steps = this.step + 1;
    return {
      policy: this.policy,
      hosts: this.H,
      vms: this.N,
      simulatedTimeS: terminatedByLimit ? this.limit : this.lastProcessTime,
      energyKwh,
      migrations: this.migrations,
      hostShutdowns: this.shutdowns,
      slatahPct: slatah * 100,
      pdmPct: pdm * 100,
      slavPct: slav * 100,
      esv: energyKwh * slav,
      overallSlaViolationPct: totalReq > 0 ? ((totalReq - totalAlloc) / totalReq) * 100 : 0,
      averageSlaViolationPct: this.slaViolationCount > 0 ? (this.slaViolationSum / this.slaViolationCount) * 100 : 0,
      activeHostHours: this.activeTimeS / 3600,
      steps,
      hostsActive: Int32Array.from(this.hostsActive),
      allocations: this.recordAllocations ? this.allocations.subarray(0, steps * this.N) : new Float32Array(0),
      vmsRemoved: this.vmsRemoved,
      reasons: { ...this.reasons },
      decisions: this.decisions,
      maxHostRamMb: this.maxHostRam,
      anomalies: this.anomalies,
    };
  }
}

/** The HostView handed to detectors, selectors and scorers during a round (reused, no allocation). */
class PlanView implements HostView {
  index = 0;
  type = 0;
  totalMips = 0;
  peMips = 0;
  bwKbps = 0;
  timeS = 0;
  step = 0;
  cachedUtilizationMips = 0;
  private extra = -1;
  private list: number[] = [];
  constructor(private readonly sim: PlanetLabSimulation) {}
  bind(h: number, extra: number): void {
    const s = this.sim;
    this.index = h;
    this.type = s.hType[h]!;
    this.totalMips = s.hTotalMips[h]!;
    this.peMips = s.hPeMips[h]!;
    this.bwKbps = s.hBwKbps[h]!;
    this.cachedUtilizationMips = s.hUtilMips[h]!;
    this.timeS = s.timeNow;
    this.step = s.stepNow;
    this.list = s.planList(h);
    this.extra = extra;
  }
  vmCount(): number {
    return this.list.length + (this.extra >= 0 ? 1 : 0);
  }
  vm(i: number): number {
    return i < this.list.length ? this.list[i]! : this.extra;
  }
  requestedMips(): number {
    return this.sim.planRequestedMips(this.index, this.extra);
  }
  allocatedMips(): number {
    return this.sim.planAllocatedMips(this.index);
  }
  utilizationHistory(out: Float64Array): number {
    return this.sim.planHistory(this.index, this.extra, out);
  }
  maxVmRamMb(): number {
    let m = -2147483648; // Integer.MIN_VALUE
    const ram = this.sim.vRam;
    for (let i = 0; i < this.list.length; i++) if (ram[this.list[i]!]! > m) m = ram[this.list[i]!]!;
    if (this.extra >= 0 && ram[this.extra]! > m) m = ram[this.extra]!;
    return m;
  }
  migratingInExtraMips(): number {
    return this.sim.migratingInExtraMips(this.index);
  }
  powerW(utilization: number): number {
    return powerAt(this.sim.hPower[this.index]!, utilization);
  }
  vmRequestedMips(vm: number): number {
    return this.sim.reqNow(vm);
  }
  vmMips(vm: number): number {
    return this.sim.vMips[vm]!;
  }
  vmRamMb(vm: number): number {
    return this.sim.vRam[vm]!;
  }
  vmInMigration(vm: number): boolean {
    return this.sim.vInMig[vm] === 1;
  }
  vmUtilizationHistory(vm: number, out: Float64Array): number {
    return this.sim.vmHistory(vm, out);
  }
}

function validateInputs(vms: readonly Float64Array[], hosts: number, interval: number, limit: number): void {
  if (!Number.isInteger(hosts) || hosts <= 0) throw new InputError(`hosts must be a positive integer, got ${hosts}`, { field: 'hosts' });
  if (!(interval > 0)) throw new InputError(`schedulingIntervalS must be > 0, got ${interval}`, { field: 'schedulingIntervalS' });
  if (!(limit > 0)) throw new InputError(`simulationLimitS must be > 0, got ${limit}`, { field: 'simulationLimitS' });
  if (vms.length === 0) throw new InputError('no VM traces given', { field: 'vms' });
  const needed = Math.ceil(limit / interval);
  if (needed > CLOUDSIM_SAMPLES) {
    throw new InputError(`CloudSim reads ${CLOUDSIM_SAMPLES} samples per trace: ${limit} s at ${interval} s needs ${needed}`, { field: 'simulationLimitS' });
  }
  for (let v = 0; v < vms.length; v++) {
    const s = vms[v]!;
    if (s.length < needed) {
      throw new InputError(`trace has ${s.length} samples but ${needed} are needed for ${limit} s at ${interval} s`, { field: `vms[${v}]` });
    }
    const used = Math.min(s.length, CLOUDSIM_SAMPLES);
    for (let i = 0; i < used; i++) {
      const x = s[i]!;
      if (!(x >= 0)) throw new InputError(`CPU % must be a number >= 0, got ${x}`, { field: `vms[${v}][${i}]` });
    }
  }
}
