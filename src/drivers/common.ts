// Pieces every real driver shares: input errors that name the field, and the instance check
// every action goes through first.
import type { Action } from '../core/plan.js';
import { DriverError } from '../core/ports.js';

/** A DriverError for a bad field of an action: `resize vm-1: field cpu must be ...`. */
export function fieldError(action: Action, field: string, message: string): DriverError {
  const who = 'instance' in action ? ` ${String((action as { instance: unknown }).instance)}` : '';
  return new DriverError(`${action.kind}${who}: field ${field} ${message}`, action);
}

/** Throws unless an action that names an instance names it with a non-empty string. */
export function checkInstanceField(action: Action): void {
  if ('instance' in action && (typeof action.instance !== 'string' || action.instance === '')) {
    throw fieldError(action, 'instance', `must be a non-empty string, got ${JSON.stringify(action.instance)}`);
  }
}
