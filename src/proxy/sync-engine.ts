// The sync engine of one IP family, shared by every mode (upstream: the syncProxyRules bookkeeping
// each proxier repeats: needFullSync, lastFullSync, the retry, the sync metrics).
//
//   build() -> { state, change, config } -> full / partial / drift decision -> dataplane.sync
//           -> applied state, metrics -> hooks (health, latency, service health, conntrack)
//
// What it owns: the dataplane instance for the current settings, the last applied state, when the
// next sync must be full, the drift-check schedule, changes folded into builds whose sync has not
// succeeded yet (conntrack, trigger times), the bounded-frequency runner that retries failures with
// backoff, and the sync metrics (upstream's Prometheus names, src/metrics/metrics.ts).
// What it does not: build the state (the proxier's build hook), or anything after a sync besides
// the metrics (the hooks).

import type { DataplaneConfig } from '../dataplane/config.js';
import type { Dataplane, DataplaneFactory, SyncResult } from '../dataplane/types.js';
import { createLogger } from '../log/logger.js';
import { metrics } from '../metrics/metrics.js';
import type { IPFamily, ProxyState, ServicePort, StateChange } from '../model/types.js';
import { AppliedIndex } from './applied-index.js';
import { BoundedFrequencyRunner, type RunnerClock } from './runner.js';

const log = createLogger('proxier');

/** Upstream FullSyncPeriod. */
export const FULL_SYNC_PERIOD_MS = 60 * 60 * 1000;
/** How long a due periodic full sync may wait behind runs that program changes. */
export const PERIODIC_FULL_MAX_DEFER_MS = 60_000;
/** Trigger times kept while syncs keep failing; the newest are the informative ones. */
export const MAX_PENDING_TRIGGERS = 10_000;

/** One build of the family's desired state. */
export interface SyncInput {
  readonly state: ProxyState;
  readonly change: StateChange;
  readonly config: DataplaneConfig;
  /** Date.now() when the build's inputs were complete (per-service latency counts from it). */
  readonly builtAt: number;
}

/** A successful sync, as the hooks see it. */
export interface SyncReport {
  readonly family: IPFamily;
  readonly input: SyncInput;
  /** The state applied before this sync (null: this was the family's first successful sync). */
  readonly previous: ProxyState | null;
  /** Whether the dataplane wrote everything (it may upgrade a partial request). */
  readonly full: boolean;
  readonly result: SyncResult;
  /** Milliseconds from the start of the run to the end of dataplane.sync. */
  readonly durationMs: number;
  /** A build folded into this state asked for stale UDP conntrack cleanup (also from failed runs). */
  readonly conntrackDue: boolean;
}

export interface SyncHooks {
  /** The state to program now; null skips the run (e.g. not initialized yet). */
  build(): Promise<SyncInput | null>;
  /** After a failed dataplane.sync (the error then goes to the runner, which retries with backoff). */
  failed?(input: SyncInput, err: unknown): void;
  /** At once after a successful sync (health, latency, logs). */
  applied?(report: SyncReport): void;
  /**
   * After the post-sync drift check (service health ports, conntrack). A throw counts as a failed run
   * for the runner's backoff; the applied state stands and conntrackDue is not offered again.
   */
  settled?(report: SyncReport): Promise<void>;
}

export interface SyncEngineOptions {
  readonly family: IPFamily;
  readonly factory: DataplaneFactory;
  readonly minSyncPeriodMs: number;
  /** Periodic runs (drift check, node address refresh) and the retry backoff cap. */
  readonly syncPeriodMs: number;
  readonly fullSyncPeriodMs?: number;
  /** no_local_endpoints_total counts Services (IPVS, as upstream) instead of service ports. */
  readonly noLocalEndpointsByService?: boolean;
  /** Trigger times before this (epoch ms) are not observed (network_programming_duration). */
  readonly startedAt?: number;
  readonly clock?: RunnerClock;
  /** Decision time source (default Date.now). */
  readonly now?: () => number;
  /**
   * What the runner runs; default syncOnce(). The proxier wraps it (the primary family goes first).
   * Receives syncOnce so a wrapper need not hold the engine.
   */
  readonly run?: (syncOnce: () => Promise<void>) => Promise<void>;
}

/** What the debug views read of one family. */
export interface AppliedView {
  readonly family: IPFamily;
  readonly applied: ProxyState | null;
  readonly appliedAt: Date | null;
  readonly appliedFull: boolean;
  readonly consecutiveFailures: number;
  /** The settings the last dataplane was built from (null before the first build). */
  readonly config: DataplaneConfig | null;
}

export class SyncEngine {
  readonly family: IPFamily;
  private readonly runner: BoundedFrequencyRunner;
  private readonly now: () => number;
  private dataplane: Dataplane | null = null;
  private configKey = '';
  /** The next sync must be full (first sync, after a failure, drift, new dataplane). */
  private needFull = true;
  private lastFullAt = 0;
  private lastDriftCheckAt = 0;
  /** Changes folded into builds whose sync has not succeeded yet. */
  private pendingConntrack = false;
  private pendingTriggerTimes: Date[] = [];
  private appliedState: ProxyState | null = null;
  private appliedAt: Date | null = null;
  private appliedFull = false;
  /** Health check ports and no-local-endpoints members of appliedState, updated with it. */
  private readonly index: AppliedIndex;

  constructor(
    private readonly opts: SyncEngineOptions,
    private readonly hooks: SyncHooks,
  ) {
    this.family = opts.family;
    this.now = opts.now ?? Date.now;
    this.index = new AppliedIndex(opts.noLocalEndpointsByService ?? false);
    const syncOnce = (): Promise<void> => this.syncOnce();
    this.runner = new BoundedFrequencyRunner(`sync-runner-${opts.family}`, () => (opts.run ? opts.run(syncOnce) : syncOnce()), {
      minIntervalMs: opts.minSyncPeriodMs,
      // Periodic runs every syncPeriod: they detect drift and refresh node addresses.
      maxIntervalMs: Math.max(opts.syncPeriodMs, opts.minSyncPeriodMs),
      retryMaxMs: Math.max(opts.syncPeriodMs, 1),
      clock: opts.clock,
      logger: log,
    });
  }

  /** Last successfully programmed state. */
  get applied(): ProxyState | null {
    return this.appliedState;
  }

  /** The applied state's service ports with a health check NodePort, in key order. */
  healthCheckPorts(): Iterable<ServicePort> {
    return this.index.healthCheckPorts();
  }

  get consecutiveFailures(): number {
    return this.runner.failures;
  }

  view(): AppliedView {
    return {
      family: this.family,
      applied: this.appliedState,
      appliedAt: this.appliedAt,
      appliedFull: this.appliedFull,
      consecutiveFailures: this.runner.failures,
      config: this.configKey ? (JSON.parse(this.configKey) as DataplaneConfig) : null,
    };
  }

  /** Start the loop (upstream SyncLoop marks the family queued). */
  start(): void {
    metrics.syncProxyRulesLastQueuedTimestamp.set({ ip_family: this.family }, Date.now() / 1000);
    this.runner.start();
  }

  /** Queue a run (upstream Sync()). */
  request(): void {
    metrics.syncProxyRulesLastQueuedTimestamp.set({ ip_family: this.family }, Date.now() / 1000);
    this.runner.run();
  }

  /** Stop the loop, then the dataplane's helper processes (rules stay in place). */
  async stop(): Promise<void> {
    await this.runner.stop();
  }

  async close(): Promise<void> {
    await this.dataplane?.close?.().catch(() => undefined);
  }

  private dataplaneFor(config: DataplaneConfig): Dataplane {
    const key = JSON.stringify(config);
    if (!this.dataplane || key !== this.configKey) {
      if (this.dataplane) log.info('Dataplane settings changed, resyncing fully', { ipFamily: this.family, config });
      void this.dataplane?.close?.().catch(() => undefined);
      this.dataplane = this.opts.factory(config);
      this.configKey = key;
      this.needFull = true;
    }
    return this.dataplane;
  }

  private async checkDrift(dp: Dataplane, at: number): Promise<boolean> {
    this.lastDriftCheckAt = at;
    try {
      if (await dp.detectDrift()) {
        log.info('Rules changed behind our back, doing a full sync', { ipFamily: this.family });
        return true;
      }
    } catch (e) {
      log.warn('Drift check failed, doing a full sync', { ipFamily: this.family, err: e });
      return true;
    }
    return false;
  }

  /**
   * One run: build, decide full or partial, sync, record. Throws when the sync failed (the runner
   * retries with backoff and the next run is full).
   */
  async syncOnce(): Promise<void> {
    const start = process.hrtime.bigint();
    const elapsedMs = (): number => Number(process.hrtime.bigint() - start) / 1e6;
    const now = this.now();
    const input = await this.hooks.build();
    if (input === null) return;
    const { state, change } = input;
    const dp = this.dataplaneFor(input.config);
    if (change.conntrackCleanupRequired) this.pendingConntrack = true;
    this.pendingTriggerTimes.push(...change.triggerTimes);
    if (this.pendingTriggerTimes.length > MAX_PENDING_TRIGGERS) this.pendingTriggerTimes.splice(0, this.pendingTriggerTimes.length - MAX_PENDING_TRIGGERS);

    let full = this.needFull || change.topologyChanged;
    // The periodic full sync (a safety net) must not make a change wait for it (2 s at 10k services):
    // a run with changes to program stays partial and queues the full run next, unless the full
    // sync is already overdue by PERIODIC_FULL_MAX_DEFER_MS (constant churn would defer it forever).
    const fullPeriodMs = this.opts.fullSyncPeriodMs ?? FULL_SYNC_PERIOD_MS;
    const periodicFullDue = !full && now - this.lastFullAt >= fullPeriodMs;
    const deferFull = periodicFullDue && change.changedKeys.size > 0 && now - this.lastFullAt < fullPeriodMs + PERIODIC_FULL_MAX_DEFER_MS;
    if (periodicFullDue && !deferFull) full = true;
    const driftDue = !full && now - this.lastDriftCheckAt >= this.opts.syncPeriodMs;
    // With changes to program, the drift check (an `nft -c`/`iptables-save` process) runs after their
    // sync, off the change's path; a periodic run with nothing to program checks first.
    const driftAfter = driftDue && change.changedKeys.size > 0;
    if (driftDue && !driftAfter && (await this.checkDrift(dp, now))) full = true;

    let resultFull = full;
    const observe = (): void => {
      const secs = elapsedMs() / 1000;
      metrics.syncProxyRulesDuration.observe({ ip_family: this.family }, secs);
      (resultFull ? metrics.syncFullProxyRulesDuration : metrics.syncPartialProxyRulesDuration).observe({ ip_family: this.family }, secs);
    };
    let result: SyncResult;
    try {
      result = await dp.sync(state, { full });
      resultFull = result.full;
      observe();
    } catch (e) {
      observe();
      this.needFull = true;
      this.hooks.failed?.(input, e);
      throw e;
    }
    // The rules are in the kernel now: as upstream, the network programming latency is observed
    // here, before the bookkeeping below (health, conntrack, logs).
    const startedAt = this.opts.startedAt ?? 0;
    const programmedAt = Date.now();
    for (const t of this.pendingTriggerTimes.splice(0)) {
      if (t.getTime() >= startedAt) metrics.networkProgrammingDuration.observe({ ip_family: this.family }, Math.max(0, programmedAt - t.getTime()) / 1000);
    }
    const durationMs = elapsedMs();
    // Upstream logs "SyncProxyRules complete" with its elapsed time at -v=2 too.
    log.v(2).info('Synced rules', {
      ipFamily: this.family,
      durationMs: Math.round(durationMs),
      full: result.full,
      services: state.services.size,
      operations: result.operations,
      toolMillis: Math.round(result.toolMillis),
    });

    const previous = this.appliedState;
    this.needFull = false;
    if (resultFull) {
      this.lastFullAt = now;
      this.lastDriftCheckAt = now;
    }
    this.appliedState = state;
    this.index.update(state.services);
    this.appliedAt = new Date();
    this.appliedFull = resultFull;
    metrics.syncProxyRulesLastTimestamp.set({ ip_family: this.family }, Date.now() / 1000);
    const conntrackDue = this.pendingConntrack;
    this.pendingConntrack = false;
    const report: SyncReport = { family: this.family, input, previous, full: resultFull, result, durationMs, conntrackDue };
    this.hooks.applied?.(report);
    this.index.recordNoLocalEndpoints(state.family);
    if (driftAfter && (await this.checkDrift(dp, now))) {
      this.needFull = true;
      this.runner.run();
    } else if (deferFull) {
      log.v(4).info('Periodic full sync deferred behind a change', { ipFamily: this.family });
      this.runner.run();
    }
    await this.hooks.settled?.(report);
  }
}
