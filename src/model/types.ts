// The control-plane model's output: one immutable desired state per IP family.
// Every dataplane consumes exactly this; nothing below src/dataplane reads API objects.
//
// Identity rule (what makes incremental dataplanes O(changes)): the state builder reuses
// the previous ServicePort object when neither the Service nor any of its EndpointSlices
// changed since the last build. A dataplane may therefore treat
// `prev.services.get(k) === next.services.get(k)` as "unchanged".

export type IPFamily = 'IPv4' | 'IPv6';
export type Protocol = 'TCP' | 'UDP' | 'SCTP';

/** One endpoint of one service port (one EndpointSlice endpoint, first address, one port). */
export interface Endpoint {
  /** Normalised textual IP (IPv6 compressed, lower case). */
  readonly ip: string;
  readonly port: number;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  /** nodeName equals this node's name (an empty nodeName is never local). */
  readonly isLocal: boolean;
  readonly nodeName: string;
  readonly zone: string;
  /** hints.forZones names; null when the endpoint carries no zone hints. */
  readonly zoneHints: readonly string[] | null;
  /** hints.forNodes names; null when the endpoint carries no node hints. */
  readonly nodeHints: readonly string[] | null;
}

/** One port of one Service, for one IP family, with endpoint selection already done. */
export interface ServicePort {
  /** Stable map key: `${namespace}/${serviceName}:${portName}/${protocol}` (portName may be empty). */
  readonly key: string;
  /** Upstream ServicePortName.String(): "ns/name:portName", or "ns/name" when the port is unnamed. */
  readonly spn: string;
  readonly namespace: string;
  readonly serviceName: string;
  readonly portName: string;
  readonly protocol: Protocol;
  readonly family: IPFamily;
  readonly clusterIP: string;
  readonly port: number;
  /** 0 when the port has no NodePort. */
  readonly nodePort: number;
  /** spec.externalIPs of this family, normalised. */
  readonly externalIPs: readonly string[];
  /** status.loadBalancer.ingress[].ip of this family, excluding ipMode=Proxy, normalised. */
  readonly loadBalancerIPs: readonly string[];
  /** spec.loadBalancerSourceRanges of this family, normalised CIDRs ("198.18.0.0/16"). */
  readonly loadBalancerSourceRanges: readonly string[];
  /** sessionAffinity ClientIP timeout in seconds; 0 means no affinity. */
  readonly affinityTimeoutSeconds: number;
  /** externalTrafficPolicy Local (only meaningful when externally accessible). */
  readonly externalPolicyLocal: boolean;
  /** internalTrafficPolicy Local. */
  readonly internalPolicyLocal: boolean;
  /** spec.healthCheckNodePort when type=LoadBalancer and eTP=Local, else 0. */
  readonly healthCheckNodePort: number;
  /** spec.trafficDistribution ("" when unset). */
  readonly trafficDistribution: string;

  /** Every endpoint of this port (any condition), sorted by "ip:port", duplicates merged. */
  readonly endpoints: readonly Endpoint[];
  /** Endpoints for cluster-wide traffic (upstream CategorizeEndpoints clusterEndpoints); empty when unused. */
  readonly clusterEndpoints: readonly Endpoint[];
  /** Endpoints for Local-policy traffic (upstream localEndpoints); empty when unused. */
  readonly localEndpoints: readonly Endpoint[];
  /** Union of clusterEndpoints and localEndpoints, sorted (upstream allReachableEndpoints). */
  readonly allReachableEndpoints: readonly Endpoint[];
  /** Upstream hasAnyEndpoints: false means REJECT traffic to every IP/port of this service port. */
  readonly hasAnyEndpoints: boolean;
  /** Derived upstream flags (serviceport.go). */
  readonly externallyAccessible: boolean;
  readonly usesClusterEndpoints: boolean;
  readonly usesLocalEndpoints: boolean;
}

/** Node facts a dataplane needs, for one family. */
export interface NodeContext {
  readonly name: string;
  /** This node's IPs of this family (from the Node object or local interfaces), normalised. */
  readonly ips: readonly string[];
  /** Node labels (zone for topology). */
  readonly labels: Readonly<Record<string, string>>;
}

/** Which local IPs accept NodePort traffic, resolved for one family. */
export type NodePortAddresses =
  | { readonly matchAll: true }
  | { readonly matchAll: false; readonly ips: readonly string[] };

/** The desired state of one family at one instant. Immutable. */
export interface ProxyState {
  readonly family: IPFamily;
  /** key (ServicePort.key) -> ServicePort. Iteration order is sorted by key. */
  readonly services: ReadonlyMap<string, ServicePort>;
  readonly node: NodeContext;
  readonly nodePortAddresses: NodePortAddresses;
  /** ServiceCIDRs of this family when known (for "drop unallocated ClusterIP"), else empty. */
  readonly serviceCIDRs: readonly string[];
  /** Increments on every build. */
  readonly generation: number;
}

/** What changed between two consecutive states of one family (for conntrack cleanup and metrics). */
export interface StateChange {
  /** ServicePort keys added, removed or modified since the previous state. */
  readonly changedKeys: ReadonlySet<string>;
  /** A UDP service port's endpoints changed, or a UDP service port was added/removed. */
  readonly conntrackCleanupRequired: boolean;
  /** Node topology labels changed: dataplanes should do a full sync. */
  readonly topologyChanged: boolean;
  /** Trigger times (EndpointSlice last-change-trigger-time annotations) folded into this state. */
  readonly triggerTimes: readonly Date[];
}
