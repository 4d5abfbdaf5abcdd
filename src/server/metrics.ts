// Prometheus metrics (prom-client), in a registry of their own so several servers can live in one
// process (tests) without clashing.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class ServerMetrics {
  readonly registry = new Registry();
  readonly ticks: Counter<string>;
  readonly tickSeconds: Histogram<string>;
  readonly tickPhaseSeconds: Histogram<'phase'>;
  readonly overruns: Counter<string>;
  readonly actions: Counter<'kind' | 'result'>;
  readonly planFailures: Counter<string>;
  readonly commitFailures: Counter<string>;
  readonly telemetrySamples: Counter<'result'>;
  readonly telemetryBatches: Counter<'result'>;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpSeconds: Histogram<'method' | 'route'>;
  readonly instances: Gauge<string>;
  readonly hostsOn: Gauge<string>;
  readonly hosts: Gauge<string>;
  readonly sseClients: Gauge<string>;
  readonly withheld: Counter<'kind' | 'reason'>;
  readonly instancesDegraded: Gauge<string>;

  constructor(defaultMetrics = true) {
    const registers = [this.registry];
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'prescient_' });
    this.ticks = new Counter({ name: 'prescient_ticks_total', help: 'Control loop ticks run', registers });
    this.tickSeconds = new Histogram({
      name: 'prescient_tick_duration_seconds',
      help: 'Wall time of one control loop tick',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.tickPhaseSeconds = new Histogram({
      name: 'prescient_tick_phase_seconds',
      help: 'Wall time of each phase of a tick (ingest, forecast, decide, apply, commit, publish)',
      labelNames: ['phase'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.overruns = new Counter({ name: 'prescient_tick_overruns_total', help: 'Ticks that took longer than the tick interval', registers });
    this.actions = new Counter({ name: 'prescient_plan_actions_total', help: 'Plan actions by kind and result', labelNames: ['kind', 'result'], registers });
    this.planFailures = new Counter({ name: 'prescient_plan_failures_total', help: 'Plans that failed in the driver and were rolled back', registers });
    this.commitFailures = new Counter({ name: 'prescient_commit_failures_total', help: 'Tick commits to the store that failed (retried next tick)', registers });
    this.telemetrySamples = new Counter({ name: 'prescient_telemetry_samples_total', help: 'Telemetry samples received', labelNames: ['result'], registers });
    this.telemetryBatches = new Counter({ name: 'prescient_telemetry_batches_total', help: 'Telemetry batches received', labelNames: ['result'], registers });
    this.httpRequests = new Counter({ name: 'prescient_http_requests_total', help: 'HTTP requests', labelNames: ['method', 'route', 'status'], registers });
    this.httpSeconds = new Histogram({
      name: 'prescient_http_request_duration_seconds',
      help: 'HTTP request latency',
      labelNames: ['method', 'route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.instances = new Gauge({ name: 'prescient_instances', help: 'Instances managed', registers });
    this.hosts = new Gauge({ name: 'prescient_hosts', help: 'Hosts known', registers });
    this.hostsOn = new Gauge({ name: 'prescient_hosts_on', help: 'Hosts powered on', registers });
    this.sseClients = new Gauge({ name: 'prescient_sse_clients', help: 'Open server-sent event streams', registers });
    this.withheld = new Counter({ name: 'prescient_actions_withheld_total', help: 'Actions a decision wanted but an operator setting withheld (per tick), by kind and reason', labelNames: ['kind', 'reason'], registers });
    this.instancesDegraded = new Gauge({ name: 'prescient_instances_degraded', help: 'Instances whose violation share is above their degradation threshold', registers });
  }
}
