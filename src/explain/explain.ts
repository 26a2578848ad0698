// explain: what the programmed rules do with one packet, and why. Pure: (snapshot of the running
// proxy's programmed state, packet) -> Explanation. Endpoint selection is the model's own
// (categorizeEndpoints, the IPVS planner's chooseEndpoints); the rule names come from each
// dataplane's describe function. The per-mode differences are upstream's:
//   - nftables/iptables: eTP=Local short-circuits pod and node traffic to cluster endpoints; with
//     no local endpoint, external traffic is dropped.
//   - IPVS: a Local virtual server falls back to all endpoints when none is local (PR #97081),
//     with no SNAT; a virtual server with no real servers answers ICMP unreachable (reject).

import { DESCRIBERS } from '../dataplane/describers.js';
import type { DecidedPath, Implementation, Via } from '../dataplane/describe.js';
import { DUMMY_DEVICE } from '../dataplane/ipvs/layout.js';
import { chooseEndpoints, nodePortIPs } from '../dataplane/ipvs/planner.js';
import { cidrContains, joinHostPort, parseIPSloppy } from '../model/ip.js';
import { categorizeEndpoints, endpointKey, LABEL_TOPOLOGY_ZONE, topologyModeFromHints } from '../model/topology.js';
import type { Endpoint, IPFamily, Protocol, ServicePort } from '../model/types.js';
import type { ProxyMode } from '../config/types.js';
import type { DebugSnapshot } from '../debug/types.js';
import { familyView, type FamilyView } from './snapshot.js';

export type From = 'pod' | 'node' | 'external';

export interface Packet {
  readonly src: string;
  readonly srcPort?: number;
  readonly dst: string;
  readonly port: number;
  readonly protocol: Protocol;
  /** Where the packet comes from; inferred from the source address when absent. */
  readonly from?: From;
}

export type Outcome = 'forward' | 'reject' | 'drop' | 'local' | 'routed';

export interface ChosenEndpoint {
  readonly endpoint: string;
  readonly nodeName: string;
  readonly zone: string;
  readonly local: boolean;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  /** Masqueraded when this endpoint is picked (hairpin can differ from the service-level answer). */
  readonly masquerade: boolean;
  readonly masqueradeReason: string;
}

export interface ExcludedEndpointView {
  readonly endpoint: string;
  readonly reason: 'not ready' | 'terminating' | 'other zone' | 'other node' | 'wrong family' | 'no matching port name';
  readonly detail: string;
}

export interface Explanation {
  readonly mode: ProxyMode;
  readonly node: string;
  readonly packet: {
    readonly src: string;
    readonly srcPort: number | null;
    readonly dst: string;
    readonly port: number;
    readonly protocol: Protocol;
    readonly family: IPFamily;
    readonly from: From;
    readonly fromReason: string;
  };
  readonly outcome: Outcome;
  readonly reason: string;
  readonly service: {
    readonly name: string;
    readonly namespace: string;
    readonly portName: string;
    readonly via: Via;
    readonly clusterIP: string;
    readonly port: number;
    readonly nodePort: number;
  } | null;
  readonly policy: { readonly name: 'internalTrafficPolicy' | 'externalTrafficPolicy'; readonly value: 'Cluster' | 'Local'; readonly effect: string } | null;
  readonly topology: { readonly mode: string; readonly trafficDistribution: string; readonly nodeZone: string } | null;
  readonly sessionAffinity: { readonly type: 'ClientIP' | 'None'; readonly timeoutSeconds: number } | null;
  readonly endpoints: readonly ChosenEndpoint[];
  readonly excluded: readonly ExcludedEndpointView[];
  readonly masquerade: { readonly value: boolean; readonly reason: string } | null;
  readonly implementation: Implementation | null;
  readonly warnings: readonly string[];
  readonly programmed: { readonly generation: number; readonly lastSync: string | null };
}

export class ExplainError extends Error {}

interface Match {
  readonly sp: ServicePort;
  readonly via: Via;
}

function normalise(ip: string, what: string): { text: string; family: IPFamily } {
  const p = parseIPSloppy(ip);
  if (!p) throw new ExplainError(`${what} ${JSON.stringify(ip)} is not an IP address`);
  return { text: p.text, family: p.family };
}

/** The node's own addresses (IPVS: not the service addresses on kube-ipvs0, as upstream GetAllLocalAddressesExcept). */
function nodeIPsOf(mode: ProxyMode, fv: FamilyView): string[] {
  return fv.snap.localAddresses.filter((a) => !a.loopback && !(mode === 'ipvs' && a.iface === DUMMY_DEVICE)).map((a) => a.ip);
}

/** Whether the mode sends NodePort traffic for `dst` (a node address) into the service rules. */
function isNodePortAddress(mode: ProxyMode, fv: FamilyView, dst: string): boolean {
  const s = fv.snap;
  const local = nodeIPsOf(mode, fv);
  const loopback = dst === '::1' || dst.startsWith('127.');
  if (mode === 'ipvs') return nodePortIPs(fv.state, local).includes(dst);
  if (loopback) {
    // Only iptables IPv4 serves NodePorts on localhost (route_localnet); nftables never.
    if (!(mode === 'iptables' && s.config.localhostNodePorts)) return false;
    return s.nodePortAddresses.matchAll || s.nodePortAddresses.ips.some((ip) => ip.startsWith('127.'));
  }
  if (s.nodePortAddresses.matchAll) return s.localAddresses.some((a) => a.ip === dst);
  return s.nodePortAddresses.ips.includes(dst);
}

function findMatch(mode: ProxyMode, fv: FamilyView, dst: string, port: number, proto: Protocol): Match | null {
  let nodePort: Match | null = null;
  for (const sp of fv.state.services.values()) {
    if (sp.protocol !== proto) continue;
    if (sp.port === port) {
      if (sp.clusterIP === dst) return { sp, via: 'ClusterIP' };
      if (sp.loadBalancerIPs.includes(dst)) return { sp, via: 'LoadBalancer' };
      if (sp.externalIPs.includes(dst)) return { sp, via: 'externalIP' };
    }
    if (sp.nodePort === port && nodePort === null) nodePort = { sp, via: 'NodePort' };
  }
  // A service address match wins over a NodePort on the same port (the service-IP map is consulted first).
  if (nodePort && isNodePortAddress(mode, fv, dst)) return nodePort;
  return null;
}

function fromOf(p: Packet, fv: FamilyView, src: string): { from: From; reason: string } {
  if (p.from) return { from: p.from, reason: 'given with --from' };
  if (fv.snap.localAddresses.some((a) => a.ip === src)) return { from: 'node', reason: 'the source is an address of this node' };
  const d = fv.snap.config.localDetector;
  if (d.mode === 'cidr' && cidrContains(d.cidr, src)) return { from: 'pod', reason: `the source is in the cluster CIDR ${d.cidr}` };
  return { from: 'external', reason: 'the source is neither a node address nor in the cluster CIDR' };
}

/**
 * What the local-traffic detector concludes: true (pod traffic), false (not), null (no detector).
 * CIDR detectors look at the source address; interface detectors at the input interface, which we
 * take from --from.
 */
function detectsLocal(fv: FamilyView, src: string, from: From): { local: boolean | null; how: string } {
  const d = fv.snap.config.localDetector;
  switch (d.mode) {
    case 'none':
      return { local: null, how: 'no local-traffic detector (no --cluster-cidr / --detect-local-mode)' };
    case 'cidr':
      return { local: cidrContains(d.cidr, src), how: `source ${cidrContains(d.cidr, src) ? 'in' : 'not in'} the cluster CIDR ${d.cidr}` };
    case 'bridge':
      return { local: from === 'pod', how: `${from === 'pod' ? 'arrives' : 'does not arrive'} on bridge ${d.iface}` };
    case 'prefix':
      return { local: from === 'pod', how: `${from === 'pod' ? 'arrives' : 'does not arrive'} on an interface named ${d.prefix}*` };
  }
}

/** Why each endpoint of `sp` (and the model's strays) is not in `chosen`. */
function exclusions(
  sp: ServicePort,
  chosen: readonly Endpoint[],
  set: 'cluster' | 'local',
  topologyMode: string,
  nodeName: string,
  zone: string,
  strays: readonly { ip: string; port: number; reason: 'wrong family' | 'no matching port name'; detail: string }[],
): ExcludedEndpointView[] {
  const inChosen = new Set(chosen.map(endpointKey));
  const anyReady = (set === 'local' ? sp.endpoints.filter((e) => e.isLocal) : sp.endpoints).some((e) => e.ready);
  const out: ExcludedEndpointView[] = [];
  for (const ep of sp.endpoints) {
    const k = endpointKey(ep);
    if (inChosen.has(k)) continue;
    let reason: ExcludedEndpointView['reason'];
    let detail: string;
    if (set === 'local' && !ep.isLocal) {
      reason = 'other node';
      detail = `on node ${ep.nodeName || '(none)'}; the Local policy uses this node's endpoints only`;
    } else if (!ep.ready && !(ep.serving && ep.terminating)) {
      reason = ep.terminating ? 'terminating' : 'not ready';
      detail = ep.terminating ? 'terminating and not serving' : 'ready=false';
    } else if (!ep.ready) {
      reason = 'terminating';
      detail = anyReady ? 'serving but terminating; ready endpoints are preferred' : 'serving but terminating';
    } else if (topologyMode === 'PreferSameNode') {
      reason = 'other node';
      detail = `topology hints name nodes ${JSON.stringify(ep.nodeHints ?? [])}, not ${nodeName}`;
    } else if (topologyMode === 'PreferSameZone') {
      reason = 'other zone';
      detail = `topology hints name zones ${JSON.stringify(ep.zoneHints ?? [])}, this node is in ${zone || '(no zone)'}`;
    } else {
      reason = 'not ready';
      detail = 'not selected by the programmed state (a sync may be pending)';
    }
    out.push({ endpoint: k, reason, detail });
  }
  for (const s of strays) out.push({ endpoint: joinHostPort(s.ip, s.port), reason: s.reason, detail: s.detail });
  return out;
}

export interface ExplainOptions {
  /** Skip the dataplane names (tests of the decision alone). */
  readonly noImplementation?: boolean;
}

export function explain(snapshot: DebugSnapshot, packet: Packet, opts: ExplainOptions = {}): Explanation {
  const dst = normalise(packet.dst, 'destination');
  const src = normalise(packet.src, 'source');
  if (src.family !== dst.family) throw new ExplainError(`source ${src.text} and destination ${dst.text} are of different IP families`);
  if (!Number.isInteger(packet.port) || packet.port < 1 || packet.port > 65535) throw new ExplainError(`destination port ${packet.port} is out of range`);
  const fsnap = snapshot.families.find((f) => f.family === dst.family);
  if (!fsnap) throw new ExplainError(`the proxy runs no ${dst.family} dataplane`);
  const fv = familyView(fsnap);
  const mode = snapshot.mode;
  const { from, reason: fromReason } = fromOf(packet, fv, src.text);
  const warnings: string[] = [];
  if (!snapshot.initialized) warnings.push('the proxy has not received Services and EndpointSlices yet: nothing is programmed');
  if (fsnap.lastSync === null) warnings.push(`no ${dst.family} sync has succeeded yet: the kernel may hold older rules`);
  if (fsnap.consecutiveFailures > 0) warnings.push(`the last ${fsnap.consecutiveFailures} sync(s) failed: the kernel holds the state of ${fsnap.lastSync ?? 'no sync'}`);
  const srcIsNode = fsnap.localAddresses.some((a) => a.ip === src.text);
  if (from === 'node' && !srcIsNode) warnings.push(`--from node, but ${src.text} is not an address of this node`);

  const base = {
    mode,
    node: snapshot.nodeName,
    packet: { src: src.text, srcPort: packet.srcPort ?? null, dst: dst.text, port: packet.port, protocol: packet.protocol, family: dst.family, from, fromReason },
    programmed: { generation: fsnap.generation, lastSync: fsnap.lastSync },
  };
  const none = { service: null, policy: null, topology: null, sessionAffinity: null, endpoints: [], excluded: [], masquerade: null, implementation: null };

  const match = findMatch(mode, fv, dst.text, packet.port, packet.protocol);
  if (!match) return { ...base, ...none, warnings, ...unmatched(mode, fv, dst.text, packet.port) };

  const { sp, via } = match;
  const external = via !== 'ClusterIP';
  const nodeName = fsnap.node.name;
  const zone = fsnap.node.labels[LABEL_TOPOLOGY_ZONE] ?? '';
  const detector = detectsLocal(fv, src.text, from);
  const service = { name: sp.serviceName, namespace: sp.namespace, portName: sp.portName, via, clusterIP: sp.clusterIP, port: sp.port, nodePort: sp.nodePort };
  const sessionAffinity = { type: sp.affinityTimeoutSeconds > 0 ? ('ClientIP' as const) : ('None' as const), timeoutSeconds: sp.affinityTimeoutSeconds };

  // The model's selection, recomputed from the programmed endpoints: it must equal what was programmed.
  const sel = categorizeEndpoints(sp.endpoints, { usesClusterEndpoints: sp.usesClusterEndpoints, usesLocalEndpoints: sp.usesLocalEndpoints }, nodeName, zone);
  const same = (a: readonly Endpoint[] | null, b: readonly Endpoint[]): boolean => (a ?? []).map(endpointKey).join() === b.map(endpointKey).join();
  if (!same(sel.clusterEndpoints, sp.clusterEndpoints) || !same(sel.localEndpoints, sp.localEndpoints)) {
    warnings.push('the programmed endpoint sets differ from what the model selects now: a sync is pending');
  }
  const topologyMode = sp.usesClusterEndpoints ? topologyModeFromHints(sp.endpoints, nodeName, zone) : '';
  const topology = { mode: topologyMode || 'none', trafficDistribution: sp.trafficDistribution, nodeZone: zone };

  // Policy and endpoint set.
  const localPolicy = external ? sp.externalPolicyLocal : sp.internalPolicyLocal;
  const policyName = external ? ('externalTrafficPolicy' as const) : ('internalTrafficPolicy' as const);
  let set: 'cluster' | 'local' = localPolicy ? 'local' : 'cluster';
  let pathPolicy: DecidedPath['policy'] = set;
  let effect = localPolicy ? "this node's endpoints only" : 'all usable endpoints of the cluster';
  let masq: { value: boolean; reason: string };
  let outcome: 'forward' | 'reject' | 'drop' = 'forward';
  let cause: DecidedPath['cause'];
  let reason = '';
  let chosen: readonly Endpoint[];

  const internalMasq = (): { value: boolean; reason: string } => {
    if (fsnap.config.masqueradeAll) return { value: true, reason: '--masquerade-all' };
    if (detector.local === null) return { value: false, reason: `${detector.how}: only hairpin traffic is masqueraded` };
    return detector.local ? { value: false, reason: `pod traffic (${detector.how})` } : { value: true, reason: `off-cluster source (${detector.how})` };
  };

  if (mode === 'ipvs') {
    chosen = chooseEndpoints(sp, localPolicy);
    if (localPolicy && sp.localEndpoints.length === 0 && chosen.length > 0) {
      set = 'cluster';
      effect = 'no local endpoint: IPVS falls back to all endpoints (upstream PR #97081)';
      warnings.push('IPVS Local policy fallback: the packet goes to endpoints on other nodes without SNAT; their replies may bypass this node');
    }
    if (!external) masq = internalMasq();
    else if (sp.externalPolicyLocal) masq = { value: false, reason: `${policyName}=Local: the ${via} set entry returns before masquerading` };
    else masq = { value: true, reason: `${via} with ${policyName}=Cluster (KUBE-MARK-MASQ)` };
  } else if (!external) {
    chosen = localPolicy ? sp.localEndpoints : sp.clusterEndpoints;
    masq = internalMasq();
  } else if (sp.externalPolicyLocal && detector.local === true) {
    chosen = sp.clusterEndpoints;
    set = 'cluster';
    pathPolicy = 'short-circuit-pod';
    effect = 'pod traffic to an external address is short-circuited to all endpoints';
    masq = { value: false, reason: `pod traffic short-circuited (${detector.how})` };
  } else if (sp.externalPolicyLocal && srcIsNode) {
    chosen = sp.clusterEndpoints;
    set = 'cluster';
    pathPolicy = 'short-circuit-node';
    effect = 'node-originated traffic to an external address is short-circuited to all endpoints';
    masq = { value: true, reason: 'node-originated traffic to an external address (fib saddr type local / --src-type LOCAL)' };
  } else if (sp.externalPolicyLocal) {
    chosen = sp.localEndpoints;
    masq = { value: false, reason: `${policyName}=Local keeps the client source address` };
  } else {
    chosen = sp.clusterEndpoints;
    masq = { value: true, reason: `${via} traffic with ${policyName}=Cluster is masqueraded` };
  }

  // Verdicts, in the order the rules apply them.
  if (via === 'LoadBalancer' && sp.loadBalancerSourceRanges.length > 0 && !sourceAllowed(sp, fsnap.node.ips, src.text)) {
    outcome = 'drop';
    cause = 'source-ranges';
    reason = `source ${src.text} is outside loadBalancerSourceRanges ${sp.loadBalancerSourceRanges.join(', ')}`;
  } else if (!sp.hasAnyEndpoints) {
    outcome = 'reject';
    cause = 'no-endpoints';
    reason = `${sp.spn} has no usable endpoints${mode === 'ipvs' ? ' (its virtual server has no real servers: ICMP port unreachable)' : ''}`;
  } else if (chosen.length === 0) {
    cause = 'no-local-endpoints';
    if (mode === 'ipvs') {
      outcome = 'reject';
      reason = `${policyName}=Local and no endpoint on this node: the virtual server has no real servers (ICMP port unreachable)`;
    } else {
      outcome = 'drop';
      reason = `${policyName}=Local and no endpoint on node ${nodeName}: dropped`;
    }
  } else {
    reason = `DNAT to one of ${chosen.length} endpoint(s)${sp.affinityTimeoutSeconds > 0 ? ', sticky per client IP' : ', picked at random'}`;
  }

  const endpoints: ChosenEndpoint[] = outcome === 'forward' ? chosen.map((ep) => chosenView(ep, src.text, masq, mode)) : [];
  const strays = fv.excluded.get(sp.key) ?? [];
  const excluded = exclusions(sp, chosen, set, topologyMode, nodeName, zone, strays);

  const path: DecidedPath = { sp, via, dst: dst.text, port: packet.port, policy: pathPolicy, outcome, ...(cause ? { cause } : {}), endpoints: chosen };
  const localIPs = nodeIPsOf(mode, fv);
  const implementation = opts.noImplementation ? null : DESCRIBERS[mode].describe(path, { state: fv.state, config: fsnap.config, localIPs });
  return {
    ...base,
    outcome,
    reason,
    service,
    policy: { name: policyName, value: localPolicy ? 'Local' : 'Cluster', effect },
    topology,
    sessionAffinity,
    endpoints,
    excluded,
    masquerade: outcome === 'forward' ? masq : null,
    implementation,
    warnings,
  };
}

function sourceAllowed(sp: ServicePort, nodeIPs: readonly string[], src: string): boolean {
  if (sp.loadBalancerSourceRanges.some((c) => cidrContains(c, src))) return true;
  // The node reaching its own VIP: allowed when a range covers a node IP (the packet carries the VIP).
  return sp.loadBalancerIPs.includes(src) && sp.loadBalancerSourceRanges.some((c) => nodeIPs.some((n) => cidrContains(c, n)));
}

function chosenView(ep: Endpoint, src: string, masq: { value: boolean; reason: string }, mode: ProxyMode): ChosenEndpoint {
  // Hairpin: a pod reaching itself through the service must see a reply from the service address.
  const hairpin = ep.ip === src && (mode !== 'ipvs' || ep.isLocal);
  return {
    endpoint: endpointKey(ep),
    nodeName: ep.nodeName,
    zone: ep.zone,
    local: ep.isLocal,
    ready: ep.ready,
    serving: ep.serving,
    terminating: ep.terminating,
    masquerade: masq.value || hairpin,
    masqueradeReason: hairpin && !masq.value ? 'hairpin: the endpoint is the source itself' : masq.reason,
  };
}

/** No service address or NodePort matches: what the node does with the packet. */
function unmatched(mode: ProxyMode, fv: FamilyView, dst: string, port: number): { outcome: Outcome; reason: string } {
  const s = fv.snap;
  const isClusterIP = [...fv.state.services.values()].some((sp) => sp.clusterIP === dst);
  const isLocal = s.localAddresses.some((a) => a.ip === dst);
  if (isClusterIP) {
    if (mode === 'nftables') return { outcome: 'reject', reason: `${dst} is a ClusterIP but no service port ${port} is on it: rejected (cluster-ips-check)` };
    if (mode === 'ipvs') return { outcome: 'reject', reason: `${dst} is a ClusterIP (bound on kube-ipvs0) but no service port ${port} is on it: rejected (KUBE-IPVS-FILTER)` };
    return { outcome: 'routed', reason: `${dst} is a ClusterIP but no service port ${port} is on it: iptables mode has no rule for it, the packet is routed like any other` };
  }
  if (mode === 'nftables' && s.serviceCIDRs.some((c) => cidrContains(c, dst))) {
    return { outcome: 'drop', reason: `${dst} is in a service CIDR but allocated to no Service: dropped` };
  }
  if (isLocal) return { outcome: 'local', reason: `${dst} is an address of this node and no Service uses ${dst}:${port}: delivered to the node itself (refused unless something listens)` };
  return { outcome: 'routed', reason: `no Service uses ${dst}:${port}: kube-proxy does not touch the packet; it is routed normally` };
}
