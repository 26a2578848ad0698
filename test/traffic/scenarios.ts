// THE scenario table: Service + EndpointSlice shapes, proxy flags and the traffic outcome each must
// produce. The nftables, iptables (nft and legacy) and IPVS suites all run this table unchanged;
// where upstream IPVS behaves differently a check carries a per-mode override with the reason.
//
// Vocabulary
// - A Group is one proxy run (same flags); its scenarios' objects are all loaded at once, each
//   scenario in its own manifests file so steps can rewrite it at run time.
// - A Check sends traffic `from` a namespace to a `target` and states what must happen:
//     { answeredBy: [pods] }  every listed pod answers at least once, and nothing else happens
//     { sticky: [pods] }      every attempt is answered by the same one of these pods
//     'rejected'              every attempt fails fast (TCP RST / ICMP unreachable)
//     'dropped'               every attempt times out
//     { health, localEndpoints } the health-check NodePort answers this HTTP status and body
//   `source` says which client address the pod must see: 'origin' (the sender's own address, not
//   NATed), 'node' / 'node2' (masqueraded to that node's IP).
// - Addresses come from test/support/topology.ts (ADDR, PODS).

import { ADDR, NODE_NAME, PODS, POD_PORT, type NodeName, type PodSpec } from '../support/topology.js';

export type Mode = 'nftables' | 'iptables' | 'ipvs';
export type Family = 'IPv4' | 'IPv6';
export type Proto = 'TCP' | 'UDP' | 'SCTP';
export type From = 'client' | 'client2' | 'node' | 'node2' | string;
export type SourceSeen = 'origin' | 'node' | 'node2';

export interface EndpointDef {
  readonly pod: string;
  /** Node the EndpointSlice claims (default: the node the pod really is on). Lets one physical node
   *  host "remote" endpoints for Local-policy cases. */
  readonly nodeName?: string;
  readonly ready?: boolean;
  readonly serving?: boolean;
  readonly terminating?: boolean;
  /** Topology hints the EndpointSlice controller writes for trafficDistribution (hints.forZones / forNodes). */
  readonly forZones?: readonly string[];
  readonly forNodes?: readonly string[];
}

export interface PortDef {
  readonly name: string;
  readonly protocol: Proto;
  readonly port: number;
  readonly targetPort?: number;
  readonly nodePort?: number;
}

export interface ServiceDef {
  readonly name: string;
  readonly namespace?: string;
  readonly type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  /** One per family, IPv4 first when dual-stack. */
  readonly clusterIPs: readonly string[];
  readonly ports: readonly PortDef[];
  readonly endpoints: readonly EndpointDef[];
  readonly externalIPs?: readonly string[];
  readonly lbIngress?: readonly { ip: string; ipMode?: 'VIP' | 'Proxy' }[];
  readonly lbSourceRanges?: readonly string[];
  readonly externalTrafficPolicy?: 'Cluster' | 'Local';
  readonly internalTrafficPolicy?: 'Cluster' | 'Local';
  readonly sessionAffinitySeconds?: number;
  readonly healthCheckNodePort?: number;
  /** spec.trafficDistribution; the proxy acts on the slices' hints, as upstream's does. */
  readonly trafficDistribution?: 'PreferClose' | 'PreferSameZone' | 'PreferSameNode';
}

export type Target =
  | { readonly via: 'clusterIP'; readonly svc: ServiceDef; readonly family?: Family; readonly port?: string; readonly unusedPort?: { readonly port: number; readonly protocol: Proto } }
  | { readonly via: 'nodePort'; readonly svc: ServiceDef; readonly on: 'node' | 'node2' | 'nodeSecondary' | 'node2Secondary'; readonly family?: Family; readonly port?: string }
  | { readonly via: 'lbIP'; readonly svc: ServiceDef; readonly index?: number; readonly port?: string }
  | { readonly via: 'externalIP'; readonly svc: ServiceDef; readonly index?: number; readonly port?: string }
  | { readonly via: 'healthCheck'; readonly svc: ServiceDef; readonly on: 'node' | 'node2' };

export type Expect =
  | { readonly answeredBy: readonly string[]; readonly source?: SourceSeen; readonly minEach?: number }
  | { readonly sticky: readonly string[]; readonly source?: SourceSeen }
  | { readonly health: number; readonly localEndpoints: number }
  /** Sticky while attempts keep coming; after `idleMs` without traffic (longer than the affinity
   *  timeout) each of `rounds` single attempts may land anywhere: at least two pods must show up. */
  | { readonly affinityExpires: readonly string[]; readonly idleMs: number; readonly rounds?: number }
  | 'rejected'
  | 'dropped';

export interface ModeOverride {
  /** Replacement expectation; omit with `skip`. */
  readonly expect?: Expect;
  /** Skip this check in this mode, with the reason. */
  readonly skip?: string;
  /** Why this mode differs (printed with the result). */
  readonly note: string;
}

export interface Check {
  readonly name: string;
  readonly from: From;
  readonly target: Target;
  readonly expect: Expect;
  /** Attempts (default: 10 per expected pod up to 60; 20 for sticky; 3 for rejected/dropped). */
  readonly tries?: number;
  readonly modes?: Partial<Record<Mode, ModeOverride>>;
}

/** A run-time change: the scenario's manifests file is rewritten with `services`, then `checks` run
 *  (steps also model proxy restarts: rules must survive a stopped proxy, as upstream's do). */
export interface Step {
  readonly name: string;
  /** 'stop': stop the proxies before rewriting (checks then run with no proxy); 'start': rewrite, then start them. */
  readonly proxy?: 'stop' | 'start';
  readonly services: readonly ServiceDef[];
  readonly checks: readonly Check[];
  /** Replaces the scenario's ServiceCIDR ranges (default: keep them). */
  readonly serviceCIDRs?: readonly string[];
}

/**
 * A UDP flow that keeps its source port (like a statsd sender) while the Service's endpoints change:
 * after each stage's change the flow must reach `reaches` within 10 s, or with `reaches: null` go
 * silent (no replies at all for 2 s) — the stale conntrack entry must not keep it on the old pod.
 * `before` may list alternatives ('p4|p5': the flow starts on one of them); `reaches: 'same'` means
 * the pod the flow started on.
 */
export interface UdpFlow {
  readonly from: From;
  readonly target: Target;
  readonly before: string;
  readonly stages: readonly UdpFlowStage[];
}

export interface UdpFlowStage {
  readonly change: readonly ServiceDef[];
  readonly reaches: string | null;
  /**
   * Restart the proxy around the change (stop, rewrite, start, wait until ready); then the flow's
   * conntrack entry in the node must be the same entry as before (same id: not flushed and
   * re-created), and every reply since the restart must come from `reaches`.
   */
  readonly restart?: boolean;
}

export interface Scenario {
  readonly name: string;
  readonly services: readonly ServiceDef[];
  readonly checks: readonly Check[];
  readonly steps?: readonly Step[];
  readonly udpFlow?: UdpFlow;
  /** Kernel features this scenario needs; skipped loudly when missing. */
  readonly needs?: readonly 'sctp'[];
  /** Ranges of one ServiceCIDR object (networking.k8s.io/v1) written with the scenario's Services. */
  readonly serviceCIDRs?: readonly string[];
  /** Addresses a pod holds and its node routes to it, outside any Service (Topology.routeToPod). */
  readonly routedToPod?: readonly { readonly ip: string; readonly pod: string }[];
}

export interface Group {
  readonly name: string;
  /** Extra proxy flags (both nodes). */
  readonly flags: readonly string[];
  /** Build node2 and run a second proxy there (hostname node-b). */
  readonly node2?: boolean;
  readonly scenarios: readonly Scenario[];
}

// ---------------------------------------------------------------------------------------------
// Builders

const ns = 'kpx';

function svc(d: Omit<ServiceDef, 'namespace'>): ServiceDef {
  return { namespace: ns, ...d };
}

const http = (nodePort?: number): PortDef => ({ name: 'http', protocol: 'TCP', port: 80, targetPort: POD_PORT.tcp, ...(nodePort ? { nodePort } : {}) });
const dns = (nodePort?: number): PortDef => ({ name: 'dns', protocol: 'UDP', port: 53, targetPort: POD_PORT.udp, ...(nodePort ? { nodePort } : {}) });
const eps = (...pods: string[]): EndpointDef[] => pods.map((pod) => ({ pod }));
const remote = (pod: string): EndpointDef => ({ pod, nodeName: NODE_NAME.node2 });

const cip = (s: ServiceDef, family?: Family, port?: string): Target => ({ via: 'clusterIP', svc: s, ...(family ? { family } : {}), ...(port ? { port } : {}) });
const np = (s: ServiceDef, on: 'node' | 'node2' | 'nodeSecondary' | 'node2Secondary' = 'node', family?: Family, port?: string): Target => ({
  via: 'nodePort', svc: s, on, ...(family ? { family } : {}), ...(port ? { port } : {}),
});
const lb = (s: ServiceDef, index = 0, port?: string): Target => ({ via: 'lbIP', svc: s, index, ...(port ? { port } : {}) });
const ext = (s: ServiceDef, index = 0): Target => ({ via: 'externalIP', svc: s, index });
const hc = (s: ServiceDef, on: 'node' | 'node2' = 'node'): Target => ({ via: 'healthCheck', svc: s, on });

// ---------------------------------------------------------------------------------------------
// Group "defaults": the mode's default flags.

const web = svc({ name: 'web', clusterIPs: ['198.19.0.10'], ports: [http(), dns()], endpoints: eps('p1', 'p2', 'p3') });
const hairpin = svc({ name: 'hairpin', clusterIPs: ['198.19.0.11'], ports: [http()], endpoints: eps('p1') });
const nodeport = svc({ name: 'nodeport', type: 'NodePort', clusterIPs: ['198.19.0.12'], ports: [http(30080), dns(30053)], endpoints: eps('p1', 'p2') });
const lbSvc = svc({
  name: 'lb', type: 'LoadBalancer', clusterIPs: ['198.19.0.13'], ports: [http(30081)], endpoints: eps('p2', 'p3'),
  lbIngress: [{ ip: '198.19.200.1' }, { ip: '198.19.200.2', ipMode: 'Proxy' }],
});
const extIPs = svc({ name: 'extips', clusterIPs: ['198.19.0.14'], ports: [http()], endpoints: eps('p3'), externalIPs: ['198.19.201.1'] });
const ranges = svc({
  name: 'ranges', type: 'LoadBalancer', clusterIPs: ['198.19.0.15'], ports: [http(30082)], endpoints: eps('p1'),
  lbIngress: [{ ip: '198.19.200.3' }], lbSourceRanges: [`${ADDR.client.ipv4}/32`],
});
const affinity = svc({ name: 'affinity', clusterIPs: ['198.19.0.16'], ports: [http()], endpoints: eps('p1', 'p2', 'p3'), sessionAffinitySeconds: 600 });
const etpLocal = svc({
  name: 'etp-local', type: 'LoadBalancer', clusterIPs: ['198.19.0.17'], ports: [http(30083)], endpoints: [{ pod: 'p1' }, remote('p4')],
  lbIngress: [{ ip: '198.19.200.4' }], externalTrafficPolicy: 'Local', healthCheckNodePort: 32083,
});
const etpNone = svc({
  name: 'etp-local-none', type: 'LoadBalancer', clusterIPs: ['198.19.0.18'], ports: [http(30084)], endpoints: [remote('p5')],
  lbIngress: [{ ip: '198.19.200.5' }], externalTrafficPolicy: 'Local', healthCheckNodePort: 32084,
});
const itpLocal = svc({ name: 'itp-local', clusterIPs: ['198.19.0.19'], ports: [http()], endpoints: [{ pod: 'p1' }, remote('p4')], internalTrafficPolicy: 'Local' });
const itpNone = svc({ name: 'itp-local-none', clusterIPs: ['198.19.0.20'], ports: [http()], endpoints: [remote('p5')], internalTrafficPolicy: 'Local' });
const noEps = svc({ name: 'no-endpoints', type: 'NodePort', clusterIPs: ['198.19.0.21'], ports: [http(30085), dns(30086)], endpoints: [] });
const term = (pod: string, serving = true): EndpointDef => ({ pod, ready: false, serving, terminating: true });
const termAll = svc({ name: 'terminating-all', clusterIPs: ['198.19.0.22'], ports: [http()], endpoints: [term('p1'), term('p2')] });
const termMixed = svc({ name: 'terminating-mixed', clusterIPs: ['198.19.0.23'], ports: [http()], endpoints: [{ pod: 'p1' }, term('p2')] });
const termNotServing = svc({ name: 'terminating-not-serving', clusterIPs: ['198.19.0.24'], ports: [http()], endpoints: [term('p1', false)] });
const dyn = svc({ name: 'dynamic', clusterIPs: ['198.19.0.25'], ports: [http()], endpoints: eps('p1', 'p2') });
const udpFlowSvc = svc({ name: 'udp-flow', clusterIPs: ['198.19.0.26'], ports: [dns()], endpoints: eps('p4') });
const udpZeroSvc = svc({ name: 'udp-zero', clusterIPs: ['198.19.0.29'], ports: [dns()], endpoints: eps('p4') });
const udpKeepSvc = svc({ name: 'udp-keep', clusterIPs: ['198.19.0.30'], ports: [dns()], endpoints: eps('p4', 'p5') });
const v6 = svc({ name: 'v6', type: 'NodePort', clusterIPs: ['2001:db8:19::10'], ports: [http(30087), dns(30088)], endpoints: eps('p1', 'p2') });
const v6Local = svc({ name: 'v6-local', type: 'NodePort', clusterIPs: ['2001:db8:19::11'], ports: [http(30089)], endpoints: [{ pod: 'p1' }, remote('p4')], externalTrafficPolicy: 'Local' });
const dual = svc({ name: 'dual', type: 'NodePort', clusterIPs: ['198.19.0.27', '2001:db8:19::27'], ports: [http(30090)], endpoints: eps('p2', 'p3') });
const sctp = svc({ name: 'sctp', type: 'NodePort', clusterIPs: ['198.19.0.28'], ports: [{ name: 'sctp', protocol: 'SCTP', port: 80, targetPort: POD_PORT.sctp, nodePort: 30095 }], endpoints: eps('p1', 'p2') });

// Topology: hints as the EndpointSlice controller writes them for trafficDistribution. node-a is in
// zone-a; endpoints declared on node-b (zone-b) let one physical node show the preference.
const zoneHinted = svc({
  name: 'prefer-close', clusterIPs: ['198.19.0.31'], ports: [http()], trafficDistribution: 'PreferClose',
  endpoints: [{ pod: 'p1', forZones: ['zone-a'] }, { pod: 'p2', forZones: ['zone-a'] }, { pod: 'p3', nodeName: NODE_NAME.node2, forZones: ['zone-b'] }],
});
const zoneElsewhere = svc({
  name: 'prefer-same-zone-elsewhere', clusterIPs: ['198.19.0.32'], ports: [http()], trafficDistribution: 'PreferSameZone',
  endpoints: [{ pod: 'p1', nodeName: NODE_NAME.node2, forZones: ['zone-b'] }, { pod: 'p2', nodeName: NODE_NAME.node2, forZones: ['zone-b'] }],
});
const nodeHinted = svc({
  name: 'prefer-same-node', clusterIPs: ['198.19.0.33'], ports: [http()], trafficDistribution: 'PreferSameNode',
  endpoints: [
    { pod: 'p1', forZones: ['zone-a'], forNodes: [NODE_NAME.node] },
    { pod: 'p2', forZones: ['zone-a'], forNodes: [NODE_NAME.node2] },
    { pod: 'p3', nodeName: NODE_NAME.node2, forZones: ['zone-b'], forNodes: [NODE_NAME.node2] },
  ],
});
const inCIDR = svc({ name: 'in-service-cidr', clusterIPs: ['198.19.0.30'], ports: [http()], endpoints: eps('p1') });
// Not a Service, only a target: an address of the ServiceCIDR no Service holds, which p5 holds and the
// node routes to it (routedToPod), so "not dropped" shows as p5 answering on its own port.
const unallocated = svc({ name: 'unallocated', clusterIPs: ['198.19.0.250'], ports: [{ name: 'direct', protocol: 'TCP', port: POD_PORT.tcp }], endpoints: [] });
const noServiceCIDRs = 'upstream uses ServiceCIDRs only in nftables mode; iptables and IPVS forward the packet like any other';

const ipvsEtpFallback = 'upstream IPVS: eTP=Local with no local endpoints falls back to cluster endpoints (PR #97081) instead of dropping; the NodePort is not masqueraded, so the pod sees the client';
const ipvsNoRealServer = 'IPVS: a virtual server with no real servers answers ICMP port unreachable (ip_vs_leave), so iTP=Local with no local endpoint is refused, not dropped';

export const defaultsGroup: Group = {
  name: 'defaults',
  flags: [],
  scenarios: [
    {
      name: 'ClusterIP from a pod, the node and outside (TCP and UDP)',
      services: [web],
      checks: [
        { name: 'pod -> ClusterIP TCP: all endpoints, source kept', from: 'p4', target: cip(web), expect: { answeredBy: ['p1', 'p2', 'p3'], source: 'origin' } },
        { name: 'pod -> ClusterIP UDP: all endpoints, source kept', from: 'p4', target: cip(web, 'IPv4', 'dns'), expect: { answeredBy: ['p1', 'p2', 'p3'], source: 'origin' } },
        { name: 'node -> ClusterIP: the pod sees the node IP', from: 'node', target: cip(web), expect: { answeredBy: ['p1', 'p2', 'p3'], source: 'node' } },
        { name: 'off-cluster client -> ClusterIP: masqueraded', from: 'client', target: cip(web), expect: { answeredBy: ['p1', 'p2', 'p3'], source: 'node' } },
        { name: 'random spread over 3 endpoints: each gets >= 8 of 60', from: 'client', target: cip(web), tries: 60, expect: { answeredBy: ['p1', 'p2', 'p3'], minEach: 8 } },
        {
          name: 'pod -> ClusterIP on a port the Service does not have: rejected',
          from: 'p4', target: { via: 'clusterIP', svc: web, unusedPort: { port: 81, protocol: 'TCP' } }, expect: 'rejected',
          modes: { iptables: { expect: 'dropped', note: 'upstream iptables has no rule for unused ClusterIP ports; the packet follows the node default route and dies' } },
        },
      ],
    },
    {
      name: 'hairpin: a pod reaching its own Service lands on itself, masqueraded',
      services: [hairpin],
      checks: [
        { name: 'p1 -> own service -> p1, source is the node', from: 'p1', target: cip(hairpin), expect: { answeredBy: ['p1'], source: 'node' } },
        { name: 'p2 -> same service -> p1, source kept', from: 'p2', target: cip(hairpin), expect: { answeredBy: ['p1'], source: 'origin' } },
      ],
    },
    {
      name: 'NodePort (default nodePortAddresses)',
      services: [nodeport],
      checks: [
        { name: 'client -> node IP NodePort TCP: masqueraded', from: 'client', target: np(nodeport), expect: { answeredBy: ['p1', 'p2'], source: 'node' } },
        { name: 'client -> node IP NodePort UDP', from: 'client', target: np(nodeport, 'node', 'IPv4', 'dns'), expect: { answeredBy: ['p1', 'p2'], source: 'node' } },
        { name: 'node -> own NodePort', from: 'node', target: np(nodeport), expect: { answeredBy: ['p1', 'p2'], source: 'node' } },
        { name: 'pod -> node IP NodePort', from: 'p3', target: np(nodeport), expect: { answeredBy: ['p1', 'p2'] } },
        {
          name: 'client -> secondary node IP: nftables default is `primary`, so no NodePort there',
          from: 'client', target: np(nodeport, 'nodeSecondary'), expect: 'rejected',
          modes: {
            iptables: { expect: { answeredBy: ['p1', 'p2'] }, note: 'iptables defaults nodePortAddresses to all local IPs' },
            ipvs: { expect: { answeredBy: ['p1', 'p2'] }, note: 'IPVS defaults nodePortAddresses to all local IPs' },
          },
        },
      ],
    },
    {
      name: 'LoadBalancer ingress IP; ipMode Proxy ignored',
      services: [lbSvc],
      checks: [
        { name: 'client -> LB IP', from: 'client', target: lb(lbSvc, 0), expect: { answeredBy: ['p2', 'p3'], source: 'node' } },
        { name: 'client -> ipMode=Proxy ingress IP: not programmed', from: 'client', target: lb(lbSvc, 1), expect: 'dropped' },
        { name: 'pod -> LB IP: short-circuited in the cluster', from: 'p1', target: lb(lbSvc, 0), expect: { answeredBy: ['p2', 'p3'] } },
        { name: 'node -> LB IP', from: 'node', target: lb(lbSvc, 0), expect: { answeredBy: ['p2', 'p3'] } },
      ],
    },
    {
      name: 'externalIPs',
      services: [extIPs],
      checks: [
        { name: 'client -> external IP: masqueraded', from: 'client', target: ext(extIPs), expect: { answeredBy: ['p3'], source: 'node' } },
        { name: 'pod -> external IP', from: 'p1', target: ext(extIPs), expect: { answeredBy: ['p3'] } },
      ],
    },
    {
      name: 'loadBalancerSourceRanges',
      services: [ranges],
      checks: [
        { name: 'allowed client -> LB IP', from: 'client', target: lb(ranges), expect: { answeredBy: ['p1'] } },
        { name: 'denied client2 -> LB IP: dropped', from: 'client2', target: lb(ranges), expect: 'dropped' },
        { name: 'denied client2 -> NodePort: ranges apply to the LB IP only', from: 'client2', target: np(ranges), expect: { answeredBy: ['p1'] } },
        { name: 'pod outside the ranges -> LB IP: dropped as well', from: 'p2', target: lb(ranges), expect: 'dropped' },
        { name: 'client2 -> ClusterIP: ranges do not apply', from: 'client2', target: cip(ranges), expect: { answeredBy: ['p1'] } },
      ],
    },
    {
      name: 'sessionAffinity ClientIP',
      services: [affinity],
      checks: [
        { name: 'client sticks to one endpoint', from: 'client', target: cip(affinity), tries: 20, expect: { sticky: ['p1', 'p2', 'p3'] } },
        { name: 'pod sticks to one endpoint', from: 'p4', target: cip(affinity), tries: 20, expect: { sticky: ['p1', 'p2', 'p3'], source: 'origin' } },
      ],
    },
    {
      name: 'externalTrafficPolicy Local',
      services: [etpLocal, etpNone],
      checks: [
        { name: 'client -> NodePort: local endpoint only, client source kept', from: 'client', target: np(etpLocal), tries: 20, expect: { answeredBy: ['p1'], source: 'origin' } },
        { name: 'client -> LB IP: local endpoint only, client source kept', from: 'client', target: lb(etpLocal), tries: 20, expect: { answeredBy: ['p1'], source: 'origin' } },
        { name: 'pod -> ClusterIP: all endpoints', from: 'p2', target: cip(etpLocal), expect: { answeredBy: ['p1', 'p4'], source: 'origin' } },
        { name: 'health check NodePort: 200, localEndpoints 1', from: 'client', target: hc(etpLocal), expect: { health: 200, localEndpoints: 1 } },
        {
          name: 'no local endpoint: client -> NodePort dropped', from: 'client', target: np(etpNone), expect: 'dropped',
          modes: { ipvs: { expect: { answeredBy: ['p5'], source: 'origin' }, note: ipvsEtpFallback } },
        },
        {
          name: 'no local endpoint: client -> LB IP dropped', from: 'client', target: lb(etpNone), expect: 'dropped',
          modes: { ipvs: { expect: { answeredBy: ['p5'], source: 'origin' }, note: ipvsEtpFallback } },
        },
        { name: 'no local endpoint: pod -> NodePort short-circuits to cluster endpoints', from: 'p2', target: np(etpNone), expect: { answeredBy: ['p5'], source: 'origin' } },
        { name: 'no local endpoint: node -> NodePort short-circuits, masqueraded', from: 'node', target: np(etpNone), expect: { answeredBy: ['p5'], source: 'node' } },
        { name: 'no local endpoint: health check 503, localEndpoints 0', from: 'client', target: hc(etpNone), expect: { health: 503, localEndpoints: 0 } },
      ],
    },
    {
      name: 'internalTrafficPolicy Local',
      services: [itpLocal, itpNone],
      checks: [
        { name: 'pod -> ClusterIP: local endpoint only', from: 'p2', target: cip(itpLocal), tries: 20, expect: { answeredBy: ['p1'], source: 'origin' } },
        { name: 'node -> ClusterIP: local endpoint only', from: 'node', target: cip(itpLocal), tries: 20, expect: { answeredBy: ['p1'] } },
        {
          name: 'no local endpoint: pod -> ClusterIP dropped', from: 'p2', target: cip(itpNone), expect: 'dropped',
          modes: { ipvs: { expect: 'rejected', note: ipvsNoRealServer } },
        },
      ],
    },
    {
      name: 'no endpoints: rejected',
      services: [noEps],
      checks: [
        { name: 'client -> ClusterIP TCP rejected', from: 'client', target: cip(noEps), expect: 'rejected' },
        { name: 'pod -> ClusterIP UDP rejected', from: 'p1', target: cip(noEps, 'IPv4', 'dns'), expect: 'rejected' },
        { name: 'client -> NodePort TCP rejected', from: 'client', target: np(noEps), expect: 'rejected' },
        { name: 'client -> NodePort UDP rejected', from: 'client', target: np(noEps, 'node', 'IPv4', 'dns'), expect: 'rejected' },
      ],
    },
    {
      name: 'terminating endpoints',
      services: [termAll, termMixed, termNotServing],
      checks: [
        { name: 'all terminating but serving: used as fallback', from: 'p3', target: cip(termAll), expect: { answeredBy: ['p1', 'p2'] } },
        { name: 'ready endpoint preferred over terminating', from: 'p3', target: cip(termMixed), tries: 20, expect: { answeredBy: ['p1'] } },
        { name: 'terminating and not serving: no endpoints, rejected', from: 'p3', target: cip(termNotServing), expect: 'rejected' },
      ],
    },
    {
      name: 'endpoints added and removed at run time',
      services: [dyn],
      checks: [{ name: 'initial endpoints', from: 'client', target: cip(dyn), expect: { answeredBy: ['p1', 'p2'] } }],
      steps: [
        {
          name: 'add p3',
          services: [{ ...dyn, endpoints: eps('p1', 'p2', 'p3') }],
          checks: [{ name: 'p3 now answers', from: 'client', target: cip(dyn), expect: { answeredBy: ['p1', 'p2', 'p3'] } }],
        },
        {
          name: 'remove p1',
          services: [{ ...dyn, endpoints: eps('p2', 'p3') }],
          checks: [{ name: 'p1 no longer answers', from: 'client', target: cip(dyn), tries: 30, expect: { answeredBy: ['p2', 'p3'] } }],
        },
      ],
    },
    {
      name: 'UDP conntrack cleanup when the endpoint is replaced',
      services: [udpFlowSvc],
      checks: [],
      udpFlow: {
        from: 'client',
        target: cip(udpFlowSvc, 'IPv4', 'dns'),
        before: 'p4',
        stages: [{ change: [{ ...udpFlowSvc, endpoints: eps('p5') }], reaches: 'p5' }],
      },
    },
    {
      // Upstream #139628: the 1.32+ cleanup skips services with zero serving endpoints, so a constant
      // sender stays pinned to the old pod. Here the flow must stop, then reach the new endpoint.
      name: 'UDP flow when the Service scales to zero and back',
      services: [udpZeroSvc],
      checks: [],
      udpFlow: {
        from: 'p3',
        target: cip(udpZeroSvc, 'IPv4', 'dns'),
        before: 'p4',
        stages: [
          { change: [{ ...udpZeroSvc, endpoints: [] }], reaches: null },
          { change: [{ ...udpZeroSvc, endpoints: eps('p5') }], reaches: 'p5' },
        ],
      },
    },
    {
      // Upstream #122740: a restarted kube-proxy flushes the UDP entries of every service, so
      // flows move to another endpoint. Here the entry of an unchanged service survives the restart.
      name: 'UDP flow across a proxy restart with unchanged endpoints',
      services: [udpKeepSvc],
      checks: [],
      udpFlow: {
        from: 'client',
        target: cip(udpKeepSvc, 'IPv4', 'dns'),
        before: 'p4|p5',
        stages: [{ change: [udpKeepSvc], reaches: 'same', restart: true }],
      },
    },
    {
      name: 'IPv6 ClusterIP, NodePort and eTP Local',
      services: [v6, v6Local],
      checks: [
        { name: 'pod -> v6 ClusterIP TCP', from: 'p3', target: cip(v6, 'IPv6'), expect: { answeredBy: ['p1', 'p2'], source: 'origin' } },
        { name: 'pod -> v6 ClusterIP UDP', from: 'p3', target: cip(v6, 'IPv6', 'dns'), expect: { answeredBy: ['p1', 'p2'], source: 'origin' } },
        { name: 'client -> v6 NodePort: masqueraded', from: 'client', target: np(v6, 'node', 'IPv6'), expect: { answeredBy: ['p1', 'p2'], source: 'node' } },
        { name: 'client -> v6 NodePort UDP', from: 'client', target: np(v6, 'node', 'IPv6', 'dns'), expect: { answeredBy: ['p1', 'p2'], source: 'node' } },
        { name: 'client -> v6 eTP Local NodePort: local only, source kept', from: 'client', target: np(v6Local, 'node', 'IPv6'), tries: 20, expect: { answeredBy: ['p1'], source: 'origin' } },
      ],
    },
    {
      name: 'dual-stack Service',
      services: [dual],
      checks: [
        { name: 'client -> IPv4 ClusterIP', from: 'client', target: cip(dual, 'IPv4'), expect: { answeredBy: ['p2', 'p3'] } },
        { name: 'client -> IPv6 ClusterIP', from: 'client', target: cip(dual, 'IPv6'), expect: { answeredBy: ['p2', 'p3'] } },
        { name: 'pod -> IPv6 ClusterIP, source kept', from: 'p1', target: cip(dual, 'IPv6'), expect: { answeredBy: ['p2', 'p3'], source: 'origin' } },
        { name: 'client -> IPv4 NodePort', from: 'client', target: np(dual, 'node', 'IPv4'), expect: { answeredBy: ['p2', 'p3'] } },
        { name: 'client -> IPv6 NodePort', from: 'client', target: np(dual, 'node', 'IPv6'), expect: { answeredBy: ['p2', 'p3'] } },
      ],
    },
    {
      name: 'trafficDistribution: topology hints (PreferClose / PreferSameZone / PreferSameNode)',
      services: [zoneHinted, zoneElsewhere, nodeHinted],
      checks: [
        { name: 'PreferClose: only the endpoints hinted for this zone', from: 'p4', target: cip(zoneHinted), tries: 30, expect: { answeredBy: ['p1', 'p2'] } },
        { name: 'PreferSameZone with no endpoint hinted for this zone: every endpoint', from: 'p4', target: cip(zoneElsewhere), expect: { answeredBy: ['p1', 'p2'] } },
        { name: 'PreferSameNode: only the endpoint hinted for this node, not its zone peer', from: 'p4', target: cip(nodeHinted), tries: 20, expect: { answeredBy: ['p1'] } },
        { name: 'PreferSameNode from off-cluster (masqueraded): the same choice', from: 'client', target: cip(nodeHinted), tries: 20, expect: { answeredBy: ['p1'] } },
      ],
    },
    {
      name: 'ServiceCIDR: unallocated ClusterIPs of the range are dropped',
      services: [inCIDR],
      serviceCIDRs: ['198.19.0.0/24'],
      routedToPod: [{ ip: '198.19.0.250', pod: 'p5' }],
      checks: [
        { name: 'client -> allocated ClusterIP in the range answers', from: 'client', target: cip(inCIDR), expect: { answeredBy: ['p1'] } },
        {
          name: 'client -> unallocated address in the range: dropped', from: 'client', target: cip(unallocated), expect: 'dropped',
          modes: { iptables: { expect: { answeredBy: ['p5'] }, note: noServiceCIDRs }, ipvs: { expect: { answeredBy: ['p5'] }, note: noServiceCIDRs } },
        },
        {
          name: 'pod -> unallocated address in the range: dropped', from: 'p2', target: cip(unallocated), expect: 'dropped',
          modes: { iptables: { expect: { answeredBy: ['p5'] }, note: noServiceCIDRs }, ipvs: { expect: { answeredBy: ['p5'] }, note: noServiceCIDRs } },
        },
      ],
      steps: [
        {
          name: 'ServiceCIDR deleted',
          services: [inCIDR],
          serviceCIDRs: [],
          checks: [{ name: 'the unallocated address is no longer dropped: p5 answers', from: 'client', target: cip(unallocated), expect: { answeredBy: ['p5'] } }],
        },
      ],
    },
    {
      name: 'SCTP ClusterIP and NodePort',
      needs: ['sctp'],
      services: [sctp],
      checks: [
        { name: 'pod -> SCTP ClusterIP', from: 'p3', target: cip(sctp), expect: { answeredBy: ['p1', 'p2'], source: 'origin' } },
        { name: 'client -> SCTP NodePort: masqueraded', from: 'client', target: np(sctp), expect: { answeredBy: ['p1', 'p2'], source: 'node' } },
      ],
    },
  ],
};

// ---------------------------------------------------------------------------------------------
// Group "flags": --masquerade-all and explicit --nodeport-addresses.

const masqAll = svc({ name: 'masq-all', clusterIPs: ['198.19.0.40'], ports: [http()], endpoints: eps('p1', 'p2') });
const restart = svc({ name: 'restart', type: 'NodePort', clusterIPs: ['198.19.0.42'], ports: [http(30092)], endpoints: eps('p1', 'p2') });
const affinityShort = svc({ name: 'affinity-expiry', clusterIPs: ['198.19.0.43'], ports: [dns()], endpoints: eps('p1', 'p2', 'p3'), sessionAffinitySeconds: 2 });
const npExplicit = svc({ name: 'np-explicit', type: 'NodePort', clusterIPs: ['198.19.0.41', '2001:db8:19::41'], ports: [http(30091)], endpoints: eps('p1') });

export const flagsGroup: Group = {
  name: 'masquerade-all + explicit nodePortAddresses',
  // --ipvs-udp-timeout matters to IPVS only (other modes ignore it, as upstream): an IPVS persistence
  // template outlives its timeout while a connection entry still uses it (UDP: 300 s by default).
  flags: ['--masquerade-all', `--nodeport-addresses=${ADDR.node.secondaryV4}/32,${ADDR.node.secondaryV6}/128`, '--ipvs-udp-timeout=1s'],
  scenarios: [
    {
      // Restarts the group's proxy; later scenarios of the group run on the restarted one.
      name: 'proxy restart: rules survive while it is down; changes made meanwhile apply on start',
      services: [restart],
      checks: [{ name: 'initial endpoints', from: 'client', target: np(restart, 'nodeSecondary'), expect: { answeredBy: ['p1', 'p2'] } }],
      steps: [
        {
          name: 'stop the proxy, drop p1 from the manifests',
          proxy: 'stop',
          services: [{ ...restart, endpoints: eps('p2', 'p3') }],
          checks: [
            { name: 'traffic still flows on the rules left in place', from: 'client', target: np(restart, 'nodeSecondary'), expect: { answeredBy: ['p1', 'p2'] } },
            { name: 'other Services keep working too', from: 'p3', target: cip(masqAll), expect: { answeredBy: ['p1', 'p2'] } },
          ],
        },
        {
          name: 'start the proxy again',
          proxy: 'start',
          services: [{ ...restart, endpoints: eps('p2', 'p3') }],
          checks: [{ name: 'the change made while it was down is applied', from: 'client', target: np(restart, 'nodeSecondary'), tries: 30, expect: { answeredBy: ['p2', 'p3'] } }],
        },
      ],
    },
    {
      name: 'sessionAffinity timeout expires',
      services: [affinityShort],
      checks: [
        {
          name: 'sticky while used; after 3 s idle (timeout 2 s) new flows spread again',
          from: 'client', target: cip(affinityShort, 'IPv4', 'dns'), expect: { affinityExpires: ['p1', 'p2', 'p3'], idleMs: 3000, rounds: 8 },
        },
      ],
    },
    {
      name: 'masqueradeAll',
      services: [masqAll],
      checks: [{ name: 'pod -> ClusterIP is masqueraded too', from: 'p3', target: cip(masqAll), expect: { answeredBy: ['p1', 'p2'], source: 'node' } }],
    },
    {
      name: 'nodePortAddresses = the secondary node IPs',
      services: [npExplicit],
      checks: [
        { name: 'client -> listed IPv4 address answers', from: 'client', target: np(npExplicit, 'nodeSecondary', 'IPv4'), expect: { answeredBy: ['p1'] } },
        { name: 'client -> unlisted primary IPv4: no NodePort', from: 'client', target: np(npExplicit, 'node', 'IPv4'), expect: 'rejected' },
        { name: 'client -> listed IPv6 address answers', from: 'client', target: np(npExplicit, 'nodeSecondary', 'IPv6'), expect: { answeredBy: ['p1'] } },
        { name: 'client -> unlisted primary IPv6: no NodePort', from: 'client', target: np(npExplicit, 'node', 'IPv6'), expect: 'rejected' },
      ],
    },
  ],
};

// ---------------------------------------------------------------------------------------------
// Group "two nodes": node2 runs its own proxy (node-b) with its own pods q1, q2.

const twoLocal = svc({
  name: 'two-local', type: 'LoadBalancer', clusterIPs: ['198.19.0.50'], ports: [http(30100)], endpoints: eps('p1', 'q1'),
  lbIngress: [{ ip: '198.19.200.10' }], externalTrafficPolicy: 'Local', healthCheckNodePort: 32100,
});
const twoLocalA = svc({
  name: 'two-local-a-only', type: 'LoadBalancer', clusterIPs: ['198.19.0.51'], ports: [http(30101)], endpoints: eps('p2'),
  lbIngress: [{ ip: '198.19.200.11' }], externalTrafficPolicy: 'Local', healthCheckNodePort: 32101,
});
const twoCluster = svc({ name: 'two-cluster', type: 'NodePort', clusterIPs: ['198.19.0.52'], ports: [http(30102)], endpoints: eps('q2') });
const twoItp = svc({ name: 'two-itp', clusterIPs: ['198.19.0.53'], ports: [http()], endpoints: eps('p1', 'q1'), internalTrafficPolicy: 'Local' });

export const twoNodeGroup: Group = {
  name: 'two nodes',
  node2: true,
  flags: ['--nodeport-addresses=primary'],
  scenarios: [
    {
      name: 'eTP Local with endpoints on both nodes',
      services: [twoLocal],
      checks: [
        { name: 'client -> node NodePort: its local pod, source kept', from: 'client', target: np(twoLocal, 'node'), tries: 20, expect: { answeredBy: ['p1'], source: 'origin' } },
        { name: 'client -> node2 NodePort: its local pod, source kept', from: 'client', target: np(twoLocal, 'node2'), tries: 20, expect: { answeredBy: ['q1'], source: 'origin' } },
        { name: 'health check on node: 200', from: 'client', target: hc(twoLocal, 'node'), expect: { health: 200, localEndpoints: 1 } },
        { name: 'health check on node2: 200', from: 'client', target: hc(twoLocal, 'node2'), expect: { health: 200, localEndpoints: 1 } },
      ],
    },
    {
      name: 'eTP Local with endpoints on node only',
      services: [twoLocalA],
      checks: [
        { name: 'client -> node NodePort answers', from: 'client', target: np(twoLocalA, 'node'), expect: { answeredBy: ['p2'], source: 'origin' } },
        {
          name: 'client -> node2 NodePort: dropped', from: 'client', target: np(twoLocalA, 'node2'), expect: 'dropped',
          modes: { ipvs: { expect: 'dropped', note: 'IPVS forwards to the remote endpoint without SNAT (fallback); the reply bypasses node2, so the connection still never completes' } },
        },
        { name: 'health check on node2: 503', from: 'client', target: hc(twoLocalA, 'node2'), expect: { health: 503, localEndpoints: 0 } },
        { name: 'pod on node2 -> node2 NodePort: short-circuited to cluster endpoints', from: 'q1', target: np(twoLocalA, 'node2'), expect: { answeredBy: ['p2'], source: 'origin' } },
      ],
    },
    {
      name: 'eTP Cluster across nodes',
      services: [twoCluster],
      checks: [
        { name: 'client -> node NodePort reaches the pod on node2, masqueraded', from: 'client', target: np(twoCluster, 'node'), expect: { answeredBy: ['q2'], source: 'node' } },
        { name: 'primary nodePortAddresses: secondary node IP has no NodePort', from: 'client', target: np(twoCluster, 'nodeSecondary'), expect: 'rejected' },
      ],
    },
    {
      name: 'iTP Local on two nodes',
      services: [twoItp],
      checks: [
        { name: 'pod on node -> its local endpoint', from: 'p3', target: cip(twoItp), tries: 20, expect: { answeredBy: ['p1'] } },
        { name: 'pod on node2 -> its local endpoint', from: 'q2', target: cip(twoItp), tries: 20, expect: { answeredBy: ['q1'] } },
      ],
    },
  ],
};

export const ALL_GROUPS: readonly Group[] = [defaultsGroup, flagsGroup, twoNodeGroup];

// ---------------------------------------------------------------------------------------------
// Resolution: targets to addresses, scenario objects to manifests.

/** Each node's zone (Node label topology.kubernetes.io/zone, EndpointSlice endpoint zone). */
export const ZONE: Record<NodeName, string> = { node: 'zone-a', node2: 'zone-b' };

export function podByName(name: string): PodSpec {
  const p = PODS.find((x) => x.name === name);
  if (!p) throw new Error(`unknown pod ${name}`);
  return p;
}

function familyOf(ip: string): Family {
  return ip.includes(':') ? 'IPv6' : 'IPv4';
}

function portOf(s: ServiceDef, name?: string): PortDef {
  const p = name ? s.ports.find((x) => x.name === name) : s.ports[0];
  if (!p) throw new Error(`service ${s.name} has no port ${name ?? '(first)'}`);
  return p;
}

export interface ResolvedTarget {
  readonly kind: 'traffic' | 'http';
  readonly host: string;
  readonly port: number;
  readonly proto: Proto;
  readonly family: Family;
  readonly label: string;
}

function pick<T>(xs: readonly T[] | undefined, i: number, what: string): T {
  const x = xs?.[i];
  if (x === undefined) throw new Error(`no ${what}[${i}]`);
  return x;
}

export function resolveTarget(t: Target): ResolvedTarget {
  const s = t.svc;
  const defaultFamily = familyOf(pick(s.clusterIPs, 0, 'clusterIPs'));
  switch (t.via) {
    case 'clusterIP': {
      const family = t.family ?? defaultFamily;
      const host = s.clusterIPs.find((ip) => familyOf(ip) === family);
      if (!host) throw new Error(`${s.name} has no ${family} ClusterIP`);
      const p = t.unusedPort ?? portOf(s, t.port);
      return { kind: 'traffic', host, port: p.port, proto: p.protocol, family, label: `${s.name} ClusterIP ${host}:${p.port}/${p.protocol}` };
    }
    case 'nodePort': {
      const family = t.family ?? defaultFamily;
      const node = t.on === 'node' || t.on === 'nodeSecondary' ? ADDR.node : ADDR.node2;
      const secondary = t.on.endsWith('Secondary');
      const host = family === 'IPv4' ? (secondary ? node.secondaryV4 : node.ipv4) : secondary ? node.secondaryV6 : node.ipv6;
      const p = portOf(s, t.port);
      if (!p.nodePort) throw new Error(`${s.name}/${p.name} has no nodePort`);
      return { kind: 'traffic', host, port: p.nodePort, proto: p.protocol, family, label: `${s.name} NodePort ${t.on} ${host}:${p.nodePort}/${p.protocol}` };
    }
    case 'lbIP': {
      const host = pick(s.lbIngress, t.index ?? 0, 'lbIngress').ip;
      const p = portOf(s, t.port);
      return { kind: 'traffic', host, port: p.port, proto: p.protocol, family: familyOf(host), label: `${s.name} LB ${host}:${p.port}/${p.protocol}` };
    }
    case 'externalIP': {
      const host = pick(s.externalIPs, t.index ?? 0, 'externalIPs');
      const p = portOf(s, t.port);
      return { kind: 'traffic', host, port: p.port, proto: p.protocol, family: familyOf(host), label: `${s.name} externalIP ${host}:${p.port}/${p.protocol}` };
    }
    case 'healthCheck': {
      const node = t.on === 'node' ? ADDR.node : ADDR.node2;
      if (!s.healthCheckNodePort) throw new Error(`${s.name} has no healthCheckNodePort`);
      return { kind: 'http', host: node.ipv4, port: s.healthCheckNodePort, proto: 'TCP', family: 'IPv4', label: `${s.name} health check ${t.on} ${node.ipv4}:${s.healthCheckNodePort}` };
    }
  }
}

/** The address a probe from `from` carries, per family (for source checks). */
export function originAddress(from: From, family: Family): string {
  const fixed: Record<string, { ipv4: string; ipv6: string }> = { client: ADDR.client, client2: ADDR.client2, node: ADDR.node, node2: ADDR.node2 };
  const a = fixed[from] ?? podByName(from);
  return family === 'IPv4' ? a.ipv4 : a.ipv6;
}

export function expectedSource(seen: SourceSeen, from: From, family: Family): string {
  if (seen === 'origin') return originAddress(from, family);
  const n = seen === 'node' ? ADDR.node : ADDR.node2;
  return family === 'IPv4' ? n.ipv4 : n.ipv6;
}

/** The API objects of one ServiceDef: the Service and one EndpointSlice per family. */
export function serviceObjects(s: ServiceDef): Record<string, unknown>[] {
  const families = [...new Set(s.clusterIPs.map(familyOf))];
  const type = s.type ?? 'ClusterIP';
  const spec: Record<string, unknown> = {
    type,
    clusterIP: s.clusterIPs[0],
    clusterIPs: s.clusterIPs,
    ipFamilies: families,
    ipFamilyPolicy: families.length > 1 ? 'PreferDualStack' : 'SingleStack',
    ports: s.ports.map((p) => ({ name: p.name, protocol: p.protocol, port: p.port, targetPort: p.targetPort ?? p.port, ...(p.nodePort ? { nodePort: p.nodePort } : {}) })),
    sessionAffinity: s.sessionAffinitySeconds ? 'ClientIP' : 'None',
    internalTrafficPolicy: s.internalTrafficPolicy ?? 'Cluster',
  };
  if (s.sessionAffinitySeconds) spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: s.sessionAffinitySeconds } };
  if (type !== 'ClusterIP') spec.externalTrafficPolicy = s.externalTrafficPolicy ?? 'Cluster';
  if (s.externalIPs) spec.externalIPs = s.externalIPs;
  if (s.lbSourceRanges) spec.loadBalancerSourceRanges = s.lbSourceRanges;
  if (s.healthCheckNodePort) spec.healthCheckNodePort = s.healthCheckNodePort;
  if (s.trafficDistribution) spec.trafficDistribution = s.trafficDistribution;
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: s.namespace ?? ns },
    spec,
    status: { loadBalancer: s.lbIngress ? { ingress: s.lbIngress.map((i) => ({ ip: i.ip, ...(i.ipMode ? { ipMode: i.ipMode } : {}) })) } : {} },
  };
  const slices = families.map((family) => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${s.name}-${family === 'IPv4' ? 'v4' : 'v6'}`,
      namespace: s.namespace ?? ns,
      labels: { 'kubernetes.io/service-name': s.name, 'endpointslice.kubernetes.io/managed-by': 'kpx-traffic-tests' },
    },
    addressType: family,
    endpoints: s.endpoints.map((e) => {
      const p = podByName(e.pod);
      const hints: Record<string, unknown> = {};
      if (e.forZones) hints.forZones = e.forZones.map((name) => ({ name }));
      if (e.forNodes) hints.forNodes = e.forNodes.map((name) => ({ name }));
      const claimedNode = e.nodeName ?? NODE_NAME[p.node];
      return {
        addresses: [family === 'IPv4' ? p.ipv4 : p.ipv6],
        conditions: { ready: e.ready ?? true, serving: e.serving ?? true, terminating: e.terminating ?? false },
        nodeName: claimedNode,
        zone: claimedNode === NODE_NAME.node2 ? ZONE.node2 : ZONE.node,
        ...(e.forZones || e.forNodes ? { hints } : {}),
        targetRef: { kind: 'Pod', name: p.name, namespace: s.namespace ?? ns },
      };
    }),
    ports: s.ports.map((p) => ({ name: p.name, protocol: p.protocol, port: p.targetPort ?? p.port })),
  }));
  return [service, ...slices];
}

/** A scenario manifests file's objects: its Services (+ slices) and, with ranges, one ServiceCIDR. */
export function scenarioObjects(name: string, services: readonly ServiceDef[], serviceCIDRs?: readonly string[]): Record<string, unknown>[] {
  const out = services.flatMap(serviceObjects);
  if (serviceCIDRs?.length) out.push({ apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: { name }, spec: { cidrs: serviceCIDRs } });
  return out;
}

/** Node objects so each proxy knows its node IPs (primary nodePortAddresses, health eligibility). */
export function nodeObjects(): Record<string, unknown>[] {
  return (['node', 'node2'] as NodeName[]).map((n) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: NODE_NAME[n], labels: { 'kubernetes.io/hostname': NODE_NAME[n], 'topology.kubernetes.io/zone': ZONE[n] } },
    spec: { podCIDRs: [...ADDR.podCIDR[n]] },
    status: {
      addresses: [
        { type: 'InternalIP', address: ADDR[n].ipv4 },
        { type: 'InternalIP', address: ADDR[n].ipv6 },
        { type: 'Hostname', address: NODE_NAME[n] },
      ],
    },
  }));
}

/** How many service ports each family programs for these services (for "proxy is ready"). */
export function servicePortCount(services: readonly ServiceDef[], family: Family): number {
  return services.reduce((n, s) => n + (s.clusterIPs.some((ip) => familyOf(ip) === family) ? s.ports.length : 0), 0);
}

/** The expectation of `check` in `mode`, after per-mode overrides. */
export function effectiveExpect(check: Check, mode: Mode): { expect?: Expect; skip?: string; note?: string } {
  const o = check.modes?.[mode];
  if (!o) return { expect: check.expect };
  if (o.skip) return { skip: o.skip, note: o.note };
  return { expect: o.expect ?? check.expect, note: o.note };
}
