// IPVS mode's per-service-port objects (upstream syncProxyRules' per-service loop): the virtual
// servers, ipset entries and kube-ipvs0 addresses one ServicePort contributes, cached per
// ServicePort object so unchanged services reuse theirs (the diff then skips them by identity).

import type { Endpoint, ProxyState, ServicePort } from '../../model/types.js';
import type { DataplaneConfig } from '../config.js';
import { cidrContains, isLoopbackIP } from '../../model/ip.js';
import { setEntry as entry } from '../../kernel/ipset/ipset.js';
import { type RealServer, type VirtualServer, rsKey, vsKey } from '../../kernel/ipvs/types.js';
import { SET_INFO, type SetId } from './layout.js';

export const DEFAULT_SCHEDULER = 'rr';


/**
 * Node IPs that get NodePort virtual servers. matchAll: the node's addresses of this family
 * (upstream: all local addresses except kube-ipvs0's); otherwise the matching addresses minus loopback.
 */
export function nodePortIPs(state: ProxyState, localIPs?: readonly string[]): string[] {
  const ips = state.nodePortAddresses.matchAll ? (localIPs ?? state.node.ips) : state.nodePortAddresses.ips;
  return [...new Set(ips.filter((ip) => !isLoopbackIP(ip)))].sort();
}

/** Whether the plan depends on the local addresses (any NodePort, externalIP or LB IP). */
export function needsLocalAddresses(state: ProxyState): boolean {
  for (const sp of state.services.values()) {
    if (sp.nodePort !== 0 || sp.externalIPs.length > 0 || sp.loadBalancerIPs.length > 0) return true;
  }
  return false;
}

/** Upstream syncEndpoint's choice: Local policy uses local endpoints, or cluster ones when there are none (PR #97081). */
export function chooseEndpoints(sp: ServicePort, onlyLocal: boolean): readonly Endpoint[] {
  if (onlyLocal && sp.localEndpoints.length > 0) return sp.localEndpoints;
  return sp.clusterEndpoints;
}

export class SetBuilder {
  readonly entries = new Map<SetId, Set<string>>();
  constructor() {
    for (const s of SET_INFO) this.entries.set(s.id, new Set());
  }
  add(id: SetId, entry: string): void {
    this.entries.get(id)!.add(entry);
  }
  isEmpty(id: SetId): boolean {
    return this.entries.get(id)!.size === 0;
  }
}

/** Everything one ServicePort contributes to the plan. */
export interface Fragment {
  readonly vss: readonly (readonly [string, VirtualServer])[];
  readonly sets: readonly (readonly [SetId, string])[];
  readonly addresses: readonly string[];
  readonly lbNoNodeAccess: readonly { ip: string; proto: string; port: number }[];
}

export interface FragmentContext {
  readonly scheduler: string;
  readonly flags: readonly string[];
  readonly nodeIPSet: ReadonlySet<string>;
  readonly npIPs: readonly string[];
  readonly nodeIP: string | undefined;
  /** Identity of everything above, for the cache. */
  readonly sig: string;
}

// ServicePort objects are reused by the model while unchanged (see model/types.ts), so their
// fragments (and the VirtualServer objects in them) are too: the diff then skips them by identity.
export const fragmentCache = new WeakMap<DataplaneConfig, WeakMap<ServicePort, { sig: string; frag: Fragment }>>();

export function fragmentFor(sp: ServicePort, ctx: FragmentContext): Fragment {
  const vss: [string, VirtualServer][] = [];
  const sets: [SetId, string][] = [];
  const addresses: string[] = [];
  const lbNoNodeAccess: { ip: string; proto: string; port: number }[] = [];
  const addVS = (ip: string, port: number, onlyLocal: boolean): void => {
    const reals = new Map<string, RealServer>();
    for (const ep of chooseEndpoints(sp, onlyLocal)) reals.set(rsKey(ep.ip, ep.port), { ip: ep.ip, port: ep.port, weight: 1 });
    vss.push([
      vsKey(sp.protocol, ip, port),
      { protocol: sp.protocol, ip, port, scheduler: ctx.scheduler, persistence: sp.affinityTimeoutSeconds, flags: ctx.flags, reals },
    ]);
  };
  const proto = sp.protocol.toLowerCase();
  // Hairpin: every local endpoint (any condition) masquerades traffic it sends to itself.
  for (const ep of sp.endpoints) {
    if (ep.isLocal) sets.push(['loopBack', entry.ipPortIP(ep.ip, proto, ep.port, ep.ip)]);
  }

  sets.push(['clusterIP', entry.ipPort(sp.clusterIP, proto, sp.port)]);
  addVS(sp.clusterIP, sp.port, sp.internalPolicyLocal);
  addresses.push(sp.clusterIP);

  for (const ext of sp.externalIPs) {
    sets.push([sp.externalPolicyLocal ? 'externalIPLocal' : 'externalIP', entry.ipPort(ext, proto, sp.port)]);
    addVS(ext, sp.port, sp.externalPolicyLocal);
    if (!ctx.nodeIPSet.has(ext)) addresses.push(ext);
  }

  for (const lb of sp.loadBalancerIPs) {
    const e = entry.ipPort(lb, proto, sp.port);
    sets.push(['loadBalancer', e]);
    if (sp.externalPolicyLocal) sets.push(['loadBalancerLocal', e]);
    if (sp.loadBalancerSourceRanges.length > 0) {
      sets.push(['loadBalancerFW', e]);
      let allowFromNode = false;
      for (const src of sp.loadBalancerSourceRanges) {
        sets.push(['loadBalancerSourceCIDR', entry.ipPortNet(lb, proto, sp.port, src)]);
        if (ctx.nodeIP !== undefined && cidrContains(src, ctx.nodeIP)) allowFromNode = true;
      }
      // Requests from the node to its own LB VIP loop back with the VIP as source.
      if (allowFromNode) sets.push(['loadBalancerSourceIP', entry.ipPortIP(lb, proto, sp.port, lb)]);
      else lbNoNodeAccess.push({ ip: lb, proto, port: sp.port });
    }
    addVS(lb, sp.port, sp.externalPolicyLocal);
    if (!ctx.nodeIPSet.has(lb)) addresses.push(lb);
  }

  if (sp.nodePort !== 0 && ctx.npIPs.length > 0) {
    const local = sp.externalPolicyLocal;
    if (sp.protocol === 'SCTP') {
      for (const ip of ctx.npIPs) {
        const e = entry.ipPort(ip, proto, sp.nodePort);
        sets.push(['nodePortSCTP', e]);
        if (local) sets.push(['nodePortLocalSCTP', e]);
      }
    } else {
      const tcp = sp.protocol === 'TCP';
      sets.push([tcp ? 'nodePortTCP' : 'nodePortUDP', String(sp.nodePort)]);
      if (local) sets.push([tcp ? 'nodePortLocalTCP' : 'nodePortLocalUDP', String(sp.nodePort)]);
    }
    for (const ip of ctx.npIPs) addVS(ip, sp.nodePort, local);
  }

  if (sp.healthCheckNodePort !== 0) sets.push(['healthCheckNodePort', String(sp.healthCheckNodePort)]);
  return { vss, sets, addresses, lbNoNodeAccess };
}
