// CategorizeEndpoints cases ported from upstream pkg/proxy/topology_test.go (every case),
// plus PreferSameNode cases written from topology.go (upstream gates them on
// PreferSameTrafficDistribution, GA in 1.35 and always on here).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { categorizeEndpoints, endpointKey } from '../../src/model/topology.js';
import { trafficFlags } from '../../src/model/serviceport.js';
import type { Endpoint } from '../../src/model/types.js';

const NODE = 'node-a';
const ZONE = 'topology.kubernetes.io/zone';

interface E {
  zoneHints?: string[] | null;
  nodeHints?: string[] | null;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  isLocal?: boolean;
}

/** Upstream BaseEndpointInfo literal: unset booleans are false. */
function e(hostPort: string, o: E = {}): Endpoint {
  const i = hostPort.lastIndexOf(':');
  return {
    ip: hostPort.slice(0, i),
    port: Number(hostPort.slice(i + 1)),
    ready: o.ready ?? false,
    serving: o.serving ?? false,
    terminating: o.terminating ?? false,
    isLocal: o.isLocal ?? false,
    nodeName: o.isLocal ? NODE : '',
    zone: '',
    zoneHints: o.zoneHints ?? null,
    nodeHints: o.nodeHints ?? null,
  };
}

interface Svc {
  internalPolicyLocal?: boolean;
  externalPolicyLocal?: boolean;
  nodePort?: number;
}

interface Case {
  name: string;
  nodeLabels?: Record<string, string>;
  serviceInfo: Svc;
  endpoints: Endpoint[];
  clusterEndpoints: string[] | null;
  localEndpoints: string[] | null;
  allEndpoints?: string[];
  onlyRemoteEndpoints?: boolean;
}

const cases: Case[] = [
  {
    name: "should use topology since all endpoints have hints, node has a zone label and and there are endpoints for the node's zone",
    nodeLabels: { [ZONE]: 'zone-a' },
    serviceInfo: {},
    endpoints: [
      e('198.18.102.3:80', { zoneHints: ['zone-a'], ready: true }),
      e('198.18.102.4:80', { zoneHints: ['zone-b'], ready: true }),
      e('198.18.102.5:80', { zoneHints: ['zone-c'], ready: true }),
      e('198.18.102.6:80', { zoneHints: ['zone-a'], ready: true }),
    ],
    clusterEndpoints: ['198.18.102.3:80', '198.18.102.6:80'],
    localEndpoints: null,
  },
  {
    name: 'externalTrafficPolicy: Local, topology ignored for Local endpoints',
    nodeLabels: { [ZONE]: 'zone-a' },
    serviceInfo: { externalPolicyLocal: true, nodePort: 8080 },
    endpoints: [
      e('198.18.102.3:80', { zoneHints: ['zone-a'], ready: true, isLocal: true }),
      e('198.18.102.4:80', { zoneHints: ['zone-b'], ready: true, isLocal: true }),
      e('198.18.102.5:80', { zoneHints: ['zone-c'], ready: true }),
      e('198.18.102.6:80', { zoneHints: ['zone-a'], ready: true }),
    ],
    clusterEndpoints: ['198.18.102.3:80', '198.18.102.6:80'],
    localEndpoints: ['198.18.102.3:80', '198.18.102.4:80'],
    allEndpoints: ['198.18.102.3:80', '198.18.102.4:80', '198.18.102.6:80'],
  },
  {
    name: 'internalTrafficPolicy: Local, topology ignored for Local endpoints',
    nodeLabels: { [ZONE]: 'zone-a' },
    serviceInfo: { internalPolicyLocal: true, externalPolicyLocal: false, nodePort: 8080 },
    endpoints: [
      e('198.18.102.3:80', { zoneHints: ['zone-a'], ready: true, isLocal: true }),
      e('198.18.102.4:80', { zoneHints: ['zone-b'], ready: true, isLocal: true }),
      e('198.18.102.5:80', { zoneHints: ['zone-c'], ready: true }),
      e('198.18.102.6:80', { zoneHints: ['zone-a'], ready: true }),
    ],
    clusterEndpoints: ['198.18.102.3:80', '198.18.102.6:80'],
    localEndpoints: ['198.18.102.3:80', '198.18.102.4:80'],
    allEndpoints: ['198.18.102.3:80', '198.18.102.4:80', '198.18.102.6:80'],
  },
  {
    name: 'empty node labels',
    nodeLabels: {},
    serviceInfo: {},
    endpoints: [e('198.18.102.3:80', { zoneHints: ['zone-a'], ready: true })],
    clusterEndpoints: ['198.18.102.3:80'],
    localEndpoints: null,
  },
  {
    name: 'empty zone label',
    nodeLabels: { [ZONE]: '' },
    serviceInfo: {},
    endpoints: [e('198.18.102.3:80', { zoneHints: ['zone-a'], ready: true })],
    clusterEndpoints: ['198.18.102.3:80'],
    localEndpoints: null,
  },
  {
    name: 'node in different zone, no endpoint filtering',
    nodeLabels: { [ZONE]: 'zone-b' },
    serviceInfo: {},
    endpoints: [e('198.18.102.3:80', { zoneHints: ['zone-a'], ready: true })],
    clusterEndpoints: ['198.18.102.3:80'],
    localEndpoints: null,
  },
  {
    name: 'unready endpoint',
    nodeLabels: { [ZONE]: 'zone-a' },
    serviceInfo: {},
    endpoints: [
      e('198.18.102.3:80', { zoneHints: ['zone-a'], ready: true }),
      e('198.18.102.4:80', { zoneHints: ['zone-b'], ready: true }),
      e('198.18.102.5:80', { zoneHints: ['zone-c'], ready: true }),
      e('198.18.102.6:80', { zoneHints: ['zone-a'], ready: false }),
    ],
    clusterEndpoints: ['198.18.102.3:80'],
    localEndpoints: null,
  },
  {
    name: 'only unready endpoints in same zone (should not filter)',
    nodeLabels: { [ZONE]: 'zone-a' },
    serviceInfo: {},
    endpoints: [
      e('198.18.102.3:80', { zoneHints: ['zone-a'], ready: false }),
      e('198.18.102.4:80', { zoneHints: ['zone-b'], ready: true }),
      e('198.18.102.5:80', { zoneHints: ['zone-c'], ready: true }),
      e('198.18.102.6:80', { zoneHints: ['zone-a'], ready: false }),
    ],
    clusterEndpoints: ['198.18.102.4:80', '198.18.102.5:80'],
    localEndpoints: null,
  },
  {
    name: 'missing hints, no filtering applied',
    nodeLabels: { [ZONE]: 'zone-a' },
    serviceInfo: {},
    endpoints: [
      e('198.18.102.3:80', { zoneHints: ['zone-a'], ready: true }),
      e('198.18.102.4:80', { zoneHints: ['zone-b'], ready: true }),
      e('198.18.102.5:80', { zoneHints: null, ready: true }),
      e('198.18.102.6:80', { zoneHints: ['zone-a'], ready: true }),
    ],
    clusterEndpoints: ['198.18.102.3:80', '198.18.102.4:80', '198.18.102.5:80', '198.18.102.6:80'],
    localEndpoints: null,
  },
  {
    name: 'multiple hints per endpoint, filtering includes any endpoint with zone included',
    nodeLabels: { [ZONE]: 'zone-c' },
    serviceInfo: {},
    endpoints: [
      e('198.18.102.3:80', { zoneHints: ['zone-a', 'zone-b', 'zone-c'], ready: true }),
      e('198.18.102.4:80', { zoneHints: ['zone-b', 'zone-c'], ready: true }),
      e('198.18.102.5:80', { zoneHints: ['zone-b', 'zone-d'], ready: true }),
      e('198.18.102.6:80', { zoneHints: ['zone-c'], ready: true }),
    ],
    clusterEndpoints: ['198.18.102.3:80', '198.18.102.4:80', '198.18.102.6:80'],
    localEndpoints: null,
  },
  {
    name: 'conflicting topology and localness require merging allEndpoints',
    nodeLabels: { [ZONE]: 'zone-a' },
    serviceInfo: { internalPolicyLocal: false, externalPolicyLocal: true, nodePort: 8080 },
    endpoints: [
      e('198.18.100.0:80', { zoneHints: ['zone-a'], ready: true, isLocal: true }),
      e('198.18.100.1:80', { zoneHints: ['zone-b'], ready: true, isLocal: true }),
      e('198.18.100.2:80', { zoneHints: ['zone-a'], ready: true, isLocal: false }),
      e('198.18.100.3:80', { zoneHints: ['zone-b'], ready: true, isLocal: false }),
    ],
    clusterEndpoints: ['198.18.100.0:80', '198.18.100.2:80'],
    localEndpoints: ['198.18.100.0:80', '198.18.100.1:80'],
    allEndpoints: ['198.18.100.0:80', '198.18.100.1:80', '198.18.100.2:80'],
  },
  {
    name: 'internalTrafficPolicy: Local, with empty endpoints',
    serviceInfo: { internalPolicyLocal: true },
    endpoints: [],
    clusterEndpoints: null,
    localEndpoints: [],
  },
  {
    name: 'internalTrafficPolicy: Local, but all endpoints are remote',
    serviceInfo: { internalPolicyLocal: true },
    endpoints: [e('198.18.100.0:80', { ready: true, isLocal: false }), e('198.18.100.1:80', { ready: true, isLocal: false })],
    clusterEndpoints: null,
    localEndpoints: [],
    onlyRemoteEndpoints: true,
  },
  {
    name: 'internalTrafficPolicy: Local, all endpoints are local',
    serviceInfo: { internalPolicyLocal: true },
    endpoints: [e('198.18.100.0:80', { ready: true, isLocal: true }), e('198.18.100.1:80', { ready: true, isLocal: true })],
    clusterEndpoints: null,
    localEndpoints: ['198.18.100.0:80', '198.18.100.1:80'],
  },
  {
    name: 'internalTrafficPolicy: Local, some endpoints are local',
    serviceInfo: { internalPolicyLocal: true },
    endpoints: [e('198.18.100.0:80', { ready: true, isLocal: true }), e('198.18.100.1:80', { ready: true, isLocal: false })],
    clusterEndpoints: null,
    localEndpoints: ['198.18.100.0:80'],
  },
  {
    name: 'Cluster traffic policy, endpoints not Ready',
    serviceInfo: {},
    endpoints: [e('198.18.100.0:80', { ready: false }), e('198.18.100.1:80', { ready: false })],
    clusterEndpoints: [],
    localEndpoints: null,
  },
  {
    name: 'Cluster traffic policy, some endpoints are Ready',
    serviceInfo: {},
    endpoints: [e('198.18.100.0:80', { ready: false }), e('198.18.100.1:80', { ready: true })],
    clusterEndpoints: ['198.18.100.1:80'],
    localEndpoints: null,
  },
  {
    name: 'Cluster traffic policy, all endpoints are terminating',
    serviceInfo: {},
    endpoints: [
      e('198.18.100.0:80', { ready: false, serving: true, terminating: true, isLocal: true }),
      e('198.18.100.1:80', { ready: false, serving: true, terminating: true, isLocal: false }),
    ],
    clusterEndpoints: ['198.18.100.0:80', '198.18.100.1:80'],
    localEndpoints: null,
  },
  {
    name: 'iTP: Local, eTP: Cluster, some endpoints local',
    serviceInfo: { internalPolicyLocal: true, externalPolicyLocal: false, nodePort: 8080 },
    endpoints: [e('198.18.100.0:80', { ready: true, isLocal: true }), e('198.18.100.1:80', { ready: true, isLocal: false })],
    clusterEndpoints: ['198.18.100.0:80', '198.18.100.1:80'],
    localEndpoints: ['198.18.100.0:80'],
    allEndpoints: ['198.18.100.0:80', '198.18.100.1:80'],
  },
  {
    name: 'iTP: Cluster, eTP: Local, some endpoints local',
    serviceInfo: { internalPolicyLocal: false, externalPolicyLocal: true, nodePort: 8080 },
    endpoints: [e('198.18.100.0:80', { ready: true, isLocal: true }), e('198.18.100.1:80', { ready: true, isLocal: false })],
    clusterEndpoints: ['198.18.100.0:80', '198.18.100.1:80'],
    localEndpoints: ['198.18.100.0:80'],
    allEndpoints: ['198.18.100.0:80', '198.18.100.1:80'],
  },
  {
    name: 'iTP: Local, eTP: Local, some endpoints local',
    serviceInfo: { internalPolicyLocal: true, externalPolicyLocal: true, nodePort: 8080 },
    endpoints: [e('198.18.100.0:80', { ready: true, isLocal: true }), e('198.18.100.1:80', { ready: true, isLocal: false })],
    clusterEndpoints: ['198.18.100.0:80', '198.18.100.1:80'],
    localEndpoints: ['198.18.100.0:80'],
    allEndpoints: ['198.18.100.0:80', '198.18.100.1:80'],
  },
  {
    name: 'iTP: Local, eTP: Local, all endpoints remote',
    serviceInfo: { internalPolicyLocal: true, externalPolicyLocal: true, nodePort: 8080 },
    endpoints: [e('198.18.100.0:80', { ready: true, isLocal: false }), e('198.18.100.1:80', { ready: true, isLocal: false })],
    clusterEndpoints: ['198.18.100.0:80', '198.18.100.1:80'],
    localEndpoints: [],
    allEndpoints: ['198.18.100.0:80', '198.18.100.1:80'],
  },
  {
    name: 'iTP: Local, eTP: Local, all endpoints remote and terminating',
    serviceInfo: { internalPolicyLocal: true, externalPolicyLocal: true, nodePort: 8080 },
    endpoints: [
      e('198.18.100.0:80', { ready: false, serving: true, terminating: true, isLocal: false }),
      e('198.18.100.1:80', { ready: false, serving: true, terminating: true, isLocal: false }),
    ],
    clusterEndpoints: ['198.18.100.0:80', '198.18.100.1:80'],
    localEndpoints: [],
    allEndpoints: ['198.18.100.0:80', '198.18.100.1:80'],
    onlyRemoteEndpoints: true,
  },
  {
    name: 'iTP: Cluster, eTP: Local, with terminating endpoints',
    serviceInfo: { internalPolicyLocal: false, externalPolicyLocal: true, nodePort: 8080 },
    endpoints: [
      e('198.18.100.0:80', { ready: true, isLocal: false }),
      e('198.18.100.1:80', { ready: false, serving: false, isLocal: true }),
      e('198.18.100.2:80', { ready: false, serving: true, terminating: true, isLocal: true }),
      e('198.18.100.3:80', { ready: false, serving: true, terminating: true, isLocal: false }),
    ],
    clusterEndpoints: ['198.18.100.0:80'],
    localEndpoints: ['198.18.100.2:80'],
    allEndpoints: ['198.18.100.0:80', '198.18.100.2:80'],
  },
  {
    name: 'externalTrafficPolicy ignored if not externally accessible',
    serviceInfo: { externalPolicyLocal: true },
    endpoints: [e('198.18.100.0:80', { ready: true, isLocal: false }), e('198.18.100.1:80', { ready: true, isLocal: true })],
    clusterEndpoints: ['198.18.100.0:80', '198.18.100.1:80'],
    localEndpoints: null,
    allEndpoints: ['198.18.100.0:80', '198.18.100.1:80'],
  },
  {
    name: 'no cluster endpoints for iTP:Local internal-only service',
    serviceInfo: { internalPolicyLocal: true },
    endpoints: [e('198.18.100.0:80', { ready: true, isLocal: false }), e('198.18.100.1:80', { ready: true, isLocal: true })],
    clusterEndpoints: null,
    localEndpoints: ['198.18.100.1:80'],
    allEndpoints: ['198.18.100.1:80'],
  },
  // --- PreferSameNode (written from topology.go) ---
  {
    name: 'PreferSameNode: all ready endpoints have node hints and one is for this node',
    nodeLabels: { [ZONE]: 'zone-a' },
    serviceInfo: {},
    endpoints: [
      e('198.18.102.3:80', { nodeHints: [NODE], zoneHints: ['zone-a'], ready: true, isLocal: true }),
      e('198.18.102.4:80', { nodeHints: ['node-b'], zoneHints: ['zone-a'], ready: true }),
      e('198.18.102.5:80', { nodeHints: ['node-c'], zoneHints: ['zone-b'], ready: true }),
    ],
    clusterEndpoints: ['198.18.102.3:80'],
    localEndpoints: null,
  },
  {
    name: 'PreferSameNode: no hint for this node falls back to zone hints',
    nodeLabels: { [ZONE]: 'zone-a' },
    serviceInfo: {},
    endpoints: [
      e('198.18.102.4:80', { nodeHints: ['node-b'], zoneHints: ['zone-a'], ready: true }),
      e('198.18.102.5:80', { nodeHints: ['node-c'], zoneHints: ['zone-b'], ready: true }),
    ],
    clusterEndpoints: ['198.18.102.4:80'],
    localEndpoints: null,
  },
  {
    name: 'PreferSameNode: a ready endpoint without node hints disables node topology',
    nodeLabels: { [ZONE]: 'zone-b' },
    serviceInfo: {},
    endpoints: [
      e('198.18.102.3:80', { nodeHints: [NODE], zoneHints: ['zone-a'], ready: true, isLocal: true }),
      e('198.18.102.4:80', { zoneHints: ['zone-b'], ready: true }),
    ],
    clusterEndpoints: ['198.18.102.4:80'],
    localEndpoints: null,
  },
  {
    name: 'PreferSameNode: unready endpoints without node hints do not count',
    serviceInfo: {},
    endpoints: [
      e('198.18.102.3:80', { nodeHints: [NODE], ready: true, isLocal: true }),
      e('198.18.102.4:80', { nodeHints: ['node-b'], ready: true }),
      e('198.18.102.5:80', { ready: false }),
    ],
    clusterEndpoints: ['198.18.102.3:80'],
    localEndpoints: null,
  },
  {
    name: 'PreferSameNode: no zone label and no hint for this node means no topology',
    serviceInfo: {},
    endpoints: [
      e('198.18.102.4:80', { nodeHints: ['node-b'], zoneHints: ['zone-a'], ready: true }),
      e('198.18.102.5:80', { nodeHints: ['node-c'], zoneHints: ['zone-b'], ready: true }),
    ],
    clusterEndpoints: ['198.18.102.4:80', '198.18.102.5:80'],
    localEndpoints: null,
  },
  {
    name: 'PreferSameNode with eTP Local: local terminating endpoints merged into allEndpoints',
    serviceInfo: { externalPolicyLocal: true, nodePort: 30000 },
    endpoints: [
      e('198.18.102.3:80', { nodeHints: ['node-b'], ready: true }),
      e('198.18.102.4:80', { nodeHints: [NODE], ready: true }),
      e('198.18.102.5:80', { ready: false, serving: true, terminating: true, isLocal: true }),
    ],
    clusterEndpoints: ['198.18.102.4:80'],
    localEndpoints: ['198.18.102.5:80'],
    allEndpoints: ['198.18.102.4:80', '198.18.102.5:80'],
  },
  {
    name: 'only serving-terminating endpoints: topology ignored, hints irrelevant',
    nodeLabels: { [ZONE]: 'zone-a' },
    serviceInfo: {},
    endpoints: [
      e('198.18.102.3:80', { zoneHints: ['zone-b'], ready: false, serving: true, terminating: true }),
      e('198.18.102.4:80', { zoneHints: ['zone-a'], ready: false, serving: false, terminating: true }),
    ],
    clusterEndpoints: ['198.18.102.3:80'],
    localEndpoints: null,
  },
];

function keys(list: readonly Endpoint[] | null): string[] | null {
  return list === null ? null : list.map(endpointKey);
}

for (const tc of cases) {
  test(`CategorizeEndpoints: ${tc.name}`, () => {
    const s = tc.serviceInfo;
    const flags = trafficFlags({
      nodePort: s.nodePort ?? 0,
      loadBalancerIPs: 0,
      externalIPs: 0,
      internalPolicyLocal: s.internalPolicyLocal ?? false,
      externalPolicyLocal: s.externalPolicyLocal ?? false,
    });
    const zone = tc.nodeLabels?.[ZONE] ?? '';
    const sorted = [...tc.endpoints].sort((a, b) => (endpointKey(a) < endpointKey(b) ? -1 : 1));
    const r = categorizeEndpoints(sorted, flags, NODE, zone);
    assert.deepEqual(keys(r.clusterEndpoints), tc.clusterEndpoints === null ? null : [...tc.clusterEndpoints].sort());
    assert.deepEqual(keys(r.localEndpoints), tc.localEndpoints === null ? null : [...tc.localEndpoints].sort());
    let expectedAll: string[];
    if (tc.clusterEndpoints !== null && tc.localEndpoints === null) expectedAll = tc.clusterEndpoints;
    else if (tc.localEndpoints !== null && tc.clusterEndpoints === null) expectedAll = tc.localEndpoints;
    else expectedAll = tc.allEndpoints ?? [];
    // Sorted, not only equal as sets: dataplanes rely on the order.
    assert.deepEqual(keys(r.allReachableEndpoints), [...expectedAll].sort());
    assert.equal(r.hasAnyEndpoints, expectedAll.length > 0 || (tc.onlyRemoteEndpoints ?? false));
  });
}
