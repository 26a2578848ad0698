// The objects the end-to-end measurements load (test/perf/*.manual.ts): N Services × E endpoints, one
// EndpointSlice each, ClusterIPs in 198.19.0.0/16, endpoints at addresses nothing answers
// (198.18.128.0/17) except where a caller puts real pods, and this node's Node object.

import { ADDR, NODE_NAME, POD_PORT } from './topology.js';

export type Obj = Record<string, unknown>;

export function svcIP(i: number): string {
  return `198.19.${(i >> 8) & 255}.${i & 255}`;
}

/** An endpoint address nothing answers; uniqueness does not matter. */
export function fakeEndpoint(i: number, k: number, perService = 10): string {
  const x = (i * perService + k) % 32_000;
  return `198.18.${128 + (x >> 8)}.${x & 255}`;
}

export function serviceObj(i: number): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `perf-${i}`, namespace: 'default', uid: `svc-${i}`, labels: { app: `perf-${i}` } },
    spec: {
      type: 'ClusterIP',
      clusterIP: svcIP(i),
      clusterIPs: [svcIP(i)],
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      selector: { app: `perf-${i}` },
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
      ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: POD_PORT.tcp }],
    },
  };
}

export function sliceObj(i: number, ips: readonly string[]): Obj {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `perf-${i}-abcde`,
      namespace: 'default',
      labels: { 'kubernetes.io/service-name': `perf-${i}`, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: POD_PORT.tcp, protocol: 'TCP' }],
    endpoints: ips.map((ip, k) => ({
      addresses: [ip],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: k % 3 === 0 ? NODE_NAME.node : 'node-x',
      targetRef: { kind: 'Pod', namespace: 'default', name: `perf-${i}-pod-${k}` },
    })),
  };
}

export function nodeObject(): Obj {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name: NODE_NAME.node }, spec: {}, status: { addresses: [{ type: 'InternalIP', address: ADDR.node.ipv4 }] } };
}

/** Service i (1-based) of n and its slice; the last Service's slice holds `lastEndpoints` (real pods). */
export function perfObjects(i: number, n: number, perService = 10, lastEndpoints: readonly string[] = ['198.18.100.1']): Obj[] {
  const ips = i === n ? lastEndpoints : Array.from({ length: perService }, (_, k) => fakeEndpoint(i, k, perService));
  return [serviceObj(i), sliceObj(i, ips)];
}
