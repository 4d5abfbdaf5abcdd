// Shared setup for the server tests: a service on an in-memory (or temp-file) SQLite store with a
// small simulated fleet, manual ticks, and tokens for every role.
import type { InjectOptions } from 'fastify';
import { ALL_TENANTS, type Store } from '../../src/core/store.js';
import { startService, type Service, type ServiceOptions } from '../../src/server/service.js';

export interface TestService {
  svc: Service;
  admin: string;
  /** Tenant tokens: demo-a owns syn-0000, syn-0002...; demo-b owns syn-0001, syn-0003... */
  tenantA: string;
  tenantB: string;
  /** An agent of demo-a registered for syn-0000 and syn-0002 only. */
  agent: string;
  agentId: string;
  inject(o: InjectOptions & { token?: string | null }): Promise<{ statusCode: number; json: any; body: string }>;
  close(): Promise<void>;
}

export async function startTestService(o: ServiceOptions = {}): Promise<TestService> {
  const svc = await startService({
    dbPath: ':memory:',
    port: 0,
    manualTicks: true,
    fleet: { hosts: 3, instances: 6, seed: 7 },
    onError: () => {},
    // The fleet's telemetry is written asynchronously (group commit); tests compare store snapshots.
    persistFleetTelemetry: false,
    ...o,
  });
  const admin = svc.adminToken!;
  const inject: TestService['inject'] = async ({ token, headers, ...rest }) => {
    const h: Record<string, string> = { ...(headers as Record<string, string> | undefined) };
    if (token !== null) h.authorization = `Bearer ${token ?? admin}`;
    const r = await svc.app.inject({ ...rest, headers: h } as InjectOptions);
    let json: unknown;
    try {
      json = JSON.parse(r.body);
    } catch {
      json = undefined;
    }
    return { statusCode: r.statusCode, json, body: r.body };
  };
  const mk = async (body: unknown): Promise<any> => {
    const r = await inject({ method: 'POST', url: '/v1/tokens', payload: body as object });
    if (r.statusCode !== 201) throw new Error(`token creation failed: ${r.body}`);
    return r.json;
  };
  const tenantA = (await mk({ role: 'tenant', tenant: 'demo-a' })).token;
  const tenantB = (await mk({ role: 'tenant', tenant: 'demo-b' })).token;
  const ag = await mk({ role: 'agent', tenant: 'demo-a', agentId: 'agent-a', instanceIds: ['syn-0000', 'syn-0002'] });
  return { svc, admin, tenantA, tenantB, agent: ag.token, agentId: ag.agentId, inject, close: () => svc.close() };
}

/** Everything the API can change, as one comparable string (to assert "nothing changed"). */
export async function storeSnapshot(store: Store): Promise<string> {
  const [hosts, instances, profiles, bids, policies, tokens, agents, audit, telemetry] = await Promise.all([
    store.listHosts(),
    store.listInstances(ALL_TENANTS),
    store.listProfiles(ALL_TENANTS),
    store.listBids(ALL_TENANTS),
    store.listPolicies(ALL_TENANTS),
    store.listTokens(),
    store.listAgents(),
    store.lastAuditSeq(),
    store.readTelemetrySince(0, 1_000_000),
  ]);
  return JSON.stringify({ hosts, instances, profiles, bids, policies, tokens, agents, audit, telemetry: telemetry.nextCursor });
}

export const validProfile = (over: Record<string, unknown> = {}) => ({
  priority: 'high',
  demand: { cpuMillicores: { average: 500, peak: 1500 }, memoryMiB: { average: 1024, peak: 2048 }, networkKiBps: { average: 100, peak: 400 } },
  burst: { ratePerHour: 2, spikes: [{ probability: 0.7, multiplier: 2, durationSeconds: 30 }, { probability: 0.3, multiplier: 4, durationSeconds: 10 }] },
  interruptibility: { tolerance: 'medium', maxPerDay: 3, maxDurationSeconds: 120 },
  expectedRuntimeSeconds: 7200,
  ...over,
});

export const validBatch = (agentId: string, sequence: number, instanceId = 'syn-0000', over: Record<string, unknown> = {}) => ({
  agentId,
  sequence,
  sentAtMs: 1_700_000_000_000 + sequence,
  profiles: [
    {
      instanceId,
      intervalMs: 1000,
      samples: [
        { timestampMs: 1_700_000_000_000 + sequence * 10, values: { cpuMillicores: 250, memoryMiB: 512, cpuPressurePct: 1.5 }, custom: { requestsPerSecond: 12 } },
        { timestampMs: 1_700_000_000_000 + sequence * 10 + 1, values: { cpuMillicores: 260, memoryMiB: 520 } },
      ],
    },
  ],
  ...over,
});
