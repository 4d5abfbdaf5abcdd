// A plan is data: the list of actions one decision round wants applied, each with the reasons
// behind it (reason constants, Nomad-style, so "why?" always has an answer).
//
// Amounts in actions are in the instance's canonical units (the unit its telemetry uses):
// Bitbrains CPU in cores and memory in MiB; PlanetLab and Google in percent. The unit of each
// resource travels with the instance (see `InstanceUnits`), not with every action, so a plan for
// a million samples stays small.
import type { Unit } from './resources.js';

/** Allocatable resources of an instance, in its canonical units. NaN = resource not managed. */
export interface Amounts {
  cpu: number;
  memory: number;
}

export interface InstanceUnits {
  cpu: Unit;
  memory: Unit;
}

/** Set an instance's allocation (the enforced limit) for the next step. */
export interface ResizeAction {
  kind: 'resize';
  instance: string;
  cpu: number;
  memory: number;
  reasons: readonly string[];
}

/** Move an instance from one host to another (live migration). */
export interface MigrateAction {
  kind: 'migrate';
  instance: string;
  from: string;
  to: string;
  reasons: readonly string[];
}

/** Power a host on or off. */
export interface PowerAction {
  kind: 'power';
  host: string;
  on: boolean;
  reasons: readonly string[];
}

/**
 * Pin an instance to host CPUs (a cpuset for a cgroup; the vCPU threads' affinity for a VM):
 * moving work between cores is a migration inside one host.
 */
export interface PinAction {
  kind: 'pin';
  instance: string;
  /** Host CPU numbers (as in /proc/cpuinfo "processor"), at least one. */
  cpus: readonly number[];
  reasons: readonly string[];
}

/** Set the number of virtual CPUs an instance has plugged (vCPU hotplug). */
export interface HotplugAction {
  kind: 'hotplug';
  instance: string;
  vcpus: number;
  reasons: readonly string[];
}

/**
 * Stop an instance to free its host's capacity (preemption, e.g. eviction by the markets when a
 * host is short): it leaves its host and its state becomes 'preempted'. Drivers that cannot stop
 * an instance refuse it (E_DRIVER), so the plan rolls back.
 */
export interface PreemptAction {
  kind: 'preempt';
  instance: string;
  reasons: readonly string[];
}

export type Action = ResizeAction | MigrateAction | PowerAction | PinAction | HotplugAction | PreemptAction;
export type ActionKind = Action['kind'];

/**
 * An action the round wanted but a limit withheld (e.g. a migration beyond the instance's
 * maxMigrationsPerHour): not applied, kept so "why did it not move?" has an answer.
 */
export interface WithheldAction {
  kind: ActionKind;
  instance: string;
  /** Host it would have left, when known. */
  from?: string;
  /** The limit's reason first, then the reasons the action was wanted for. */
  reasons: readonly string[];
}

export interface Plan {
  /** Decision time, seconds (virtual or real clock). */
  nowS: number;
  actions: Action[];
  /** Actions withheld by a limit (present only when there are some). */
  withheld?: WithheldAction[];
}

export const emptyPlan = (nowS: number): Plan => ({ nowS, actions: [] });

export function resize(instance: string, cpu: number, memory: number, reasons: readonly string[]): ResizeAction {
  return { kind: 'resize', instance, cpu, memory, reasons };
}

export function migrate(instance: string, from: string, to: string, reasons: readonly string[]): MigrateAction {
  return { kind: 'migrate', instance, from, to, reasons };
}

export function power(host: string, on: boolean, reasons: readonly string[]): PowerAction {
  return { kind: 'power', host, on, reasons };
}

export function pin(instance: string, cpus: readonly number[], reasons: readonly string[]): PinAction {
  return { kind: 'pin', instance, cpus, reasons };
}

export function hotplug(instance: string, vcpus: number, reasons: readonly string[]): HotplugAction {
  return { kind: 'hotplug', instance, vcpus, reasons };
}

export function preempt(instance: string, reasons: readonly string[]): PreemptAction {
  return { kind: 'preempt', instance, reasons };
}

/** One line per action, for logs and error messages. */
export function describeAction(a: Action): string {
  switch (a.kind) {
    case 'resize':
      return `resize ${a.instance} cpu=${a.cpu} memory=${a.memory} (${a.reasons.join(', ')})`;
    case 'migrate':
      return `migrate ${a.instance} ${a.from} -> ${a.to} (${a.reasons.join(', ')})`;
    case 'power':
      return `power ${a.on ? 'on' : 'off'} ${a.host} (${a.reasons.join(', ')})`;
    case 'pin':
      return `pin ${a.instance} cpus=${a.cpus.join(',')} (${a.reasons.join(', ')})`;
    case 'hotplug':
      return `hotplug ${a.instance} vcpus=${a.vcpus} (${a.reasons.join(', ')})`;
    case 'preempt':
      return `preempt ${a.instance} (${a.reasons.join(', ')})`;
  }
}
