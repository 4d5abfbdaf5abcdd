// What an instance states in a borrow/lend round (src/policy/markets/negotiation.ts AgentStatement),
// from what the control plane knows about it:
//
//   SLA class     label `prescient.io/sla-class` (gold | silver | bronze | best-effort); without
//                 it, from the priority: critical gold, high silver, normal bronze, low best-effort.
//   criticality   label `prescient.io/criticality`, a number in [0, 1] (default 0).
//   usage         the instance's last measured usage (0 when unknown).
//   need          per resource, in this order:
//                   1. an explicit `need` (POST /v1/instances/:id/statement, valid for its
//                      `validSeconds`) replaces the forecast's;
//                   2. otherwise the forecast's quantile at `needLevel` (default 0.9) for the next
//                      step; without a forecast, the usage; with neither (a new instance), its
//                      whole entitlement (it lends nothing before anything is known about it);
//                   3. an explicit `offer` then caps it: need = min(need, entitlement - offer), so
//                      the instance lends at least what it offered (in whole grains);
//                 and the negotiator itself never lets the need go below the usage (it takes
//                 max(usage, need)): units in use are never lent, whatever is stated.
// Labels that do not parse (set outside the API) fall back to the defaults, with a reason.
import type { Priority } from '../../core/model.js';
import type { ProbForecast } from '../../forecast/types.js';
import { quantileAt } from '../../policy/markets/dist.js';
import type { AgentStatement, SlaClass } from '../../policy/markets/negotiation.js';
import { CRITICALITY_LABEL, SLA_CLASS_LABEL, SLA_CLASS_VALUES } from '../schemas.js';

export const SLA_FROM_PRIORITY: Readonly<Record<Priority, SlaClass>> = { critical: 'gold', high: 'silver', normal: 'bronze', low: 'best-effort' };

export interface SlaOf {
  sla: SlaClass;
  criticality: number;
  /** Labels that were present but invalid (ignored). */
  problems: string[];
}

export function slaOf(labels: Readonly<Record<string, string>> | undefined, priority: Priority): SlaOf {
  const problems: string[] = [];
  let sla: SlaClass = SLA_FROM_PRIORITY[priority] ?? 'bronze';
  const l = labels?.[SLA_CLASS_LABEL];
  if (l !== undefined) {
    if ((SLA_CLASS_VALUES as readonly string[]).includes(l)) sla = l as SlaClass;
    else problems.push(`${SLA_CLASS_LABEL}=${l} (not ${SLA_CLASS_VALUES.join('|')})`);
  }
  let criticality = 0;
  const c = labels?.[CRITICALITY_LABEL];
  if (c !== undefined) {
    const n = c.trim() === '' ? NaN : Number(c);
    if (Number.isFinite(n) && n >= 0 && n <= 1) criticality = n;
    else problems.push(`${CRITICALITY_LABEL}=${c} (not a number in [0, 1])`);
  }
  return { sla, criticality, problems };
}

/** An explicit statement as the API stored it (per resource, base units). */
export interface ExplicitStatement {
  cpu?: { need?: number; offer?: number };
  memory?: { need?: number; offer?: number };
  /** Valid until (Unix ms). */
  untilMs: number;
  atMs: number;
}

export interface StatementInputs {
  id: string;
  priority: Priority;
  labels?: Readonly<Record<string, string>>;
  entitlement: { cpuMillicores: number; memoryMiB: number };
  /** Last measured usage; NaN when unknown. */
  usage: { cpu: number; memory: number };
  forecast?: { cpu?: ProbForecast; memory?: ProbForecast };
  explicit?: ExplicitStatement;
}

/** Where each resource's need came from (for GET /v1/hosts/:id/negotiation). */
export type NeedSource = 'explicit' | 'forecast' | 'usage' | 'entitlement' | 'offer';

export function needOf(
  usage: number,
  forecast: ProbForecast | undefined,
  level: number,
  explicit: { need?: number; offer?: number } | undefined,
  entitlement: number,
): { need: number; source: NeedSource } {
  let need: number;
  let source: NeedSource;
  if (explicit?.need !== undefined) {
    need = explicit.need;
    source = 'explicit';
  } else {
    const q = forecast && forecast.mean.length > 0 ? quantileAt(forecast, level, 1) : NaN;
    if (Number.isFinite(q)) {
      need = Math.max(0, q);
      source = 'forecast';
    } else if (Number.isFinite(usage)) {
      need = usage;
      source = 'usage';
    } else {
      // nothing known yet (no sample, no forecast, no statement): it keeps its entitlement
      need = entitlement;
      source = 'entitlement';
    }
  }
  if (explicit?.offer !== undefined) {
    const cap = Math.max(0, entitlement - explicit.offer);
    if (cap < need) {
      need = cap;
      source = 'offer';
    }
  }
  return { need, source };
}

/** The statement of one instance for a round at `nowMs` (an expired explicit statement is ignored). */
export function statementOf(s: StatementInputs, nowMs: number, needLevel: number, out?: AgentStatement): { statement: AgentStatement; sources: { cpu: NeedSource; memory: NeedSource } } {
  const { sla, criticality } = slaOf(s.labels, s.priority);
  const ex = s.explicit && s.explicit.untilMs > nowMs ? s.explicit : undefined;
  const cpu = needOf(s.usage.cpu, s.forecast?.cpu, needLevel, ex?.cpu, s.entitlement.cpuMillicores);
  const mem = needOf(s.usage.memory, s.forecast?.memory, needLevel, ex?.memory, s.entitlement.memoryMiB);
  const st: AgentStatement = out ?? { id: s.id, sla, criticality, usageCpuMillicores: 0, usageMemoryMiB: 0, needCpuMillicores: 0, needMemoryMiB: 0 };
  st.id = s.id;
  st.sla = sla;
  st.criticality = criticality;
  st.usageCpuMillicores = Number.isFinite(s.usage.cpu) ? s.usage.cpu : 0;
  st.usageMemoryMiB = Number.isFinite(s.usage.memory) ? s.usage.memory : 0;
  st.needCpuMillicores = cpu.need;
  st.needMemoryMiB = mem.need;
  return { statement: st, sources: { cpu: cpu.source, memory: mem.source } };
}
