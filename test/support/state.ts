// One builder of the dataplanes' input (ProxyState, ServicePort, Endpoint, DataplaneConfig) for
// every mode's tests. Endpoint categories follow upstream CategorizeEndpoints without topology
// (ready endpoints, else serving+terminating ones; local ones for a Local policy), so a case states
// endpoints and policies and gets what the model would select. Mode-specific defaults (node name,
// node IPs, local detector) are the callers' (test/<mode>/ fixtures wrap these).

import type { DataplaneConfig } from '../../src/dataplane/config.js';
import { joinHostPort } from '../../src/model/ip.js';
import type { Endpoint, IPFamily, NodePortAddresses, ProxyState, ServicePort } from '../../src/model/types.js';

export function endpoint(ip: string, o: Partial<Endpoint> = {}): Endpoint {
  return { ip, port: 8080, ready: true, serving: true, terminating: false, isLocal: false, nodeName: 'other', zone: '', zoneHints: null, nodeHints: null, ...o };
}

const hostPort = (e: Endpoint): string => joinHostPort(e.ip, e.port);
export const byHostPort = (a: Endpoint, b: Endpoint): number => (hostPort(a) < hostPort(b) ? -1 : hostPort(a) > hostPort(b) ? 1 : 0);

/** Derived from the other fields by servicePort(), never given. */
type Derived = 'key' | 'spn' | 'namespace' | 'serviceName' | 'allReachableEndpoints' | 'hasAnyEndpoints' | 'externallyAccessible' | 'usesClusterEndpoints' | 'usesLocalEndpoints';

export interface ServicePortOpts extends Partial<Omit<ServicePort, Derived | 'endpoints'>> {
  readonly endpoints?: readonly Endpoint[];
  // clusterEndpoints / localEndpoints (from Partial<ServicePort>): when given, they replace the
  // computed category, for a case that states exactly which endpoints upstream would pick.
}

/** A ServicePort with the derived flags and endpoint categories computed as the model does (no topology). */
export function servicePort(ns: string, name: string, o: ServicePortOpts = {}): ServicePort {
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
  const clusterEndpoints = o.clusterEndpoints ?? (usesClusterEndpoints ? (ready.length ? ready : endpoints.filter((e) => e.serving && e.terminating)) : []);
  let localEndpoints: readonly Endpoint[] = [];
  if (o.localEndpoints) localEndpoints = o.localEndpoints;
  else if (usesLocalEndpoints) {
    const lr = endpoints.filter((e) => e.isLocal && e.ready);
    localEndpoints = lr.length ? lr : endpoints.filter((e) => e.isLocal && e.serving && e.terminating);
  }
  const all = [...new Set([...clusterEndpoints, ...localEndpoints])].sort(byHostPort);
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
    trafficDistribution: o.trafficDistribution ?? '',
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

export interface StateOpts {
  readonly family?: IPFamily;
  readonly nodeName?: string;
  readonly nodeIPs?: readonly string[];
  readonly nodeLabels?: Readonly<Record<string, string>>;
  readonly nodePortAddresses?: NodePortAddresses;
  readonly serviceCIDRs?: readonly string[];
  readonly generation?: number;
}

/** A ProxyState of `services` (sorted by key, as the model's). */
export function proxyState(services: readonly ServicePort[], o: StateOpts = {}): ProxyState {
  const family = o.family ?? 'IPv4';
  const sorted = [...services].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return {
    family,
    services: new Map(sorted.map((s) => [s.key, s])),
    node: { name: o.nodeName ?? 'node-a', ips: o.nodeIPs ?? (family === 'IPv6' ? ['2001:db8::1'] : ['198.18.0.1']), labels: o.nodeLabels ?? {} },
    nodePortAddresses: o.nodePortAddresses ?? { matchAll: true },
    serviceCIDRs: o.serviceCIDRs ?? [],
    generation: o.generation ?? 1,
  };
}

/** The same state with some services replaced/added/removed; untouched ServicePorts keep identity. */
export function withServices(prev: ProxyState, upsert: readonly ServicePort[], remove: readonly string[] = []): ProxyState {
  const m = new Map(prev.services);
  for (const k of remove) m.delete(k);
  for (const s of upsert) m.set(s.key, s);
  const sorted = [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { ...prev, services: new Map(sorted), generation: prev.generation + 1 };
}

/** Dataplane settings with every mode's section at its default. */
export function dataplaneConfig(o: Partial<DataplaneConfig> = {}): DataplaneConfig {
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
