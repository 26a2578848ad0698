// kubeproxy_ts_service_programming_duration_seconds (ours, opt-in with --service-latency-top-n):
// event-to-kernel latency per service, for the N services with the most changes. Bounded:
// - at most N labelled series plus one `service="(other)"`: a busier service takes the slot of
//   the least busy labelled one, whose series is removed;
// - change counts are kept with the Space-Saving algorithm in at most COUNTER_FACTOR * N slots
//   (the least counted entry is recycled), so service churn cannot grow memory;
// - per family at most MAX_PENDING services waiting for their first programming.
// "Event" is the first model-changing Service/EndpointSlice event of a service since it was last
// programmed; "kernel" is the end of the first successful sync of a family whose build changed it.

import { Histogram } from 'prom-client';
import { registry } from './metrics.js';
/** An ip_family label value (the model's IPFamily; not imported: metrics sit below the model). */
type IPFamily = 'IPv4' | 'IPv6';

export const OTHER_SERVICES = '(other)';
export const SERVICE_LATENCY_METRIC = 'kubeproxy_ts_service_programming_duration_seconds';
const COUNTER_FACTOR = 10;
const MAX_PENDING = 100_000;

/** Coarse on purpose: (N + 1) series × these buckets. */
export const serviceLatencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

let shared: Histogram<'service'> | undefined;

/** The histogram, registered on first use (only when the feature is on). */
export function serviceLatencyHistogram(): Histogram<'service'> {
  shared ??= new Histogram({
    name: SERVICE_LATENCY_METRIC,
    help: 'kube-proxy-ts: latency from a Service or EndpointSlice change to its rules being programmed, per service (top N by changes, others as "(other)")',
    labelNames: ['service'] as const,
    buckets: serviceLatencyBuckets,
    registers: [],
  });
  if (!registry.getSingleMetric(SERVICE_LATENCY_METRIC)) registry.registerMetric(shared);
  return shared;
}

/** "ns/name" of the service an event is about, or null (Node events, malformed objects). */
export function serviceOfEvent(kind: string, object: unknown): string | null {
  const meta = (object as { metadata?: { name?: unknown; namespace?: unknown; labels?: Record<string, unknown> } } | null)?.metadata;
  if (!meta || typeof meta.namespace !== 'string') return null;
  const name = kind === 'Service' ? meta.name : kind === 'EndpointSlice' ? meta.labels?.['kubernetes.io/service-name'] : undefined;
  return typeof name === 'string' && name !== '' ? `${meta.namespace || 'default'}/${name}` : null;
}

/** "ns/name" of a ServicePort key "ns/name:port/PROTO". */
function serviceOfPortKey(key: string): string {
  const i = key.indexOf(':');
  return i < 0 ? key : key.slice(0, i);
}

export class ServiceLatencyTracker {
  private readonly counts = new Map<string, number>();
  private readonly labelled = new Set<string>();
  private readonly pending = new Map<IPFamily, Map<string, number>>();
  /** Services changed by builds whose sync failed, per family: the next success programs them. */
  private readonly unsynced = new Map<IPFamily, Set<string>>();

  constructor(
    private readonly topN: number,
    private readonly histogram: Pick<Histogram<'service'>, 'observe' | 'remove'> = serviceLatencyHistogram(),
    private readonly now: () => number = Date.now,
    private readonly families: readonly IPFamily[] = ['IPv4', 'IPv6'],
  ) {
    for (const f of families) {
      this.pending.set(f, new Map());
      this.unsynced.set(f, new Set());
    }
  }

  /** A Service/EndpointSlice event that changed the model. */
  onEvent(service: string): void {
    this.count(service);
    const t = this.now();
    for (const f of this.families) {
      const p = this.pending.get(f)!;
      if (!p.has(service) && p.size < MAX_PENDING) p.set(service, t);
    }
  }

  /**
   * A sync of `family` whose build started at `builtAt` succeeded, having changed `changedPortKeys`.
   * Events before the build were either programmed now or did not concern this family.
   */
  onSynced(family: IPFamily, changedPortKeys: Iterable<string>, builtAt: number): void {
    const changed = this.unsynced.get(family)!;
    for (const k of changedPortKeys) changed.add(serviceOfPortKey(k));
    const p = this.pending.get(family)!;
    const done = this.now();
    for (const [svc, t] of p) {
      if (t > builtAt) continue;
      if (changed.has(svc)) this.histogram.observe({ service: this.labelFor(svc) }, Math.max(0, done - t) / 1000);
      p.delete(svc);
    }
    changed.clear();
  }

  /** A sync of `family` failed after a build that consumed these changes. */
  onFailed(family: IPFamily, changedPortKeys: Iterable<string>): void {
    const s = this.unsynced.get(family)!;
    for (const k of changedPortKeys) if (s.size < MAX_PENDING) s.add(serviceOfPortKey(k));
  }

  /** Labelled services (for tests and docs). */
  labels(): string[] {
    return [...this.labelled].sort();
  }

  /** Space-Saving count: a new service replaces the least counted one when the table is full. */
  private count(service: string): void {
    const c = this.counts.get(service);
    if (c !== undefined) {
      this.counts.set(service, c + 1);
      return;
    }
    if (this.counts.size < this.topN * COUNTER_FACTOR) {
      this.counts.set(service, 1);
      return;
    }
    let minKey = '';
    let min = Infinity;
    for (const [k, v] of this.counts) {
      if (v < min && !this.labelled.has(k)) [minKey, min] = [k, v];
    }
    if (minKey === '') return; // every slot is a labelled service (COUNTER_FACTOR > 1 makes this rare)
    this.counts.delete(minKey);
    this.counts.set(service, min + 1);
  }

  private labelFor(service: string): string {
    if (this.labelled.has(service)) return service;
    if (this.labelled.size < this.topN) {
      this.labelled.add(service);
      return service;
    }
    const mine = this.counts.get(service) ?? 0;
    let weakest = '';
    let weakestCount = Infinity;
    for (const s of this.labelled) {
      const c = this.counts.get(s) ?? 0;
      if (c < weakestCount) [weakest, weakestCount] = [s, c];
    }
    if (mine <= weakestCount) return OTHER_SERVICES;
    this.labelled.delete(weakest);
    this.histogram.remove({ service: weakest });
    this.labelled.add(service);
    return service;
  }
}
