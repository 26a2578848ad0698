// Synthetic cluster objects for the benchmark: N ClusterIP Services (one TCP port) with one
// EndpointSlice of E endpoints each, all inside the documentation/benchmark ranges.
//   Service i       ClusterIP 198.19.<i>>8 & 255>.<i & 255>, port 80 + (i >> 16)  (65536 IPs, then new ports)
//   endpoints       198.18.128.0/17 (pods), port 8080, spread over the range
// The pod namespace of the connection test answers on the whole /17 (AnyIP), so every endpoint
// of every service is reachable there.

import type { DataplaneConfig } from '../src/dataplane/config.js';
import type { BuildContext } from '../src/model/tracker.js';

export const NAMESPACE = 'bench';
export const POD_CIDR = '198.18.128.0/17';
export const SERVICE_CIDR = '198.19.0.0/16';
export const NODE_IP = '198.18.0.1';
export const CLIENT_IP = '198.18.0.2';
export const NODE_POD_SIDE_IP = '198.18.1.1';
export const POD_NS_IP = '198.18.1.2';
export const TARGET_PORT = 8080;
/** Usable pod addresses: 198.18.128.1 … 198.18.255.254. */
const POD_SLOTS = 32766;

export function clusterIP(i: number): string {
  return `198.19.${(i >> 8) & 255}.${i & 255}`;
}

export function servicePort(i: number): number {
  return 80 + (i >> 16);
}

/** The j-th endpoint address of service i (j may exceed E for added endpoints). */
export function podIP(i: number, j: number): string {
  const slot = ((i * 13 + j) % POD_SLOTS) + 1; // never .0 of the /17
  const n = (128 << 8) + slot; // offset within 198.18.0.0/16
  return `198.18.${n >> 8}.${n & 255}`;
}

export function serviceObject(i: number): Record<string, unknown> {
  const ip = clusterIP(i);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `svc-${i}`, namespace: NAMESPACE, resourceVersion: String(i + 1), uid: `uid-svc-${i}` },
    spec: {
      type: 'ClusterIP',
      clusterIP: ip,
      clusterIPs: [ip],
      ipFamilies: ['IPv4'],
      selector: { app: `svc-${i}` },
      ports: [{ name: 'http', port: servicePort(i), targetPort: TARGET_PORT, protocol: 'TCP' }],
    },
  };
}

/** Endpoint indexes `js` of service i as one EndpointSlice; `version` bumps resourceVersion. */
export function sliceObject(i: number, js: readonly number[], version = 0): Record<string, unknown> {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `svc-${i}-abcde`,
      namespace: NAMESPACE,
      resourceVersion: `${i + 1}.${version}`,
      labels: { 'kubernetes.io/service-name': `svc-${i}`, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: TARGET_PORT, protocol: 'TCP' }],
    endpoints: js.map((j) => ({
      addresses: [podIP(i, j)],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: `node-${j % 3}`,
    })),
  };
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, j) => j);
}

export const BUILD_CTX: BuildContext = { nodeIPs: [NODE_IP], nodePortAddresses: { matchAll: true }, serviceCIDRs: [SERVICE_CIDR] };

export const DATAPLANE_CONFIG: DataplaneConfig = {
  family: 'IPv4',
  masqueradeBit: 14,
  masqueradeAll: false,
  localDetector: { mode: 'cidr', cidr: POD_CIDR },
  localhostNodePorts: false,
  ipvsScheduler: '',
  ipvsExcludeCIDRs: [],
  ipvsStrictARP: false,
  ipvsTimeouts: { tcp: 0, tcpFin: 0, udp: 0 },
};
