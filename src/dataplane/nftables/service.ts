// Per-service-port rules: upstream nftables proxier's syncProxyRules loop body, re-shaped for
// the global-map layout. Endpoint choice is `numgen ... offset <base> map @endpoints-<proto>`
// over the port's block of the global `endpoints-<proto>` map instead of one anonymous vmap per service (the
// anonymous vmaps make upstream's load quadratic in the kernel). Per-endpoint chains and
// affinity sets exist only for sessionAffinity ClientIP, where they are needed.

import type { Endpoint, ServicePort } from '../../model/types.js';
import { type Block, BlockAllocator, PAGE_KEYS, pageOf } from './alloc.js';
import type { ElementOp } from './elements.js';
import { affinitySetName, endpointChainName, serviceChainNames } from './names.js';

export const MARK_MASQ_CHAIN = 'mark-for-masquerade';
export const REJECT_CHAIN = 'reject-chain';
/**
 * Endpoint maps are per protocol (`endpoints-tcp-0`, …): nft 1.0.6 cannot add a rule using a
 * map typed `th dport` that already exists in the kernel ("conflicting protocols specified: tcp
 * vs. th"), but accepts `tcp dport` behind `meta l4proto tcp`. And per page of keys (alloc.ts).
 */
export function endpointsMapName(protocol: string, b: Block): string {
  if (b.cap > PAGE_KEYS) return `endpoints-${protocol.toLowerCase()}-${pageOf(b)}`;
  // Interned per protocol and page: every port of a page shares one name string.
  let pages = pageNames.get(protocol);
  if (!pages) pageNames.set(protocol, (pages = []));
  const page = Math.floor(b.base / PAGE_KEYS);
  return (pages[page] ??= `endpoints-${protocol.toLowerCase()}-${page}`);
}
const pageNames = new Map<string, string[]>();

function protoLower(p: string): string {
  return p === 'TCP' ? 'tcp' : p === 'UDP' ? 'udp' : p === 'SCTP' ? 'sctp' : p.toLowerCase();
}

export function endpointsMapDecl(ipX: 'ip' | 'ip6', protocol: string): SetDecl {
  const proto = protocol.toLowerCase();
  return {
    kind: 'map',
    body: `{ typeof numgen random mod 1 : ${ipX} daddr . ${proto} dport ; comment "endpoint blocks: key base+i of a service port -> endpoint" ; }`,
  };
}
export const ENDPOINT_PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;
export const HAIRPIN_SET = 'hairpin';
export const CLUSTER_IPS_SET = 'cluster-ips';
export const SERVICE_IPS_MAP = 'service-ips';
export const SERVICE_NODEPORTS_MAP = 'service-nodeports';
export const NO_ENDPOINT_SERVICES_MAP = 'no-endpoint-services';
export const NO_ENDPOINT_NODEPORTS_MAP = 'no-endpoint-nodeports';
export const FIREWALL_IPS_MAP = 'firewall-ips';

/** Family-dependent words and node facts the per-service rules need. */
export interface RuleContext {
  /** "ip" or "ip6" (expression prefix and table family). */
  readonly ipX: 'ip' | 'ip6';
  readonly addrType: 'ipv4_addr' | 'ipv6_addr';
  readonly masqueradeAll: boolean;
  /** nft match for "source is a local pod", and its negation; null: no detector. */
  readonly ifLocal: string | null;
  readonly ifNotLocal: string | null;
  /** This node's IPs of the family (LoadBalancerSourceRanges "allow from node"). */
  readonly nodeIPs: readonly string[];
  readonly cidrContains: (cidr: string, ip: string) => boolean;
}

export interface SetDecl {
  readonly kind: 'set' | 'map';
  /** Declaration body, e.g. "{ type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }". */
  readonly body: string;
}

/**
 * A policy chain's block of `endpoints` keys and which endpoint sits at each key (key base+i holds
 * slots[i]). The record keeps Endpoint objects, not "ip . port" strings: at 10k × 10 that is
 * 10^5 strings fewer to build and keep per full plan; the element text is built once, on output.
 */
export interface SlotBlock<T = Endpoint> extends Block {
  readonly slots: readonly T[];
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
}

const NO_ENDPOINTS: readonly Endpoint[] = [];

/** An endpoint-map element value. */
export function epValue(ep: Pick<Endpoint, 'ip' | 'port'>): string {
  return `${ep.ip} . ${ep.port}`;
}

function dnatTarget(ep: Endpoint): string {
  return ep.ip.includes(':') ? `[${ep.ip}]:${ep.port}` : `${ep.ip}:${ep.port}`;
}

/**
 * Keep each surviving endpoint at its old key when it still fits, fill holes with new ones, so an
 * endpoint added or removed changes one or two elements rather than shifting the whole block.
 * Values are compared by `keyOf` (an endpoint's element value "ip . port"); a new block keeps
 * `values` itself as its slots (callers pass an array nobody mutates).
 */
export function assignSlots<T>(
  old: SlotBlock<T> | undefined,
  values: readonly T[],
  alloc: BlockAllocator,
  keyOf: (v: T) => string = String,
): SlotBlock<T> {
  // Keep the block while the endpoints fit, unless it became 4× too big (hysteresis: a service
  // oscillating around a power of two does not move back and forth).
  const keep = old !== undefined && values.length <= old.cap && !(old.cap > 4 && values.length * 4 <= old.cap);
  if (old && keep) {
    const want = new Map<string, T>();
    for (const v of values) want.set(keyOf(v), v);
    const slots: (T | undefined)[] = new Array<T | undefined>(values.length);
    const placed = new Set<string>();
    for (let i = 0; i < Math.min(old.slots.length, values.length); i++) {
      const k = keyOf(old.slots[i]!);
      const v = want.get(k);
      if (v !== undefined) {
        slots[i] = v;
        placed.add(k);
      }
    }
    let hole = 0;
    for (const v of values) {
      if (placed.has(keyOf(v))) continue;
      while (slots[hole] !== undefined) hole++;
      slots[hole] = v;
    }
    return { base: old.base, cap: old.cap, slots: slots as T[] };
  }
  // The caller releases `old` (it knows whether the block is still used).
  const b = alloc.alloc(values.length);
  return { base: b.base, cap: b.cap, slots: values };
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
    rb.set(vmap, { kind: 'map', body: '{ typeof numgen random mod 1 : verdict ; }' });
    eps.forEach((ep, i) => rb.claim(vmap, String(i), `goto ${endpointChainName(sp, ep)}`));
    return;
  }
  const b = assignSlots(oldBlock, eps, alloc, epValue);
  rb.blocks[which] = b;
  const map = endpointsMapName(proto, b);
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
  const names = serviceChainNames(sp);
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

  rb.claim(CLUSTER_IPS_SET, sp.clusterIP, null);
  if (hasInternal) rb.claim(SERVICE_IPS_MAP, sp.clusterIP + portSuffix, `goto ${internalChain}`);
  else rb.claim(NO_ENDPOINT_SERVICES_MAP, sp.clusterIP + portSuffix, internalVerdict, sp.spn);

  for (const ip of sp.externalIPs) {
    if (hasEndpoints) rb.claim(SERVICE_IPS_MAP, ip + portSuffix, `goto ${names.external}`);
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
    if (hasEndpoints) rb.claim(SERVICE_IPS_MAP, ip + portSuffix, `goto ${names.external}`);
    if (usesFirewall) rb.claim(FIREWALL_IPS_MAP, ip + portSuffix, `goto ${names.firewall}`, sp.spn);
    if (!hasExternal) rb.claim(NO_ENDPOINT_SERVICES_MAP, ip + portSuffix, externalVerdict, sp.spn);
  }
  if (sp.nodePort !== 0) {
    const k = `${proto} . ${sp.nodePort}`;
    if (hasEndpoints) rb.claim(SERVICE_NODEPORTS_MAP, k, `goto ${names.external}`);
    if (!hasExternal) rb.claim(NO_ENDPOINT_NODEPORTS_MAP, k, externalVerdict, sp.spn);
  }

  // Internal traffic from off-cluster sources (a static route to the service CIDR via a node) is
  // masqueraded by one rule in the `services` chain over @cluster-ips (planner.ts writeFixed), not
  // by upstream's per-service `ip daddr <clusterIP> <proto> dport <port> … jump mark-for-masquerade`:
  // those 10k rules were a quarter of a full load's kernel time (docs/nftables.md).

  if (usesExternalChain) {
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

  const ob = old?.blocks;
  if (usesServiceChain) writeChoice(rb, sp, ctx, proto, ob?.service, alloc, names.service, names.serviceVmap, clusterEps, 'service');
  if (usesLocalChain) writeChoice(rb, sp, ctx, proto, ob?.local, alloc, names.local, names.localVmap, localEps, 'local');
  if (ob?.service && rb.blocks.service?.base !== ob.service.base) alloc.release(ob.service);
  if (ob?.local && rb.blocks.local?.base !== ob.local.base) alloc.release(ob.local);
  const { chains, elements, blocks, endpointMaps } = rb;

  const reachable = usesServiceChain || usesLocalChain ? sp.allReachableEndpoints : NO_ENDPOINTS;
  if (affinity) {
    for (const ep of reachable) {
      const set = affinitySetName(sp, ep);
      rb.set(set, {
        kind: 'set',
        body: `{ type ${ctx.addrType} ; flags dynamic,timeout ; timeout ${sp.affinityTimeoutSeconds}s ; }`,
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
  return { sp, proto, chains, sets: rb.sets ?? NO_SETS, elements, blocks, endpointMaps, hairpin: reachable };
}
