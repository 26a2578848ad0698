// Source events -> the model, and when to start programming (upstream: the config handlers of the
// metaproxier plus isInitialized). Counts the change metrics, tracks ServiceCIDRs (not part of the
// Service model), passes Node events to the podCIDR gate, and asks for a sync on a change once
// Services and EndpointSlices have both been synced.

import { createLogger } from '../log/logger.js';
import { metrics } from '../metrics/metrics.js';
import { serviceOfEvent, type ServiceLatencyTracker } from '../metrics/service-latency.js';
import { ServiceCIDRTracker } from '../model/servicecidrs.js';
import type { Endpoint, IPFamily, NodePortAddresses, ProxyState, StateChange } from '../model/types.js';
import type { EventType, ObjectKind, SourceHandler } from '../sources/types.js';
import type { PodCIDRGate } from './podcidr-gate.js';

const log = createLogger('proxier');

/** What the proxier needs from the model (src/model/tracker.ts ServiceModel). */
export interface ServiceModelLike {
  onEvent(kind: ObjectKind, type: EventType, object: unknown, origin?: string): boolean;
  node(): unknown | null;
  build(
    family: IPFamily,
    input: { nodeIPs: readonly string[]; nodePortAddresses: NodePortAddresses; serviceCIDRs?: readonly string[] },
    opts?: { peek?: boolean },
  ): { state: ProxyState; change: StateChange };
  localReadyEndpoints(namespace: string, name: string, family?: IPFamily): number;
  /** Merged endpoints of a Service's slices of one family, per slice port (debug views). */
  endpointsByPort?(namespace: string, name: string, family: IPFamily): ReadonlyMap<string, readonly Endpoint[]>;
}

export interface EventIntakeDeps {
  readonly model: ServiceModelLike;
  /** How many family proxiers count each Service event (upstream: one change tracker per family). */
  readonly familyCount: number;
  readonly podCIDRGate?: PodCIDRGate | null;
  readonly latency?: ServiceLatencyTracker | null;
  /** Queue a sync of `family`, or of every family. */
  readonly requestSync: (family?: IPFamily) => void;
}

/** The family of an EndpointSlice's addresses, or undefined (FQDN, malformed: every family decides). */
function sliceFamily(object: unknown): IPFamily | undefined {
  const t = (object as { addressType?: unknown } | null)?.addressType;
  return t === 'IPv4' || t === 'IPv6' ? t : undefined;
}

export class EventIntake implements SourceHandler {
  private readonly synced = new Set<ObjectKind>();
  private initializedFlag = false;
  private nodeSeenFlag = false;
  private pendingServiceChanges = 0;
  private pendingEndpointChanges = 0;
  private readonly initWaiters: (() => void)[] = [];
  /** ServiceCIDR ranges (nftables drops unallocated ClusterIPs in them). */
  private readonly serviceCIDRTracker = new ServiceCIDRTracker();

  constructor(private readonly deps: EventIntakeDeps) {}

  get initialized(): boolean {
    return this.initializedFlag;
  }

  /** A Node event has been seen (an unknown Node is then not eligible, see Proxier). */
  get nodeSeen(): boolean {
    return this.nodeSeenFlag;
  }

  serviceCIDRs(): readonly string[] {
    return this.serviceCIDRTracker.cidrs();
  }

  whenInitialized(): Promise<void> {
    if (this.initializedFlag) return Promise.resolve();
    return new Promise((resolve) => this.initWaiters.push(resolve));
  }

  /** A build consumed the pending changes (upstream: the change trackers are emptied by the sync). */
  changesConsumed(): void {
    this.pendingServiceChanges = 0;
    this.pendingEndpointChanges = 0;
    metrics.serviceChangesPending.set(0);
    metrics.endpointChangesPending.set(0);
  }

  onEvent(kind: ObjectKind, type: EventType, object: unknown, origin?: string): void {
    if (kind === 'ServiceCIDR') {
      // Upstream applies a change at the next (full) sync; we sync at once, so a shrunk range stops
      // dropping traffic now rather than up to an hour later.
      if (this.serviceCIDRTracker.onEvent(type, object) && this.initializedFlag) this.deps.requestSync();
      return;
    }
    let changed = false;
    try {
      changed = this.deps.model.onEvent(kind, type, object, origin);
    } catch (e) {
      log.error('Model rejected event', { kind, type, err: e });
      return;
    }
    if (kind === 'Service') {
      // Upstream: each family's proxier has its own service change tracker and each counts the event.
      metrics.serviceChangesTotal.inc(this.deps.familyCount);
      if (changed) metrics.serviceChangesPending.set(++this.pendingServiceChanges);
    } else if (kind === 'EndpointSlice') {
      metrics.endpointChangesTotal.inc();
      if (changed) metrics.endpointChangesPending.set(++this.pendingEndpointChanges);
    } else if (kind === 'Node') {
      this.nodeSeenFlag = true;
      this.deps.podCIDRGate?.onNode(type, object);
      this.maybeInitialize();
    }
    if (changed && this.deps.latency) {
      const svc = serviceOfEvent(kind, object);
      if (svc !== null) this.deps.latency.onEvent(svc);
    }
    // An EndpointSlice concerns the family of its address type only (upstream's metaproxier hands it
    // to that family's proxier alone): the other family's sync would run for nothing, on the same
    // thread, while this one waits for the kernel.
    if (changed && this.initializedFlag) this.deps.requestSync(kind === 'EndpointSlice' ? sliceFamily(object) : undefined);
  }

  onSynced(kind: ObjectKind): void {
    this.synced.add(kind);
    this.maybeInitialize();
  }

  private maybeInitialize(): void {
    if (this.deps.podCIDRGate && !this.deps.podCIDRGate.ready) return;
    if (!this.initializedFlag && this.synced.has('Service') && this.synced.has('EndpointSlice')) {
      this.initializedFlag = true;
      log.info('Services and EndpointSlices synced, programming rules');
      for (const w of this.initWaiters.splice(0)) w();
      this.deps.requestSync();
    }
  }
}
