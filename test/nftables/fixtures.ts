// Builders for ProxyState / ServicePort values (the planner's input) in nftables tests.

import type { Endpoint, IPFamily, NodePortAddresses, ProxyState, ServicePort } from '../../src/model/types.js';
import type { DataplaneConfig } from '../../src/dataplane/config.js';

export function ep(ip: string, o: Partial<Endpoint> = {}): Endpoint {
  return {
    ip,
    port: 8080,
    ready: true,
    serving: true,
    terminating: false,
    isLocal: false,
    nodeName: 'other',
    zone: '',
    zoneHints: null,
    nodeHints: null,
    ...o,
  };
}

export interface SpOpts extends Partial<Omit<ServicePort, 'endpoints'>> {
  endpoints?: readonly Endpoint[];
}

/** A ServicePort with endpoint categories derived like the model does for the simple cases. */
export function sp(ns: string, name: string, o: SpOpts = {}): ServicePort {
  const portName = o.portName ?? 'p';
  const protocol = o.protocol ?? 'TCP';
  const endpoints = o.endpoints ?? [];
  const family: IPFamily = o.family ?? ((o.clusterIP ?? '').includes(':') ? 'IPv6' : 'IPv4');
  const nodePort = o.nodePort ?? 0;
  const externalIPs = o.externalIPs ?? [];
  const loadBalancerIPs = o.loadBalancerIPs ?? [];
  const externallyAccessible = nodePort !== 0 || externalIPs.length > 0 || loadBalancerIPs.length > 0;
  const iLocal = o.internalPolicyLocal ?? false;
  const eLocal = (o.externalPolicyLocal ?? false) && externallyAccessible;
  const usesClusterEndpoints = !iLocal || externallyAccessible;
  const usesLocalEndpoints = iLocal || eLocal;
  const ready = endpoints.filter((e) => e.ready);
  const clusterEndpoints = usesClusterEndpoints ? (ready.length ? ready : endpoints.filter((e) => e.serving && e.terminating)) : [];
  let localEndpoints: Endpoint[] = [];
  if (usesLocalEndpoints) {
    const lr = endpoints.filter((e) => e.isLocal && e.ready);
    localEndpoints = lr.length ? lr : endpoints.filter((e) => e.isLocal && e.serving && e.terminating);
  }
  const all = [...new Set([...clusterEndpoints, ...localEndpoints])].sort((a, b) =>
    `${a.ip}:${a.port}` < `${b.ip}:${b.port}` ? -1 : 1,
  );
  const hasAnyEndpoints = clusterEndpoints.length > 0 || (usesLocalEndpoints && endpoints.some((e) => e.ready || (e.serving && e.terminating)));
  return {
    key: `${ns}/${name}:${portName}/${protocol}`,
    spn: portName ? `${ns}/${name}:${portName}` : `${ns}/${name}`,
    namespace: ns,
    serviceName: name,
    portName,
    protocol,
    family,
    clusterIP: o.clusterIP ?? '198.19.0.1',
    port: o.port ?? 80,
    nodePort,
    externalIPs,
    loadBalancerIPs,
    loadBalancerSourceRanges: o.loadBalancerSourceRanges ?? [],
    affinityTimeoutSeconds: o.affinityTimeoutSeconds ?? 0,
    externalPolicyLocal: eLocal,
    internalPolicyLocal: iLocal,
    healthCheckNodePort: o.healthCheckNodePort ?? 0,
    trafficDistribution: '',
    endpoints,
    clusterEndpoints,
    localEndpoints,
    allReachableEndpoints: all,
    hasAnyEndpoints,
    externallyAccessible,
    usesClusterEndpoints,
    usesLocalEndpoints,
  };
}

export function state(
  services: readonly ServicePort[],
  o: { family?: IPFamily; nodeIPs?: string[]; nodePortAddresses?: NodePortAddresses; serviceCIDRs?: string[]; generation?: number } = {},
): ProxyState {
  const family = o.family ?? 'IPv4';
  const sorted = [...services].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return {
    family,
    services: new Map(sorted.map((s) => [s.key, s])),
    node: { name: 'node-a', ips: o.nodeIPs ?? (family === 'IPv6' ? ['2001:db8::1'] : ['198.18.0.1']), labels: {} },
    nodePortAddresses: o.nodePortAddresses ?? { matchAll: true },
    serviceCIDRs: o.serviceCIDRs ?? [],
    generation: o.generation ?? 1,
  };
}

export function config(o: Partial<DataplaneConfig> = {}): DataplaneConfig {
  const family = o.family ?? 'IPv4';
  return {
    family,
    masqueradeBit: 14,
    masqueradeAll: false,
    localDetector: { mode: 'cidr', cidr: family === 'IPv6' ? '2001:db8:100::/64' : '198.18.100.0/24' },
    localhostNodePorts: false,
    ipvsScheduler: '',
    ipvsExcludeCIDRs: [],
    ipvsStrictARP: false,
    ipvsTimeouts: { tcp: 0, tcpFin: 0, udp: 0 },
    ...o,
  };
}
