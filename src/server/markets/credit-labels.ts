// Instance labels that opt an instance into burstable CPU credits:
//
//   prescient.io/credit-class   an instance class of the credit book (default: t3.nano .. t3.2xlarge)
//   prescient.io/credit-mode    standard | unlimited (default unlimited, as EC2 T3)
//
// A mode without a class, an unknown class or an unknown mode is a 400 at POST /v1/instances,
// naming the label (`labels.prescient.io/credit-class`).
import type { CreditMode } from '../../policy/markets/credits.js';

export const CREDIT_CLASS_LABEL = 'prescient.io/credit-class';
export const CREDIT_MODE_LABEL = 'prescient.io/credit-mode';
export const CREDIT_MODES: readonly CreditMode[] = ['standard', 'unlimited'];
export const DEFAULT_CREDIT_MODE: CreditMode = 'unlimited';

export interface CreditSpec {
  className: string;
  mode: CreditMode;
}

export type CreditLabelsResult = { ok: true; spec: CreditSpec | undefined } | { ok: false; field: string; message: string };

/** The credit class and mode an instance's labels ask for (undefined: not a burstable instance). */
export function creditLabelsOf(labels: Readonly<Record<string, string>> | undefined, classNames: readonly string[]): CreditLabelsResult {
  const cls = labels?.[CREDIT_CLASS_LABEL];
  const mode = labels?.[CREDIT_MODE_LABEL];
  if (mode !== undefined && !(CREDIT_MODES as readonly string[]).includes(mode)) {
    return { ok: false, field: `labels.${CREDIT_MODE_LABEL}`, message: `labels.${CREDIT_MODE_LABEL}: must be one of ${CREDIT_MODES.join(', ')}, got "${mode}"` };
  }
  if (cls === undefined) {
    if (mode !== undefined) return { ok: false, field: `labels.${CREDIT_CLASS_LABEL}`, message: `labels.${CREDIT_CLASS_LABEL}: a credit mode needs a credit class (one of ${classNames.join(', ')})` };
    return { ok: true, spec: undefined };
  }
  if (!classNames.includes(cls)) {
    return { ok: false, field: `labels.${CREDIT_CLASS_LABEL}`, message: `labels.${CREDIT_CLASS_LABEL}: unknown instance class "${cls}"; valid: ${classNames.join(', ')}` };
  }
  return { ok: true, spec: { className: cls, mode: (mode as CreditMode | undefined) ?? DEFAULT_CREDIT_MODE } };
}
