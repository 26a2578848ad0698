// ServicePort / ProxyState builders for the IPVS planner tests (endpoint categorisation given
// explicitly, so each case states exactly which endpoints upstream would pick).

import type { Endpoint, IPFamily, ProxyState, ServicePort } from '../../src/model/types.js';
import type { DataplaneConfig } from '../../src/dataplane/config.js';
import { dataplaneConfig, proxyState } from '../support/state.js';

export function ep(ip: string, port: number, o: Partial<Endpoint> = {}): Endpoint {
  return {
    ip,
    port,
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

export type SpInput = Partial<ServicePort> & { name: string; clusterIP: string; port: number };

export function sp(i: SpInput): ServicePort {
  const protocol = i.protocol ?? 'TCP';
  const ns = i.namespace ?? 'ns';
  const portName = i.portName ?? 'p';
  const endpoints = i.endpoints ?? [];
  const externallyAccessible = (i.nodePort ?? 0) !== 0 || (i.externalIPs ?? []).length > 0 || (i.loadBalancerIPs ?? []).length > 0;
  const ready = endpoints.filter((e) => e.ready);
  const local = ready.filter((e) => e.isLocal);
  const clusterEndpoints = i.clusterEndpoints ?? ready;
  const localEndpoints = i.localEndpoints ?? local;
  return {
    key: `${ns}/${i.name}:${portName}/${protocol}`,
    spn: `${ns}/${i.name}:${portName}`,
    namespace: ns,
    serviceName: i.name,
    portName,
    protocol,
    family: i.family ?? (i.clusterIP.includes(':') ? 'IPv6' : 'IPv4'),
    clusterIP: i.clusterIP,
    port: i.port,
    nodePort: i.nodePort ?? 0,
    externalIPs: i.externalIPs ?? [],
    loadBalancerIPs: i.loadBalancerIPs ?? [],
    loadBalancerSourceRanges: i.loadBalancerSourceRanges ?? [],
    affinityTimeoutSeconds: i.affinityTimeoutSeconds ?? 0,
    externalPolicyLocal: i.externalPolicyLocal ?? false,
    internalPolicyLocal: i.internalPolicyLocal ?? false,
    healthCheckNodePort: i.healthCheckNodePort ?? 0,
    trafficDistribution: '',
    endpoints,
    clusterEndpoints,
    localEndpoints,
    allReachableEndpoints: [...new Set([...clusterEndpoints, ...localEndpoints])],
    hasAnyEndpoints: clusterEndpoints.length > 0 || localEndpoints.length > 0,
    externallyAccessible,
    usesClusterEndpoints: true,
    usesLocalEndpoints: i.externalPolicyLocal ?? false,
  };
}

export function state(services: ServicePort[], o: { family?: IPFamily; nodeIPs?: string[]; nodePortIPs?: string[]; generation?: number } = {}): ProxyState {
  const family = o.family ?? 'IPv4';
  return proxyState(services, {
    family,
    nodeName: 'node1',
    nodeIPs: o.nodeIPs ?? (family === 'IPv6' ? ['2001:db8:1::1'] : ['198.18.0.1']),
    nodePortAddresses: o.nodePortIPs ? { matchAll: false, ips: o.nodePortIPs } : { matchAll: true },
    generation: o.generation,
  });
}

export function config(o: Partial<DataplaneConfig> = {}): DataplaneConfig {
  return dataplaneConfig({ family: 'IPv4', localDetector: { mode: 'cidr', cidr: '198.18.128.0/17' }, ...o });
}
