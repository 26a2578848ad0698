// /metrics/slis, as upstream's metrics server installs it (component-base slis.SLIMetricsWithReset):
// a registry of its own with the health-check SLIs, fed by the metrics port's /healthz (upstream's
// generic healthz handler with its single "ping" check records each check it runs). DELETE resets it.

import { Counter, Gauge, Registry } from 'prom-client';

export const sliRegistry = new Registry();

const healthcheck = new Gauge({
  name: 'kubernetes_healthcheck',
  help: '[BETA] This metric records the result of a single healthcheck.',
  labelNames: ['name', 'type'] as const,
  registers: [sliRegistry],
});

const healthchecksTotal = new Counter({
  name: 'kubernetes_healthchecks_total',
  help: '[BETA] This metric records the results of all healthcheck.',
  // Label order as Go's client prints them (sorted): name, status, type.
  labelNames: ['name', 'status', 'type'] as const,
  registers: [sliRegistry],
});

export function observeHealthcheck(name: string, type: string, ok: boolean): void {
  healthcheck.set({ name, type }, ok ? 1 : 0);
  healthchecksTotal.inc({ name, status: ok ? 'success' : 'error', type });
}

export function resetHealthMetrics(): void {
  healthcheck.reset();
  healthchecksTotal.reset();
}
