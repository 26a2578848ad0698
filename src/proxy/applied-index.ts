// What the hooks after a sync read of a family's applied state, kept up to date from the changes
// between one applied state and the next instead of walked out of every service port after each
// sync (at 10k services the two walks were ~1.5 ms a sync, run twice per change: once per family):
//   - the service ports with a health check NodePort (service-health-sync.ts);
//   - the members of no_local_endpoints_total (Local policy, endpoints, none of them local).
// The changes come from SortedMap.forEachChange: the model's successive maps share every chunk it
// did not rewrite, so an update costs O(changed chunks); two plain Maps (tests, other models) are
// compared key by key. Exact whatever happened between the two states (failed syncs, peeks).

import { forEachChange, SortedMap } from '../model/sortedmap.js';
import type { IPFamily, ServicePort } from '../model/types.js';
import { metrics } from '../metrics/metrics.js';

const EMPTY: ReadonlyMap<string, ServicePort> = SortedMap.empty();

export class AppliedIndex {
  /** The services map the index describes (the engine's applied state's). */
  private source: ReadonlyMap<string, ServicePort> = EMPTY;
  private hc: SortedMap<ServicePort> = SortedMap.empty();
  /** no_local_endpoints_total members -> how many service ports make them one (several per Service when byService). */
  private readonly noLocalInternal = new Map<string, number>();
  private readonly noLocalExternal = new Map<string, number>();

  /** byService: members are Services ("ns/name", IPVS as upstream), else service ports. */
  constructor(private readonly byService: boolean) {}

  /** Service ports with healthCheckNodePort > 0, in key order (the order of the state's map). */
  healthCheckPorts(): Iterable<ServicePort> {
    return this.hc.values();
  }

  /** no_local_endpoints_total's values: service ports (or Services) with no local endpoint. */
  noLocalEndpoints(): { internal: number; external: number } {
    return { internal: this.noLocalInternal.size, external: this.noLocalExternal.size };
  }

  /** Describe `services` (the newly applied state's map) from now on. */
  update(services: ReadonlyMap<string, ServicePort>): void {
    let set: Map<string, ServicePort> | undefined;
    let remove: Set<string> | undefined;
    forEachChange(this.source, services, (key, before, after) => {
      if (before !== undefined) this.countNoLocal(before, -1);
      if (after !== undefined) this.countNoLocal(after, 1);
      if (after !== undefined && after.healthCheckNodePort > 0) (set ??= new Map()).set(key, after);
      else if (before !== undefined && before.healthCheckNodePort > 0) (remove ??= new Set()).add(key);
    });
    if (set || remove) this.hc = this.hc.withChanges(set ?? new Map(), remove ?? new Set());
    this.source = services;
  }

  /** Set no_local_endpoints_total for `family` (after each successful sync, as upstream). */
  recordNoLocalEndpoints(family: IPFamily): void {
    metrics.noLocalEndpointsTotal.set({ traffic_policy: 'internal', ip_family: family }, this.noLocalInternal.size);
    metrics.noLocalEndpointsTotal.set({ traffic_policy: 'external', ip_family: family }, this.noLocalExternal.size);
  }

  private countNoLocal(sp: ServicePort, d: 1 | -1): void {
    if (!sp.hasAnyEndpoints || sp.localEndpoints.length > 0) return;
    const key = this.byService ? `${sp.namespace}/${sp.serviceName}` : sp.key;
    if (sp.internalPolicyLocal) bump(this.noLocalInternal, key, d);
    if (sp.externallyAccessible && sp.externalPolicyLocal) bump(this.noLocalExternal, key, d);
  }
}

function bump(m: Map<string, number>, key: string, d: 1 | -1): void {
  const n = (m.get(key) ?? 0) + d;
  if (n > 0) m.set(key, n);
  else m.delete(key);
}
