// Helpers shared by the route files: scopes, ownership and record shapes.
import { ALL_TENANTS, tenantScope, type InstanceRecord, type Principal, type Scope } from '../../core/store.js';
import { ApiError, badRequest, forbidden, notFound } from '../errors.js';
import type { ApiContext } from '../app.js';
import { forecastJson, hostPressure, predictedAt, preemptionMultiplier } from '../market.js';
import { CREDITS_COMPONENT, type CreditsMarket, type MultiplierView } from '../markets/credits-market.js';

/** The store scope of a principal: admin sees every tenant, a tenant its own rows; agents none. */
export function scopeOf(p: Principal): Scope {
  if (p.role === 'admin') return ALL_TENANTS;
  if (p.role === 'tenant' && p.tenant) return tenantScope(p.tenant);
  throw forbidden(`a ${p.role} token cannot read or change tenant data`);
}

/**
 * The tenant a write is for: a tenant token writes for itself (naming another tenant is a 403);
 * an admin token must name the tenant.
 */
export function ownerTenant(p: Principal, named: string | undefined, field = 'tenant'): string {
  if (p.role === 'tenant') {
    if (named !== undefined && named !== p.tenant) throw forbidden(`a tenant token may only act for its own tenant "${p.tenant}"`, field);
    return p.tenant!;
  }
  if (p.role === 'admin') {
    if (named === undefined) throw badRequest(`${field}: an admin token must say which tenant (field "${field}")`, field);
    return named;
  }
  throw forbidden(`a ${p.role} token cannot do this`);
}

/** An instance the principal may see, or a 404 naming the field. */
export async function instanceInScope(ctx: ApiContext, p: Principal, id: string, field: string): Promise<InstanceRecord> {
  const r = await ctx.store.getInstance(scopeOf(p), id);
  if (!r) throw notFound('instance', id, field);
  return r;
}

export function vectorJson(v: { cpuMillicores: number; memoryMiB: number; diskKiBps: number; networkKiBps: number }) {
  return { cpuMillicores: v.cpuMillicores, memoryMiB: v.memoryMiB, diskKiBps: v.diskKiBps, networkKiBps: v.networkKiBps };
}

const fin = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** An instance as the API shows it: the stored record merged with what the control loop sees live. */
export function instanceJson(ctx: ApiContext, r: InstanceRecord) {
  const m = ctx.loop.instance(r.id);
  return {
    id: r.id,
    tenant: r.tenant,
    hostId: m ? m.state.hostId : r.hostId,
    state: m ? m.lifecycle : r.state,
    priority: r.priority,
    request: vectorJson(r.request),
    allocation: m ? vectorJson(m.allocationVector) : vectorJson(r.allocation),
    usage: m
      ? { cpuMillicores: fin(m.state.lastUsage.cpu), memoryMiB: fin(m.state.lastUsage.memory), samples: m.state.samples, lastSampleAtMs: fin(m.lastSampleMs) }
      : null,
    labels: r.labels,
    createdAtMs: r.createdAtMs,
    updatedAtMs: r.updatedAtMs,
  };
}

export const DEFAULT_LEVEL = 0.9;

export interface InstanceMultiplier extends MultiplierView {
  hostId: string | null;
  priority: InstanceRecord['priority'];
  /** Never a preemption victim (critical priority). */
  exempt: boolean;
  /** Extra information: the host's predicted demand over its capacity (the larger of CPU and memory) at `level`. */
  hostPressure: { value: number; level: number };
}

/**
 * The preemption multiplier of an instance (the markets' PreemptionMultipliers: bonding units x
 * smoothed predictive factor, clamped), updated every tick, with its host's pressure as extra
 * information. Without markets: the unbonded base 1 and the pressure.
 */
export function multiplierOf(ctx: ApiContext, r: InstanceRecord, level = DEFAULT_LEVEL): InstanceMultiplier {
  const m = ctx.loop.instance(r.id);
  const hostId = m ? m.state.hostId : r.hostId;
  const u = hostId ? ctx.loop.hostUsage(hostId, level) : undefined;
  const pressure = u ? hostPressure(u.forecast, u.host.state.capacity) : 0;
  const market = ctx.loop.markets?.component<CreditsMarket>(CREDITS_COMPONENT);
  const view: MultiplierView = market
    ? market.multiplierOf(r.id)
    : { value: 1, base: 1, bondUnits: 0, factor: 1, rawFactor: null, relativeChange: null, min: 1, max: 1, level: 0.5, horizonSteps: null, reasons: ['markets-off'], basis: preemptionMultiplier(r.priority, pressure, level, hostId ?? null).basis };
  return { ...view, hostId: hostId ?? null, priority: r.priority, exempt: r.priority === 'critical', hostPressure: { value: pressure, level } };
}

/** The latest forecast of an instance as JSON, with the times of its steps. */
export function forecastOf(ctx: ApiContext, id: string) {
  const f = ctx.loop.latestForecast(id);
  if (!f) return null;
  const h = ctx.loop.forecastOptions.horizonSteps;
  const tickMs = ctx.loop.tickMs * ctx.loop.forecastOptions.everyTicks;
  return {
    madeAtMs: f.madeAtMs,
    tick: f.tick,
    /** Model seconds per forecast step. */
    stepSeconds: f.stepSeconds,
    /** Wall time per forecast step (ticks x tick interval). */
    stepMs: tickMs,
    horizonSteps: h,
    stepTimesMs: Array.from({ length: h }, (_, k) => f.madeAtMs + (k + 1) * tickMs),
    cpuMillicores: forecastJson(f.cpu),
    memoryMiB: forecastJson(f.memory),
    next: {
      cpuMillicoresP50: fin(predictedAt(f.cpu, 0.5)),
      cpuMillicoresP90: fin(predictedAt(f.cpu, 0.9)),
      memoryMiBP50: fin(predictedAt(f.memory, 0.5)),
      memoryMiBP90: fin(predictedAt(f.memory, 0.9)),
    },
  };
}

export function requireAdmin(p: Principal): void {
  if (p.role !== 'admin') throw forbidden(`this endpoint needs an admin token; this one is a ${p.role} token`);
}

export function assertNever(x: never): never {
  throw new ApiError(500, 'internal', `unexpected ${String(x)}`);
}
