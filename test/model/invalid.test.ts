// Invalid-object policy: skipped, reported once per object version, never thrown, and an
// invalid update of a valid object removes it until a valid version returns.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceModel } from '../../src/model/tracker.js';
import type { ObjectKind } from '../../src/sources/types.js';
import { ctx4, ep, node, slice, svc } from './fixtures.js';

function model() {
  const invalid: { kind: ObjectKind; key: string; reason: string }[] = [];
  const m = new ServiceModel({ nodeName: 'node-a', onInvalid: (kind, key, reason) => invalid.push({ kind, key, reason }) });
  return { m, invalid };
}

function withSpec(extra: Record<string, unknown>, base = svc('bad')): Record<string, unknown> {
  return { ...base, spec: { ...(base.spec as Record<string, unknown>), ...extra } };
}

const badServices: [string, unknown, RegExp][] = [
  ['non-object', 42, /expected object/],
  ['array', [], /expected object/],
  ['null', null, /expected object/],
  ['missing metadata', { spec: {} }, /metadata: missing/],
  ['metadata not an object', { metadata: 'x' }, /metadata/],
  ['missing name', { metadata: { namespace: 'ns' }, spec: {} }, /metadata.name/],
  ['name not a DNS label', svc('Bad_Name'), /metadata.name/],
  ['name too long', svc('a'.repeat(64)), /metadata.name/],
  ['namespace not a DNS label', svc('ok', { ns: 'NS!' }), /metadata.namespace/],
  ['missing spec', { metadata: { name: 'x', namespace: 'ns' } }, /spec: missing/],
  ['bad clusterIP', svc('bad', { clusterIP: '198.19.0.300' }), /spec.clusterIP/],
  ['clusterIP not a string', withSpec({ clusterIP: 7 }), /spec.clusterIP/],
  ['mismatched families', svc('bad', { clusterIP: '198.19.0.1', clusterIPs: ['198.19.0.1'], ipFamilies: ['IPv6'] }), /ipFamilies/],
  ['families length mismatch', svc('bad', { clusterIPs: ['198.19.0.1', '2001:db8:19::1'], ipFamilies: ['IPv4'] }), /ipFamilies/],
  ['clusterIPs[0] differs', svc('bad', { clusterIP: '198.19.0.1', clusterIPs: ['198.19.0.2'] }), /clusterIPs\[0\]/],
  ['two IPv4 clusterIPs', svc('bad', { clusterIPs: ['198.19.0.1', '198.19.0.2'], ipFamilies: ['IPv4', 'IPv4'] }), /same family/],
  ['unknown type', withSpec({ type: 'Magic' }), /spec.type/],
  ['port out of range', svc('bad', { ports: [{ name: 'p', port: 70000 }] }), /port/],
  ['port zero', svc('bad', { ports: [{ name: 'p', port: 0 }] }), /port/],
  ['port fractional', svc('bad', { ports: [{ name: 'p', port: 80.5 }] }), /port/],
  ['port missing', svc('bad', { ports: [{ name: 'p' }] }), /port: missing/],
  ['nodePort out of range', svc('bad', { ports: [{ name: 'p', port: 80, nodePort: -1 }] }), /nodePort/],
  ['unknown protocol', svc('bad', { ports: [{ name: 'p', port: 80, protocol: 'ICMP' }] }), /protocol/],
  ['bad port name', svc('bad', { ports: [{ name: 'a/b', port: 80 }] }), /name/],
  ['duplicate port', svc('bad', { ports: [{ name: 'p', port: 80 }, { name: 'p', port: 81 }] }), /duplicate/],
  ['ports not an array', withSpec({ ports: { a: 1 } }), /spec.ports/],
  ['bad externalIP', withSpec({ externalIPs: ['not-an-ip'] }), /externalIPs/],
  ['bad source range', withSpec({ loadBalancerSourceRanges: ['198.18.0.0/33'] }), /loadBalancerSourceRanges/],
  ['bad LB ingress IP', { ...svc('bad'), status: { loadBalancer: { ingress: [{ ip: '1.2.3' }] } } }, /ingress/],
  ['bad ipMode', { ...svc('bad'), status: { loadBalancer: { ingress: [{ ip: '198.18.50.4', ipMode: 'Tunnel' }] } } }, /ipMode/],
  ['bad affinity', withSpec({ sessionAffinity: 'Sticky' }), /sessionAffinity/],
  ['affinity timeout out of range', withSpec({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } } }), /timeoutSeconds/],
  ['bad traffic policy', withSpec({ externalTrafficPolicy: 'Global' }), /externalTrafficPolicy/],
  ['huge externalIPs', withSpec({ externalIPs: Array.from({ length: 5000 }, () => '198.18.60.4') }), /too many/],
  ['huge string', withSpec({ trafficDistribution: 'x'.repeat(100000) }), /too long/],
];

for (const [name, obj, reason] of badServices) {
  test(`invalid Service: ${name}`, () => {
    const { m, invalid } = model();
    m.onEvent('Service', 'ADDED', svc('good', { clusterIP: '198.19.0.99' }));
    assert.equal(m.onEvent('Service', 'ADDED', obj), false);
    assert.equal(invalid.length, 1);
    assert.equal(invalid[0]!.kind, 'Service');
    assert.match(invalid[0]!.reason, reason);
    // The valid neighbour is untouched.
    assert.deepEqual([...m.build('IPv4', ctx4).state.services.keys()], ['ns/good:p/TCP']);
    assert.equal(invalid.length, 1, 'not reported again by build');
  });
}

function withSlice(extra: Record<string, unknown>, base = slice('web-1', { endpoints: [ep('198.18.100.1')] })): Record<string, unknown> {
  return { ...base, ...extra };
}

const badSlices: [string, unknown, RegExp][] = [
  ['no service-name label', slice('web-1', { service: null }), /service-name/],
  ['no addressType', slice('web-1', { addressType: null }), /addressType/],
  ['unknown addressType', slice('web-1', { addressType: 'IPv5' }), /addressType/],
  ['bad endpoint IP', slice('web-1', { endpoints: [ep('198.18.100.256')] }), /addresses/],
  ['wrong-family endpoint IP', slice('web-1', { endpoints: [ep('2001:db8:100::1')] }), /not IPv4/],
  ['port out of range', slice('web-1', { ports: [{ name: 'p', port: 65536 }] }), /port/],
  ['unknown protocol', slice('web-1', { ports: [{ name: 'p', port: 80, protocol: 'tcp' }] }), /protocol/],
  ['condition not boolean', slice('web-1', { endpoints: [{ addresses: ['198.18.100.1'], conditions: { ready: 'yes' } }] }), /ready/],
  ['endpoints not an array', withSlice({ endpoints: 'x' }), /endpoints/],
  ['too many endpoints', withSlice({ endpoints: Array.from({ length: 1001 }, () => ep('198.18.100.1')) }), /too many/],
  ['bad hint', slice('web-1', { endpoints: [{ addresses: ['198.18.100.1'], hints: { forZones: [{}] } }] }), /forZones/],
  ['bad slice name', slice('Web_1'), /metadata.name/],
];

for (const [name, obj, reason] of badSlices) {
  test(`invalid EndpointSlice: ${name}`, () => {
    const { m, invalid } = model();
    m.onEvent('Service', 'ADDED', svc('web'));
    assert.equal(m.onEvent('EndpointSlice', 'ADDED', obj), false);
    assert.equal(invalid.length, 1);
    assert.equal(invalid[0]!.kind, 'EndpointSlice');
    assert.match(invalid[0]!.reason, reason);
    assert.deepEqual(m.build('IPv4', ctx4).state.services.get('ns/web:p/TCP')!.endpoints, []);
  });
}

test('an endpoint with no addresses is skipped without invalidating the slice (upstream logs it)', () => {
  const { m, invalid } = model();
  m.onEvent('Service', 'ADDED', svc('web'));
  m.onEvent('EndpointSlice', 'ADDED', slice('web-1', { endpoints: [{ addresses: [] }, ep('198.18.100.1')] }));
  assert.deepEqual(invalid, []);
  assert.equal(m.build('IPv4', ctx4).state.services.get('ns/web:p/TCP')!.endpoints.length, 1);
});

test('onInvalid is called once per object version, again for a new version', () => {
  const { m, invalid } = model();
  const bad1 = { ...svc('bad', { clusterIP: 'x', resourceVersion: '5' }) };
  m.onEvent('Service', 'ADDED', bad1);
  m.onEvent('Service', 'MODIFIED', bad1); // resync / relist re-delivers the same version
  m.build('IPv4', ctx4);
  m.build('IPv4', ctx4);
  assert.equal(invalid.length, 1);
  assert.equal(invalid[0]!.key, 'ns/bad');
  m.onEvent('Service', 'MODIFIED', svc('bad', { clusterIP: 'y', resourceVersion: '6' }));
  assert.equal(invalid.length, 2);
  // Without resourceVersion the content identifies the version.
  const noRv = svc('other', { clusterIP: 'z' });
  m.onEvent('Service', 'ADDED', noRv);
  m.onEvent('Service', 'MODIFIED', structuredClone(noRv));
  assert.equal(invalid.length, 3);
});

test('invalid update of a valid object removes it; a later valid version restores it', () => {
  const { m, invalid } = model();
  m.onEvent('Service', 'ADDED', svc('web', { resourceVersion: '1' }));
  m.onEvent('EndpointSlice', 'ADDED', slice('web-1', { endpoints: [ep('198.18.100.1')] }));
  const a = m.build('IPv4', ctx4);
  assert.equal(a.state.services.size, 1);
  assert.equal(m.onEvent('EndpointSlice', 'MODIFIED', slice('web-1', { endpoints: [ep('198.18.100.999')] })), true);
  let r = m.build('IPv4', ctx4);
  assert.deepEqual(r.state.services.get('ns/web:p/TCP')!.endpoints, []);
  assert.equal(m.onEvent('Service', 'MODIFIED', svc('web', { resourceVersion: '2', ports: [{ name: 'p', port: 0 }] })), true);
  r = m.build('IPv4', ctx4);
  assert.equal(r.state.services.size, 0);
  assert.deepEqual([...r.change.changedKeys], ['ns/web:p/TCP']);
  assert.equal(invalid.length, 2);
  assert.equal(m.onEvent('Service', 'MODIFIED', svc('web', { resourceVersion: '3' })), true);
  assert.equal(m.onEvent('EndpointSlice', 'MODIFIED', slice('web-1', { endpoints: [ep('198.18.100.1')] })), true);
  r = m.build('IPv4', ctx4);
  assert.equal(r.state.services.get('ns/web:p/TCP')!.endpoints.length, 1);
  // The same bad version after recovery is a new report: it was valid in between.
  m.onEvent('Service', 'MODIFIED', svc('web', { resourceVersion: '2', ports: [{ name: 'p', port: 0 }] }));
  assert.equal(invalid.length, 3);
});

test('invalid Node of this node: reported, treated as deleted; other nodes ignored silently', () => {
  const { m, invalid } = model();
  m.onEvent('Node', 'ADDED', node('node-a', { 'topology.kubernetes.io/zone': 'z' }));
  assert.notEqual(m.node(), null);
  assert.equal(m.onEvent('Node', 'MODIFIED', node('node-a', { 'topology.kubernetes.io/zone': 42 })), true);
  assert.equal(m.node(), null);
  assert.equal(invalid.length, 1);
  assert.equal(invalid[0]!.kind, 'Node');
  assert.equal(m.onEvent('Node', 'MODIFIED', node('node-b', { 'topology.kubernetes.io/zone': 42 })), false);
  assert.equal(invalid.length, 1);
});

test('DELETED needs only identity; an unidentifiable DELETED is reported', () => {
  const { m, invalid } = model();
  m.onEvent('Service', 'ADDED', svc('web'));
  assert.equal(m.onEvent('Service', 'DELETED', { metadata: { name: 'web', namespace: 'ns' } }), true);
  assert.equal(m.onEvent('Service', 'DELETED', { metadata: { name: 'web', namespace: 'ns' } }), false);
  assert.equal(m.onEvent('Service', 'DELETED', 'garbage'), false);
  assert.equal(invalid.length, 1);
});

test('a throwing onInvalid callback does not escape', () => {
  const m = new ServiceModel({
    nodeName: 'n',
    onInvalid: () => {
      throw new Error('boom');
    },
  });
  assert.equal(m.onEvent('Service', 'ADDED', 1), false);
});

test('unknown kinds and event types are ignored', () => {
  const { m, invalid } = model();
  assert.equal(m.onEvent('Pod' as ObjectKind, 'ADDED', svc('x')), false);
  assert.equal(m.onEvent('Service', 'BOOKMARK' as 'ADDED', svc('x')), false);
  assert.equal(invalid.length, 0);
});

test('default onInvalid: warning log and kubeproxy_ts_invalid_objects_total{kind}', async () => {
  const { configureLogging } = await import('../../src/log/logger.js');
  const { metrics } = await import('../../src/metrics/metrics.js');
  const lines: string[] = [];
  configureLogging({ sink: (l) => lines.push(l) });
  try {
    const before = (await metrics.invalidObjectsTotal.get()).values.find((v) => v.labels.kind === 'EndpointSlice')?.value ?? 0;
    const m = new ServiceModel({ nodeName: 'n' });
    m.onEvent('EndpointSlice', 'ADDED', slice('web-1', { service: null }));
    m.onEvent('EndpointSlice', 'MODIFIED', slice('web-1', { service: null }));
    const after = (await metrics.invalidObjectsTotal.get()).values.find((v) => v.labels.kind === 'EndpointSlice')?.value ?? 0;
    assert.equal(after - before, 1);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^W.*Ignoring invalid object.*kind="EndpointSlice".*object="ns\/web-1".*service-name/);
  } finally {
    configureLogging({ sink: (l) => process.stderr.write(l + '\n') });
  }
});
