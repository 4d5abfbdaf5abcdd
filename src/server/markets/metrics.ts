// Prometheus metrics of the markets in the loop, registered in the server's registry.
import { Counter, Gauge, type Registry } from 'prom-client';

export class MarketMetrics {
  readonly creditsEarned: Counter<string>;
  readonly creditsSpent: Counter<string>;
  readonly surplusChargedMicrocredits: Counter<string>;
  readonly throttled: Gauge<'cause'>;
  readonly preemptions: Counter<'action'>;
  readonly bonds: Counter<string>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.creditsEarned = new Counter({ name: 'prescient_credits_earned_total', help: 'CPU credits earned by burstable instances (gross, before the cap)', registers });
    this.creditsSpent = new Counter({ name: 'prescient_credits_spent_total', help: 'CPU credits used by burstable instances (gross: vCPU-minutes of granted CPU)', registers });
    this.surplusChargedMicrocredits = new Counter({ name: 'prescient_credits_surplus_charged_microcredits_total', help: 'Money charged for surplus credits (unlimited mode), microcredits', registers });
    this.throttled = new Gauge({ name: 'prescient_instances_throttled', help: 'Instances whose CPU the markets cap now, by cause (credits: standard mode out of credits; preemption: host short of CPU)', labelNames: ['cause'], registers });
    this.preemptions = new Counter({ name: 'prescient_preemptions_total', help: 'Preemption victims by action (throttle, evict)', labelNames: ['action'], registers });
    this.bonds = new Counter({ name: 'prescient_bonding_units_total', help: 'Bonding units bought with CPU credits', registers });
  }
}
