// Per-service-port rules: upstream nftables proxier's syncProxyRules loop body, re-shaped for
// the global-map layout. Endpoint choice is `numgen ... offset <base> map @endpoints-<proto>`
// over the port's block of the global `endpoints-<proto>` map instead of one anonymous vmap per service (the
// anonymous vmaps make upstream's load quadratic in the kernel). Per-endpoint chains and
// affinity sets exist only for sessionAffinity ClientIP, where they are needed.

import type { Endpoint, ServicePort } from '../../model/types.js';
import { type Block, BlockAllocator, capacityFor, pageOf } from './alloc.js';
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
  return `endpoints-${protocol.toLowerCase()}-${pageOf(b)}`;
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

/** A policy chain's block of `endpoints` keys and which endpoint ("ip . port") sits at each key. */
export interface SlotBlock extends Block {
  readonly slots: readonly string[];
}

export interface ServiceRecord {
  readonly sp: ServicePort;
  /** Per-service chains (service/local/external/firewall/endpoint) -> rule bodies in order. */
  readonly chains: ReadonlyMap<string, readonly string[]>;
  /** Per-service sets and maps (affinity sets, endpoint-choice vmaps). */
  readonly sets: ReadonlyMap<string, SetDecl>;
  /** Elements this port claims in shared or own sets/maps. */
  readonly elements: readonly ElementOp[];
  readonly blocks: { readonly service?: SlotBlock; readonly local?: SlotBlock };
  /** Shared endpoint-map pages this port's rules use (declared by the planner, never per service). */
  readonly endpointMaps: readonly string[];
}

function epValue(ep: Endpoint): string {
  return `${ep.ip} . ${ep.port}`;
}

function dnatTarget(ep: Endpoint): string {
  return ep.ip.includes(':') ? `[${ep.ip}]:${ep.port}` : `${ep.ip}:${ep.port}`;
}

/**
 * Keep each surviving endpoint at its old key when it still fits, fill holes with new ones, so an
 * endpoint added or removed changes one or two elements rather than shifting the whole block.
 */
export function assignSlots(old: SlotBlock | undefined, values: readonly string[], alloc: BlockAllocator): SlotBlock {
  // Keep the block while the endpoints fit, unless it became 4× too big (hysteresis: a service
  // oscillating around a power of two does not move back and forth).
  const keep = old !== undefined && values.length <= old.cap && !(old.cap > 4 && values.length * 4 <= old.cap);
  if (old && keep) {
    const want = new Set(values);
    const slots: (string | undefined)[] = new Array<string | undefined>(values.length);
    const placed = new Set<string>();
    for (let i = 0; i < Math.min(old.slots.length, values.length); i++) {
      const v = old.slots[i]!;
      if (want.has(v)) {
        slots[i] = v;
        placed.add(v);
      }
    }
    let hole = 0;
    for (const v of values) {
      if (placed.has(v)) continue;
      while (slots[hole] !== undefined) hole++;
      slots[hole] = v;
    }
    return { base: old.base, cap: old.cap, slots: slots as string[] };
  }
  // The caller releases `old` (it knows whether the block is still used).
  const b = alloc.alloc(values.length);
  return { base: b.base, cap: capacityFor(values.length), slots: [...values] };
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
  const proto = sp.protocol.toLowerCase();
  const chains = new Map<string, string[]>();
  const sets = new Map<string, SetDecl>();
  const elements: ElementOp[] = [];
  const owner = sp.key;
  const claim = (map: string, key: string, value: string | null, comment?: string): void => {
    elements.push(comment !== undefined ? { map, key, value, comment, owner } : { map, key, value, owner });
  };
  const rules = (chain: string): string[] => {
    let r = chains.get(chain);
    if (!r) chains.set(chain, (r = []));
    return r;
  };
  const affinity = sp.affinityTimeoutSeconds > 0;

  const hasEndpoints = sp.hasAnyEndpoints;
  const clusterEps = sp.clusterEndpoints;
  const localEps = sp.localEndpoints;
  const usesServiceChain = clusterEps.length > 0 && sp.usesClusterEndpoints;
  const usesLocalChain = localEps.length > 0 && sp.usesLocalEndpoints;
  const used = (c: string): boolean => (c === names.service ? usesServiceChain : usesLocalChain);

  let internalChain = names.service;
  let hasInternal = hasEndpoints;
  if (sp.internalPolicyLocal) {
    internalChain = names.local;
    if (localEps.length === 0) hasInternal = false;
  }
  hasInternal &&= used(internalChain);
  let externalPolicyChain = names.service;
  let hasExternal = hasEndpoints;
  if (sp.externalPolicyLocal) {
    externalPolicyChain = names.local;
    if (localEps.length === 0) hasExternal = false;
  }
  hasExternal &&= used(externalPolicyChain);
  const usesExternalChain = hasEndpoints && sp.externallyAccessible;

  // no endpoints at all: reject everything; Local policy without local endpoints: drop.
  const internalVerdict = hasEndpoints ? 'drop' : `goto ${REJECT_CHAIN}`;
  const externalVerdict = hasEndpoints ? 'drop' : `goto ${REJECT_CHAIN}`;
  const portKey = (ip: string): string => `${ip} . ${proto} . ${sp.port}`;

  claim(CLUSTER_IPS_SET, sp.clusterIP, null);
  if (hasInternal) claim(SERVICE_IPS_MAP, portKey(sp.clusterIP), `goto ${internalChain}`);
  else claim(NO_ENDPOINT_SERVICES_MAP, portKey(sp.clusterIP), internalVerdict, sp.spn);

  for (const ip of sp.externalIPs) {
    if (hasEndpoints) claim(SERVICE_IPS_MAP, portKey(ip), `goto ${names.external}`);
    if (!hasExternal) claim(NO_ENDPOINT_SERVICES_MAP, portKey(ip), externalVerdict, sp.spn);
  }

  const usesFirewall = sp.loadBalancerIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
  if (usesFirewall) {
    const sources = [...sp.loadBalancerSourceRanges];
    const allowFromNode = sp.loadBalancerSourceRanges.some((c) => ctx.nodeIPs.some((n) => ctx.cidrContains(c, n)));
    // A VIP-style LB address is often local: node-to-VIP traffic then arrives with the VIP as source.
    if (allowFromNode) sources.push(...sp.loadBalancerIPs);
    rules(names.firewall).push(`${ipX} saddr != { ${sources.join(', ')} } drop`);
  }
  for (const ip of sp.loadBalancerIPs) {
    if (hasEndpoints) claim(SERVICE_IPS_MAP, portKey(ip), `goto ${names.external}`);
    if (usesFirewall) claim(FIREWALL_IPS_MAP, portKey(ip), `goto ${names.firewall}`, sp.spn);
    if (!hasExternal) claim(NO_ENDPOINT_SERVICES_MAP, portKey(ip), externalVerdict, sp.spn);
  }
  if (sp.nodePort !== 0) {
    const k = `${proto} . ${sp.nodePort}`;
    if (hasEndpoints) claim(SERVICE_NODEPORTS_MAP, k, `goto ${names.external}`);
    if (!hasExternal) claim(NO_ENDPOINT_NODEPORTS_MAP, k, externalVerdict, sp.spn);
  }

  // Internal traffic from off-cluster sources (a static route to the service CIDR via a node) is
  // masqueraded by one rule in the `services` chain over @cluster-ips (planner.ts writeFixed), not
  // by upstream's per-service `ip daddr <clusterIP> <proto> dport <port> … jump mark-for-masquerade`:
  // those 10k rules were a quarter of a full load's kernel time (docs/nftables.md).

  if (usesExternalChain) {
    const ext = rules(names.external);
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

  const blocks: { service?: SlotBlock; local?: SlotBlock } = {};
  const endpointMaps: string[] = [];
  const writeChoice = (chain: string, vmap: string, eps: readonly Endpoint[], which: 'service' | 'local'): void => {
    const r = rules(chain);
    if (affinity) {
      for (const ep of eps) r.push(`${ipX} saddr @${affinitySetName(sp, ep)} goto ${endpointChainName(sp, ep)}`);
      r.push(`numgen random mod ${eps.length} vmap @${vmap}`);
      sets.set(vmap, { kind: 'map', body: '{ typeof numgen random mod 1 : verdict ; }' });
      eps.forEach((ep, i) => claim(vmap, String(i), `goto ${endpointChainName(sp, ep)}`));
      return;
    }
    const b = assignSlots(old?.blocks[which], eps.map(epValue), alloc);
    blocks[which] = b;
    const map = endpointsMapName(proto, b);
    endpointMaps.push(map);
    r.push(`meta l4proto ${proto} dnat ${ipX} to numgen random mod ${eps.length} offset ${b.base} map @${map}`);
    b.slots.forEach((v, i) => claim(map, String(b.base + i), v));
  };
  if (usesServiceChain) writeChoice(names.service, names.serviceVmap, clusterEps, 'service');
  if (usesLocalChain) writeChoice(names.local, names.localVmap, localEps, 'local');
  for (const which of ['service', 'local'] as const) {
    const ob = old?.blocks[which];
    if (ob && blocks[which]?.base !== ob.base) alloc.release(ob);
  }

  const reachable = usesServiceChain || usesLocalChain ? sp.allReachableEndpoints : [];
  if (affinity) {
    for (const ep of reachable) {
      const set = affinitySetName(sp, ep);
      sets.set(set, {
        kind: 'set',
        body: `{ type ${ctx.addrType} ; flags dynamic,timeout ; timeout ${sp.affinityTimeoutSeconds}s ; }`,
      });
      chains.set(endpointChainName(sp, ep), [
        `${ipX} saddr ${ep.ip} jump ${MARK_MASQ_CHAIN}`,
        `update @${set} { ${ipX} saddr }`,
        `meta l4proto ${proto} dnat to ${dnatTarget(ep)}`,
      ]);
    }
  }
  // Hairpin (a pod reaching a service that picks the pod itself) is masqueraded in
  // nat-postrouting through this set, so no per-endpoint chain is needed for it.
  const seen = new Set<string>();
  for (const ep of reachable) {
    if (seen.has(ep.ip)) continue;
    seen.add(ep.ip);
    claim(HAIRPIN_SET, `${ep.ip} . ${ep.ip}`, null);
  }

  return { sp, chains, sets, elements, blocks, endpointMaps };
}
