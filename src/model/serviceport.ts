// ServicePort construction for one family (upstream newBaseServiceInfo + CategorizeEndpoints)
// and the structural equality that lets the tracker keep unchanged objects.

import { portId } from './merge.js';
import type { ParsedService } from './service.js';
import { categorizeEndpoints } from './topology.js';
import type { Endpoint, IPFamily, ServicePort } from './types.js';

const NONE: readonly Endpoint[] = Object.freeze([]);

function frozen<T>(list: readonly T[]): readonly T[] {
  return Object.isFrozen(list) ? list : Object.freeze(list);
}

export function servicePortKey(namespace: string, name: string, portName: string, protocol: string): string {
  return `${namespace}/${name}:${portName}/${protocol}`;
}

export interface TrafficFlags {
  readonly externallyAccessible: boolean;
  readonly usesClusterEndpoints: boolean;
  readonly usesLocalEndpoints: boolean;
}

/** Upstream serviceport.go ExternallyAccessible / UsesClusterEndpoints / UsesLocalEndpoints. */
export function trafficFlags(p: {
  nodePort: number;
  loadBalancerIPs: number;
  externalIPs: number;
  internalPolicyLocal: boolean;
  externalPolicyLocal: boolean;
}): TrafficFlags {
  const externallyAccessible = p.nodePort !== 0 || p.loadBalancerIPs > 0 || p.externalIPs > 0;
  return {
    externallyAccessible,
    // Even with eTP=Local, external traffic from pods/host short-circuits to cluster endpoints.
    usesClusterEndpoints: !p.internalPolicyLocal || externallyAccessible,
    usesLocalEndpoints: p.internalPolicyLocal || (p.externalPolicyLocal && externallyAccessible),
  };
}

/** The ServicePorts of `svc` for `family`, sorted by key; empty when the service has no ClusterIP of that family. */
export function buildServicePorts(
  svc: ParsedService,
  family: IPFamily,
  endpointsByPort: ReadonlyMap<string, readonly Endpoint[]>,
  nodeName: string,
  zone: string,
): ServicePort[] {
  const fam = svc.families[family];
  if (!fam) return [];
  const out: ServicePort[] = [];
  for (const p of svc.ports) {
    const nodePort = p.nodePort;
    const { externallyAccessible, usesClusterEndpoints, usesLocalEndpoints } = trafficFlags({
      nodePort,
      loadBalancerIPs: fam.loadBalancerIPs.length,
      externalIPs: fam.externalIPs.length,
      internalPolicyLocal: svc.internalPolicyLocal,
      externalPolicyLocal: svc.externalPolicyLocal,
    });
    const endpoints = endpointsByPort.get(portId(p.name, p.protocol)) ?? NONE;
    const sel = categorizeEndpoints(endpoints, { usesClusterEndpoints, usesLocalEndpoints }, nodeName, zone);
    // Frozen (with its lists): states are shared between builds and consumers, so a
    // consumer mutating one would silently corrupt later states.
    out.push(Object.freeze({
      key: servicePortKey(svc.namespace, svc.name, p.name, p.protocol),
      spn: p.name === '' ? `${svc.namespace}/${svc.name}` : `${svc.namespace}/${svc.name}:${p.name}`,
      namespace: svc.namespace,
      serviceName: svc.name,
      portName: p.name,
      protocol: p.protocol,
      family,
      clusterIP: fam.clusterIP,
      port: p.port,
      nodePort,
      externalIPs: fam.externalIPs,
      loadBalancerIPs: fam.loadBalancerIPs,
      loadBalancerSourceRanges: fam.loadBalancerSourceRanges,
      affinityTimeoutSeconds: svc.affinityTimeoutSeconds,
      externalPolicyLocal: svc.externalPolicyLocal,
      internalPolicyLocal: svc.internalPolicyLocal,
      healthCheckNodePort: svc.healthCheckNodePort,
      trafficDistribution: svc.trafficDistribution,
      endpoints,
      clusterEndpoints: frozen(sel.clusterEndpoints ?? NONE),
      localEndpoints: frozen(sel.localEndpoints ?? NONE),
      allReachableEndpoints: frozen(sel.allReachableEndpoints),
      hasAnyEndpoints: sel.hasAnyEndpoints,
      externallyAccessible,
      usesClusterEndpoints,
      usesLocalEndpoints,
    }));
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function stringsEqual(a: readonly string[] | null, b: readonly string[] | null): boolean {
  if (a === b) return true;
  if (a === null || b === null || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function endpointEqual(a: Endpoint, b: Endpoint): boolean {
  return (
    a === b ||
    (a.ip === b.ip &&
      a.port === b.port &&
      a.ready === b.ready &&
      a.serving === b.serving &&
      a.terminating === b.terminating &&
      a.isLocal === b.isLocal &&
      a.nodeName === b.nodeName &&
      a.zone === b.zone &&
      stringsEqual(a.zoneHints, b.zoneHints) &&
      stringsEqual(a.nodeHints, b.nodeHints))
  );
}

export function endpointsEqual(a: readonly Endpoint[], b: readonly Endpoint[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!endpointEqual(a[i]!, b[i]!)) return false;
  return true;
}

/** Structural equality over every field of the contract. */
export function servicePortEqual(a: ServicePort, b: ServicePort): boolean {
  return (
    a === b ||
    (a.key === b.key &&
      a.spn === b.spn &&
      a.namespace === b.namespace &&
      a.serviceName === b.serviceName &&
      a.portName === b.portName &&
      a.protocol === b.protocol &&
      a.family === b.family &&
      a.clusterIP === b.clusterIP &&
      a.port === b.port &&
      a.nodePort === b.nodePort &&
      stringsEqual(a.externalIPs, b.externalIPs) &&
      stringsEqual(a.loadBalancerIPs, b.loadBalancerIPs) &&
      stringsEqual(a.loadBalancerSourceRanges, b.loadBalancerSourceRanges) &&
      a.affinityTimeoutSeconds === b.affinityTimeoutSeconds &&
      a.externalPolicyLocal === b.externalPolicyLocal &&
      a.internalPolicyLocal === b.internalPolicyLocal &&
      a.healthCheckNodePort === b.healthCheckNodePort &&
      a.trafficDistribution === b.trafficDistribution &&
      a.hasAnyEndpoints === b.hasAnyEndpoints &&
      a.externallyAccessible === b.externallyAccessible &&
      a.usesClusterEndpoints === b.usesClusterEndpoints &&
      a.usesLocalEndpoints === b.usesLocalEndpoints &&
      endpointsEqual(a.endpoints, b.endpoints) &&
      endpointsEqual(a.clusterEndpoints, b.clusterEndpoints) &&
      endpointsEqual(a.localEndpoints, b.localEndpoints) &&
      endpointsEqual(a.allReachableEndpoints, b.allReachableEndpoints))
  );
}
