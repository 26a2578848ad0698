// Endpoint selection: upstream CategorizeEndpoints (pkg/proxy/topology.go).
// "Usable" means Ready, falling back to Serving+Terminating (independently for the
// Cluster and the Local set). Topology hints apply to Cluster endpoints only.

import { joinHostPort } from './ip.js';
import type { Endpoint } from './types.js';

export const LABEL_TOPOLOGY_ZONE = 'topology.kubernetes.io/zone';
export const LABEL_HOSTNAME = 'kubernetes.io/hostname';

export type TopologyMode = '' | 'PreferSameZone' | 'PreferSameNode';

export interface SelectionPolicy {
  readonly usesClusterEndpoints: boolean;
  readonly usesLocalEndpoints: boolean;
}

export interface Selection {
  /** null: the service port never uses Cluster endpoints. */
  readonly clusterEndpoints: readonly Endpoint[] | null;
  /** null: the service port never uses Local endpoints. */
  readonly localEndpoints: readonly Endpoint[] | null;
  readonly allReachableEndpoints: readonly Endpoint[];
  readonly hasAnyEndpoints: boolean;
  readonly topologyMode: TopologyMode;
}

const NONE: readonly Endpoint[] = Object.freeze([]);

/**
 * PreferSameNode when every ready endpoint has node hints and one names this node
 * (PreferSameTrafficDistribution is GA in 1.35, so always on); else PreferSameZone when
 * every ready endpoint has zone hints and one names this node's zone; else none.
 */
export function topologyModeFromHints(endpoints: readonly Endpoint[], nodeName: string, zone: string): TopologyMode {
  let hasReady = false;
  let allNodeHints = true;
  let forNode = false;
  let allZoneHints = true;
  let forZone = false;
  for (const ep of endpoints) {
    if (!ep.ready) continue;
    hasReady = true;
    if (ep.nodeHints === null || ep.nodeHints.length === 0) allNodeHints = false;
    else if (ep.nodeHints.includes(nodeName)) forNode = true;
    if (ep.zoneHints === null || ep.zoneHints.length === 0) allZoneHints = false;
    else if (ep.zoneHints.includes(zone)) forZone = true;
  }
  if (!hasReady) return '';
  if (allNodeHints && forNode) return 'PreferSameNode';
  if (allZoneHints && forZone) return 'PreferSameZone';
  return '';
}

function availableForTopology(ep: Endpoint, mode: TopologyMode, nodeName: string, zone: string): boolean {
  if (mode === '') return true;
  if (mode === 'PreferSameNode') return ep.nodeHints !== null && ep.nodeHints.includes(nodeName);
  return ep.zoneHints !== null && ep.zoneHints.includes(zone);
}

export function endpointKey(ep: Endpoint): string {
  return joinHostPort(ep.ip, ep.port);
}

/** `endpoints` must be sorted by endpointKey; every returned list is too. */
export function categorizeEndpoints(
  endpoints: readonly Endpoint[],
  policy: SelectionPolicy,
  nodeName: string,
  zone: string,
): Selection {
  if (endpoints.length === 0) {
    return {
      clusterEndpoints: policy.usesClusterEndpoints ? NONE : null,
      localEndpoints: policy.usesLocalEndpoints ? NONE : null,
      allReachableEndpoints: NONE,
      hasAnyEndpoints: false,
      topologyMode: '',
    };
  }
  let mode: TopologyMode = '';
  let cluster: readonly Endpoint[] | null = null;
  let hasAny = false;
  if (policy.usesClusterEndpoints) {
    mode = topologyModeFromHints(endpoints, nodeName, zone);
    // Common case first: every endpoint ready, no topology → the input list itself.
    let c: readonly Endpoint[] =
      mode === '' && endpoints.every((ep) => ep.ready)
        ? endpoints
        : endpoints.filter((ep) => ep.ready && availableForTopology(ep, mode, nodeName, zone));
    // No ready endpoint anywhere (topology already fell back when none matched): use terminating ones.
    if (c.length === 0) c = endpoints.filter((ep) => ep.serving && ep.terminating);
    if (c.length > 0) hasAny = true;
    cluster = c;
  }
  if (!policy.usesLocalEndpoints) {
    return { clusterEndpoints: cluster, localEndpoints: null, allReachableEndpoints: cluster ?? NONE, hasAnyEndpoints: hasAny, topologyMode: mode };
  }

  let localReady = false;
  let localServingTerminating = false;
  for (const ep of endpoints) {
    if (ep.ready) {
      hasAny = true;
      if (ep.isLocal) localReady = true;
    } else if (ep.serving && ep.terminating) {
      hasAny = true;
      if (ep.isLocal) localServingTerminating = true;
    }
  }
  let local: readonly Endpoint[] = NONE;
  let useServingTerminating = false;
  if (localReady) {
    local = endpoints.filter((ep) => ep.isLocal && ep.ready);
  } else if (localServingTerminating) {
    useServingTerminating = true;
    local = endpoints.filter((ep) => ep.isLocal && ep.serving && ep.terminating);
  }

  if (cluster === null) {
    return { clusterEndpoints: null, localEndpoints: local, allReachableEndpoints: local, hasAnyEndpoints: hasAny, topologyMode: mode };
  }
  if (mode === '' && !useServingTerminating) {
    // cluster holds every ready endpoint and local only ready ones: cluster is a superset.
    return { clusterEndpoints: cluster, localEndpoints: local, allReachableEndpoints: cluster, hasAnyEndpoints: hasAny, topologyMode: mode };
  }
  // Both lists are sorted subsequences of `endpoints`: their union in that order is sorted.
  const inCluster = new Set(cluster);
  const inLocal = new Set(local);
  const all = endpoints.filter((ep) => inCluster.has(ep) || inLocal.has(ep));
  return { clusterEndpoints: cluster, localEndpoints: local, allReachableEndpoints: all, hasAnyEndpoints: hasAny, topologyMode: mode };
}
