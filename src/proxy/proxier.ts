// The orchestration (upstream metaproxier + the sync parts of each proxier):
//   source events -> model.onEvent -> change metrics -> one bounded-frequency runner per IP family
//   sync(family): node IPs, NodePort addresses, local detector -> model.build -> dataplane.sync
//                 -> metrics, health, service health check ports, stale UDP conntrack flows.
// Nothing is programmed until Services and EndpointSlices have both been synced (upstream isInitialized).

import type { ProxyOptions } from '../config/types.js';
import { cleanStaleUDPFlows } from '../conntrack/cleanup.js';
import { durationSeconds } from '../util/duration.js';
import type { Dataplane, DataplaneFactory } from '../dataplane/types.js';
import type { ProxyHealth } from '../health/proxy-health.js';
import type { ServiceHealthServer } from '../health/service-health.js';
import { createLogger } from '../log/logger.js';
import { metrics } from '../metrics/metrics.js';
import { ServiceLatencyTracker, serviceOfEvent } from '../metrics/service-latency.js';
import { joinHostPort } from '../model/ip.js';
import { ServiceCIDRTracker } from '../model/servicecidrs.js';
import type { DataplaneConfig, Endpoint, IPFamily, NodePortAddresses, ProxyState, StateChange } from '../model/types.js';
import {
  listLocalAddresses,
  LOOPBACK_NODE_IP,
  nodeEligible,
  resolveNodeIPs,
  resolveNodePortAddresses,
  type LocalAddress,
} from '../node/addresses.js';
import type { EventType, ObjectKind, SourceHandler } from '../sources/types.js';
import { resolveLocalDetector } from './local-detector.js';
import type { PodCIDRGate } from './podcidr-gate.js';
import { BoundedFrequencyRunner, type RunnerClock } from './runner.js';

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

export interface ProxierDebugSource {
  readonly mode: ProxyOptions['mode'];
  readonly nodeName: string;
  readonly initialized: boolean;
  readonly healthCheckNodePorts: Iterable<[string, number]>;
  readonly model: ServiceModelLike;
  readonly families: readonly {
    readonly family: IPFamily;
    readonly applied: ProxyState | null;
    readonly appliedAt: Date | null;
    readonly appliedFull: boolean;
    readonly consecutiveFailures: number;
    readonly config: DataplaneConfig;
  }[];
}

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

interface FamilyState {
  readonly family: IPFamily;
  readonly runner: BoundedFrequencyRunner;
  dataplane: Dataplane | null;
  configKey: string;
  /** The next sync must be full (first sync, after a failure, topology change, new dataplane). */
  needFull: boolean;
  lastFullAt: number;
  lastDriftCheckAt: number;
  /** Changes folded into builds whose sync has not succeeded yet. */
  pendingConntrack: boolean;
  pendingTriggerTimes: Date[];
  /** Last successfully programmed state. */
  applied: ProxyState | null;
  appliedAt: Date | null;
  appliedFull: boolean;
}

const FULL_SYNC_PERIOD_MS = 60 * 60 * 1000;
const MAX_PENDING_TRIGGERS = 10_000;

function secondsOr0(d: string): number {
  try {
    return durationSeconds(d);
  } catch {
    return 0; // validated by the options parser; never fatal here
  }
}

/** The static dataplane settings of one family (the local detector may depend on the Node object). */
export function buildDataplaneConfig(o: ProxyOptions, family: IPFamily, node: unknown): DataplaneConfig {
  const ipvs = o.config.ipvs;
  return {
    family,
    masqueradeBit: o.masqueradeBit,
    masqueradeAll: o.masqueradeAll,
    localDetector: resolveLocalDetector(o, family, node),
    localhostNodePorts: o.mode === 'iptables' && family === 'IPv4' && (o.config.iptables.localhostNodePorts ?? true),
    ipvsScheduler: ipvs.scheduler,
    ipvsExcludeCIDRs: ipvs.excludeCIDRs ?? [],
    ipvsStrictARP: ipvs.strictARP,
    ipvsTimeouts: { tcp: secondsOr0(ipvs.tcpTimeout), tcpFin: secondsOr0(ipvs.tcpFinTimeout), udp: secondsOr0(ipvs.udpTimeout) },
  };
}

/** Counts for the first-sync log line. */
function stateCounts(state: ProxyState): { servicePorts: number; endpoints: number } {
  let endpoints = 0;
  for (const sp of state.services.values()) endpoints += sp.clusterEndpoints.length;
  return { servicePorts: state.services.size, endpoints };
}

export class Proxier implements SourceHandler {
  private readonly families = new Map<IPFamily, FamilyState>();
  private readonly synced = new Set<ObjectKind>();
  private initializedFlag = false;
  private nodeSeen = false;
  private pendingServiceChanges = 0;
  private pendingEndpointChanges = 0;
  private readonly startedAt = Date.now();
  private localCache: { at: number; addrs: Promise<LocalAddress[]>; value: LocalAddress[] | null; refreshing: boolean } | null = null;
  private readonly initWaiters: (() => void)[] = [];
  private readonly loopbackLogged = new Set<IPFamily>();
  /** --service-latency-top-n > 0: per-service event-to-kernel latency. */
  private readonly latency: ServiceLatencyTracker | null;
  /** Families whose first successful sync has been logged. */
  private readonly firstSyncLogged = new Set<IPFamily>();
  /** ServiceCIDR ranges (nftables drops unallocated ClusterIPs in them); not part of the Service model. */
  private readonly serviceCIDRs = new ServiceCIDRTracker();
  /** Settles after the primary family's first sync attempt (successful or not); see ProxierDeps.primary. */
  private readonly primaryFirst = deferred();
  /** deps.primary when it is one of the families, else the first family. */
  private readonly primaryFamily: IPFamily | undefined;
  private readonly programmedWaiters: (() => void)[] = [];

  constructor(private readonly deps: ProxierDeps) {
    const o = deps.options;
    this.latency = (o.serviceLatencyTopN ?? 0) > 0 ? new ServiceLatencyTracker(o.serviceLatencyTopN, undefined, undefined, deps.families) : null;
    for (const family of deps.families ?? (['IPv4', 'IPv6'] as const)) {
      const runner = new BoundedFrequencyRunner(`sync-runner-${family}`, () => this.syncFamily(family), {
        minIntervalMs: o.minSyncPeriodMs,
        // Periodic runs every syncPeriod: they detect drift and refresh node addresses.
        maxIntervalMs: Math.max(o.syncPeriodMs, o.minSyncPeriodMs),
        retryMaxMs: Math.max(o.syncPeriodMs, 1),
        clock: deps.clock,
        logger: log,
      });
      this.families.set(family, {
        family,
        runner,
        dataplane: null,
        configKey: '',
        needFull: true,
        lastFullAt: 0,
        lastDriftCheckAt: 0,
        pendingConntrack: false,
        pendingTriggerTimes: [],
        applied: null,
        appliedAt: null,
        appliedFull: false,
      });
    }
    this.primaryFamily = deps.primary && this.families.has(deps.primary) ? deps.primary : [...this.families.keys()][0];
    deps.health.nodeEligible = () => {
      const node = deps.model.node();
      if (node === null || node === undefined) return !this.nodeSeen && deps.eligibleWithoutNode === true;
      return nodeEligible(node);
    };
  }

  get initialized(): boolean {
    return this.initializedFlag;
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
    return [...this.families.values()].every((f) => f.applied !== null);
  }

  /** Resolves once Services and EndpointSlices have been synced. */
  whenInitialized(): Promise<void> {
    if (this.initializedFlag) return Promise.resolve();
    return new Promise((resolve) => this.initWaiters.push(resolve));
  }

  // ---- SourceHandler ----

  onEvent(kind: ObjectKind, type: EventType, object: unknown, origin?: string): void {
    if (kind === 'ServiceCIDR') {
      // Upstream applies a change at the next (full) sync; we sync at once, so a shrunk range stops
      // dropping traffic now rather than up to an hour later.
      if (this.serviceCIDRs.onEvent(type, object) && this.initializedFlag) this.requestSync();
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
      metrics.serviceChangesTotal.inc(this.families.size);
      if (changed) metrics.serviceChangesPending.set(++this.pendingServiceChanges);
    } else if (kind === 'EndpointSlice') {
      metrics.endpointChangesTotal.inc();
      if (changed) metrics.endpointChangesPending.set(++this.pendingEndpointChanges);
    } else if (kind === 'Node') {
      this.nodeSeen = true;
      this.deps.podCIDRGate?.onNode(type, object);
      this.maybeInitialize();
    }
    if (changed && this.latency) {
      const svc = serviceOfEvent(kind, object);
      if (svc !== null) this.latency.onEvent(svc);
    }
    if (changed && this.initializedFlag) this.requestSync();
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
      this.requestSync();
    }
  }

  // ---- lifecycle ----

  /** Start the sync loops (upstream SyncLoop: marks each family updated and queued). */
  start(): void {
    for (const f of this.families.values()) {
      this.deps.health.updated(f.family);
      metrics.syncProxyRulesLastQueuedTimestamp.set({ ip_family: f.family }, Date.now() / 1000);
      f.runner.start();
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.families.values()].map((f) => f.runner.stop()));
    // Helper processes (the nftables mode's persistent `nft -i`) end with the proxy.
    await Promise.all([...this.families.values()].map((f) => f.dataplane?.close?.().catch(() => undefined)));
  }

  /** Upstream Sync(): queue a run of every family. */
  requestSync(): void {
    for (const f of this.families.values()) {
      metrics.syncProxyRulesLastQueuedTimestamp.set({ ip_family: f.family }, Date.now() / 1000);
      this.deps.health.queuedUpdate(f.family);
      f.runner.run();
    }
  }

  // ---- per-family sync ----

  /**
   * This node's interface addresses. The first call lists them (`ip -j addr`); later calls answer from the
   * last listing at once and, when it is older than 1 s, list again in the background: a change's sync
   * must not wait for a process start. A background listing that differs from what the syncs used
   * requests another sync, so an address change is still programmed within about a second.
   */
  private localAddresses(): Promise<LocalAddress[]> {
    const list = (): Promise<LocalAddress[]> => (this.deps.localAddresses ?? listLocalAddresses)();
    const now = Date.now();
    const c = this.localCache;
    if (!c) {
      const p = list();
      const entry = { at: now, addrs: p, value: null as LocalAddress[] | null, refreshing: false };
      this.localCache = entry;
      p.then(
        (v) => void (entry.value = v),
        () => {
          if (this.localCache === entry) this.localCache = null; // try again next sync
        },
      );
      return p;
    }
    if (now - c.at > 1000 && !c.refreshing && c.value !== null) {
      c.refreshing = true;
      list().then(
        (v) => {
          c.refreshing = false;
          c.at = Date.now();
          const changed = JSON.stringify(v) !== JSON.stringify(c.value);
          c.value = v;
          c.addrs = Promise.resolve(v);
          if (changed && this.initializedFlag) this.requestSync();
        },
        (e: unknown) => {
          c.refreshing = false;
          c.at = Date.now();
          log.error('Failed to list local addresses', { err: e });
        },
      );
    }
    return c.addrs;
  }

  /** Inputs of one family's build, and its dataplane configuration. */
  private async familyInputs(family: IPFamily): Promise<{
    nodeIPs: string[];
    nodePortAddresses: NodePortAddresses;
    config: DataplaneConfig;
  }> {
    const o = this.deps.options;
    let local: LocalAddress[] = [];
    try {
      local = await this.localAddresses();
    } catch (e) {
      log.error('Failed to list local addresses', { err: e });
    }
    const node = this.deps.model.node();
    const nodeIPs = resolveNodeIPs(node, family, o.config.bindAddress);
    if (nodeIPs[0] === LOOPBACK_NODE_IP[family] && !this.loopbackLogged.has(family)) {
      this.loopbackLogged.add(family);
      log.info("Can't determine this node's IP, assuming loopback; if this is incorrect, please set the --bind-address flag", { ipFamily: family });
    }
    const nodePortAddresses = resolveNodePortAddresses(o.nodePortAddresses, family, nodeIPs, local);
    const config = buildDataplaneConfig(o, family, node);
    return { nodeIPs, nodePortAddresses, config };
  }

  private dataplaneFor(f: FamilyState, config: DataplaneConfig): Dataplane {
    const key = JSON.stringify(config);
    if (!f.dataplane || key !== f.configKey) {
      if (f.dataplane) log.info('Dataplane settings changed, resyncing fully', { ipFamily: f.family, config });
      void f.dataplane?.close?.().catch(() => undefined);
      f.dataplane = this.deps.factory(config);
      f.configKey = key;
      f.needFull = true;
    }
    return f.dataplane;
  }

  private async syncFamily(family: IPFamily): Promise<void> {
    if (!this.initializedFlag) return this.syncFamilyOnce(family);
    if (family !== this.primaryFamily) {
      await this.primaryFirst.promise;
      return this.syncFamilyOnce(family);
    }
    try {
      await this.syncFamilyOnce(family);
    } finally {
      this.primaryFirst.resolve();
    }
  }

  private async syncFamilyOnce(family: IPFamily): Promise<void> {
    if (!this.initializedFlag) {
      log.v(2).info('Not syncing rules until Services and EndpointSlices have been received from the source', { ipFamily: family });
      return;
    }
    const f = this.families.get(family)!;
    const o = this.deps.options;
    const start = process.hrtime.bigint();
    const now = Date.now();
    const { nodeIPs, nodePortAddresses, config } = await this.familyInputs(family);
    const builtAt = Date.now();
    const dp = this.dataplaneFor(f, config);
    const { state, change } = this.deps.model.build(family, { nodeIPs, nodePortAddresses, serviceCIDRs: this.serviceCIDRs.cidrs() });
    this.pendingServiceChanges = 0;
    this.pendingEndpointChanges = 0;
    metrics.serviceChangesPending.set(0);
    metrics.endpointChangesPending.set(0);
    if (change.conntrackCleanupRequired) f.pendingConntrack = true;
    f.pendingTriggerTimes.push(...change.triggerTimes);
    // Bounded while syncs keep failing; the newest trigger times are the informative ones.
    if (f.pendingTriggerTimes.length > MAX_PENDING_TRIGGERS) f.pendingTriggerTimes.splice(0, f.pendingTriggerTimes.length - MAX_PENDING_TRIGGERS);

    let full = f.needFull || change.topologyChanged || now - f.lastFullAt >= (this.deps.fullSyncPeriodMs ?? FULL_SYNC_PERIOD_MS);
    const driftDue = !full && now - f.lastDriftCheckAt >= o.syncPeriodMs;
    const checkDrift = async (): Promise<boolean> => {
      f.lastDriftCheckAt = now;
      try {
        if (await dp.detectDrift()) {
          log.info('Rules changed behind our back, doing a full sync', { ipFamily: family });
          return true;
        }
      } catch (e) {
        log.warn('Drift check failed, doing a full sync', { ipFamily: family, err: e });
        return true;
      }
      return false;
    };
    // With changes to program, the drift check (an `nft -c`/`iptables-save` process) runs after their
    // sync, off the change's path; a periodic run with nothing to program checks first, as before.
    const driftAfter = driftDue && change.changedKeys.size > 0;
    if (driftDue && !driftAfter && (await checkDrift())) full = true;

    let resultFull = full;
    const observe = (): void => {
      const secs = Number(process.hrtime.bigint() - start) / 1e9;
      metrics.syncProxyRulesDuration.observe({ ip_family: family }, secs);
      (resultFull ? metrics.syncFullProxyRulesDuration : metrics.syncPartialProxyRulesDuration).observe({ ip_family: family }, secs);
    };
    try {
      const result = await dp.sync(state, { full });
      resultFull = result.full;
      observe();
      // Upstream logs "SyncProxyRules complete" with its elapsed time at -v=2 too.
      log.v(2).info('Synced rules', {
        ipFamily: family,
        durationMs: Math.round(Number(process.hrtime.bigint() - start) / 1e6),
        full: result.full,
        services: state.services.size,
        operations: result.operations,
        toolMillis: Math.round(result.toolMillis),
      });
    } catch (e) {
      observe();
      this.latency?.onFailed(family, change.changedKeys);
      f.needFull = true;
      // A failed sync leaves the wanted state unprogrammed: count it as pending for health.
      this.deps.health.queuedUpdate(family);
      throw e;
    }

    const previous = f.applied;
    f.needFull = false;
    if (resultFull) {
      f.lastFullAt = now;
      f.lastDriftCheckAt = now;
    }
    f.applied = state;
    if (previous === null && this.allProgrammed()) for (const w of this.programmedWaiters.splice(0)) w();
    f.appliedAt = new Date();
    f.appliedFull = resultFull;
    this.deps.health.updated(family);
    metrics.syncProxyRulesLastTimestamp.set({ ip_family: family }, Date.now() / 1000);
    this.latency?.onSynced(family, change.changedKeys, builtAt);
    if (!this.firstSyncLogged.has(family)) {
      this.firstSyncLogged.add(family);
      log.info('First sync of rules done', { ipFamily: family, mode: o.mode, durationMs: Math.round(Number(process.hrtime.bigint() - start) / 1e6), sinceStartMs: Date.now() - this.startedAt, ...stateCounts(state), full: resultFull });
    }
    for (const t of f.pendingTriggerTimes.splice(0)) {
      if (t.getTime() >= this.startedAt) {
        metrics.networkProgrammingDuration.observe({ ip_family: family }, Math.max(0, Date.now() - t.getTime()) / 1000);
      }
    }
    this.recordNoLocalEndpoints(state);
    if (driftAfter && (await checkDrift())) {
      f.needFull = true;
      f.runner.run();
    }
    await this.syncServiceHealth();
    if (f.pendingConntrack) {
      f.pendingConntrack = false;
      await (this.deps.conntrackCleanup ?? cleanStaleUDPFlows)(state, previous);
    }
  }

  /** Service ports (iptables, nftables) or Services (ipvs: a set of names upstream) with a Local policy and no local endpoint. */
  private recordNoLocalEndpoints(state: ProxyState): void {
    const internal = new Set<string>();
    const external = new Set<string>();
    const byService = this.deps.options.mode === 'ipvs';
    for (const sp of state.services.values()) {
      if (!sp.hasAnyEndpoints || sp.localEndpoints.length > 0) continue;
      const key = byService ? `${sp.namespace}/${sp.serviceName}` : sp.key;
      if (sp.internalPolicyLocal) internal.add(key);
      if (sp.externallyAccessible && sp.externalPolicyLocal) external.add(key);
    }
    metrics.noLocalEndpointsTotal.set({ traffic_policy: 'internal', ip_family: state.family }, internal.size);
    metrics.noLocalEndpointsTotal.set({ traffic_policy: 'external', ip_family: state.family }, external.size);
  }

  /**
   * Open/close health check NodePorts from the latest state of every family. As upstream (one
   * health server per family), each listener reports the local ready endpoints of its own family;
   * a listener on all addresses reports the first family (in start order) that has the port.
   */
  private async syncServiceHealth(): Promise<void> {
    const shs = this.deps.serviceHealth;
    if (!shs) return;
    const wanted = new Map<string, number>();
    const families = new Map<string, IPFamily[]>();
    const addresses = new Set<string>();
    let all = false;
    for (const f of this.families.values()) {
      if (!f.applied) continue;
      let any = false;
      for (const sp of f.applied.services.values()) {
        if (sp.healthCheckNodePort > 0) {
          const nsn = `${sp.namespace}/${sp.serviceName}`;
          wanted.set(nsn, sp.healthCheckNodePort);
          const fams = families.get(nsn) ?? [];
          if (!fams.includes(f.family)) fams.push(f.family);
          families.set(nsn, fams);
          any = true;
        }
      }
      if (!any) continue;
      const npa = f.applied.nodePortAddresses;
      if (npa.matchAll) all = true;
      else for (const ip of npa.ips) addresses.add(ip);
    }
    try {
      await shs.syncServices(wanted, all ? [] : [...addresses]);
      const counts = new Map<string, Map<IPFamily, number>>();
      for (const [nsn, fams] of families) {
        const slash = nsn.indexOf('/');
        const byFamily = new Map<IPFamily, number>();
        for (const fam of fams) byFamily.set(fam, this.deps.model.localReadyEndpoints(nsn.slice(0, slash), nsn.slice(slash + 1), fam));
        counts.set(nsn, byFamily);
      }
      shs.syncEndpoints(counts);
    } catch (e) {
      log.error('Failed to sync service health checks', { err: e });
    }
  }

  // ---- --print-rules and the debug views ----

  /** The rules each family would program for the current model, from scratch (no kernel access). */
  async renderRules(opts: { live?: boolean } = {}): Promise<{ family: IPFamily; text: string }[]> {
    const out: { family: IPFamily; text: string }[] = [];
    for (const f of this.families.values()) {
      const { nodeIPs, nodePortAddresses, config } = await this.familyInputs(f.family);
      // peek: rendering must not consume the changes the next real sync has to see.
      const { state } = this.deps.model.build(f.family, { nodeIPs, nodePortAddresses, serviceCIDRs: this.serviceCIDRs.cidrs() }, { peek: true });
      const dp = this.deps.factory(config);
      // live (--dry-run): what a sync would apply here and now, host reads included.
      out.push({ family: f.family, text: opts.live && dp.renderLive ? await dp.renderLive(state) : dp.render(state) });
    }
    return out;
  }

  /** What the debug views (src/debug/state.ts) read: the last programmed state of each family. */
  debugSource(): ProxierDebugSource {
    const o = this.deps.options;
    return {
      mode: o.mode,
      nodeName: o.hostname,
      initialized: this.initializedFlag,
      healthCheckNodePorts: this.deps.serviceHealth?.ports() ?? [],
      model: this.deps.model,
      families: [...this.families.values()].map((f) => ({
        family: f.family,
        applied: f.applied,
        appliedAt: f.appliedAt,
        appliedFull: f.appliedFull,
        consecutiveFailures: f.runner.failures,
        // The settings the last sync really used (its dataplane was built from exactly these).
        config: f.configKey ? (JSON.parse(f.configKey) as DataplaneConfig) : buildDataplaneConfig(o, f.family, this.deps.model.node()),
      })),
    };
  }
}

/** A promise with its resolve function; resolving twice is harmless. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
