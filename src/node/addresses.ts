// This node's addresses: from the Node object (status.addresses, spec.podCIDRs), or from the local
// interfaces of the network namespace the proxy runs in (`ip -j addr`), and the NodePort address
// resolution of upstream pkg/proxy/util/nodeport_addresses.go.

import { cidrContains, isLoopbackIP, parseCIDRSloppy, parseIPSloppy } from '../model/ip.js';
import type { IPFamily, NodePortAddresses } from '../model/types.js';
import { run } from '../util/exec.js';

export interface LocalAddress {
  readonly ip: string;
  readonly family: IPFamily;
  readonly iface: string;
  /** Loopback interface or loopback address. */
  readonly loopback: boolean;
  /** IPv6 link-local (fe80::/10). */
  readonly linkLocal: boolean;
}

interface IpAddrJson {
  ifname?: string;
  flags?: string[];
  addr_info?: { family?: string; local?: string; scope?: string }[];
}

/** Parse `ip -j addr show` output. */
export function parseIpAddrJson(text: string): LocalAddress[] {
  const links = JSON.parse(text) as IpAddrJson[];
  const out: LocalAddress[] = [];
  for (const link of Array.isArray(links) ? links : []) {
    const loopIf = (link.flags ?? []).includes('LOOPBACK');
    for (const a of link.addr_info ?? []) {
      if (typeof a.local !== 'string') continue;
      const p = parseIPSloppy(a.local);
      if (!p) continue;
      const loopback = loopIf || a.scope === 'host' || isLoopbackIP(p.text);
      out.push({
        ip: p.text,
        family: p.family,
        iface: link.ifname ?? '',
        loopback,
        linkLocal: p.family === 'IPv6' && /^fe[89ab][0-9a-f]:/i.test(p.text),
      });
    }
  }
  return out;
}

/** Addresses of every interface in the current network namespace. */
export async function listLocalAddresses(): Promise<LocalAddress[]> {
  const r = await run('ip', ['-j', 'addr', 'show'], { timeoutMs: 10_000 });
  return parseIpAddrJson(r.stdout);
}

function rec(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/**
 * Node IPs of `family` from the Node object, like upstream GetNodeHostIPs: InternalIP addresses
 * first, else ExternalIP. Empty when the node is unknown or has none of that family.
 */
export function nodeObjectIPs(node: unknown, family: IPFamily): string[] {
  const addrs = rec(rec(node)?.status)?.addresses;
  if (!Array.isArray(addrs)) return [];
  const pick = (type: string): string[] => {
    const ips: string[] = [];
    for (const a of addrs) {
      const r = rec(a);
      if (r?.type !== type || typeof r.address !== 'string') continue;
      const p = parseIPSloppy(r.address);
      if (p && p.family === family && !ips.includes(p.text)) ips.push(p.text);
    }
    return ips;
  };
  const internal = pick('InternalIP');
  return internal.length > 0 ? internal : pick('ExternalIP');
}

/** spec.podCIDRs (or the older spec.podCIDR) of `family`, normalised. */
export function nodePodCIDRs(node: unknown, family: IPFamily): string[] {
  const spec = rec(rec(node)?.spec);
  if (!spec) return [];
  const raw: unknown[] = Array.isArray(spec.podCIDRs) ? spec.podCIDRs : typeof spec.podCIDR === 'string' ? [spec.podCIDR] : [];
  const out: string[] = [];
  for (const c of raw) {
    if (typeof c !== 'string') continue;
    const p = parseCIDRSloppy(c);
    if (p && p.family === family) out.push(p.text);
  }
  return out;
}

/** Upstream detectNodeIPs' fallback when neither --bind-address nor the Node object names an IP. */
export const LOOPBACK_NODE_IP: Readonly<Record<IPFamily, string>> = { IPv4: '127.0.0.1', IPv6: '::1' };

/**
 * This node's IP of `family`, as upstream detectNodeIPs: a non-zero --bind-address of this family
 * overrides; else the Node object's first InternalIP (else ExternalIP) of the family (GetNodeHostIPs
 * keeps one per family); else loopback (127.0.0.1 / ::1), which makes `primary` nodePortAddresses
 * match all. Local interface addresses are never used: they could name an arbitrary interface.
 */
export function resolveNodeIPs(node: unknown, family: IPFamily, bindAddress = ''): string[] {
  const bind = parseIPSloppy(bindAddress);
  if (bind && bind.family === family && !isUnspecifiedIP(bind.text)) return [bind.text];
  const fromNode = nodeObjectIPs(node, family);
  return [fromNode[0] ?? LOOPBACK_NODE_IP[family]];
}

export function isUnspecifiedIP(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::';
}

/**
 * Upstream's primary IP family: that of a non-zero --bind-address, else of the Node's first
 * address (GetNodeHostIPs order), else IPv4.
 */
export function primaryFamily(node: unknown, bindAddress: string): IPFamily {
  const bind = parseIPSloppy(bindAddress);
  if (bind && !isUnspecifiedIP(bind.text)) return bind.family;
  const v4 = nodeObjectIPs(node, 'IPv4')[0];
  const v6 = nodeObjectIPs(node, 'IPv6')[0];
  if (v4 === undefined && v6 !== undefined) return 'IPv6';
  if (v4 !== undefined && v6 !== undefined) {
    // Both families: the first address in status.addresses order (InternalIPs before ExternalIPs).
    const addrs = rec(rec(node)?.status)?.addresses;
    const list = Array.isArray(addrs) ? addrs.map(rec) : [];
    const ordered = [...list.filter((a) => a?.type === 'InternalIP'), ...list.filter((a) => a?.type === 'ExternalIP')];
    for (const a of ordered) {
      const p = typeof a?.address === 'string' ? parseIPSloppy(a.address) : null;
      if (p) return p.family;
    }
  }
  return 'IPv4';
}

/**
 * Upstream NodePortAddresses for one family. `configured` is the effective option: CIDRs of both
 * families, or ['primary'] (this node's primary IP of each family, loopback excluded), or [].
 * No CIDR of this family, or a zero CIDR, means "all local addresses".
 */
export function resolveNodePortAddresses(
  configured: readonly string[],
  family: IPFamily,
  nodeIPs: readonly string[],
  local: readonly LocalAddress[],
): NodePortAddresses {
  let cidrs: string[] = [];
  for (const entry of configured) {
    if (entry === 'primary') {
      const ip = nodeIPs.find((x) => !isLoopbackIP(x));
      if (ip) cidrs.push(family === 'IPv4' ? `${ip}/32` : `${ip}/128`);
      continue;
    }
    const c = parseCIDRSloppy(entry);
    if (c && c.family === family) cidrs.push(c.text);
  }
  if (cidrs.length === 0) return { matchAll: true };
  if (cidrs.some((c) => c.endsWith('/0'))) return { matchAll: true };
  cidrs = [...new Set(cidrs)];
  const ips: string[] = [];
  for (const c of cidrs) {
    for (const a of local) {
      if (a.family === family && cidrContains(c, a.ip) && !ips.includes(a.ip)) ips.push(a.ip);
    }
    // A 'primary' node IP that is not (yet) on a local interface still names this node.
    if (configured.includes('primary')) {
      const ip = c.slice(0, c.lastIndexOf('/'));
      if (!ips.includes(ip) && nodeIPs.includes(ip)) ips.push(ip);
    }
  }
  return { matchAll: false, ips: ips.sort() };
}

/**
 * Whether resolveNodePortAddresses(configured, family, …) can depend on the local interface
 * addresses: only a CIDR of `family` is matched against them. `primary` names the node IP itself
 * (kept whether or not an interface holds it) and no CIDR means all addresses, so the default
 * (`primary` in nftables mode) needs no `ip -j addr` run per sync period.
 */
export function nodePortAddressesNeedLocal(configured: readonly string[], family: IPFamily): boolean {
  return configured.some((entry) => entry !== 'primary' && parseCIDRSloppy(entry)?.family === family);
}

/** Upstream NodeEligible: a known Node without deletionTimestamp or the autoscaler's ToBeDeleted taint. */
export function nodeEligible(node: unknown): boolean {
  const n = rec(node);
  if (!n) return false;
  if (rec(n.metadata)?.deletionTimestamp) return false;
  const taints = rec(n.spec)?.taints;
  if (Array.isArray(taints) && taints.some((t) => rec(t)?.key === 'ToBeDeletedByClusterAutoscaler')) return false;
  return true;
}
