// ServiceModel: events -> per-family ProxyState and StateChange.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceModel } from '../../src/model/tracker.js';
import type { ObjectKind } from '../../src/sources/types.js';
import { ctx4, ctx6, ep, node, slice, svc } from './fixtures.js';

function model(nodeName = 'node-a') {
  const invalid: { kind: ObjectKind; key: string; reason: string }[] = [];
  const m = new ServiceModel({ nodeName, onInvalid: (kind, key, reason) => invalid.push({ kind, key, reason }) });
  return { m, invalid };
}

test('a ClusterIP service with one slice becomes one ServicePort with sorted endpoints', () => {
  const { m } = model();
  assert.equal(m.onEvent('Service', 'ADDED', svc('web')), true);
  assert.equal(
    m.onEvent('EndpointSlice', 'ADDED', slice('web-abc', { endpoints: [ep('198.18.100.3', { nodeName: 'node-b' }), ep('198.18.100.10', { nodeName: 'node-a' })] })),
    true,
  );
  const { state, change } = m.build('IPv4', ctx4);
  assert.deepEqual([...state.services.keys()], ['ns/web:p/TCP']);
  const sp = state.services.get('ns/web:p/TCP')!;
  assert.equal(sp.spn, 'ns/web:p');
  assert.equal(sp.clusterIP, '198.19.0.1');
  assert.equal(sp.port, 80);
  // "198.18.100.10:8080" < "198.18.100.3:8080" as strings, as upstream sorts.
  assert.deepEqual(sp.endpoints.map((e) => `${e.ip}:${e.port}`), ['198.18.100.10:8080', '198.18.100.3:8080']);
  assert.deepEqual(sp.endpoints.map((e) => e.isLocal), [true, false]);
  assert.equal(sp.hasAnyEndpoints, true);
  assert.equal(sp.usesClusterEndpoints, true);
  assert.equal(sp.usesLocalEndpoints, false);
  assert.deepEqual(sp.localEndpoints, []);
  assert.equal(sp.clusterEndpoints.length, 2);
  assert.deepEqual([...change.changedKeys], ['ns/web:p/TCP']);
  assert.equal(state.generation, 1);
  assert.deepEqual(state.node.ips, ['198.18.0.1']);
  assert.equal(state.node.name, 'node-a');
  // The IPv6 family has nothing for a single-stack IPv4 service.
  assert.equal(m.build('IPv6', ctx6).state.services.size, 0);
});

test('unnamed port: spn has no port suffix, key has empty port name', () => {
  const { m } = model();
  m.onEvent('Service', 'ADDED', svc('web', { ports: [{ port: 80 }] }));
  m.onEvent('EndpointSlice', 'ADDED', slice('web-1', { ports: [{ name: '', port: 8080 }], endpoints: [ep('198.18.100.1')] }));
  const sp = m.build('IPv4', ctx4).state.services.get('ns/web:/TCP')!;
  assert.equal(sp.spn, 'ns/web');
  assert.equal(sp.protocol, 'TCP');
  assert.equal(sp.endpoints.length, 1);
});

test('services are skipped: ExternalName, headless, proxy-name and headless labels', () => {
  const { m, invalid } = model();
  assert.equal(m.onEvent('Service', 'ADDED', svc('a', { type: 'ExternalName', spec: { externalName: 'x.example' } })), false);
  assert.equal(m.onEvent('Service', 'ADDED', svc('b', { clusterIP: 'None' })), false);
  assert.equal(m.onEvent('Service', 'ADDED', svc('c', { clusterIP: '' })), false);
  assert.equal(m.onEvent('Service', 'ADDED', svc('d', { labels: { 'service.kubernetes.io/service-proxy-name': 'other' } })), false);
  assert.equal(m.onEvent('Service', 'ADDED', svc('e', { labels: { 'service.kubernetes.io/headless': '' } })), false);
  assert.equal(m.build('IPv4', ctx4).state.services.size, 0);
  assert.equal(invalid.length, 0);
});

test('a service that becomes skipped is removed', () => {
  const { m } = model();
  m.onEvent('Service', 'ADDED', svc('web'));
  m.build('IPv4', ctx4);
  assert.equal(m.onEvent('Service', 'MODIFIED', svc('web', { labels: { 'service.kubernetes.io/service-proxy-name': 'x' } })), true);
  const { state, change } = m.build('IPv4', ctx4);
  assert.equal(state.services.size, 0);
  assert.deepEqual([...change.changedKeys], ['ns/web:p/TCP']);
});

test('dual-stack: each family gets its own ClusterIP; other-family externalIPs, LB IPs and ranges are ignored', () => {
  const { m } = model();
  m.onEvent(
    'Service',
    'ADDED',
    svc('ds', {
      type: 'LoadBalancer',
      clusterIP: '198.19.0.5',
      clusterIPs: ['198.19.0.5', '2001:db8:19::5'],
      ipFamilies: ['IPv4', 'IPv6'],
      ports: [{ name: 'p', port: 80, nodePort: 30080 }],
      spec: { externalIPs: ['198.18.60.1', '2001:db8::1'], loadBalancerSourceRanges: ['198.18.0.0/16', '2001:db8::/32'] },
      status: { loadBalancer: { ingress: [{ ip: '198.18.50.1' }, { ip: '2001:DB8::2' }, { ip: '198.18.50.9', ipMode: 'Proxy' }, { hostname: 'lb.example' }] } },
    }),
  );
  const v4 = m.build('IPv4', ctx4).state.services.get('ns/ds:p/TCP')!;
  const v6 = m.build('IPv6', ctx6).state.services.get('ns/ds:p/TCP')!;
  assert.equal(v4.clusterIP, '198.19.0.5');
  assert.equal(v6.clusterIP, '2001:db8:19::5');
  assert.deepEqual(v4.externalIPs, ['198.18.60.1']);
  assert.deepEqual(v6.externalIPs, ['2001:db8::1']);
  assert.deepEqual(v4.loadBalancerIPs, ['198.18.50.1']);
  assert.deepEqual(v6.loadBalancerIPs, ['2001:db8::2']);
  assert.deepEqual(v4.loadBalancerSourceRanges, ['198.18.0.0/16']);
  assert.deepEqual(v6.loadBalancerSourceRanges, ['2001:db8::/32']);
  assert.equal(v4.family, 'IPv4');
  assert.equal(v6.family, 'IPv6');
});

test('IPv6-only service is absent from the IPv4 state', () => {
  const { m } = model();
  m.onEvent('Service', 'ADDED', svc('v6', { clusterIP: '2001:db8:19::10', clusterIPs: ['2001:db8:19::10'], ipFamilies: ['IPv6'] }));
  assert.equal(m.build('IPv4', ctx4).state.services.size, 0);
  assert.equal(m.build('IPv6', ctx6).state.services.size, 1);
});

test('legacy service without ipFamilies uses the family of spec.clusterIP', () => {
  const { m } = model();
  m.onEvent('Service', 'ADDED', svc('old', { clusterIP: '2001:db8:19::1' }));
  assert.equal(m.build('IPv4', ctx4).state.services.size, 0);
  assert.equal(m.build('IPv6', ctx6).state.services.get('ns/old:p/TCP')!.clusterIP, '2001:db8:19::1');
});

test('sloppy IPs are normalised (upstream nftables TestBadIPs), source ranges trimmed and masked', () => {
  const { m, invalid } = model();
  m.onEvent(
    'Service',
    'ADDED',
    svc('bad', {
      type: 'LoadBalancer',
      clusterIP: '198.19.0.041',
      ports: [{ name: 'p', port: 80, nodePort: 3001 }],
      spec: { externalIPs: ['198.18.99.011'], loadBalancerSourceRanges: [' 198.18.113.0/25 ', '198.19.2.3/15'] },
      status: { loadBalancer: { ingress: [{ ip: '198.18.50.004' }] } },
    }),
  );
  assert.deepEqual(invalid, []);
  const sp = m.build('IPv4', ctx4).state.services.get('ns/bad:p/TCP')!;
  assert.equal(sp.clusterIP, '198.19.0.41');
  assert.deepEqual(sp.externalIPs, ['198.18.99.11']);
  assert.deepEqual(sp.loadBalancerIPs, ['198.18.50.4']);
  assert.deepEqual(sp.loadBalancerSourceRanges, ['198.18.113.0/25', '198.18.0.0/15']);
});

test('service fields: affinity default 10800, healthCheckNodePort only for LB + eTP Local, flags', () => {
  const { m } = model();
  m.onEvent('Service', 'ADDED', svc('aff', { spec: { sessionAffinity: 'ClientIP' } }));
  m.onEvent('Service', 'ADDED', svc('aff2', { spec: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } } }));
  m.onEvent(
    'Service',
    'ADDED',
    svc('lb', { type: 'LoadBalancer', ports: [{ name: 'p', port: 80, nodePort: 30001 }], spec: { externalTrafficPolicy: 'Local', healthCheckNodePort: 32000 } }),
  );
  m.onEvent(
    'Service',
    'ADDED',
    svc('np', { type: 'NodePort', ports: [{ name: 'p', port: 80, nodePort: 30002 }], spec: { externalTrafficPolicy: 'Local', healthCheckNodePort: 32001 } }),
  );
  // eTP Local on a ClusterIP service without external IPs is meaningless (apiservice.ExternalPolicyLocal).
  m.onEvent('Service', 'ADDED', svc('cip', { spec: { externalTrafficPolicy: 'Local', internalTrafficPolicy: 'Local' } }));
  const s = m.build('IPv4', ctx4).state.services;
  assert.equal(s.get('ns/aff:p/TCP')!.affinityTimeoutSeconds, 10800);
  assert.equal(s.get('ns/aff2:p/TCP')!.affinityTimeoutSeconds, 60);
  const lb = s.get('ns/lb:p/TCP')!;
  assert.equal(lb.affinityTimeoutSeconds, 0);
  assert.equal(lb.healthCheckNodePort, 32000);
  assert.equal(lb.externalPolicyLocal, true);
  assert.equal(lb.externallyAccessible, true);
  assert.equal(lb.usesClusterEndpoints, true);
  assert.equal(lb.usesLocalEndpoints, true);
  const np = s.get('ns/np:p/TCP')!;
  assert.equal(np.healthCheckNodePort, 0);
  assert.equal(np.externalPolicyLocal, true);
  const cip = s.get('ns/cip:p/TCP')!;
  assert.equal(cip.externalPolicyLocal, false);
  assert.equal(cip.internalPolicyLocal, true);
  assert.equal(cip.externallyAccessible, false);
  assert.equal(cip.usesClusterEndpoints, false);
  assert.equal(cip.usesLocalEndpoints, true);
});

test('slice ports are matched by name and protocol, not number; nil-name and zero ports ignored', () => {
  const { m } = model();
  m.onEvent(
    'Service',
    'ADDED',
    svc('multi', {
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        { name: 'x', port: 99, protocol: 'TCP' },
      ],
    }),
  );
  m.onEvent(
    'EndpointSlice',
    'ADDED',
    slice('multi-1', {
      ports: [
        { name: 'dns', port: 5353, protocol: 'UDP' },
        { name: 'dns-tcp', port: 5354, protocol: 'TCP' },
        { name: 'dns', port: 9999, protocol: 'TCP' }, // name matches, protocol does not
        { port: 7777, protocol: 'TCP' }, // nil name
        { name: 'x', port: 0, protocol: 'TCP' }, // zero port
      ],
      endpoints: [ep('198.18.100.1')],
    }),
  );
  const s = m.build('IPv4', ctx4).state.services;
  assert.deepEqual(s.get('ns/multi:dns/UDP')!.endpoints.map((e) => e.port), [5353]);
  assert.deepEqual(s.get('ns/multi:dns-tcp/TCP')!.endpoints.map((e) => e.port), [5354]);
  assert.deepEqual(s.get('ns/multi:x/TCP')!.endpoints, []);
  assert.equal(s.get('ns/multi:x/TCP')!.hasAnyEndpoints, false);
});

test('slices of a service are merged; duplicates: first wins unless a later copy is not terminating', () => {
  const { m } = model();
  m.onEvent('Service', 'ADDED', svc('web'));
  m.onEvent(
    'EndpointSlice',
    'ADDED',
    slice('web-a', { endpoints: [ep('198.18.100.1', { ready: false, serving: true, terminating: true, nodeName: 'old' }), ep('198.18.100.2', { nodeName: 'first' })] }),
  );
  m.onEvent(
    'EndpointSlice',
    'ADDED',
    slice('web-b', {
      endpoints: [ep('198.18.100.1', { ready: true, nodeName: 'new' }), ep('198.18.100.2', { ready: false, terminating: true, nodeName: 'second' }), ep('198.18.100.3')],
    }),
  );
  const sp = m.build('IPv4', ctx4).state.services.get('ns/web:p/TCP')!;
  assert.deepEqual(sp.endpoints.map((e) => [e.ip, e.nodeName]), [
    ['198.18.100.1', 'new'],
    ['198.18.100.2', 'first'],
    ['198.18.100.3', ''],
  ]);
});

test('endpoint conditions default as upstream: ready/serving nil=true, terminating nil=false', () => {
  const { m } = model();
  m.onEvent('Service', 'ADDED', svc('web'));
  m.onEvent(
    'EndpointSlice',
    'ADDED',
    slice('web-a', {
      endpoints: [ep('198.18.100.1'), ep('198.18.100.2', { ready: null, serving: null, terminating: null }), ep('198.18.100.3', { ready: false, serving: false, terminating: true })],
    }),
  );
  const eps = m.build('IPv4', ctx4).state.services.get('ns/web:p/TCP')!.endpoints;
  assert.deepEqual(eps.map((e) => [e.ready, e.serving, e.terminating]), [
    [true, true, false],
    [true, true, false],
    [false, false, true],
  ]);
});

test('slices of the other address type and FQDN slices are ignored; first address only; IPv6 normalised', () => {
  const { m, invalid } = model();
  m.onEvent('Service', 'ADDED', svc('ds', { clusterIPs: ['198.19.0.1', '2001:db8:19::1'], ipFamilies: ['IPv4', 'IPv6'] }));
  m.onEvent('EndpointSlice', 'ADDED', slice('ds-4', { endpoints: [ep(['198.18.100.1', '198.18.100.99'])] }));
  m.onEvent('EndpointSlice', 'ADDED', slice('ds-6', { addressType: 'IPv6', endpoints: [ep('2001:DB8:100:0::0A')] }));
  assert.equal(m.onEvent('EndpointSlice', 'ADDED', slice('ds-f', { addressType: 'FQDN', endpoints: [ep('198.18.100.5')] })), false);
  assert.deepEqual(invalid, []);
  const v4 = m.build('IPv4', ctx4).state.services.get('ns/ds:p/TCP')!;
  const v6 = m.build('IPv6', ctx6).state.services.get('ns/ds:p/TCP')!;
  assert.deepEqual(v4.endpoints.map((e) => e.ip), ['198.18.100.1']);
  assert.deepEqual(v6.endpoints.map((e) => e.ip), ['2001:db8:100::a']);
});

test('zone hints use the Node zone label; node labels change → topologyChanged and reselection', () => {
  const { m } = model();
  m.onEvent('Node', 'ADDED', node('node-a', { 'topology.kubernetes.io/zone': 'zone-a', 'kubernetes.io/hostname': 'node-a' }));
  m.onEvent('Service', 'ADDED', svc('web'));
  m.onEvent('EndpointSlice', 'ADDED', slice('web-1', { endpoints: [ep('198.18.100.1', { zones: ['zone-a'] }), ep('198.18.100.2', { zones: ['zone-b'] })] }));
  const first = m.build('IPv4', ctx4);
  assert.equal(first.change.topologyChanged, false);
  assert.deepEqual(first.state.node.labels, { 'topology.kubernetes.io/zone': 'zone-a', 'kubernetes.io/hostname': 'node-a' });
  assert.deepEqual(first.state.services.get('ns/web:p/TCP')!.clusterEndpoints.map((e) => e.ip), ['198.18.100.1']);
  // Unrelated label churn is not a change.
  assert.equal(m.onEvent('Node', 'MODIFIED', node('node-a', { 'topology.kubernetes.io/zone': 'zone-a', 'kubernetes.io/hostname': 'node-a', other: 'x' })), false);
  assert.equal(m.onEvent('Node', 'MODIFIED', node('node-a', { 'topology.kubernetes.io/zone': 'zone-b', 'kubernetes.io/hostname': 'node-a' })), true);
  const second = m.build('IPv4', ctx4);
  assert.equal(second.change.topologyChanged, true);
  assert.deepEqual(second.state.services.get('ns/web:p/TCP')!.clusterEndpoints.map((e) => e.ip), ['198.18.100.2']);
  assert.deepEqual([...second.change.changedKeys], ['ns/web:p/TCP']);
  assert.equal(m.build('IPv4', ctx4).change.topologyChanged, false);
  // Other nodes are ignored.
  assert.equal(m.onEvent('Node', 'MODIFIED', node('node-z', { 'topology.kubernetes.io/zone': 'zone-q' })), false);
  assert.equal((m.node() as { metadata: { name: string } }).metadata.name, 'node-a');
  assert.equal(m.onEvent('Node', 'DELETED', node('node-a')), true);
  assert.equal(m.node(), null);
});

test('PreferSameNode through the model: node hints for this node select only those endpoints', () => {
  const { m } = model();
  m.onEvent('Service', 'ADDED', svc('web', { spec: { trafficDistribution: 'PreferSameNode' } }));
  m.onEvent(
    'EndpointSlice',
    'ADDED',
    slice('web-1', { endpoints: [ep('198.18.100.1', { nodes: ['node-a'], nodeName: 'node-a' }), ep('198.18.100.2', { nodes: ['node-b'], nodeName: 'node-b' })] }),
  );
  const sp = m.build('IPv4', ctx4).state.services.get('ns/web:p/TCP')!;
  assert.equal(sp.trafficDistribution, 'PreferSameNode');
  assert.deepEqual(sp.clusterEndpoints.map((e) => e.ip), ['198.18.100.1']);
  assert.deepEqual(sp.endpoints[0]!.nodeHints, ['node-a']);
});

test('unchanged ServicePorts keep their identity; only the dirty service is recomputed', () => {
  const { m } = model();
  for (let i = 0; i < 50; i++) {
    m.onEvent('Service', 'ADDED', svc(`s${i}`, { clusterIP: `198.19.1.${i}` }));
    m.onEvent('EndpointSlice', 'ADDED', slice(`s${i}-x`, { endpoints: [ep(`198.18.${i}.1`), ep(`198.18.${i}.2`)] }));
  }
  const a = m.build('IPv4', ctx4).state;
  assert.equal(a.services.size, 50);
  m.onEvent('EndpointSlice', 'MODIFIED', slice('s7-x', { endpoints: [ep('198.18.7.1')] }));
  const { state: b, change } = m.build('IPv4', ctx4);
  assert.deepEqual([...change.changedKeys], ['ns/s7:p/TCP']);
  for (const [k, sp] of b.services) {
    if (k === 'ns/s7:p/TCP') assert.notEqual(sp, a.services.get(k));
    else assert.equal(sp, a.services.get(k), k);
  }
  assert.equal(b.services.get('ns/s7:p/TCP')!.endpoints.length, 1);
  // A rebuild with nothing dirty hands back the very same map.
  const c = m.build('IPv4', ctx4);
  assert.equal(c.state.services, b.services);
  assert.equal(c.change.changedKeys.size, 0);
  assert.equal(c.state.generation, b.generation + 1);
});

test('an update that changes nothing returns false and changes nothing', () => {
  const { m } = model();
  assert.equal(m.onEvent('Service', 'ADDED', svc('web', { resourceVersion: '1' })), true);
  assert.equal(m.onEvent('EndpointSlice', 'ADDED', slice('web-1', { endpoints: [ep('198.18.100.1')] })), true);
  const a = m.build('IPv4', ctx4).state;
  assert.equal(m.onEvent('Service', 'MODIFIED', svc('web', { resourceVersion: '2' })), false);
  assert.equal(m.onEvent('EndpointSlice', 'MODIFIED', slice('web-1', { endpoints: [ep('198.18.100.1')] })), false);
  // A semantically equal but textually different slice (sloppy IP) is also a no-op.
  assert.equal(m.onEvent('EndpointSlice', 'MODIFIED', slice('web-1', { endpoints: [ep('198.18.100.001')] })), false);
  const b = m.build('IPv4', ctx4);
  assert.equal(b.state.services, a.services);
  assert.equal(b.change.changedKeys.size, 0);
});

test('state.services iterates sorted by key whatever the event order', () => {
  const { m } = model();
  const names = ['zeta', 'alpha', 'mid', 'beta'];
  for (const n of names) m.onEvent('Service', 'ADDED', svc(n, { ports: [{ name: 'b', port: 2 }, { name: 'a', port: 1 }] }));
  const keys = [...m.build('IPv4', ctx4).state.services.keys()];
  assert.deepEqual(keys, [...keys].sort());
  assert.equal(keys.length, 8);
  m.onEvent('Service', 'ADDED', svc('gamma'));
  m.onEvent('Service', 'DELETED', svc('beta'));
  const keys2 = [...m.build('IPv4', ctx4).state.services.keys()];
  assert.deepEqual(keys2, [...keys2].sort());
  assert.ok(keys2.includes('ns/gamma:p/TCP'));
  assert.ok(!keys2.some((k) => k.startsWith('ns/beta:')));
});

test('conntrackCleanupRequired: UDP endpoint change, UDP add/remove; not for TCP', () => {
  const { m } = model();
  m.onEvent('Service', 'ADDED', svc('dns', { ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] }));
  m.onEvent('Service', 'ADDED', svc('web'));
  assert.equal(m.build('IPv4', ctx4).change.conntrackCleanupRequired, true); // UDP port added
  m.onEvent('EndpointSlice', 'ADDED', slice('web-1', { endpoints: [ep('198.18.100.1')] }));
  assert.equal(m.build('IPv4', ctx4).change.conntrackCleanupRequired, false);
  m.onEvent('EndpointSlice', 'ADDED', slice('dns-1', { ports: [{ name: 'dns', port: 53, protocol: 'UDP' }], endpoints: [ep('198.18.100.9')] }));
  assert.equal(m.build('IPv4', ctx4).change.conntrackCleanupRequired, true);
  m.onEvent('Service', 'DELETED', svc('dns'));
  const r = m.build('IPv4', ctx4);
  assert.equal(r.change.conntrackCleanupRequired, true);
  assert.deepEqual([...r.change.changedKeys], ['ns/dns:dns/UDP']);
});

test('triggerTimes: annotations of slices changed since the previous build of that family; not deletions', () => {
  const { m } = model();
  const t1 = '2026-11-25T10:00:00Z';
  const t2 = '2026-11-25T10:00:05.5+00:00';
  m.onEvent('Service', 'ADDED', svc('web', { clusterIPs: ['198.19.0.1', '2001:db8:19::1'], ipFamilies: ['IPv4', 'IPv6'] }));
  m.onEvent('EndpointSlice', 'ADDED', slice('web-1', { endpoints: [ep('198.18.100.1')], annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': t1 } }));
  m.onEvent(
    'EndpointSlice',
    'ADDED',
    slice('web-6', { addressType: 'IPv6', endpoints: [ep('2001:db8:100::1')], annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': t2 } }),
  );
  m.onEvent('EndpointSlice', 'ADDED', slice('web-2', { endpoints: [ep('198.18.100.2')], annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': 'garbage' } }));
  assert.deepEqual(m.build('IPv4', ctx4).change.triggerTimes.map((d) => d.toISOString()), ['2026-11-25T10:00:00.000Z']);
  assert.deepEqual(m.build('IPv6', ctx6).change.triggerTimes.map((d) => d.toISOString()), ['2026-11-25T10:00:05.500Z']);
  assert.deepEqual(m.build('IPv4', ctx4).change.triggerTimes, []);
  m.onEvent('EndpointSlice', 'DELETED', slice('web-1', { annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': t1 } }));
  assert.deepEqual(m.build('IPv4', ctx4).change.triggerTimes, []);
});

test('localReadyEndpoints counts distinct ready local IPs over all ports and both families', () => {
  const { m } = model();
  m.onEvent('Service', 'ADDED', svc('lb', { clusterIPs: ['198.19.0.1', '2001:db8:19::1'], ipFamilies: ['IPv4', 'IPv6'], ports: [{ name: 'a', port: 1 }, { name: 'b', port: 2 }] }));
  m.onEvent(
    'EndpointSlice',
    'ADDED',
    slice('lb-1', {
      ports: [{ name: 'a', port: 1 }, { name: 'b', port: 2 }],
      endpoints: [
        ep('198.18.100.1', { nodeName: 'node-a' }),
        ep('198.18.100.2', { nodeName: 'node-a', ready: false, serving: true, terminating: true }),
        ep('198.18.100.3', { nodeName: 'node-b' }),
        ep('198.18.100.4', { nodeName: 'node-a' }),
      ],
    }),
  );
  m.onEvent('EndpointSlice', 'ADDED', slice('lb-6', { addressType: 'IPv6', ports: [{ name: 'a', port: 1 }], endpoints: [ep('2001:db8:100::1', { nodeName: 'node-a' })] }));
  assert.equal(m.localReadyEndpoints('ns', 'lb'), 3);
  assert.equal(m.localReadyEndpoints('ns', 'nothing'), 0);
});

test('an empty nodeName is never local, even when this node has no name', () => {
  const { m } = model('');
  m.onEvent('Service', 'ADDED', svc('web', { spec: { internalTrafficPolicy: 'Local' } }));
  m.onEvent('EndpointSlice', 'ADDED', slice('web-1', { endpoints: [ep('198.18.100.1'), ep('198.18.100.2', { nodeName: '' })] }));
  const sp = m.build('IPv4', ctx4).state.services.get('ns/web:p/TCP')!;
  assert.deepEqual(sp.endpoints.map((e) => e.isLocal), [false, false]);
  assert.deepEqual(sp.localEndpoints, []);
  assert.equal(sp.hasAnyEndpoints, true);
});

test('a slice moving to another service updates both', () => {
  const { m } = model();
  m.onEvent('Service', 'ADDED', svc('a', { clusterIP: '198.19.0.1' }));
  m.onEvent('Service', 'ADDED', svc('b', { clusterIP: '198.19.0.2' }));
  m.onEvent('EndpointSlice', 'ADDED', slice('x-1', { service: 'a', endpoints: [ep('198.18.100.1')] }));
  m.build('IPv4', ctx4);
  m.onEvent('EndpointSlice', 'MODIFIED', slice('x-1', { service: 'b', endpoints: [ep('198.18.100.1')] }));
  const { state, change } = m.build('IPv4', ctx4);
  assert.deepEqual([...change.changedKeys].sort(), ['ns/a:p/TCP', 'ns/b:p/TCP']);
  assert.equal(state.services.get('ns/a:p/TCP')!.endpoints.length, 0);
  assert.equal(state.services.get('ns/b:p/TCP')!.endpoints.length, 1);
});

test('slices arriving before their service are used once it exists', () => {
  const { m } = model();
  m.onEvent('EndpointSlice', 'ADDED', slice('late-1', { endpoints: [ep('198.18.100.1')] }));
  assert.equal(m.build('IPv4', ctx4).state.services.size, 0);
  m.onEvent('Service', 'ADDED', svc('late'));
  assert.equal(m.build('IPv4', ctx4).state.services.get('ns/late:p/TCP')!.endpoints.length, 1);
});

test('build passes context through: serviceCIDRs, nodePortAddresses, node IPs of the family only', () => {
  const { m } = model();
  const { state } = m.build('IPv4', {
    nodeIPs: ['198.18.0.01', '2001:db8::1', 'junk'],
    nodePortAddresses: { matchAll: false, ips: ['198.18.0.1'] },
    serviceCIDRs: ['198.19.0.0/16', '2001:db8:19::/108', '198.19.0.1/15'],
  });
  assert.deepEqual(state.node.ips, ['198.18.0.1']);
  assert.deepEqual(state.nodePortAddresses, { matchAll: false, ips: ['198.18.0.1'] });
  // Only this family's, normalised to the network.
  assert.deepEqual(state.serviceCIDRs, ['198.19.0.0/16', '198.18.0.0/15']);
  assert.equal(state.family, 'IPv4');
});

test('ServicePorts, their lists and endpoints are frozen (states are shared between builds)', () => {
  const { m } = model();
  m.onEvent('Service', 'ADDED', svc('web', { spec: { externalIPs: ['198.18.60.1'] } }));
  m.onEvent('EndpointSlice', 'ADDED', slice('web-1', { endpoints: [ep('198.18.100.1', { zones: ['z'] })] }));
  const sp = m.build('IPv4', ctx4).state.services.get('ns/web:p/TCP')!;
  assert.throws(() => {
    (sp as { port: number }).port = 1;
  }, TypeError);
  assert.throws(() => (sp.endpoints as unknown[]).push(1), TypeError);
  assert.throws(() => (sp.clusterEndpoints as unknown[]).pop(), TypeError);
  assert.throws(() => (sp.externalIPs as unknown[]).push('x'), TypeError);
  assert.throws(() => {
    (sp.endpoints[0] as { ready: boolean }).ready = false;
  }, TypeError);
  assert.throws(() => (sp.endpoints[0]!.zoneHints as string[]).push('x'), TypeError);
});

test('a peek build does not swallow changes: they are carried into the next real build', () => {
  const { m } = model();
  m.onEvent('Service', 'ADDED', svc('dns', { ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] }));
  m.onEvent('EndpointSlice', 'ADDED', slice('dns-1', { ports: [{ name: 'dns', port: 53, protocol: 'UDP' }], endpoints: [ep('198.18.100.1')], annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': '2026-11-25T10:00:00Z' } }));
  const first = m.build('IPv4', ctx4);
  m.onEvent('EndpointSlice', 'MODIFIED', slice('dns-1', { ports: [{ name: 'dns', port: 53, protocol: 'UDP' }], endpoints: [ep('198.18.100.2')], annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': '2026-11-25T10:00:09Z' } }));
  const peek = m.build('IPv4', ctx4, { peek: true });
  assert.deepEqual([...peek.change.changedKeys], ['ns/dns:dns/UDP']);
  const real = m.build('IPv4', ctx4);
  assert.deepEqual([...real.change.changedKeys], ['ns/dns:dns/UDP']);
  assert.equal(real.change.conntrackCleanupRequired, true);
  assert.equal(real.change.triggerTimes.length, 1);
  assert.notEqual(real.state.services.get('ns/dns:dns/UDP'), first.state.services.get('ns/dns:dns/UDP'));
  // Carried once only.
  assert.equal(m.build('IPv4', ctx4).change.changedKeys.size, 0);
});

test('a family that is never built does not accumulate dirty keys', () => {
  const { m } = model();
  for (let i = 0; i < 100; i++) {
    m.onEvent('Service', 'ADDED', svc(`s${i}`, { clusterIP: `198.19.1.${i}` }));
    m.onEvent('Service', 'DELETED', svc(`s${i}`));
    m.build('IPv4', ctx4);
  }
  // Reach into the bookkeeping on purpose: this is about memory held, not about output.
  const fam = (m as unknown as { fam: Record<string, { dirty: Set<string> }> }).fam;
  assert.equal(fam.IPv6!.dirty.size, 0);
  assert.equal(fam.IPv4!.dirty.size, 0);
  m.onEvent('Service', 'ADDED', svc('late', { clusterIP: '198.19.0.9', clusterIPs: ['198.19.0.9', '2001:db8:19::9'], ipFamilies: ['IPv4', 'IPv6'] }));
  assert.deepEqual([...m.build('IPv6', ctx6).state.services.keys()], ['ns/late:p/TCP']);
});
