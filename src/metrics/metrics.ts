// Upstream kube-proxy's Prometheus metrics (pkg/proxy/metrics/metrics.go): same names, types,
// labels and buckets. Mode-specific metrics appear only after registerMetrics(mode), as upstream.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { VERSION_TEXT } from '../config/flags.js';
import type { ProxyMode } from '../config/types.js';

export const registry = new Registry();

/** ExponentialBuckets(0.001, 2, 15) = 0.001 … 16.384 s. */
export const syncBuckets = Array.from({ length: 15 }, (_, i) => 0.001 * 2 ** i);

/** MergeBuckets(Linear(0.25,0.25,2), Linear(1,1,59), Linear(60,5,12), Linear(120,30,7)) with the leading 0. */
export const networkProgrammingBuckets = [
  0,
  0.25,
  0.5,
  ...Array.from({ length: 59 }, (_, i) => 1 + i),
  ...Array.from({ length: 12 }, (_, i) => 60 + 5 * i),
  ...Array.from({ length: 7 }, (_, i) => 120 + 30 * i),
];

const fam = ['ip_family'] as const;

export const metrics = {
  syncProxyRulesDuration: new Histogram({
    name: 'kubeproxy_sync_proxy_rules_duration_seconds',
    help: 'SyncProxyRules latency in seconds',
    labelNames: fam,
    buckets: syncBuckets,
    registers: [],
  }),
  syncFullProxyRulesDuration: new Histogram({
    name: 'kubeproxy_sync_full_proxy_rules_duration_seconds',
    help: 'SyncProxyRules latency in seconds for full resyncs',
    labelNames: fam,
    buckets: syncBuckets,
    registers: [],
  }),
  syncPartialProxyRulesDuration: new Histogram({
    name: 'kubeproxy_sync_partial_proxy_rules_duration_seconds',
    help: 'SyncProxyRules latency in seconds for partial resyncs',
    labelNames: fam,
    buckets: syncBuckets,
    registers: [],
  }),
  syncProxyRulesLastTimestamp: new Gauge({
    name: 'kubeproxy_sync_proxy_rules_last_timestamp_seconds',
    help: 'The last time proxy rules were successfully synced',
    labelNames: fam,
    registers: [],
  }),
  syncProxyRulesLastQueuedTimestamp: new Gauge({
    name: 'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds',
    help: 'The last time a sync of proxy rules was queued',
    labelNames: fam,
    registers: [],
  }),
  networkProgrammingDuration: new Histogram({
    name: 'kubeproxy_network_programming_duration_seconds',
    help: 'In Cluster Network Programming Latency in seconds',
    labelNames: fam,
    buckets: networkProgrammingBuckets,
    registers: [],
  }),
  endpointChangesPending: new Gauge({
    name: 'kubeproxy_sync_proxy_rules_endpoint_changes_pending',
    help: 'Pending proxy rules Endpoint changes',
    registers: [],
  }),
  endpointChangesTotal: new Counter({
    name: 'kubeproxy_sync_proxy_rules_endpoint_changes_total',
    help: 'Cumulative proxy rules Endpoint changes',
    registers: [],
  }),
  serviceChangesPending: new Gauge({
    name: 'kubeproxy_sync_proxy_rules_service_changes_pending',
    help: 'Pending proxy rules Service changes',
    registers: [],
  }),
  serviceChangesTotal: new Counter({
    name: 'kubeproxy_sync_proxy_rules_service_changes_total',
    help: 'Cumulative proxy rules Service changes',
    registers: [],
  }),
  noLocalEndpointsTotal: new Gauge({
    name: 'kubeproxy_sync_proxy_rules_no_local_endpoints_total',
    help: 'Number of services with a Local traffic policy and no endpoints',
    labelNames: ['traffic_policy', 'ip_family'] as const,
    registers: [],
  }),
  healthzTotal: new Counter({
    name: 'kubeproxy_proxy_healthz_total',
    help: 'Cumulative proxy healthz HTTP status',
    labelNames: ['code'] as const,
    registers: [],
  }),
  livezTotal: new Counter({
    name: 'kubeproxy_proxy_livez_total',
    help: 'Cumulative proxy livez HTTP status',
    labelNames: ['code'] as const,
    registers: [],
  }),
  conntrackReconcilerSyncDuration: new Histogram({
    name: 'kubeproxy_conntrack_reconciler_sync_duration_seconds',
    help: 'ReconcileConntrackFlowsLatency latency in seconds',
    labelNames: fam,
    buckets: syncBuckets,
    registers: [],
  }),
  conntrackReconcilerDeletedEntriesTotal: new Counter({
    name: 'kubeproxy_conntrack_reconciler_deleted_entries_total',
    help: 'Cumulative conntrack flows deleted by conntrack reconciler',
    labelNames: fam,
    registers: [],
  }),
  // iptables (and ipvs: restore failures)
  iptablesRestoreFailuresTotal: new Counter({
    name: 'kubeproxy_sync_proxy_rules_iptables_restore_failures_total',
    help: 'Cumulative proxy iptables restore failures',
    labelNames: fam,
    registers: [],
  }),
  iptablesPartialRestoreFailuresTotal: new Counter({
    name: 'kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total',
    help: 'Cumulative proxy iptables partial restore failures',
    labelNames: fam,
    registers: [],
  }),
  iptablesRulesTotal: new Gauge({
    name: 'kubeproxy_sync_proxy_rules_iptables_total',
    help: 'Total number of iptables rules owned by kube-proxy',
    labelNames: ['table', 'ip_family'] as const,
    registers: [],
  }),
  iptablesRulesLast: new Gauge({
    name: 'kubeproxy_sync_proxy_rules_iptables_last',
    help: 'Number of iptables rules written by kube-proxy in last sync',
    labelNames: ['table', 'ip_family'] as const,
    registers: [],
  }),
  // nftables
  nftablesSyncFailuresTotal: new Counter({
    name: 'kubeproxy_sync_proxy_rules_nftables_sync_failures_total',
    help: 'Cumulative proxy nftables sync failures',
    labelNames: fam,
    registers: [],
  }),
  nftablesCleanupFailuresTotal: new Counter({
    name: 'kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total',
    help: 'Cumulative proxy nftables cleanup failures',
    labelNames: fam,
    registers: [],
  }),
  // kube-proxy-ts's own (not upstream): objects skipped as invalid, by kind.
  invalidObjectsTotal: new Counter({
    name: 'kubeproxy_ts_invalid_objects_total',
    help: 'API objects skipped because they were malformed or semantically invalid',
    labelNames: ['kind'] as const,
    registers: [],
  }),
};

const common: Metric[] = [
  metrics.syncProxyRulesDuration,
  metrics.syncProxyRulesLastTimestamp,
  metrics.syncProxyRulesLastQueuedTimestamp,
  metrics.networkProgrammingDuration,
  metrics.endpointChangesPending,
  metrics.endpointChangesTotal,
  metrics.serviceChangesPending,
  metrics.serviceChangesTotal,
  metrics.noLocalEndpointsTotal,
  metrics.healthzTotal,
  metrics.livezTotal,
  metrics.conntrackReconcilerSyncDuration,
  metrics.conntrackReconcilerDeletedEntriesTotal,
  metrics.invalidObjectsTotal,
];

const byMode: Record<ProxyMode, readonly Metric[]> = {
  iptables: [
    metrics.syncFullProxyRulesDuration,
    metrics.syncPartialProxyRulesDuration,
    metrics.iptablesRestoreFailuresTotal,
    metrics.iptablesPartialRestoreFailuresTotal,
    metrics.iptablesRulesTotal,
    metrics.iptablesRulesLast,
  ],
  ipvs: [metrics.iptablesRestoreFailuresTotal],
  nftables: [
    metrics.syncFullProxyRulesDuration,
    metrics.syncPartialProxyRulesDuration,
    metrics.nftablesSyncFailuresTotal,
    metrics.nftablesCleanupFailuresTotal,
  ],
};

/** Go's runtime.GOOS/GOARCH spelling of this platform, as upstream's build info reports it. */
function goPlatform(): string {
  const arch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };
  return `${process.platform}/${arch[process.arch] ?? process.arch}`;
}

/**
 * component-base's kubernetes_build_info, with the labels upstream uses: the Kubernetes minor this
 * build is compatible with, our own version in git_version, node in compiler.
 */
const buildInfo = new Gauge({
  name: 'kubernetes_build_info',
  help: 'A metric with a constant \'1\' value labeled by major, minor, git version, git commit, git tree state, build date, Go version, and compiler from which Kubernetes was built, and platform on which it is running.',
  labelNames: ['major', 'minor', 'git_version', 'git_commit', 'git_tree_state', 'build_date', 'go_version', 'compiler', 'platform'] as const,
  registers: [],
});

let defaultsRegistered = false;

/** Event-loop delay sampling interval (ms) of the nodejs_eventloop_lag_* histogram gauges. */
export const EVENT_LOOP_SAMPLE_MS = 1000;

/**
 * Register the common metrics and those of `mode` (idempotent), plus what upstream's legacy registry
 * also carries: process_* (prom-client's default collectors; nodejs_* stand where Go's go_* are)
 * and kubernetes_build_info.
 */
export function registerMetrics(mode: ProxyMode): void {
  for (const m of [...common, ...byMode[mode], buildInfo]) {
    // prom-client keeps the name private in its types; it is there at run time.
    const name = (m as unknown as { name: string }).name;
    if (!registry.getSingleMetric(name)) registry.registerMetric(m);
  }
  if (!defaultsRegistered) {
    defaultsRegistered = true;
    // The event-loop delay histogram (nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds)
    // samples with a libuv timer; prom-client's default 10 ms woke an idle proxy 100 times a second
    // (~7 ms of CPU per second, most of an idle proxy's cost; 0.7 cores for 100 nodes' worth on one
    // machine). Once a second is enough for a scrape every 15-30 s. Each sample is the interval
    // between two ticks, so those gauges read 1 s plus the lag (see docs/metrics.md).
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    buildInfo.set(
      {
        major: '1',
        minor: '35',
        git_version: /kube-proxy-ts (v\S+)/.exec(VERSION_TEXT)?.[1] ?? 'unknown',
        git_commit: '',
        git_tree_state: '',
        build_date: '',
        go_version: '',
        compiler: 'node',
        platform: goPlatform(),
      },
      1,
    );
  }
}
