// The policy framework's extension points, in the shape of the Kubernetes scheduler framework:
// one small typed interface per point; a plugin implements only the points it needs.
// Everything here is pure: time and randomness come in through the context.
//
// Amounts are in each instance's canonical units (see src/core/plan.ts). Hosts in a fleet hold
// instances of one unit family, and a host's capacity is in those units.
import type { Amounts, InstanceUnits } from '../../core/plan.js';
import type { Rng } from '../../core/rng.js';
import type { ProbForecast } from '../../forecast/types.js';

export type ResourceKey = 'cpu' | 'memory';
export const RESOURCE_KEYS: readonly ResourceKey[] = ['cpu', 'memory'];

/** What the policy sees of one instance. The simulator and the control plane keep these. */
export interface InstanceState {
  readonly id: string;
  /** Host it runs on (null in the rightsizing scenario, or while pending). */
  hostId: string | null;
  readonly units: InstanceUnits;
  /** Provisioned capacity (what the owner bought); NaN where unknown or not managed. */
  readonly capacity: Amounts;
  /** The allocation in effect now. */
  allocation: Amounts;
  /** Usage observed in the most recent step; NaN where missing. */
  lastUsage: Amounts;
  /** Number of samples observed so far. */
  samples: number;
}

export interface HostState {
  readonly id: string;
  readonly capacity: Amounts;
  on: boolean;
}

/** The world as one decision round sees it. */
export interface Snapshot {
  nowS: number;
  stepSeconds: number;
  instances: readonly InstanceState[];
  /** Empty in the rightsizing scenario (no host limits). */
  hosts: readonly HostState[];
  /**
   * Operator settings and what the shell measured for them (the control plane's `/v1/policies`).
   * Absent (the simulator): every policy runs on its own defaults. See `settings.ts`.
   */
  control?: ControlInputs;
}

/**
 * Operator settings of one instance, or the global ones (each field optional; an instance's field
 * overrides the global field of the same name). Meanings and mappings: `settings.ts`.
 */
export interface ControlSettings {
  /** 0 = conservative (most headroom) .. 1 = aggressive (least); 0.5 = the policies' own defaults. */
  aggressiveness?: number;
  /** Most live migrations of the instance in any 3600 s of model time (0 = never migrate it). */
  maxMigrationsPerHour?: number;
  /** Largest share of recent steps the instance may spend with usage above its allocation. */
  degradationThreshold?: number;
}

/** Realised violations of one instance, measured by the shell (`updateViolationShare`). */
export interface ViolationRecord {
  /** Share of recent steps with usage above the allocation in some resource (window: about a day). */
  share: number;
  /** Steps observed so far. */
  samples: number;
}

/** Settings and measurements a decision round reads (all optional, all read-only). */
export interface ControlInputs {
  global?: ControlSettings;
  /** Per-instance settings by instance id. */
  instances?: ReadonlyMap<string, ControlSettings>;
  /** Times (model seconds) of each instance's applied live migrations; initial placements excluded. */
  migrationsS?: ReadonlyMap<string, readonly number[]>;
  /** Realised violation share per instance. */
  violations?: ReadonlyMap<string, ViolationRecord>;
}

/** Probabilistic forecasts for one instance, per resource, for the next steps. */
export interface InstanceForecast {
  cpu?: ProbForecast;
  memory?: ProbForecast;
}
export type Forecasts = ReadonlyMap<string, InstanceForecast>;

/** Everything a plugin may read while deciding. */
export interface DecideContext {
  readonly snapshot: Snapshot;
  readonly forecasts: Forecasts;
  readonly nowS: number;
  readonly rng: Rng;
}

/** A plugin: a named value implementing one or more extension points. */
export interface Plugin {
  readonly name: string;
  /**
   * Model update: usage observed for an instance over the step that ended at `nowS`, together
   * with the allocation that was in effect for it. Called for every instance every step,
   * before the next decision. The two amounts objects may be reused by the caller once the call
   * returns (the simulator does): read them, do not keep them. Optional on every plugin.
   */
  observe?(instance: InstanceState, usage: Amounts, allocation: Amounts, nowS: number): void;
  /** The instance left the system: drop its state. */
  forget?(instanceId: string): void;
  /**
   * True when the plugin's answers about a host depend on the host only through its capacity,
   * its power state and the instances and allocations on it (never its id or other fields). When
   * every filter and scorer says so, placement evaluates one empty powered-off host per capacity
   * instead of every one of them (same choice: equal hosts score equally and the first wins).
   */
  readonly hostSymmetric?: boolean;
}

// ---- Extension point: Rightsizer --------------------------------------------------------------

/** An allocation for the next step. NaN for a resource = leave it as it is. */
export interface RightsizeDecision {
  cpu: number;
  memory: number;
  /** May be an array the rightsizer shares between decisions (frozen): the decision core copies it before adding to it or putting it in an action. */
  reasons: string[];
}

export interface Rightsizer extends Plugin {
  /** The allocation for the next step, decided only from what was observed before it. */
  recommend(instance: InstanceState, ctx: DecideContext): RightsizeDecision;
}

// ---- Extension points for a fleet --------------------------------------------------------------

/** Read-only view of the fleet while a plan is being built (tentative placements included). */
export interface FleetView {
  readonly ctx: DecideContext;
  host(id: string): HostState | undefined;
  instance(id: string): InstanceState | undefined;
  /** Instances on a host after the moves planned so far. */
  instancesOn(hostId: string): readonly InstanceState[];
  /** Planned allocation of an instance (after this round's resize). */
  allocationOf(instanceId: string): Amounts;
  /** Sum of planned allocations on a host. */
  allocatedOn(hostId: string): Amounts;
  /** The configured overcommit: false = allocations on a host must fit its capacity. */
  readonly overcommit: boolean;
}

/** A filter's answer: feasible, or not with the reasons (never an exception). */
export interface FilterStatus {
  feasible: boolean;
  reasons: string[];
}
export const FEASIBLE: FilterStatus = Object.freeze({ feasible: true, reasons: [] }) as FilterStatus;

export interface PlacementFilter extends Plugin {
  filter(instance: InstanceState, host: HostState, fleet: FleetView): FilterStatus;
  /**
   * Optional necessary condition: this filter rejects every powered-on host whose free
   * allocation (capacity - allocatedOn) is below the returned amount in some resource. Placement
   * then skips such hosts without calling `filter` (an index keeps the scan near-linear in a large
   * fleet). undefined = no such bound. It must never exclude a host `filter` would admit.
   */
  requiredFree?(instance: InstanceState, fleet: FleetView): Amounts | undefined;
}

export interface PlacementScorer extends Plugin {
  /** Higher is better, in [0, 100]. */
  score(instance: InstanceState, host: HostState, fleet: FleetView): number;
  /**
   * Optional: an upper bound of `score(instance, h, fleet)` (as computed, rounding included) over
   * every powered-on host h of this capacity whose free allocation (capacity - allocatedOn) is at
   * least `minFree` in each resource (-Infinity = unknown). With a bound from every scorer (and
   * non-negative weights), placement skips groups of hosts that cannot beat the best score found
   * so far (same choice as scoring them all). It must never be below a score it bounds.
   */
  scoreBound?(instance: InstanceState, capacity: Amounts, minFree: Amounts, fleet: FleetView): number;
}

export interface DetectStatus {
  detected: boolean;
  reasons: string[];
}

export interface OverloadDetector extends Plugin {
  overloaded(host: HostState, fleet: FleetView): DetectStatus;
}

export interface UnderloadDetector extends Plugin {
  /** Hosts worth draining (then powering off), best candidate first. */
  underloaded(hosts: readonly HostState[], fleet: FleetView): Array<{ host: HostState; reasons: string[] }>;
}

export interface VictimSelector extends Plugin {
  /** Instances to move off an overloaded host, in the order to try them. */
  select(host: HostState, fleet: FleetView): Array<{ instance: InstanceState; reasons: string[] }>;
}

/**
 * Forecast source for policies that act on predictions. The shell feeds it every sample and asks
 * for forecasts before each decision; it stays pure (no I/O, no clock).
 */
export interface ForecastProvider extends Plugin {
  observe(instance: InstanceState, usage: Amounts, allocation: Amounts, nowS: number): void;
  forecast(instance: InstanceState, nowS: number): InstanceForecast | undefined;
}

export type ExtensionPoint = 'rightsize' | 'filter' | 'score' | 'overload' | 'underload' | 'victim' | 'forecast';

/** Run-time facts a factory may need (units, step), fixed for a run. */
export interface PluginEnv {
  stepSeconds: number;
}
