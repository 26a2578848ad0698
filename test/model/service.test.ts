// Service → ServicePort, ported from upstream pkg/proxy/servicechangetracker_test.go
// (TestServiceToServiceMap, TestServiceMapUpdateHeadless, TestUpdateServiceTypeExternalName,
// TestBuildServiceMapAddRemove, TestBuildServiceMapServiceUpdate). Upstream's fixtures use
// names such as "validIPv4"/"testPort" that the API server would reject; they are lower-cased here.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceModel } from '../../src/model/tracker.js';
import type { IPFamily, ServicePort } from '../../src/model/types.js';
import { ctx4, ctx6 } from './fixtures.js';

const V4 = '198.19.0.1';
const EXT4 = '198.18.60.8';
const RANGE4 = '198.18.0.0/15';
const V6 = '2001:db8:85a3:0:0:8a2e:370:7334';
const EXT6 = '2001:db8:85a3:0:0:8a2e:370:7335';
const RANGE6 = '2001:db8::/32';

function service(ns: string, name: string, spec: Record<string, unknown>, ingress?: Record<string, unknown>[]): Record<string, unknown> {
  return { metadata: { name, namespace: ns }, spec, ...(ingress ? { status: { loadBalancer: { ingress } } } : {}) };
}
const port = (name: string, protocol: string, p: number, nodePort = 0) => ({ name, protocol, port: p, ...(nodePort ? { nodePort } : {}) });

interface Want {
  clusterIP: string;
  port: number;
  protocol: string;
  healthCheckNodePort?: number;
  externalIPs?: string[];
  loadBalancerSourceRanges?: string[];
  loadBalancerIPs?: string[];
}

const cases: { desc: string; family: IPFamily; service: Record<string, unknown>; expected: Record<string, Want> }[] = [
  { desc: 'headless service', family: 'IPv4', service: service('ns2', 'headless', { type: 'ClusterIP', clusterIP: 'None', ports: [port('rpc', 'UDP', 1234)] }), expected: {} },
  { desc: 'headless sctp service', family: 'IPv4', service: service('ns2', 'headless', { type: 'ClusterIP', clusterIP: 'None', ports: [port('sip', 'SCTP', 7777)] }), expected: {} },
  { desc: 'headless service without port', family: 'IPv4', service: service('ns2', 'headless-without-port', { type: 'ClusterIP', clusterIP: 'None' }), expected: {} },
  {
    desc: 'cluster ip service',
    family: 'IPv4',
    service: service('ns2', 'cluster-ip', { type: 'ClusterIP', clusterIP: '198.19.55.4', ports: [port('p1', 'UDP', 1234, 4321), port('p2', 'UDP', 1235, 5321)] }),
    expected: {
      'ns2/cluster-ip:p1/UDP': { clusterIP: '198.19.55.4', port: 1234, protocol: 'UDP' },
      'ns2/cluster-ip:p2/UDP': { clusterIP: '198.19.55.4', port: 1235, protocol: 'UDP' },
    },
  },
  {
    desc: 'nodeport service',
    family: 'IPv4',
    service: service('ns2', 'node-port', { type: 'NodePort', clusterIP: '198.19.55.10', ports: [port('port1', 'UDP', 345, 678), port('port2', 'TCP', 344, 677)] }),
    expected: {
      'ns2/node-port:port1/UDP': { clusterIP: '198.19.55.10', port: 345, protocol: 'UDP' },
      'ns2/node-port:port2/TCP': { clusterIP: '198.19.55.10', port: 344, protocol: 'TCP' },
    },
  },
  ...(['none', 'VIP', 'Proxy'] as const).map((mode) => ({
    desc: `load balancer service, ipMode ${mode}`,
    family: 'IPv4' as IPFamily,
    service: service(
      'ns1',
      'load-balancer',
      { type: 'LoadBalancer', clusterIP: '198.19.55.11', loadBalancerIP: '198.18.50.8', ports: [port('port3', 'UDP', 8675, 30061), port('port4', 'UDP', 8676, 30062)] },
      [{ ip: '198.18.50.4', ...(mode === 'none' ? {} : { ipMode: mode }) }],
    ),
    expected: {
      'ns1/load-balancer:port3/UDP': { clusterIP: '198.19.55.11', port: 8675, protocol: 'UDP', loadBalancerIPs: mode === 'Proxy' ? [] : ['198.18.50.4'] },
      'ns1/load-balancer:port4/UDP': { clusterIP: '198.19.55.11', port: 8676, protocol: 'UDP', loadBalancerIPs: mode === 'Proxy' ? [] : ['198.18.50.4'] },
    },
  })),
  {
    desc: 'load balancer service with only local traffic policy',
    family: 'IPv4',
    service: service(
      'ns1',
      'only-local-load-balancer',
      {
        type: 'LoadBalancer',
        clusterIP: '198.19.55.12',
        loadBalancerIP: '198.18.50.8',
        ports: [port('portx', 'UDP', 8677, 30063), port('porty', 'UDP', 8678, 30064)],
        externalTrafficPolicy: 'Local',
        healthCheckNodePort: 345,
      },
      [{ ip: '198.18.50.3' }],
    ),
    expected: {
      'ns1/only-local-load-balancer:portx/UDP': { clusterIP: '198.19.55.12', port: 8677, protocol: 'UDP', healthCheckNodePort: 345, loadBalancerIPs: ['198.18.50.3'] },
      'ns1/only-local-load-balancer:porty/UDP': { clusterIP: '198.19.55.12', port: 8678, protocol: 'UDP', healthCheckNodePort: 345, loadBalancerIPs: ['198.18.50.3'] },
    },
  },
  {
    desc: 'external name service',
    family: 'IPv4',
    service: service('ns2', 'external-name', { type: 'ExternalName', clusterIP: '198.19.55.4', externalName: 'foo2.bar.com', ports: [port('portz', 'UDP', 1235, 5321)] }),
    expected: {},
  },
  {
    desc: 'service with ipv6 clusterIP under ipv4 mode, service should be filtered',
    family: 'IPv4',
    service: service('test', 'invalid-ipv6-in-ipv4-mode', { clusterIP: V6, ports: [port('testport', 'TCP', 12345)] }, [{ ip: EXT4 }, { ip: EXT6 }]),
    expected: {},
  },
  {
    desc: 'service with ipv4 clusterIP under ipv6 mode, service should be filtered',
    family: 'IPv6',
    service: service('test', 'invalid-ipv4-in-ipv6-mode', { clusterIP: V4, ports: [port('testport', 'TCP', 12345)] }, [{ ip: EXT4 }, { ip: EXT6 }]),
    expected: {},
  },
  {
    desc: 'service with ipv4 configurations under ipv4 mode',
    family: 'IPv4',
    service: service('test', 'valid-ipv4', { clusterIP: V4, externalIPs: [EXT4], loadBalancerSourceRanges: [RANGE4], ports: [port('testport', 'TCP', 12345)] }, [
      { ip: EXT4 },
      { ip: EXT6 },
    ]),
    expected: { 'test/valid-ipv4:testport/TCP': { clusterIP: V4, port: 12345, protocol: 'TCP', externalIPs: [EXT4], loadBalancerSourceRanges: [RANGE4], loadBalancerIPs: [EXT4] } },
  },
  {
    desc: 'service with ipv6 configurations under ipv6 mode',
    family: 'IPv6',
    service: service('test', 'valid-ipv6', { clusterIP: V6, externalIPs: [EXT6], loadBalancerSourceRanges: [RANGE6], ports: [port('testport', 'TCP', 12345)] }, [
      { ip: EXT4 },
      { ip: EXT6 },
    ]),
    expected: {
      'test/valid-ipv6:testport/TCP': {
        clusterIP: '2001:db8:85a3::8a2e:370:7334',
        port: 12345,
        protocol: 'TCP',
        externalIPs: ['2001:db8:85a3::8a2e:370:7335'],
        loadBalancerSourceRanges: [RANGE6],
        loadBalancerIPs: ['2001:db8:85a3::8a2e:370:7335'],
      },
    },
  },
  {
    desc: 'service with both ipv4 and ipv6 configurations under ipv4 mode, ipv6 fields should be filtered',
    family: 'IPv4',
    service: service(
      'test',
      'filter-ipv6-in-ipv4-mode',
      { clusterIP: V4, externalIPs: [EXT4, EXT6], loadBalancerSourceRanges: [RANGE4, RANGE6], ports: [port('testport', 'TCP', 12345)] },
      [{ ip: EXT4 }, { ip: EXT6 }],
    ),
    expected: { 'test/filter-ipv6-in-ipv4-mode:testport/TCP': { clusterIP: V4, port: 12345, protocol: 'TCP', externalIPs: [EXT4], loadBalancerSourceRanges: [RANGE4], loadBalancerIPs: [EXT4] } },
  },
  {
    desc: 'service with both ipv4 and ipv6 configurations under ipv6 mode, ipv4 fields should be filtered',
    family: 'IPv6',
    service: service(
      'test',
      'filter-ipv4-in-ipv6-mode',
      { clusterIP: V6, externalIPs: [EXT4, EXT6], loadBalancerSourceRanges: [RANGE4, RANGE6], ports: [port('testport', 'TCP', 12345)] },
      [{ ip: EXT4 }, { ip: EXT6 }],
    ),
    expected: {
      'test/filter-ipv4-in-ipv6-mode:testport/TCP': {
        clusterIP: '2001:db8:85a3::8a2e:370:7334',
        port: 12345,
        protocol: 'TCP',
        externalIPs: ['2001:db8:85a3::8a2e:370:7335'],
        loadBalancerSourceRanges: [RANGE6],
        loadBalancerIPs: ['2001:db8:85a3::8a2e:370:7335'],
      },
    },
  },
  {
    desc: 'service with extra space in LoadBalancerSourceRanges',
    family: 'IPv4',
    service: service('test', 'extra-space', { clusterIP: V4, loadBalancerSourceRanges: [' 198.18.2.0/28'], ports: [port('testport', 'TCP', 12345)] }),
    expected: { 'test/extra-space:testport/TCP': { clusterIP: V4, port: 12345, protocol: 'TCP', loadBalancerSourceRanges: ['198.18.2.0/28'] } },
  },
];

for (const tc of cases) {
  test(`ServiceToServiceMap: ${tc.desc}`, () => {
    const m = new ServiceModel({ nodeName: 'test-hostname', onInvalid: (k, key, r) => assert.fail(`${k} ${key}: ${r}`) });
    m.onEvent('Service', 'ADDED', tc.service);
    const services = m.build(tc.family, tc.family === 'IPv4' ? ctx4 : ctx6).state.services;
    assert.deepEqual([...services.keys()], Object.keys(tc.expected).sort());
    for (const [key, want] of Object.entries(tc.expected)) {
      const sp = services.get(key)!;
      assert.deepEqual(
        {
          clusterIP: sp.clusterIP,
          port: sp.port,
          protocol: sp.protocol,
          healthCheckNodePort: sp.healthCheckNodePort,
          externalIPs: sp.externalIPs,
          loadBalancerSourceRanges: sp.loadBalancerSourceRanges,
          loadBalancerIPs: sp.loadBalancerIPs,
        },
        { healthCheckNodePort: 0, externalIPs: [], loadBalancerSourceRanges: [], loadBalancerIPs: [], ...want },
        key,
      );
    }
  });
}

function healthCheckNodePorts(services: ReadonlyMap<string, ServicePort>): Map<string, number> {
  const out = new Map<string, number>();
  for (const sp of services.values()) if (sp.healthCheckNodePort) out.set(`${sp.namespace}/${sp.serviceName}`, sp.healthCheckNodePort);
  return out;
}

function updatedServices(changed: ReadonlySet<string>): Set<string> {
  return new Set([...changed].map((k) => k.slice(0, k.indexOf(':'))));
}

test('BuildServiceMapAddRemove', () => {
  const m = new ServiceModel({ nodeName: 'test-hostname' });
  const services = [
    service('ns2', 'cluster-ip', { type: 'ClusterIP', clusterIP: '198.19.55.4', ports: [port('port1', 'UDP', 1234, 4321), port('port2', 'UDP', 1235, 5321)] }),
    service('ns2', 'node-port', { type: 'NodePort', clusterIP: '198.19.55.10', ports: [port('port1', 'UDP', 345, 678), port('port2', 'TCP', 344, 677)] }),
    service('ns1', 'load-balancer', { type: 'LoadBalancer', clusterIP: '198.19.55.11', ports: [port('foobar', 'UDP', 8675, 30061), port('baz', 'UDP', 8676, 30062)] }, [
      { ip: '198.18.50.4' },
    ]),
    service(
      'ns1',
      'only-local-load-balancer',
      {
        type: 'LoadBalancer',
        clusterIP: '198.19.55.12',
        ports: [port('foobar2', 'UDP', 8677, 30063), port('baz', 'UDP', 8678, 30064)],
        externalTrafficPolicy: 'Local',
        healthCheckNodePort: 345,
      },
      [{ ip: '198.18.50.3' }],
    ),
  ];
  for (const s of services) m.onEvent('Service', 'ADDED', s);
  let r = m.build('IPv4', ctx4);
  assert.equal(r.state.services.size, 8);
  assert.deepEqual(updatedServices(r.change.changedKeys), new Set(['ns2/cluster-ip', 'ns2/node-port', 'ns1/load-balancer', 'ns1/only-local-load-balancer']));
  assert.deepEqual(healthCheckNodePorts(r.state.services), new Map([['ns1/only-local-load-balancer', 345]]));

  m.onEvent('Service', 'MODIFIED', service('ns2', 'cluster-ip', { type: 'ClusterIP', clusterIP: '198.19.55.4', ports: [port('p2', 'UDP', 1235, 5321)] }));
  for (const s of services.slice(1)) m.onEvent('Service', 'DELETED', s);
  r = m.build('IPv4', ctx4);
  assert.equal(r.state.services.size, 1);
  assert.equal(updatedServices(r.change.changedKeys).size, 4);
  assert.equal(healthCheckNodePorts(r.state.services).size, 0);
});

test('BuildServiceMapServiceUpdate', () => {
  const m = new ServiceModel({ nodeName: 'test-hostname' });
  const v1 = service('ns1', 'svc1', { type: 'ClusterIP', clusterIP: '198.19.55.4', ports: [port('p1', 'UDP', 1234, 4321), port('p2', 'TCP', 1235, 5321)] });
  const v2 = service(
    'ns1',
    'svc1',
    { type: 'LoadBalancer', clusterIP: '198.19.55.4', ports: [port('p1', 'UDP', 1234, 4321), port('p2', 'TCP', 1235, 5321)], externalTrafficPolicy: 'Local', healthCheckNodePort: 345 },
    [{ ip: '198.18.50.3' }],
  );
  m.onEvent('Service', 'ADDED', v1);
  let r = m.build('IPv4', ctx4);
  assert.equal(r.state.services.size, 2);
  assert.equal(updatedServices(r.change.changedKeys).size, 1);
  assert.equal(healthCheckNodePorts(r.state.services).size, 0);

  assert.equal(m.onEvent('Service', 'MODIFIED', v2), true);
  r = m.build('IPv4', ctx4);
  assert.equal(r.state.services.size, 2);
  assert.equal(updatedServices(r.change.changedKeys).size, 1);
  assert.equal(healthCheckNodePorts(r.state.services).size, 1);

  assert.equal(m.onEvent('Service', 'MODIFIED', structuredClone(v2)), false);
  r = m.build('IPv4', ctx4);
  assert.equal(r.state.services.size, 2);
  assert.equal(r.change.changedKeys.size, 0);
  assert.equal(healthCheckNodePorts(r.state.services).size, 1);

  m.onEvent('Service', 'MODIFIED', v1);
  r = m.build('IPv4', ctx4);
  assert.equal(updatedServices(r.change.changedKeys).size, 1);
  assert.equal(healthCheckNodePorts(r.state.services).size, 0);
});
