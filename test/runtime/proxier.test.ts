// Proxier orchestration with a recording fake dataplane and the real model: readiness gating, full vs
// partial syncs, failure -> full retry, drift, conntrack trigger, health check ports, metrics, debug view.

import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { parseCommandLine } from '../../src/config/options.js';
import type { ProxyOptions } from '../../src/config/types.js';
import type { Dataplane, SyncOptions } from '../../src/dataplane/types.js';
import { debugStateView } from '../../src/debug/state.js';
import { ProxyHealth } from '../../src/health/proxy-health.js';
import { ServiceHealthServer } from '../../src/health/service-health.js';
import { configureLogging } from '../../src/log/logger.js';
import { metrics } from '../../src/metrics/metrics.js';
import { ServiceModel } from '../../src/model/tracker.js';
import type { ProxyState } from '../../src/model/types.js';
import type { DataplaneConfig } from '../../src/dataplane/config.js';
import type { LocalAddress } from '../../src/node/addresses.js';
import { Proxier } from '../../src/proxy/proxier.js';
import { eventually, serviceObject, sliceObject } from './fixtures.js';

configureLogging({ sink: () => undefined });

interface Call {
  family: string;
  full: boolean;
  state: ProxyState;
}

class FakeDataplane implements Dataplane {
  readonly mode = 'nftables' as const;
  constructor(
    readonly cfg: DataplaneConfig,
    readonly calls: Call[],
    readonly ctl: { failNext: number; drift: boolean },
  ) {}
  get family() {
    return this.cfg.family;
  }
  async sync(state: ProxyState, opts: SyncOptions) {
    if (this.ctl.failNext > 0) {
      this.ctl.failNext--;
      throw new Error('injected failure');
    }
    this.calls.push({ family: this.family, full: opts.full, state });
    return { full: opts.full, operations: 1, toolMillis: 0 };
  }
  async detectDrift() {
    const d = this.ctl.drift;
    this.ctl.drift = false;
    return d;
  }
  render(state: ProxyState) {
    return [...state.services.keys()].join('\n');
  }
  async cleanup() {}
}

/** A loopback TCP port that was free a moment ago (for health check NodePorts). */
async function freePort(): Promise<number> {
  const srv = http.createServer();
  await new Promise<void>((r) => srv.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

const LOCAL: LocalAddress[] = [
  { ip: '198.18.0.1', family: 'IPv4', iface: 'eth0', loopback: false, linkLocal: false },
  { ip: '127.0.0.1', family: 'IPv4', iface: 'lo', loopback: true, linkLocal: false },
];

async function options(extra: string[] = []): Promise<ProxyOptions> {
  const r = await parseCommandLine(['--proxy-mode=nftables', '--hostname-override=node-a', ...extra]);
  assert.equal(r.kind, 'run');
  if (r.kind !== 'run') throw new Error('unreachable');
  return { ...r.options, syncPeriodMs: 300, minSyncPeriodMs: 0 };
}

function setup(o: ProxyOptions, extra: { serviceHealth?: ServiceHealthServer; families?: ('IPv4' | 'IPv6')[] } = {}) {
  const calls: Call[] = [];
  const ctl = { failNext: 0, drift: false };
  const cleanups: ProxyState[] = [];
  const health = new ProxyHealth(2 * o.syncPeriodMs);
  const proxier = new Proxier({
    options: o,
    model: new ServiceModel({ nodeName: 'node-a' }),
    factory: (cfg) => new FakeDataplane(cfg, calls, ctl),
    health,
    families: extra.families ?? ['IPv4'],
    localAddresses: async () => LOCAL,
    conntrackCleanup: async (s) => void cleanups.push(s),
    serviceHealth: extra.serviceHealth ?? null,
    eligibleWithoutNode: true,
  });
  return { proxier, calls, ctl, cleanups, health };
}

test('nothing is programmed until Services and EndpointSlices are synced; then a full sync', async () => {
  const { proxier, calls } = setup(await options());
  proxier.start();
  try {
    proxier.onEvent('Service', 'ADDED', serviceObject({ name: 'web', clusterIP: '198.19.0.10', port: 80 }));
    proxier.onEvent('EndpointSlice', 'ADDED', sliceObject('web', 8080, [{ ip: '198.18.100.2' }]));
    proxier.onSynced('Service');
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(calls.length, 0, 'not initialized: no sync, not even the periodic one');
    proxier.onSynced('EndpointSlice');
    await eventually(async () => calls.length >= 1, 'first sync');
    assert.equal(calls[0]!.full, true);
    const sp = calls[0]!.state.services.get('default/web:p/TCP');
    assert.ok(sp, 'service programmed');
    assert.deepEqual(sp.clusterEndpoints.map((e) => `${e.ip}:${e.port}`), ['198.18.100.2:8080']);
    // Upstream detectNodeIPs: no Node object and no --bind-address -> loopback, never an interface address;
    // `primary` with a loopback node IP adds no CIDR, so NodePorts match all local addresses.
    assert.deepEqual(calls[0]!.state.node.ips, ['127.0.0.1'], 'loopback node IP (no Node object)');
    assert.deepEqual(calls[0]!.state.nodePortAddresses, { matchAll: true }, 'nftables default primary, loopback node IP');
  } finally {
    await proxier.stop();
  }
});

test('an endpoint change is a partial sync; pending metrics reset; debug view shows endpoints', async () => {
  const { proxier, calls } = setup(await options());
  proxier.start();
  try {
    proxier.onEvent('Service', 'ADDED', serviceObject({ name: 'web', clusterIP: '198.19.0.10', port: 80 }));
    proxier.onSynced('Service');
    proxier.onSynced('EndpointSlice');
    await eventually(async () => calls.length >= 1, 'first sync');
    const totalBefore = (await metrics.endpointChangesTotal.get()).values[0]?.value ?? 0;
    proxier.onEvent('EndpointSlice', 'ADDED', sliceObject('web', 8080, [{ ip: '198.18.100.2' }, { ip: '198.18.100.3' }]));
    await eventually(async () => calls.some((c) => c.state.services.get('default/web:p/TCP')?.clusterEndpoints.length === 2), 'endpoints synced');
    const last = calls[calls.length - 1]!;
    assert.equal(last.full, false);
    assert.equal((await metrics.endpointChangesTotal.get()).values[0]?.value, totalBefore + 1);
    assert.equal((await metrics.endpointChangesPending.get()).values[0]?.value, 0);
    const dbg = debugStateView(proxier.debugSource()) as { initialized: boolean; families: Record<string, { services: Record<string, { clusterEndpoints: string[] }> }> };
    assert.equal(dbg.initialized, true);
    assert.deepEqual(dbg.families.IPv4!.services['default/web:p/TCP']!.clusterEndpoints, ['198.18.100.2:8080', '198.18.100.3:8080']);
    const ts = (await metrics.syncProxyRulesLastTimestamp.get()).values.find((v) => v.labels.ip_family === 'IPv4')?.value ?? 0;
    assert.ok(Math.abs(ts - Date.now() / 1000) < 10);
  } finally {
    await proxier.stop();
  }
});

test('a failed sync is retried within about a second, as a full sync', async () => {
  const { proxier, calls, ctl, health } = setup({ ...(await options()), syncPeriodMs: 60_000 });
  proxier.start();
  try {
    proxier.onSynced('Service');
    proxier.onSynced('EndpointSlice');
    await eventually(async () => calls.length >= 1, 'first sync');
    ctl.failNext = 1;
    const t0 = Date.now();
    proxier.onEvent('Service', 'ADDED', serviceObject({ name: 'dns', clusterIP: '198.19.0.53', port: 53, protocol: 'UDP' }));
    await eventually(async () => calls.length >= 2, 'retry after failure', 10_000);
    const took = Date.now() - t0;
    assert.ok(took >= 900 && took < 6000, `retried after ${took} ms`);
    assert.equal(calls[1]!.full, true, 'sync after a failure is full');
    assert.ok(calls[1]!.state.services.has('default/dns:p/UDP'));
    assert.equal(health.isHealthy(), true);
  } finally {
    await proxier.stop();
  }
});

test('drift detected on a periodic run forces a full sync', async () => {
  const { proxier, calls, ctl } = setup(await options());
  proxier.start();
  try {
    proxier.onSynced('Service');
    proxier.onSynced('EndpointSlice');
    await eventually(async () => calls.length >= 1, 'first sync');
    await eventually(async () => calls.length >= 2, 'periodic run');
    assert.equal(calls[1]!.full, false, 'periodic run without drift is partial');
    ctl.drift = true;
    const n = calls.length;
    await eventually(async () => calls.length > n + 1, 'periodic runs');
    assert.ok(calls.slice(n).some((c) => c.full), 'drift -> full');
  } finally {
    await proxier.stop();
  }
});

test('UDP endpoint changes trigger conntrack cleanup; TCP-only changes do not', async () => {
  const { proxier, calls, cleanups } = setup(await options());
  proxier.start();
  try {
    proxier.onEvent('Service', 'ADDED', serviceObject({ name: 'web', clusterIP: '198.19.0.10', port: 80 }));
    proxier.onEvent('Service', 'ADDED', serviceObject({ name: 'dns', clusterIP: '198.19.0.53', port: 53, protocol: 'UDP' }));
    proxier.onSynced('Service');
    proxier.onSynced('EndpointSlice');
    await eventually(async () => calls.length >= 1, 'first sync');
    const n = cleanups.length;
    proxier.onEvent('EndpointSlice', 'ADDED', sliceObject('web', 8080, [{ ip: '198.18.100.2' }]));
    await eventually(async () => calls.some((c) => (c.state.services.get('default/web:p/TCP')?.clusterEndpoints.length ?? 0) > 0), 'tcp sync');
    assert.equal(cleanups.length, n, 'no cleanup for TCP');
    proxier.onEvent('EndpointSlice', 'ADDED', sliceObject('dns', 5353, [{ ip: '198.18.100.4' }], { protocol: 'UDP' }));
    await eventually(async () => cleanups.length > n, 'cleanup after UDP change');
    assert.ok(cleanups[cleanups.length - 1]!.services.get('default/dns:p/UDP')?.clusterEndpoints.length === 1);
  } finally {
    await proxier.stop();
  }
});

test('LoadBalancer eTP=Local services get a health check port reporting local endpoints', async () => {
  const hc = await freePort();
  const shs = new ServiceHealthServer({ isHealthy: () => true });
  // nodePortAddresses 127.0.0.0/8 keeps the listener on loopback only.
  const { proxier } = setup(await options(['--nodeport-addresses=127.0.0.0/8']), { serviceHealth: shs });
  proxier.start();
  try {
    proxier.onEvent(
      'Service',
      'ADDED',
      serviceObject({ name: 'lb', clusterIP: '198.19.0.20', port: 80, type: 'LoadBalancer', nodePort: 30080, externalTrafficPolicy: 'Local', healthCheckNodePort: hc, lbIP: '198.18.50.1' }),
    );
    proxier.onEvent('EndpointSlice', 'ADDED', sliceObject('lb', 8080, [{ ip: '198.18.100.2', nodeName: 'node-a' }, { ip: '198.18.100.3', nodeName: 'node-b' }]));
    proxier.onSynced('Service');
    proxier.onSynced('EndpointSlice');
    const r = await eventually(async () => fetch(`http://127.0.0.1:${hc}/`), 'health check port');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-load-balancing-endpoint-weight'), '1');
    assert.match(await r.text(), /"localEndpoints": 1,/);
    proxier.onEvent('EndpointSlice', 'MODIFIED', sliceObject('lb', 8080, [{ ip: '198.18.100.3', nodeName: 'node-b' }]));
    await eventually(async () => (await fetch(`http://127.0.0.1:${hc}/`)).status === 503, 'no local endpoints -> 503');
    proxier.onEvent('Service', 'DELETED', serviceObject({ name: 'lb', clusterIP: '198.19.0.20', port: 80 }));
    await eventually(async () => shs.ports().size === 0, 'port closed after service deletion');
  } finally {
    await proxier.stop();
    await shs.close();
  }
});

test('ServiceCIDR objects fill the state of their family and trigger a sync; deleting one removes its ranges', async () => {
  const { proxier, calls } = setup(await options());
  proxier.start();
  const cidr = (name: string, cidrs: string[]): unknown => ({ apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: { name }, spec: { cidrs } });
  try {
    proxier.onEvent('ServiceCIDR', 'ADDED', cidr('kubernetes', ['198.19.0.0/16', '2001:db8:19::/112']));
    proxier.onSynced('Service');
    proxier.onSynced('EndpointSlice');
    await eventually(async () => calls.length >= 1, 'first sync');
    assert.deepEqual(calls[0]!.state.serviceCIDRs, ['198.19.0.0/16'], 'IPv4 proxier gets only the IPv4 range');
    const n = calls.length;
    proxier.onEvent('ServiceCIDR', 'ADDED', cidr('extra', ['198.18.64.0/24', '198.19.0.0/16']));
    await eventually(async () => calls.length > n, 'a ServiceCIDR change syncs');
    assert.deepEqual(calls[calls.length - 1]!.state.serviceCIDRs, ['198.18.64.0/24', '198.19.0.0/16']);
    proxier.onEvent('ServiceCIDR', 'DELETED', cidr('kubernetes', ['198.19.0.0/16', '2001:db8:19::/112']));
    await eventually(async () => calls[calls.length - 1]!.state.serviceCIDRs.length === 2, 'delete applied');
    assert.deepEqual(calls[calls.length - 1]!.state.serviceCIDRs, ['198.18.64.0/24', '198.19.0.0/16'], 'a range another object still names stays');
    proxier.onEvent('ServiceCIDR', 'DELETED', cidr('extra', []));
    await eventually(async () => calls[calls.length - 1]!.state.serviceCIDRs.length === 0, 'last range removed');
    assert.deepEqual((debugStateView(proxier.debugSource()) as { families: Record<string, { serviceCIDRs: string[] }> }).families.IPv4!.serviceCIDRs, []);
  } finally {
    await proxier.stop();
  }
});

test('dual-stack pod: the health check port counts local endpoints per family (1, not 2), as upstream', async () => {
  const hc = await freePort();
  const shs = new ServiceHealthServer({ isHealthy: () => true });
  const { proxier } = setup(await options(['--nodeport-addresses=127.0.0.0/8']), { serviceHealth: shs, families: ['IPv4', 'IPv6'] });
  proxier.start();
  try {
    const svc = serviceObject({ name: 'lb2', clusterIP: '198.19.0.21', port: 80, type: 'LoadBalancer', nodePort: 30081, externalTrafficPolicy: 'Local', healthCheckNodePort: hc });
    const spec = svc.spec as Record<string, unknown>;
    spec.clusterIPs = ['198.19.0.21', '2001:db8:19::21'];
    spec.ipFamilies = ['IPv4', 'IPv6'];
    spec.ipFamilyPolicy = 'RequireDualStack';
    proxier.onEvent('Service', 'ADDED', svc);
    // One pod with an address of each family, on this node.
    proxier.onEvent('EndpointSlice', 'ADDED', sliceObject('lb2', 8080, [{ ip: '198.18.100.2', nodeName: 'node-a' }], { sliceName: 'lb2-v4' }));
    proxier.onEvent('EndpointSlice', 'ADDED', sliceObject('lb2', 8080, [{ ip: '2001:db8:100::2', nodeName: 'node-a' }], { sliceName: 'lb2-v6' }));
    proxier.onSynced('Service');
    proxier.onSynced('EndpointSlice');
    const r = await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${hc}/`);
      return res.status === 200 ? res : false;
    }, 'health check port');
    assert.equal(r.headers.get('x-load-balancing-endpoint-weight'), '1');
    assert.match(await r.text(), /"localEndpoints": 1,/);
  } finally {
    await proxier.stop();
    await shs.close();
  }
});

test('metrics as upstream: service_changes_total counts once per family proxier; ipvs counts services without local endpoints, not ports', async () => {
  const lb = serviceObject({ name: 'lb3', clusterIP: '198.19.0.22', port: 80, type: 'LoadBalancer', nodePort: 30082, externalTrafficPolicy: 'Local', lbIP: '198.18.50.3' });
  const spec = lb.spec as { ports: Record<string, unknown>[] };
  spec.ports.push({ name: 'q', port: 81, protocol: 'TCP', targetPort: 81, nodePort: 30083 });
  const slice = sliceObject('lb3', 8080, [{ ip: '198.18.100.3', nodeName: 'node-b' }]);
  (slice.ports as unknown[]).push({ name: 'q', port: 8081, protocol: 'TCP' });
  const value = async (name: string, labels = ''): Promise<number> => {
    const m = (await metrics.noLocalEndpointsTotal.get()).values.find((v) => v.labels.traffic_policy === labels && v.labels.ip_family === 'IPv4');
    return name === 'noLocal' ? (m?.value ?? -1) : (await metrics.serviceChangesTotal.get()).values[0]?.value ?? 0;
  };
  for (const [mode, want] of [['nftables', 2], ['ipvs', 1]] as const) {
    const { proxier, calls } = setup(await options([`--proxy-mode=${mode}`]), { families: ['IPv4', 'IPv6'] });
    proxier.start();
    try {
      const before = await value('changes');
      proxier.onEvent('Service', 'ADDED', lb);
      assert.equal((await value('changes')) - before, 2, 'one Service event, two family proxiers');
      proxier.onEvent('EndpointSlice', 'ADDED', slice);
      proxier.onSynced('Service');
      proxier.onSynced('EndpointSlice');
      await eventually(async () => calls.some((c) => c.family === 'IPv4'), 'IPv4 sync');
      await eventually(async () => (await value('noLocal', 'external')) === want, `${mode}: external no-local count ${want}`);
    } finally {
      await proxier.stop();
    }
  }
});

test('--service-latency-top-n: changes are observed per service on /metrics; off by default', async () => {
  const { registry } = await import('../../src/metrics/metrics.js');
  const { SERVICE_LATENCY_METRIC } = await import('../../src/metrics/service-latency.js');
  const before = registry.getSingleMetric(SERVICE_LATENCY_METRIC);
  const off = setup(await options());
  off.proxier.start();
  await off.proxier.stop();
  if (!before) assert.equal(registry.getSingleMetric(SERVICE_LATENCY_METRIC), undefined, 'not registered unless asked for');

  const { proxier, calls } = setup(await options(['--service-latency-top-n=1']));
  proxier.start();
  try {
    proxier.onSynced('Service');
    proxier.onSynced('EndpointSlice');
    await eventually(async () => calls.length >= 1, 'first sync');
    proxier.onEvent('Service', 'ADDED', serviceObject({ name: 'lat-a', clusterIP: '198.19.0.70', port: 80 }));
    proxier.onEvent('EndpointSlice', 'ADDED', sliceObject('lat-a', 8080, [{ ip: '198.18.100.2' }]));
    proxier.onEvent('Service', 'ADDED', serviceObject({ name: 'lat-b', clusterIP: '198.19.0.71', port: 80 }));
    await eventually(async () => calls.some((c) => c.state.services.has('default/lat-b:p/TCP')), 'synced');
    const text = await registry.metrics();
    const counts = [...text.matchAll(new RegExp(`^${SERVICE_LATENCY_METRIC}_count\\{service="([^"]+)"\\} (\\d+)$`, 'gm'))].map((m) => `${m[1]}=${m[2]}`);
    // N = 1: the first service programmed takes the slot, the other goes to (other); one observation each.
    assert.equal(counts.length, 2, text);
    assert.ok(counts.includes('(other)=1'), counts.join(' '));
    assert.ok(counts.includes('default/lat-a=1') || counts.includes('default/lat-b=1'), counts.join(' '));
  } finally {
    await proxier.stop();
  }
});

test('start-up: the primary family is programmed first, the other family after it (also when it fails)', async () => {
  for (const failPrimary of [false, true]) {
    const o = await options();
    const events: string[] = [];
    let failed = false;
    const slow = (cfg: DataplaneConfig): Dataplane => ({
      mode: 'nftables',
      family: cfg.family,
      async sync(_state: ProxyState, opts: SyncOptions) {
        events.push(`${cfg.family} start`);
        await new Promise((r) => setTimeout(r, 150));
        if (failPrimary && cfg.family === 'IPv6' && !failed) {
          failed = true;
          events.push(`${cfg.family} failed`);
          throw new Error('injected failure');
        }
        events.push(`${cfg.family} end`);
        return { full: opts.full, operations: 1, toolMillis: 0 };
      },
      async detectDrift() {
        return false;
      },
      render: () => '',
      async cleanup() {},
    });
    const proxier = new Proxier({
      options: o,
      model: new ServiceModel({ nodeName: 'node-a' }),
      factory: slow,
      health: new ProxyHealth(2 * o.syncPeriodMs),
      families: ['IPv4', 'IPv6'],
      primary: 'IPv6',
      localAddresses: async () => LOCAL,
      conntrackCleanup: async () => undefined,
      serviceHealth: null,
      eligibleWithoutNode: true,
    });
    proxier.start();
    try {
      proxier.onSynced('Service');
      proxier.onSynced('EndpointSlice');
      await eventually(async () => events.includes('IPv4 end') && events.includes('IPv6 end'), 'both families programmed');
      const first = failPrimary ? 'IPv6 failed' : 'IPv6 end';
      assert.ok(events.indexOf(first) < events.indexOf('IPv4 start'), `primary first: ${events.join(', ')}`);
      assert.equal(events[0], 'IPv6 start');
    } finally {
      await proxier.stop();
    }
  }
});

test('an EndpointSlice change syncs its own family only (as upstream\'s metaproxier hands it to one proxier); a Service change syncs both', async () => {
  const o = { ...(await options()), syncPeriodMs: 60_000 };
  const { proxier, calls, health } = setup(o, { families: ['IPv4', 'IPv6'] });
  proxier.start();
  try {
    proxier.onEvent('Service', 'ADDED', serviceObject({ name: 'web', clusterIP: '198.19.0.10', port: 80 }));
    proxier.onSynced('Service');
    proxier.onSynced('EndpointSlice');
    await eventually(async () => calls.some((c) => c.family === 'IPv4') && calls.some((c) => c.family === 'IPv6'), 'first syncs');
    await new Promise((r) => setTimeout(r, 100));
    const n = calls.length;
    proxier.onEvent('EndpointSlice', 'ADDED', sliceObject('web', 8080, [{ ip: '198.18.100.2' }]));
    await eventually(async () => calls.slice(n).some((c) => c.family === 'IPv4'), 'IPv4 synced');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(calls.slice(n).map((c) => c.family), ['IPv4'], 'the IPv6 proxier had nothing to do and did not run');
    assert.equal(health.isHealthy(), true);
    const m = calls.length;
    proxier.onEvent('EndpointSlice', 'ADDED', sliceObject('web', 8080, [{ ip: '2001:db8::2' }], { sliceName: 'web-v6' }));
    await eventually(async () => calls.slice(m).some((c) => c.family === 'IPv6'), 'IPv6 synced');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(calls.slice(m).map((c) => c.family), ['IPv6']);
    const k = calls.length;
    proxier.onEvent('Service', 'MODIFIED', serviceObject({ name: 'web', clusterIP: '198.19.0.10', port: 81 }));
    await eventually(async () => new Set(calls.slice(k).map((c) => c.family)).size === 2, 'a Service change syncs both families');
  } finally {
    await proxier.stop();
  }
});
