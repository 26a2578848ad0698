// Manifest fixtures and small helpers shared by the runtime and CLI tests.
// Addresses: 198.18.0.0/15 and 2001:db8::/32 only.

import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Endpoint, ProxyState, ServicePort } from '../../src/model/types.js';

export interface SvcSpec {
  name: string;
  namespace?: string;
  clusterIP: string;
  port: number;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  portName?: string;
  nodePort?: number;
  type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  externalTrafficPolicy?: 'Cluster' | 'Local';
  healthCheckNodePort?: number;
  lbIP?: string;
}

export function serviceObject(s: SvcSpec): Record<string, unknown> {
  const ns = s.namespace ?? 'default';
  const family = s.clusterIP.includes(':') ? 'IPv6' : 'IPv4';
  const spec: Record<string, unknown> = {
    type: s.type ?? 'ClusterIP',
    clusterIP: s.clusterIP,
    clusterIPs: [s.clusterIP],
    ipFamilies: [family],
    ports: [
      {
        name: s.portName ?? 'p',
        port: s.port,
        protocol: s.protocol ?? 'TCP',
        targetPort: s.port,
        ...(s.nodePort ? { nodePort: s.nodePort } : {}),
      },
    ],
  };
  if (s.externalTrafficPolicy) spec.externalTrafficPolicy = s.externalTrafficPolicy;
  if (s.healthCheckNodePort) spec.healthCheckNodePort = s.healthCheckNodePort;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: ns, resourceVersion: '1', uid: `uid-${ns}-${s.name}` },
    spec,
    status: s.lbIP ? { loadBalancer: { ingress: [{ ip: s.lbIP }] } } : {},
  };
}

export interface EpSpec {
  ip: string;
  nodeName?: string;
  ready?: boolean;
}

export function sliceObject(
  svc: string,
  port: number,
  endpoints: readonly EpSpec[],
  opts: { namespace?: string; portName?: string; protocol?: string; sliceName?: string } = {},
): Record<string, unknown> {
  const ns = opts.namespace ?? 'default';
  const v6 = endpoints.some((e) => e.ip.includes(':'));
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: opts.sliceName ?? `${svc}-abc`,
      namespace: ns,
      labels: { 'kubernetes.io/service-name': svc },
      resourceVersion: '1',
    },
    addressType: v6 ? 'IPv6' : 'IPv4',
    ports: [{ name: opts.portName ?? 'p', port, protocol: opts.protocol ?? 'TCP' }],
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true, serving: e.ready ?? true, terminating: false },
      ...(e.nodeName ? { nodeName: e.nodeName } : {}),
    })),
  };
}

export function nodeObject(name: string, ips: readonly string[], extra: { deleting?: boolean; taint?: boolean } = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      resourceVersion: '1',
      labels: { 'kubernetes.io/hostname': name },
      ...(extra.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    },
    spec: extra.taint ? { taints: [{ key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule' }] } : {},
    status: { addresses: ips.map((address) => ({ type: 'InternalIP', address })) },
  };
}

/** A fresh temporary directory; remove it with rmDir. */
export async function tempDir(prefix: string): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function rmDir(dir: string): Promise<void> {
  await fsp.rm(dir, { recursive: true, force: true });
}

/** Write objects as one JSON manifest file (atomically, so the watcher never sees half a file). */
export async function writeManifest(dir: string, file: string, objects: readonly unknown[]): Promise<void> {
  const tmp = path.join(dir, `.${file}.tmp`);
  await fsp.writeFile(tmp, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2));
  await fsp.rename(tmp, path.join(dir, file));
}

/** Poll `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function eventually<T>(fn: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A model Endpoint (for tests that build ProxyState directly). */
export function endpoint(ip: string, port: number, serving = true): Endpoint {
  return { ip, port, ready: serving, serving, terminating: false, isLocal: false, nodeName: '', zone: '', zoneHints: null, nodeHints: null };
}

/** A UDP ServicePort in default/<name>, selection done as the model would for Cluster policies. */
export function udpServicePort(name: string, clusterIP: string, port: number, endpoints: Endpoint[], extra: Partial<ServicePort> = {}): ServicePort {
  const ready = endpoints.filter((e) => e.ready);
  return {
    key: `default/${name}:p/UDP`,
    spn: `default/${name}:p`,
    namespace: 'default',
    serviceName: name,
    portName: 'p',
    protocol: 'UDP',
    family: 'IPv4',
    clusterIP,
    port,
    nodePort: 0,
    externalIPs: [],
    loadBalancerIPs: [],
    loadBalancerSourceRanges: [],
    affinityTimeoutSeconds: 0,
    externalPolicyLocal: false,
    internalPolicyLocal: false,
    healthCheckNodePort: 0,
    trafficDistribution: '',
    endpoints,
    clusterEndpoints: ready,
    localEndpoints: [],
    allReachableEndpoints: ready,
    hasAnyEndpoints: ready.length > 0,
    externallyAccessible: (extra.nodePort ?? 0) > 0,
    usesClusterEndpoints: true,
    usesLocalEndpoints: false,
    ...extra,
  };
}

/** An IPv4 ProxyState holding `ports`. */
export function stateOf(ports: readonly ServicePort[]): ProxyState {
  return {
    family: 'IPv4',
    services: new Map(ports.map((p) => [p.key, p])),
    node: { name: 'node-a', ips: ['198.18.0.1'], labels: {} },
    nodePortAddresses: { matchAll: true },
    serviceCIDRs: [],
    generation: 1,
  };
}
