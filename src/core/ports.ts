// Ports: the interfaces the pure core talks through. Shells (simulator, control plane, agent)
// provide implementations; the core never does I/O itself.
import type { Action, Plan } from './plan.js';
import { PrescientError } from './errors.js';

/**
 * Undoes one applied action. MUST be idempotent: calling it a second time (or after the action
 * was already reverted by other means) is a no-op, never an error (the Kubernetes scheduler's
 * Unreserve contract). Wrap with `onceUndo` to get that for free.
 */
export type Undo = () => void | Promise<void>;

/**
 * Applies actions to the managed system (a simulated fleet, cgroups, a hypervisor...).
 * `apply` either makes the whole change and returns how to undo it, or throws (a failure,
 * with code E_DRIVER) leaving nothing half-done.
 */
export interface Driver {
  readonly name: string;
  apply(action: Action): Undo | Promise<Undo>;
}

/** A driver whose apply never awaits (the simulator's): plans apply without microtask cost. */
export interface SyncDriver extends Driver {
  apply(action: Action): () => void;
}

export interface ApplyResult {
  ok: boolean;
  /** Actions applied (and, when !ok, rolled back). */
  applied: number;
  failed?: { index: number; action: Action; error: unknown };
  /** Undo steps that themselves failed during rollback (they are reported, not rethrown). */
  rollbackErrors: unknown[];
}

/** Wraps an undo so that only its first call does anything (a synchronous undo stays synchronous). */
export function onceUndo<R extends void | Promise<void>>(undo: () => R): () => R | void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    return undo();
  };
}

/**
 * Applies a plan action by action. On the first failure, the undos recorded so far run in
 * reverse order (rollback) and the result says which action failed and why.
 */
export async function applyPlan(driver: Driver, plan: Plan): Promise<ApplyResult> {
  const undos: Undo[] = [];
  for (let i = 0; i < plan.actions.length; i++) {
    const action = plan.actions[i]!;
    try {
      undos.push(onceUndo(await driver.apply(action)));
    } catch (error) {
      const rollbackErrors: unknown[] = [];
      for (let k = undos.length - 1; k >= 0; k--) {
        try {
          await undos[k]!();
        } catch (e) {
          rollbackErrors.push(e);
        }
      }
      return { ok: false, applied: undos.length, failed: { index: i, action, error }, rollbackErrors };
    }
  }
  return { ok: true, applied: undos.length, rollbackErrors: [] };
}

/** `applyPlan` for a synchronous driver. */
export function applyPlanSync(driver: SyncDriver, plan: Plan): ApplyResult {
  const undos: Array<() => void> = [];
  for (let i = 0; i < plan.actions.length; i++) {
    const action = plan.actions[i]!;
    try {
      undos.push(onceUndo(driver.apply(action)) as () => void);
    } catch (error) {
      const rollbackErrors: unknown[] = [];
      for (let k = undos.length - 1; k >= 0; k--) {
        try {
          undos[k]!();
        } catch (e) {
          rollbackErrors.push(e);
        }
      }
      return { ok: false, applied: undos.length, failed: { index: i, action, error }, rollbackErrors };
    }
  }
  return { ok: true, applied: undos.length, rollbackErrors: [] };
}

/** A driver failure: what broke, with the action it was applying. */
export class DriverError extends PrescientError {
  constructor(message: string, readonly action?: Action, options?: { cause?: unknown }) {
    super('E_DRIVER', message, options);
  }
}
