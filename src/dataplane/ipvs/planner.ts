// Pure planner: ProxyState -> the desired IPVS kernel state (kube-ipvs0 addresses, virtual and
// real servers, ipset entries, iptables-restore text), following upstream syncProxyRules.

import type { Endpoint, ProxyState, ServicePort } from '../../model/types.js';
import type { DataplaneConfig } from '../config.js';
import { cidrContains, isLoopbackIP } from '../../model/ip.js';

import { type IpvsPlan, type RealServer, type VirtualServer, rsKey, vsKey } from './model.js';
import { SET_INFO, type SetId, setName } from './names.js';
import { buildIptables, type IptablesInput } from './iptables.js';
import { normaliseSetEntry } from './parse.js';

const DEFAULT_SCHEDULER = 'rr';


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

class SetBuilder {
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

/** ipset's textual entry forms. */
export const entry = {
  ipPort: (ip: string, proto: string, port: number): string => `${ip},${proto}:${port}`,
  ipPortIP: (ip: string, proto: string, port: number, ip2: string): string => `${ip},${proto}:${port},${ip2}`,
  ipPortNet: (ip: string, proto: string, port: number, net: string): string => normaliseSetEntry(`${ip},${proto}:${port},${net}`),
};

/** Everything one ServicePort contributes to the plan. */
interface Fragment {
  readonly vss: readonly (readonly [string, VirtualServer])[];
  readonly sets: readonly (readonly [SetId, string])[];
  readonly addresses: readonly string[];
  readonly lbNoNodeAccess: readonly { ip: string; proto: string; port: number }[];
}

interface FragmentContext {
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
const fragmentCache = new WeakMap<DataplaneConfig, WeakMap<ServicePort, { sig: string; frag: Fragment }>>();

function fragmentFor(sp: ServicePort, ctx: FragmentContext): Fragment {
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

/**
 * `localIPs`: this family's addresses on every local interface except kube-ipvs0 (loopback and
 * IPv6 link-local excluded), as upstream GetAllLocalAddressesExcept; used for match-all NodePorts
 * and for "is this external/LB IP a node address". Without it the node's IPs stand in.
 */
export function planIpvs(state: ProxyState, cfg: DataplaneConfig, localIPs?: readonly string[]): IpvsPlan {
  const family = state.family;
  const scheduler = cfg.ipvsScheduler || DEFAULT_SCHEDULER;
  const nodeIPSet = new Set([...state.node.ips, ...(localIPs ?? [])]);
  const npIPs = nodePortIPs(state, localIPs);
  const nodeIP = state.node.ips[0];
  const ctx: FragmentContext = {
    scheduler,
    flags: scheduler === 'mh' ? ['mh-port'] : [],
    nodeIPSet,
    npIPs,
    nodeIP,
    sig: [scheduler, [...nodeIPSet].sort().join(','), npIPs.join(','), nodeIP ?? ''].join('|'),
  };
  let cache = fragmentCache.get(cfg);
  if (!cache) fragmentCache.set(cfg, (cache = new WeakMap()));

  const sets = new SetBuilder();
  const addresses = new Set<string>();
  const vss = new Map<string, VirtualServer>();
  const lbNoNodeAccess: { ip: string; proto: string; port: number }[] = [];
  for (const sp of state.services.values()) {
    let c = cache.get(sp);
    if (!c || c.sig !== ctx.sig) cache.set(sp, (c = { sig: ctx.sig, frag: fragmentFor(sp, ctx) }));
    const f = c.frag;
    for (const [k, v] of f.vss) vss.set(k, v);
    for (const [id, e] of f.sets) sets.add(id, e);
    for (const a of f.addresses) addresses.add(a);
    for (const x of f.lbNoNodeAccess) lbNoNodeAccess.push(x);
  }

  for (const a of addresses) sets.add('ipvsIPs', a);

  const named = new Map<string, ReadonlySet<string>>();
  for (const s of SET_INFO) named.set(setName(s.id, family), sets.entries.get(s.id)!);

  const input: IptablesInput = {
    family,
    cfg,
    nonEmpty: (id) => !sets.isEmpty(id),
    lbNoNodeAccess: lbNoNodeAccess.sort((a, b) => (a.ip + a.proto + a.port < b.ip + b.proto + b.port ? -1 : 1)),
  };
  return { family, addresses, virtualServers: vss, sets: named, iptables: buildIptables(input) };
}
