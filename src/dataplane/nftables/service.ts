// Per-service-port rules: upstream nftables proxier's syncProxyRules loop body, re-shaped for
// the global-map layout. Endpoint choice is `numgen ... offset <base> map @endpoints-<proto>`
// over the port's block of the global `endpoints-<proto>` map instead of one anonymous vmap per service (the
// anonymous vmaps make upstream's load quadratic in the kernel). Per-endpoint chains and
// affinity sets exist only for sessionAffinity ClientIP, where they are needed.

import type { Endpoint, ServicePort } from '../../model/types.js';
import type { SetSpec } from '../../kernel/nftables/objects.js';
import { type Block, BlockAllocator, PAGE_KEYS, type SlotBlock, assignSlots, compactSlots, epValue, pageOf } from './alloc.js';

export { epValue, type SlotBlock } from './alloc.js';
import type { ElementOp } from './elements.js';
import {
  CLUSTER_IPS_SET,
  FIREWALL_IPS_MAP,
  MARK_MASQ_CHAIN,
  NO_ENDPOINT_NODEPORTS_MAP,
  NO_ENDPOINT_SERVICES_MAP,
  REJECT_CHAIN,
  type RuleContext,
  SERVICE_IPS_MAP,
  SERVICE_NODEPORTS_MAP,
} from './layout.js';
import { type ServiceChainNames, affinitySetName, endpointChainName, serviceChainNames, servicePortBase } from './names.js';

/**
 * Memoised names and shared objects of one planner (one Dataplane): chain names by service port
 * (a SHA-256 per port is ~3 µs, a sixth of a cold 10k-service full plan), interned endpoint-map
 * page names and shared DNAT chains (10^4 ports share a few dozen). Memoisation only: a fresh
 * cache gives the same output. Cleared wholesale when it outgrows any plausible cluster.
 */
export class ServiceCache {
  private readonly names = new Map<string, ServiceChainNames>();
  private readonly pages = new Map<string, string[]>();
  private readonly shared = new Map<string, SharedChain>();

  chainNames(sp: ServicePort): ServiceChainNames {
    const base = servicePortBase(sp);
    const hit = this.names.get(base);
    if (hit) return hit;
    if (this.names.size >= NAMES_CACHE_MAX) this.names.clear();
    const names = serviceChainNames(sp);
    this.names.set(base, names);
    return names;
  }

  /**
   * Endpoint maps are per protocol (`endpoints-tcp-0`, …): nft 1.0.6 cannot add a rule using a
   * map typed `th dport` that already exists in the kernel ("conflicting protocols specified: tcp
   * vs. th"), but accepts `tcp dport` behind `meta l4proto tcp`. And per page of keys (alloc.ts).
   */
  endpointsMapName(protocol: string, b: Block): string {
    if (b.cap > PAGE_KEYS) return `endpoints-${protocol.toLowerCase()}-${pageOf(b)}`;
    // Interned per protocol and page: every port of a page shares one name string.
    let pages = this.pages.get(protocol);
    if (!pages) this.pages.set(protocol, (pages = []));
    const page = Math.floor(b.base / PAGE_KEYS);
    return (pages[page] ??= `endpoints-${protocol.toLowerCase()}-${page}`);
  }

  /** Interned per family, kind, protocol and n. */
  sharedChain(ipX: 'ip' | 'ip6', kind: SharedKind, proto: string, n: number): SharedChain {
    const id = `${ipX} ${kind}-${proto}-${n}`;
    let c = this.shared.get(id);
    if (!c) this.shared.set(id, (c = sharedChain(ipX, kind, proto, n)));
    return c;
  }
}
const NAMES_CACHE_MAX = 1 << 18;

function protoLower(p: string): string {
  return p === 'TCP' ? 'tcp' : p === 'UDP' ? 'udp' : p === 'SCTP' ? 'sctp' : p.toLowerCase();
}

export function endpointsMapDecl(ipX: 'ip' | 'ip6', protocol: string): SetDecl {
  const proto = protocol.toLowerCase();
  return {
    kind: 'map',
    spec: { typeOf: `numgen random mod 1 : ${ipX} daddr . ${proto} dport`, comment: 'endpoint blocks: key base+i of a service port -> endpoint' },
  };
}
export const ENDPOINT_PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;

/**
 * Element-only endpoint changes. Plain ports (no affinity, eTP=Cluster for external addresses) do
 * not get per-service chains: their `service-ips` / `service-nodeports` element jumps to a chain
 * shared by every port with the same protocol and endpoint count n,
 *   dnat-<proto>-<n>:     dnat to <daddr> . <dport> . numgen random mod n map @cluster-endpoints-<proto>
 *   ext-dnat-<proto>-<n>: jump mark-for-masquerade, the same dnat (externalIPs, LB IPs)
 *   np-dnat-<proto>-<n>:  jump mark-for-masquerade, dnat to <dport> . numgen random mod n map @nodeport-endpoints-<proto>
 * and the port's endpoints are elements keyed by its own address . port . index. Adding, removing
 * or replacing endpoints (count included) then changes elements only (and the vmap element's
 * target chain): no chain is flushed or written, which is what makes nft re-fetch its chain cache
 * (35-130 ms with 12k chains). Few rules bind each map (one per distinct n), so the kernel's
 * per-element check of every binding stays cheap without paging.
 */
export function clusterEndpointsMap(proto: string): string {
  return `cluster-endpoints-${proto}`;
}
export function nodeportEndpointsMap(proto: string): string {
  return `nodeport-endpoints-${proto}`;
}

/** A chain shared by many service ports, created on demand and kept until the next full sync. */
export interface SharedChain {
  readonly name: string;
  readonly kind: SharedKind;
  readonly proto: string;
  /** Endpoints it chooses from. */
  readonly n: number;
  readonly rules: readonly string[];
  /** The endpoint map its rule reads, and that map's declaration. */
  readonly map: string;
  readonly mapDecl: SetDecl;
}

export type SharedKind = 'dnat' | 'ext-dnat' | 'np-dnat';

/** A shared DNAT chain (interned by ServiceCache.sharedChain: 10^4 ports share a few dozen objects). */
function sharedChain(ipX: 'ip' | 'ip6', kind: SharedKind, proto: string, n: number): SharedChain {
  const name = `${kind}-${proto}-${n}`;
  const np = kind === 'np-dnat';
  const map = np ? nodeportEndpointsMap(proto) : clusterEndpointsMap(proto);
  const key = np ? `${proto} dport` : `${ipX} daddr . ${proto} dport`;
  const dnat = `meta l4proto ${proto} dnat ${ipX} to ${key} . numgen random mod ${n} map @${map}`;
  return {
    name,
    kind,
    proto,
    n,
    rules: kind === 'dnat' ? [dnat] : [`jump ${MARK_MASQ_CHAIN}`, dnat],
    map,
    mapDecl: {
      kind: 'map',
      spec: {
        typeOf: `${key} . numgen random mod 1 : ${ipX} daddr . ${proto} dport`,
        comment: `${np ? 'nodePort . i' : 'service address . port . i'} -> endpoint`,
      },
    },
  };
}

/** A port's endpoints in a shared map: elements `<prefix> . i : slots[i]`. */
export interface Entry {
  readonly map: string;
  /** "<address> . <port>" or "<nodePort>". */
  readonly prefix: string;
  readonly slots: readonly Endpoint[];
}

/** A per-service or shared set/map declaration (kernel/nftables NamedSet without the name). */
export interface SetDecl {
  readonly kind: 'set' | 'map';
  readonly spec: SetSpec;
}

export interface ServiceRecord {
  readonly sp: ServicePort;
  /** Lower-case protocol (the `endpoints-<proto>-<page>` map family). */
  readonly proto: string;
  /** Per-service chains (service/local/external/firewall/endpoint) -> rule bodies in order. */
  readonly chains: ReadonlyMap<string, readonly string[]>;
  /** Per-service sets and maps (affinity sets, endpoint-choice vmaps). */
  readonly sets: ReadonlyMap<string, SetDecl>;
  /**
   * Elements this port claims in shared or own sets/maps, except the endpoint-map elements: those
   * keys belong to this port alone (its blocks), so the planner writes and diffs them straight from
   * `blocks` instead of passing ~10^5 of them through the owner-counted ElementTable.
   */
  readonly elements: readonly ElementOp[];
  readonly blocks: { readonly service?: SlotBlock; readonly local?: SlotBlock };
  /** Endpoints whose IPs this port puts in the `hairpin` set (reference-counted by IP, IpRefCount). */
  readonly hairpin: readonly Endpoint[];
  /** Shared endpoint-map pages this port's rules use (declared by the planner, never per service). */
  readonly endpointMaps: readonly string[];
  /** Shared DNAT chains this port's elements jump to (created by the planner on demand). */
  readonly shared: readonly SharedChain[];
  /**
   * Elements in the shared endpoint maps keyed by the ClusterIP or the nodePort (unique per port),
   * written and diffed by the planner like the blocks. External and LB addresses, which two ports
   * may claim, go through `elements` (owner-counted) instead.
   */
  readonly entries: readonly Entry[];
  /** Slot orders of the entries (kept so the next plan can keep indices stable). */
  readonly order: { readonly cluster?: readonly Endpoint[]; readonly local?: readonly Endpoint[] };
}

const NO_ENDPOINTS: readonly Endpoint[] = [];
const AFFINITY_FLAGS = ['dynamic', 'timeout'] as const;
const NO_SHARED: readonly SharedChain[] = [];
const NO_ENTRIES: readonly Entry[] = [];
const NO_ORDER: ServiceRecord['order'] = {};

function dnatTarget(ep: Endpoint): string {
  return ep.ip.includes(':') ? `[${ep.ip}]:${ep.port}` : `${ep.ip}:${ep.port}`;
}

/**
 * Accumulates one port's record. A class rather than closures inside buildService: this runs
 * 10^4 times per full plan and per-call closures were a visible share of its allocations.
 */
class RecordBuilder {
  readonly chains = new Map<string, string[]>();
  sets: Map<string, SetDecl> | undefined;
  readonly elements: ElementOp[] = [];
  readonly blocks: { service?: SlotBlock; local?: SlotBlock } = {};
  readonly endpointMaps: string[] = [];
  constructor(readonly owner: string) {}

  claim(map: string, key: string, value: string | null, comment?: string): void {
    const owner = this.owner;
    this.elements.push(comment !== undefined ? { map, key, value, comment, owner } : { map, key, value, owner });
  }

  rules(chain: string): string[] {
    let r = this.chains.get(chain);
    if (!r) this.chains.set(chain, (r = []));
    return r;
  }

  set(name: string, d: SetDecl): void {
    (this.sets ??= new Map()).set(name, d);
  }
}

const NO_SETS: ReadonlyMap<string, SetDecl> = new Map();
const VMAP_DECL: SetDecl = { kind: 'map', spec: { typeOf: 'numgen random mod 1 : verdict' } };

function writeChoice(
  rb: RecordBuilder,
  sp: ServicePort,
  ctx: RuleContext,
  proto: string,
  oldBlock: SlotBlock | undefined,
  alloc: BlockAllocator,
  chain: string,
  vmap: string,
  eps: readonly Endpoint[],
  which: 'service' | 'local',
): void {
  const { ipX } = ctx;
  const r = rb.rules(chain);
  if (sp.affinityTimeoutSeconds > 0) {
    for (const ep of eps) r.push(`${ipX} saddr @${affinitySetName(sp, ep)} goto ${endpointChainName(sp, ep)}`);
    r.push(`numgen random mod ${eps.length} vmap @${vmap}`);
    rb.set(vmap, VMAP_DECL);
    eps.forEach((ep, i) => rb.claim(vmap, String(i), `goto ${endpointChainName(sp, ep)}`));
    return;
  }
  const b = assignSlots(oldBlock, eps, alloc, epValue);
  rb.blocks[which] = b;
  const map = ctx.cache.endpointsMapName(proto, b);
  rb.endpointMaps.push(map);
  r.push(`meta l4proto ${proto} dnat ${ipX} to numgen random mod ${eps.length} offset ${b.base} map @${map}`);
  // Elements `base+i : slot` are written by the planner from `blocks` (see ServiceRecord.elements).
}

export function buildService(
  sp: ServicePort,
  ctx: RuleContext,
  old: ServiceRecord | undefined,
  /** Allocator of the `endpoints-<proto>` map of this port's protocol. */
  alloc: BlockAllocator,
): ServiceRecord {
  const { ipX } = ctx;
  const names = ctx.cache.chainNames(sp);
  const proto = protoLower(sp.protocol);
  const rb = new RecordBuilder(sp.key);
  const affinity = sp.affinityTimeoutSeconds > 0;

  const hasEndpoints = sp.hasAnyEndpoints;
  const clusterEps = sp.clusterEndpoints;
  const localEps = sp.localEndpoints;
  const usesServiceChain = clusterEps.length > 0 && sp.usesClusterEndpoints;
  const usesLocalChain = localEps.length > 0 && sp.usesLocalEndpoints;

  let internalChain = names.service;
  let hasInternal = hasEndpoints;
  if (sp.internalPolicyLocal) {
    internalChain = names.local;
    if (localEps.length === 0) hasInternal = false;
  }
  hasInternal &&= internalChain === names.service ? usesServiceChain : usesLocalChain;
  let externalPolicyChain = names.service;
  let hasExternal = hasEndpoints;
  if (sp.externalPolicyLocal) {
    externalPolicyChain = names.local;
    if (localEps.length === 0) hasExternal = false;
  }
  hasExternal &&= externalPolicyChain === names.service ? usesServiceChain : usesLocalChain;
  const usesExternalChain = hasEndpoints && sp.externallyAccessible;

  // no endpoints at all: reject everything; Local policy without local endpoints: drop.
  const internalVerdict = hasEndpoints ? 'drop' : `goto ${REJECT_CHAIN}`;
  const externalVerdict = hasEndpoints ? 'drop' : `goto ${REJECT_CHAIN}`;
  const portSuffix = ` . ${proto} . ${sp.port}`;

  // Shared DNAT chains (see clusterEndpointsMap): everything but affinity, and for external
  // addresses eTP=Cluster with usable endpoints (eTP=Local needs the short-circuit rules of a
  // per-service external chain).
  const oo = old?.order;
  const sharedInternal = hasInternal && !affinity;
  const sharedExternal = hasExternal && !affinity && !sp.externalPolicyLocal;
  const clusterOrder =
    (sharedInternal && !sp.internalPolicyLocal) || (sharedExternal && usesExternalChain) ? compactSlots(oo?.cluster, clusterEps) : undefined;
  const localOrder = sharedInternal && sp.internalPolicyLocal ? compactSlots(oo?.local, localEps) : undefined;
  const shared: SharedChain[] = [];
  const entries: Entry[] = [];
  const externalChain = usesExternalChain && !sharedExternal;

  rb.claim(CLUSTER_IPS_SET, sp.clusterIP, null);
  // Dispatch elements carry the service port's name as a comment (upstream's per-service chain names
  // make `nft list ruleset | grep ns/name` work; our shared DNAT chains do not). Endpoint elements
  // carry none: endpoint changes stay element-only and the full load stays small.
  if (sharedInternal) {
    const slots = (sp.internalPolicyLocal ? localOrder : clusterOrder)!;
    const c = ctx.cache.sharedChain(ipX, 'dnat', proto, slots.length);
    shared.push(c);
    rb.claim(SERVICE_IPS_MAP, sp.clusterIP + portSuffix, `goto ${c.name}`, sp.spn);
    entries.push({ map: c.map, prefix: `${sp.clusterIP} . ${sp.port}`, slots });
  } else if (hasInternal) rb.claim(SERVICE_IPS_MAP, sp.clusterIP + portSuffix, `goto ${internalChain}`, sp.spn);
  else rb.claim(NO_ENDPOINT_SERVICES_MAP, sp.clusterIP + portSuffix, internalVerdict, sp.spn);

  let extTarget = names.external;
  if (sharedExternal && usesExternalChain && (sp.externalIPs.length > 0 || sp.loadBalancerIPs.length > 0)) {
    const c = ctx.cache.sharedChain(ipX, 'ext-dnat', proto, clusterOrder!.length);
    shared.push(c);
    extTarget = c.name;
  }
  /** External and LB addresses: owner-counted (two ports may claim one address . port). */
  const externalEntry = (ip: string): void => {
    if (extTarget === names.external) return;
    const slots = clusterOrder!;
    for (let i = 0; i < slots.length; i++) rb.claim(clusterEndpointsMap(proto), `${ip} . ${sp.port} . ${i}`, epValue(slots[i]!));
  };

  for (const ip of sp.externalIPs) {
    if (hasEndpoints) {
      rb.claim(SERVICE_IPS_MAP, ip + portSuffix, `goto ${extTarget}`, sp.spn);
      externalEntry(ip);
    }
    if (!hasExternal) rb.claim(NO_ENDPOINT_SERVICES_MAP, ip + portSuffix, externalVerdict, sp.spn);
  }

  const usesFirewall = sp.loadBalancerIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
  if (usesFirewall) {
    const sources = [...sp.loadBalancerSourceRanges];
    const allowFromNode = sp.loadBalancerSourceRanges.some((c) => ctx.nodeIPs.some((n) => ctx.cidrContains(c, n)));
    // A VIP-style LB address is often local: node-to-VIP traffic then arrives with the VIP as source.
    if (allowFromNode) sources.push(...sp.loadBalancerIPs);
    rb.rules(names.firewall).push(`${ipX} saddr != { ${sources.join(', ')} } drop`);
  }
  for (const ip of sp.loadBalancerIPs) {
    if (hasEndpoints) {
      rb.claim(SERVICE_IPS_MAP, ip + portSuffix, `goto ${extTarget}`, sp.spn);
      externalEntry(ip);
    }
    if (usesFirewall) rb.claim(FIREWALL_IPS_MAP, ip + portSuffix, `goto ${names.firewall}`, sp.spn);
    if (!hasExternal) rb.claim(NO_ENDPOINT_SERVICES_MAP, ip + portSuffix, externalVerdict, sp.spn);
  }
  if (sp.nodePort !== 0) {
    const k = `${proto} . ${sp.nodePort}`;
    if (hasEndpoints) {
      if (sharedExternal && usesExternalChain) {
        const c = ctx.cache.sharedChain(ipX, 'np-dnat', proto, clusterOrder!.length);
        shared.push(c);
        rb.claim(SERVICE_NODEPORTS_MAP, k, `goto ${c.name}`, sp.spn);
        entries.push({ map: c.map, prefix: String(sp.nodePort), slots: clusterOrder! });
      } else rb.claim(SERVICE_NODEPORTS_MAP, k, `goto ${names.external}`, sp.spn);
    }
    if (!hasExternal) rb.claim(NO_ENDPOINT_NODEPORTS_MAP, k, externalVerdict, sp.spn);
  }

  // Internal traffic from off-cluster sources (a static route to the service CIDR via a node) is
  // masqueraded by one rule in the `services` chain over @cluster-ips (planner.ts writeFixed), not
  // by upstream's per-service `ip daddr <clusterIP> <proto> dport <port> … jump mark-for-masquerade`:
  // those 10k rules were a quarter of a full load's kernel time (docs/nftables.md).

  if (externalChain) {
    const ext = rb.rules(names.external);
    if (!sp.externalPolicyLocal) {
      ext.push(`jump ${MARK_MASQ_CHAIN}`);
    } else if (usesServiceChain) {
      // Pod- and host-originated traffic to external destinations ignores eTP=Local.
      if (ctx.ifLocal) ext.push(`${ctx.ifLocal} goto ${names.service} comment "short-circuit pod traffic"`);
      ext.push(`fib saddr type local jump ${MARK_MASQ_CHAIN} comment "masquerade local traffic"`);
      ext.push(`fib saddr type local goto ${names.service} comment "short-circuit local traffic"`);
    }
    if (hasExternal) ext.push(`goto ${externalPolicyChain}`);
  }

  // Per-service choice chains remain for affinity and for the per-service external chain.
  const needService = usesServiceChain && (affinity || externalChain);
  const needLocal = usesLocalChain && (affinity || (externalChain && sp.externalPolicyLocal));
  const ob = old?.blocks;
  if (needService) writeChoice(rb, sp, ctx, proto, ob?.service, alloc, names.service, names.serviceVmap, clusterEps, 'service');
  if (needLocal) writeChoice(rb, sp, ctx, proto, ob?.local, alloc, names.local, names.localVmap, localEps, 'local');
  if (ob?.service && rb.blocks.service?.base !== ob.service.base) alloc.release(ob.service);
  if (ob?.local && rb.blocks.local?.base !== ob.local.base) alloc.release(ob.local);
  const { chains, elements, blocks, endpointMaps } = rb;

  const reachable = usesServiceChain || usesLocalChain ? sp.allReachableEndpoints : NO_ENDPOINTS;
  if (affinity) {
    for (const ep of reachable) {
      const set = affinitySetName(sp, ep);
      rb.set(set, {
        kind: 'set',
        spec: { type: ctx.addrType, flags: AFFINITY_FLAGS, timeout: sp.affinityTimeoutSeconds },
      });
      rb.chains.set(endpointChainName(sp, ep), [
        `${ipX} saddr ${ep.ip} jump ${MARK_MASQ_CHAIN}`,
        `update @${set} { ${ipX} saddr }`,
        `meta l4proto ${proto} dnat to ${dnatTarget(ep)}`,
      ]);
    }
  }
  // Hairpin (a pod reaching a service that picks the pod itself) is masqueraded in
  // nat-postrouting through the `hairpin` set (elements `ip . ip`), so no per-endpoint chain is
  // needed for it. The record only points at the endpoints; the planner counts their IPs.
  const order = clusterOrder || localOrder ? { ...(clusterOrder ? { cluster: clusterOrder } : {}), ...(localOrder ? { local: localOrder } : {}) } : NO_ORDER;
  return {
    sp,
    proto,
    chains,
    sets: rb.sets ?? NO_SETS,
    elements,
    blocks,
    endpointMaps,
    hairpin: reachable,
    shared: shared.length > 0 ? shared : NO_SHARED,
    entries: entries.length > 0 ? entries : NO_ENTRIES,
    order,
  };
}
