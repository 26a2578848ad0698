// The orchestration (upstream metaproxier + what each proxier's syncProxyRules does around the rules):
//
//   source events -> EventIntake (model, change metrics, initialization) -> SyncEngine.request()
//   SyncEngine run: build hook here (node inputs -> model.build) -> full/partial/drift -> dataplane.sync
//                   -> hooks here: health, per-service latency, first-sync log, service health check
//                      ports, stale UDP conntrack flows.
//
// Nothing is programmed until Services and EndpointSlices have both been synced (upstream
// isInitialized). The modules: event-intake.ts, sync-engine.ts, family-inputs.ts (node IPs, NodePort
// addresses, dataplane settings), service-health-sync.ts, render-rules.ts (--print-rules,
// --dry-run), src/debug (the JSON views over debugSource()).

import type { ProxyOptions } from '../config/types.js';
import { cleanStaleUDPFlows } from '../conntrack/cleanup.js';
import type { DataplaneFactory } from '../dataplane/types.js';
import type { ProxierDebugSource } from '../debug/source.js';
import type { ProxyHealth } from '../health/proxy-health.js';
import type { ServiceHealthServer } from '../health/service-health.js';
import { createLogger } from '../log/logger.js';
import { ServiceLatencyTracker } from '../metrics/service-latency.js';
import type { IPFamily, ProxyState } from '../model/types.js';
import { LocalAddressCache } from '../node/address-cache.js';
import { nodeEligible, type LocalAddress } from '../node/addresses.js';
import type { EventType, ObjectKind, SourceHandler } from '../sources/types.js';
import { buildDataplaneConfig } from './dataplane-config.js';
import { EventIntake, type ServiceModelLike } from './event-intake.js';
import { FamilyInputResolver } from './family-inputs.js';
import type { PodCIDRGate } from './podcidr-gate.js';
import { renderRules, type RenderedRules } from './render-rules.js';
import type { RunnerClock } from './runner.js';
import { syncServiceHealth } from './service-health-sync.js';
import { SyncEngine, type SyncInput, type SyncReport } from './sync-engine.js';

const log = createLogger('proxier');

export interface ProxierDeps {
  readonly options: ProxyOptions;
  readonly model: ServiceModelLike;
  readonly factory: DataplaneFactory;
  readonly health: ProxyHealth;
  readonly serviceHealth?: ServiceHealthServer | null;
  readonly families?: readonly IPFamily[];
  /**
   * The primary family (upstream: the node IP's). At start its first sync runs alone, before the other
   * family's: two first syncs at once split the CPU and the netfilter commit lock, so the primary
   * family (where most services are) served later than when it goes first. Default: the first family.
   */
  readonly primary?: IPFamily;
  /** Local interface addresses (default: `ip -j addr` in the current namespace). */
  readonly localAddresses?: () => Promise<LocalAddress[]>;
  /** Stale UDP flow cleanup (default: the conntrack CLI). */
  readonly conntrackCleanup?: (state: ProxyState, previous: ProxyState | null) => Promise<unknown>;
  /**
   * With no Node object ever seen, /healthz treats the node as eligible (the --manifests case, where
   * there may be no Node at all). Upstream (API server) treats an unknown Node as not eligible.
   */
  readonly eligibleWithoutNode?: boolean;
  /**
   * detect-local-mode NodeCIDR: nothing is programmed until this node's podCIDRs are known; Node
   * events are passed on (a change of podCIDRs is fatal there).
   */
  readonly podCIDRGate?: PodCIDRGate | null;
  /** Periodic full resync (upstream FullSyncPeriod, 1 h). */
  readonly fullSyncPeriodMs?: number;
  readonly clock?: RunnerClock;
}

/** Counts for the first-sync log line. */
function stateCounts(state: ProxyState): { servicePorts: number; endpoints: number } {
  let endpoints = 0;
  for (const sp of state.services.values()) endpoints += sp.clusterEndpoints.length;
  return { servicePorts: state.services.size, endpoints };
}

export class Proxier implements SourceHandler {
  private readonly engines = new Map<IPFamily, SyncEngine>();
  private readonly intake: EventIntake;
  private readonly inputs: FamilyInputResolver;
  private readonly startedAt = Date.now();
  /** --service-latency-top-n > 0: per-service event-to-kernel latency. */
  private readonly latency: ServiceLatencyTracker | null;
  /** Families whose first successful sync has been logged. */
  private readonly firstSyncLogged = new Set<IPFamily>();
  /** Settles after the primary family's first sync attempt (successful or not); see ProxierDeps.primary. */
  private readonly primaryFirst = deferred();
  /** deps.primary when it is one of the families, else the first family. */
  private readonly primaryFamily: IPFamily | undefined;
  private readonly programmedWaiters: (() => void)[] = [];

  constructor(private readonly deps: ProxierDeps) {
    const o = deps.options;
    const families = deps.families ?? (['IPv4', 'IPv6'] as const);
    this.latency = (o.serviceLatencyTopN ?? 0) > 0 ? new ServiceLatencyTracker(o.serviceLatencyTopN, undefined, undefined, deps.families) : null;
    this.intake = new EventIntake({
      model: deps.model,
      familyCount: families.length,
      podCIDRGate: deps.podCIDRGate,
      latency: this.latency,
      requestSync: (family) => this.requestSync(family),
    });
    const addresses = new LocalAddressCache(deps.localAddresses, () => {
      if (this.intake.initialized) this.requestSync();
    });
    this.inputs = new FamilyInputResolver(o, addresses, () => deps.model.node());
    for (const family of families) {
      const engine = new SyncEngine(
        {
          family,
          factory: deps.factory,
          minSyncPeriodMs: o.minSyncPeriodMs,
          syncPeriodMs: o.syncPeriodMs,
          fullSyncPeriodMs: deps.fullSyncPeriodMs,
          noLocalEndpointsByService: o.mode === 'ipvs',
          startedAt: this.startedAt,
          clock: deps.clock,
          run: (syncOnce) => this.primaryGate(family, syncOnce),
        },
        {
          build: () => this.build(family),
          failed: (input) => this.onFailed(family, input),
          applied: (r) => this.onApplied(r),
          settled: (r) => this.onSettled(r),
        },
      );
      this.engines.set(family, engine);
    }
    this.primaryFamily = deps.primary && this.engines.has(deps.primary) ? deps.primary : [...this.engines.keys()][0];
    deps.health.nodeEligible = () => {
      const node = deps.model.node();
      if (node === null || node === undefined) return !this.intake.nodeSeen && deps.eligibleWithoutNode === true;
      return nodeEligible(node);
    };
  }

  get initialized(): boolean {
    return this.intake.initialized;
  }

  /**
   * Resolves once every family has been programmed successfully at least once (a mode switch
   * removes the previous mode's rules only then).
   */
  whenProgrammed(): Promise<void> {
    if (this.allProgrammed()) return Promise.resolve();
    return new Promise((resolve) => this.programmedWaiters.push(resolve));
  }

  private allProgrammed(): boolean {
    return [...this.engines.values()].every((e) => e.applied !== null);
  }

  /** Resolves once Services and EndpointSlices have been synced. */
  whenInitialized(): Promise<void> {
    return this.intake.whenInitialized();
  }

  // ---- SourceHandler ----

  onEvent(kind: ObjectKind, type: EventType, object: unknown, origin?: string): void {
    this.intake.onEvent(kind, type, object, origin);
  }

  onSynced(kind: ObjectKind): void {
    this.intake.onSynced(kind);
  }

  // ---- lifecycle ----

  /** Start the sync loops (upstream SyncLoop: marks each family updated and queued). */
  start(): void {
    for (const e of this.engines.values()) {
      this.deps.health.updated(e.family);
      e.start();
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.engines.values()].map((e) => e.stop()));
    // Helper processes (the nftables mode's persistent `nft -i`) end with the proxy.
    await Promise.all([...this.engines.values()].map((e) => e.close()));
  }

  /** Upstream Sync(): queue a run of `family` (when this proxier has it), or of every family. */
  requestSync(family?: IPFamily): void {
    for (const e of this.engines.values()) {
      if (family !== undefined && e.family !== family) continue;
      this.deps.health.queuedUpdate(e.family);
      e.request();
    }
  }

  // ---- the sync engines' hooks ----

  /** The primary family's first sync runs alone; the others wait for its first attempt. */
  private async primaryGate(family: IPFamily, syncOnce: () => Promise<void>): Promise<void> {
    if (!this.intake.initialized) return syncOnce();
    if (family !== this.primaryFamily) {
      await this.primaryFirst.promise;
      return syncOnce();
    }
    try {
      await syncOnce();
    } finally {
      this.primaryFirst.resolve();
    }
  }

  private async build(family: IPFamily): Promise<SyncInput | null> {
    if (!this.intake.initialized) {
      log.v(2).info('Not syncing rules until Services and EndpointSlices have been received from the source', { ipFamily: family });
      return null;
    }
    const { nodeIPs, nodePortAddresses, config } = await this.inputs.resolve(family);
    const builtAt = Date.now();
    const { state, change } = this.deps.model.build(family, { nodeIPs, nodePortAddresses, serviceCIDRs: this.intake.serviceCIDRs() });
    this.intake.changesConsumed();
    return { state, change, config, builtAt };
  }

  private onFailed(family: IPFamily, input: SyncInput): void {
    this.latency?.onFailed(family, input.change.changedKeys);
    // A failed sync leaves the wanted state unprogrammed: count it as pending for health.
    this.deps.health.queuedUpdate(family);
  }

  private onApplied(r: SyncReport): void {
    const { family, input } = r;
    if (r.previous === null && this.allProgrammed()) for (const w of this.programmedWaiters.splice(0)) w();
    this.deps.health.updated(family);
    this.latency?.onSynced(family, input.change.changedKeys, input.builtAt);
    if (!this.firstSyncLogged.has(family)) {
      this.firstSyncLogged.add(family);
      log.info('First sync of rules done', {
        ipFamily: family,
        mode: this.deps.options.mode,
        durationMs: Math.round(r.durationMs),
        sinceStartMs: Date.now() - this.startedAt,
        ...stateCounts(input.state),
        full: r.full,
      });
    }
  }

  private async onSettled(r: SyncReport): Promise<void> {
    const shs = this.deps.serviceHealth;
    if (shs) await syncServiceHealth(shs, [...this.engines.values()], this.deps.model);
    if (r.conntrackDue) await (this.deps.conntrackCleanup ?? cleanStaleUDPFlows)(r.input.state, r.previous);
  }

  // ---- --print-rules and the debug views ----

  /** The rules each family would program for the current model, from scratch (no kernel access). */
  renderRules(opts: { live?: boolean } = {}): Promise<RenderedRules[]> {
    const deps = { model: this.deps.model, inputs: this.inputs, factory: this.deps.factory, serviceCIDRs: this.intake.serviceCIDRs() };
    return renderRules([...this.engines.keys()], deps, opts);
  }

  /** What the debug views (src/debug/state.ts) read: the last programmed state of each family. */
  debugSource(): ProxierDebugSource {
    const o = this.deps.options;
    return {
      mode: o.mode,
      nodeName: o.hostname,
      initialized: this.intake.initialized,
      healthCheckNodePorts: this.deps.serviceHealth?.ports() ?? [],
      model: this.deps.model,
      families: [...this.engines.values()].map((e) => {
        const v = e.view();
        // The settings the last sync really used (its dataplane was built from exactly these).
        return { ...v, config: v.config ?? buildDataplaneConfig(o, e.family, this.deps.model.node()) };
      }),
    };
  }
}

/** A promise with its resolve function; resolving twice is harmless. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
