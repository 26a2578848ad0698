// The metrics server: /metrics per mode, /metrics/slis, /healthz, /proxyMode, /configz, /debug/state, 404.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { defaultConfiguration } from '../../src/config/defaults.js';
import { configureLogging } from '../../src/log/logger.js';
import { metrics, registerMetrics } from '../../src/metrics/metrics.js';
import { serve } from '../../src/net/listen.js';
import { metricsHandler } from '../../src/server/metrics.js';

configureLogging({ sink: () => undefined });
const run = promisify(execFile);

const COMMON = [
  'kubeproxy_sync_proxy_rules_duration_seconds',
  'kubeproxy_sync_proxy_rules_last_timestamp_seconds',
  'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds',
  'kubeproxy_network_programming_duration_seconds',
  'kubeproxy_sync_proxy_rules_endpoint_changes_pending',
  'kubeproxy_sync_proxy_rules_endpoint_changes_total',
  'kubeproxy_sync_proxy_rules_service_changes_pending',
  'kubeproxy_sync_proxy_rules_service_changes_total',
  'kubeproxy_sync_proxy_rules_no_local_endpoints_total',
  'kubeproxy_proxy_healthz_total',
  'kubeproxy_proxy_livez_total',
  'kubeproxy_conntrack_reconciler_sync_duration_seconds',
  'kubeproxy_conntrack_reconciler_deleted_entries_total',
  // What upstream's legacy registry also carries (component-base process collector, build info).
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
  'process_start_time_seconds',
  'process_open_fds',
  'process_max_fds',
  'kubernetes_build_info',
];
const BY_MODE: Record<string, { present: string[]; absent: string[] }> = {
  nftables: {
    present: [
      'kubeproxy_sync_full_proxy_rules_duration_seconds',
      'kubeproxy_sync_partial_proxy_rules_duration_seconds',
      'kubeproxy_sync_proxy_rules_nftables_sync_failures_total',
      'kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total',
    ],
    absent: ['kubeproxy_sync_proxy_rules_iptables_total', 'kubeproxy_sync_proxy_rules_iptables_restore_failures_total'],
  },
  iptables: {
    present: [
      'kubeproxy_sync_full_proxy_rules_duration_seconds',
      'kubeproxy_sync_partial_proxy_rules_duration_seconds',
      'kubeproxy_sync_proxy_rules_iptables_restore_failures_total',
      'kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total',
      'kubeproxy_sync_proxy_rules_iptables_total',
      'kubeproxy_sync_proxy_rules_iptables_last',
    ],
    absent: ['kubeproxy_sync_proxy_rules_nftables_sync_failures_total'],
  },
  ipvs: {
    present: ['kubeproxy_sync_proxy_rules_iptables_restore_failures_total'],
    absent: [
      'kubeproxy_sync_proxy_rules_nftables_sync_failures_total',
      'kubeproxy_sync_proxy_rules_iptables_total',
      'kubeproxy_sync_full_proxy_rules_duration_seconds',
    ],
  },
};

const here = path.dirname(fileURLToPath(import.meta.url));
const childFile = path.join(here, `metrics-names.child${path.extname(fileURLToPath(import.meta.url))}`);
// Under tsx the child needs the loader; from dist it is plain JavaScript.
const loader = childFile.endsWith('.ts') ? ['--import', 'tsx'] : [];

for (const mode of Object.keys(BY_MODE)) {
  test(`registered metric families in ${mode} mode`, async () => {
    const { stdout } = await run(process.execPath, [...loader, childFile, mode], { timeout: 30_000 });
    const names = new Set(stdout.split('\n').filter(Boolean));
    for (const n of [...COMMON, ...BY_MODE[mode]!.present]) assert.ok(names.has(n), `${n} registered in ${mode}`);
    for (const n of BY_MODE[mode]!.absent) assert.ok(!names.has(n), `${n} not registered in ${mode}`);
  });
}

const config = defaultConfiguration();
config.mode = 'nftables';
config.clientConnection.kubeconfig = '/etc/kubernetes/secret-kubeconfig';
registerMetrics('nftables');
const server = serve('metrics', '127.0.0.1:0', metricsHandler({
    mode: 'nftables',
    config,
    debug: (path) => (path === '/debug/state' ? Promise.resolve({ status: 200, type: 'application/json', body: JSON.stringify({ families: { IPv4: { services: {} } } }) }) : null),
  }), {
  hardFail: true,
});
after(() => server.close());
const base = server.ready.then((a) => `http://127.0.0.1:${a.port}`);

test('/metrics serves the registry text with current values', async () => {
  metrics.serviceChangesTotal.inc(3);
  const r = await fetch((await base) + '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await r.text();
  assert.match(text, /^kubeproxy_sync_proxy_rules_service_changes_total 3$/m);
  assert.match(text, /^# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram$/m);
});

test('/proxyMode is the bare mode string', async () => {
  const r = await fetch((await base) + '/proxyMode');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/plain; charset=utf-8');
  assert.equal(await r.text(), 'nftables');
});

test('/healthz is ok; /configz wraps the configuration; /debug/state is JSON; others 404', async () => {
  const h = await fetch((await base) + '/healthz');
  assert.equal(h.status, 200);
  assert.equal(await h.text(), 'ok');
  const c = await fetch((await base) + '/configz');
  assert.equal(c.headers.get('content-type'), 'application/json');
  const cfg = (await c.json()) as Record<string, { mode: string; kind: string }>;
  assert.deepEqual(Object.keys(cfg), ['kubeproxy.config.k8s.io']);
  assert.equal(cfg['kubeproxy.config.k8s.io']!.mode, 'nftables');
  assert.equal(cfg['kubeproxy.config.k8s.io']!.kind, 'KubeProxyConfiguration');
  const d = await fetch((await base) + '/debug/state');
  assert.deepEqual(await d.json(), { families: { IPv4: { services: {} } } });
  for (const p of ['/', '/metricsx', '/debug/pprof/']) {
    const r = await fetch((await base) + p);
    assert.equal(r.status, 404, p);
    await r.text();
  }
});

test('/metrics carries process_* values and kubernetes_build_info with upstream labels', async () => {
  const text = await (await fetch((await base) + '/metrics')).text();
  const start = /^process_start_time_seconds (\d+)/m.exec(text);
  assert.ok(start && Math.abs(Number(start[1]) - Date.now() / 1000) < 3600, 'process start time is now-ish');
  assert.match(text, /^process_resident_memory_bytes [1-9]\d*/m);
  assert.match(text, /^kubernetes_build_info\{major="1",minor="35",git_version="v[^"]+",git_commit="",git_tree_state="",build_date="",go_version="",compiler="node",platform="linux\/[a-z0-9]+"\} 1$/m);
});

test('/metrics/slis: the healthz ping check as upstream records it; DELETE resets', async () => {
  const b = await base;
  await (await fetch(b + '/metrics/slis', { method: 'DELETE' })).text();
  const empty = await (await fetch(b + '/metrics/slis')).text();
  assert.doesNotMatch(empty, /^kubernetes_healthcheck\{/m);
  for (let i = 0; i < 2; i++) await (await fetch(b + '/healthz')).text();
  await (await fetch(b + '/healthz/ping')).text(); // a single check's path is not recorded
  const r = await fetch(b + '/metrics/slis');
  assert.equal(r.status, 200);
  const text = await r.text();
  assert.match(text, /^# TYPE kubernetes_healthcheck gauge$/m);
  assert.match(text, /^kubernetes_healthcheck\{name="ping",type="healthz"\} 1$/m);
  assert.match(text, /^kubernetes_healthchecks_total\{name="ping",status="success",type="healthz"\} 2$/m);
  // The SLIs are a registry of their own, as upstream's: not in /metrics.
  assert.doesNotMatch(await (await fetch(b + '/metrics')).text(), /^kubernetes_healthcheck/m);
  const del = await fetch(b + '/metrics/slis', { method: 'DELETE' });
  assert.equal(await del.text(), 'metrics reset\n');
  assert.doesNotMatch(await (await fetch(b + '/metrics/slis')).text(), /^kubernetes_healthchecks_total\{/m);
});
