// EndpointSlice merging, ported from upstream pkg/proxy/endpointslicecache_test.go
// (TestEndpointsMapFromESC, TestEndpointInfoByServicePort, TestEsDataChanged), driven
// through ServiceModel.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceModel } from '../../src/model/tracker.js';
import { ctx4, svc } from './fixtures.js';

/** upstream generateEndpointSliceWithOffset */
function gen(
  serviceName: string,
  namespace: string,
  sliceNum: number,
  offset: number,
  numEndpoints: number,
  unreadyMod: number,
  terminatingMod: number,
  hosts: string[],
  portNums: (number | null)[],
): Record<string, unknown> {
  const endpoints = [];
  for (let i = 1; i <= numEndpoints; i++) {
    const readyCondition = i % unreadyMod !== 0;
    const terminatingCondition = i % terminatingMod === 0;
    endpoints.push({
      addresses: [`198.18.${offset}.${i}`],
      conditions: { ready: readyCondition && !terminatingCondition, serving: readyCondition, terminating: terminatingCondition },
      ...(hosts.length > 0 ? { nodeName: hosts[i % hosts.length] } : {}),
    });
  }
  return {
    metadata: { name: `${serviceName}-${sliceNum}`, namespace, labels: { 'kubernetes.io/service-name': serviceName } },
    addressType: 'IPv4',
    ports: portNums.map((p, i) => ({ name: `port-${i}`, port: p, protocol: 'TCP' })),
    endpoints,
  };
}

function genSlice(serviceName: string, namespace: string, sliceNum: number, n: number, unreadyMod: number, termMod: number, hosts: string[], ports: (number | null)[]) {
  return gen(serviceName, namespace, sliceNum, sliceNum, n, unreadyMod, termMod, hosts, ports);
}

type Row = [string, boolean, boolean, boolean, boolean]; // "ip:port", isLocal, ready, serving, terminating
const R = (ep: string, isLocal = false, ready = true, serving = true, terminating = false): Row => [ep, isLocal, ready, serving, terminating];

interface Case {
  hostname?: string;
  slices: Record<string, unknown>[];
  expected: Record<string, Row[]>;
}

const svc1 = () =>
  svc('svc1', {
    ns: 'ns1',
    ports: [
      { name: 'port-0', port: 1, protocol: 'TCP' },
      { name: 'port-1', port: 2, protocol: 'TCP' },
    ],
  });

const cases: Record<string, Case> = {
  '1 slice, 2 hosts, ports 80,443': {
    hostname: 'host1',
    slices: [genSlice('svc1', 'ns1', 1, 3, 999, 999, ['host1', 'host2'], [80, 443])],
    expected: {
      'port-0': [R('198.18.1.1:80'), R('198.18.1.2:80', true), R('198.18.1.3:80')],
      'port-1': [R('198.18.1.1:443'), R('198.18.1.2:443', true), R('198.18.1.3:443')],
    },
  },
  '2 slices, same port': {
    slices: [genSlice('svc1', 'ns1', 1, 3, 999, 999, [], [80]), genSlice('svc1', 'ns1', 2, 3, 999, 999, [], [80])],
    expected: {
      'port-0': ['198.18.1.1', '198.18.1.2', '198.18.1.3', '198.18.2.1', '198.18.2.2', '198.18.2.3'].map((ip) => R(`${ip}:80`)),
      'port-1': [],
    },
  },
  // Both generated slices are named svc1-1: the second version replaces the first.
  '2 overlapping slices, same port': {
    slices: [genSlice('svc1', 'ns1', 1, 3, 999, 999, [], [80]), genSlice('svc1', 'ns1', 1, 4, 999, 999, [], [80])],
    expected: { 'port-0': [1, 2, 3, 4].map((i) => R(`198.18.1.${i}:80`)), 'port-1': [] },
  },
  '2 slices, overlapping endpoints, some endpoints unready in 1 or both': {
    slices: [genSlice('svc1', 'ns1', 1, 10, 3, 999, [], [80]), genSlice('svc1', 'ns1', 1, 10, 6, 999, [], [80])],
    expected: {
      'port-0': [
        R('198.18.1.10:80'),
        R('198.18.1.1:80'),
        R('198.18.1.2:80'),
        R('198.18.1.3:80'),
        R('198.18.1.4:80'),
        R('198.18.1.5:80'),
        R('198.18.1.6:80', false, false, false, false),
        R('198.18.1.7:80'),
        R('198.18.1.8:80'),
        R('198.18.1.9:80'),
      ],
      'port-1': [],
    },
  },
  '2 slices, overlapping endpoints, some endpoints unready and some endpoints terminating': {
    slices: [genSlice('svc1', 'ns1', 1, 10, 3, 5, [], [80]), genSlice('svc1', 'ns1', 1, 10, 6, 5, [], [80])],
    expected: {
      'port-0': [
        R('198.18.1.10:80', false, false, true, true),
        R('198.18.1.1:80'),
        R('198.18.1.2:80'),
        R('198.18.1.3:80'),
        R('198.18.1.4:80'),
        R('198.18.1.5:80', false, false, true, true),
        R('198.18.1.6:80', false, false, false, false),
        R('198.18.1.7:80'),
        R('198.18.1.8:80'),
        R('198.18.1.9:80'),
      ],
      'port-1': [],
    },
  },
  '2 slices, overlapping endpoints, all unready': {
    slices: [genSlice('svc1', 'ns1', 1, 10, 1, 999, [], [80]), genSlice('svc1', 'ns1', 1, 10, 1, 999, [], [80])],
    expected: {
      'port-0': [10, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => R(`198.18.1.${i}:80`, false, false, false, false)),
      'port-1': [],
    },
  },
  '3 slices with different services and namespaces': {
    slices: [
      genSlice('svc1', 'ns1', 1, 3, 999, 999, [], [80]),
      genSlice('svc2', 'ns1', 2, 3, 999, 999, [], [80]),
      genSlice('svc1', 'ns2', 3, 3, 999, 999, [], [80]),
    ],
    expected: { 'port-0': [R('198.18.1.1:80'), R('198.18.1.2:80'), R('198.18.1.3:80')], 'port-1': [] },
  },
  'Nil port should not break anything': {
    hostname: 'host1',
    slices: [genSlice('svc1', 'ns1', 1, 3, 999, 999, ['host1', 'host2'], [null])],
    expected: { 'port-0': [], 'port-1': [] },
  },
  'Different endpoints with duplicate IPs should not be filtered': {
    hostname: 'host1',
    slices: [gen('svc1', 'ns1', 1, 1, 2, 999, 999, ['host1', 'host2'], [80]), gen('svc1', 'ns1', 2, 1, 2, 999, 999, ['host1', 'host2'], [8080])],
    expected: {
      'port-0': [R('198.18.1.1:80'), R('198.18.1.1:8080'), R('198.18.1.2:80', true), R('198.18.1.2:8080', true)],
      'port-1': [],
    },
  },
};

for (const [name, tc] of Object.entries(cases)) {
  test(`EndpointsMapFromESC: ${name}`, () => {
    const m = new ServiceModel({ nodeName: tc.hostname ?? '', onInvalid: (k, key, r) => assert.fail(`${k} ${key}: ${r}`) });
    const copies = tc.slices.map((s) => structuredClone(s));
    m.onEvent('Service', 'ADDED', svc1());
    for (const s of tc.slices) m.onEvent('EndpointSlice', 'ADDED', s);
    const services = m.build('IPv4', ctx4).state.services;
    for (const [port, rows] of Object.entries(tc.expected)) {
      const sp = services.get(`ns1/svc1:${port}/TCP`)!;
      const got = sp.endpoints.map((e): Row => [`${e.ip}:${e.port}`, e.isLocal, e.ready, e.serving, e.terminating]);
      assert.deepEqual(got, rows, port);
    }
    // upstream cacheMutationCheck: inputs are never mutated.
    assert.deepEqual(tc.slices, copies);
  });
}

// TestEsDataChanged: onEvent's return value says whether the slice content changed.
const port80 = { name: 'http', port: 80, protocol: 'TCP' };
const port443 = { name: 'https', port: 443, protocol: 'TCP' };
const ep1 = { addresses: ['198.18.1.0'] };
const ep2 = { addresses: ['198.18.1.1'] };
const es = (ports: unknown[], endpoints: unknown[] = []) => ({
  metadata: { name: 'foo', namespace: 'bar', labels: { 'kubernetes.io/service-name': 'svc1' } },
  addressType: 'IPv4',
  ports,
  endpoints,
});

const changedCases: [string, unknown, unknown, boolean][] = [
  ['identical slices, ports only', es([port80]), es([port80]), false],
  ['identical slices, ports out of order', es([port443, port80]), es([port80, port443]), true],
  ['port removed', es([port443, port80]), es([port443]), true],
  ['port added', es([port443]), es([port443, port80]), true],
  ['identical with endpoints', es([port443], [ep1, ep2]), es([port443], [ep1, ep2]), false],
  ['identical with endpoints out of order', es([port443], [ep1, ep2]), es([port443], [ep2, ep1]), true],
  ['identical with endpoint added', es([port443], [ep1]), es([port443], [ep2, ep1]), true],
];

for (const [name, initial, updated, want] of changedCases) {
  test(`EsDataChanged: ${name}`, () => {
    const m = new ServiceModel({ nodeName: '' });
    assert.equal(m.onEvent('EndpointSlice', 'ADDED', initial), true);
    m.build('IPv4', ctx4);
    assert.equal(m.onEvent('EndpointSlice', 'MODIFIED', updated), want);
  });
}

test('reordered endpoints report a change but produce no changed ServicePort', () => {
  const m = new ServiceModel({ nodeName: '' });
  m.onEvent('Service', 'ADDED', svc('svc1', { ns: 'bar', ports: [{ name: 'https', port: 443 }] }));
  m.onEvent('EndpointSlice', 'ADDED', es([port443], [ep1, ep2]));
  const a = m.build('IPv4', ctx4).state.services.get('bar/svc1:https/TCP');
  assert.equal(m.onEvent('EndpointSlice', 'MODIFIED', es([port443], [ep2, ep1])), true);
  const r = m.build('IPv4', ctx4);
  assert.equal(r.change.changedKeys.size, 0);
  assert.equal(r.state.services.get('bar/svc1:https/TCP'), a);
});
