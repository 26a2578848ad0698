// Static dataplane settings (upstream: the NewProxier arguments of each mode), one section per mode.
// Not part of the model: the model (src/model) describes what to proxy; this describes how a mode
// programs it. Built from the options by src/proxy/dataplane-config.ts; each dataplane reads the
// common section and its own.

import type { ProxyMode } from '../config/types.js';
import { parseCIDRSloppy } from '../model/ip.js';
import type { IPFamily } from '../model/types.js';


/** How to tell traffic from local pods (upstream LocalTrafficDetector), already resolved per family. */
export type LocalDetector =
  | { readonly mode: 'none' }
  | { readonly mode: 'cidr'; readonly cidr: string }
  | { readonly mode: 'bridge'; readonly iface: string }
  | { readonly mode: 'prefix'; readonly prefix: string };

/** Settings every mode reads. */
export interface CommonDataplaneConfig {
  readonly family: IPFamily;
  readonly masqueradeBit: number;
  readonly masqueradeAll: boolean;
  readonly localDetector: LocalDetector;
}

/** iptables mode. */
export interface IptablesDataplaneConfig {
  /** iptables IPv4 only: NodePorts on 127.0.0.0/8 (needs route_localnet; see localhostNodePortsEnabled). */
  readonly localhostNodePorts: boolean;
}

/** IPVS mode. */
export interface IpvsDataplaneConfig {
  /** IPVS scheduler name ("" means rr). */
  readonly ipvsScheduler: string;
  readonly ipvsExcludeCIDRs: readonly string[];
  readonly ipvsStrictARP: boolean;
  readonly ipvsTimeouts: { readonly tcp: number; readonly tcpFin: number; readonly udp: number };
}

/**
 * What a DataplaneFactory receives for one family. The mode sections keep flat field names (a
 * dataplane reads `cfg.ipvsScheduler`), so they are plain intersections; the nftables mode has no
 * settings of its own. Every section is always present, whatever the mode: the proxier compares
 * whole configs to tell when a dataplane must be rebuilt.
 */
export type DataplaneConfig = CommonDataplaneConfig & IptablesDataplaneConfig & IpvsDataplaneConfig;

/**
 * Whether NodePorts are served on IPv4 loopback addresses (upstream iptables NewProxier
 * localhostNodePorts): iptables mode, IPv4, unless iptables.localhostNodePorts is false.
 */
export function localhostNodePortsEnabled(mode: ProxyMode, family: IPFamily, option: boolean | null | undefined): boolean {
  return mode === 'iptables' && family === 'IPv4' && (option ?? true);
}

/**
 * Whether the node needs net.ipv4.conf.all.route_localnet=1 (upstream iptables NewProxier): localhost
 * NodePorts are on and the NodePort addresses (without `primary`) include IPv4 loopback. Deciding this
 * is the dataplane layer's; writing the sysctl is start-up's (src/proxy/platform.ts).
 */
export function routeLocalnetNeeded(mode: ProxyMode, families: readonly IPFamily[], option: boolean | null | undefined, nodePortAddresses: readonly string[]): boolean {
  if (!families.includes('IPv4') || !localhostNodePortsEnabled(mode, 'IPv4', option)) return false;
  return containsIPv4Loopback(nodePortAddresses.filter((a) => a !== 'primary'));
}

/** Upstream NodePortAddresses.ContainsIPv4Loopback: match-all (no IPv4 CIDR), a /0, or an IPv4 CIDR in 127.x. */
export function containsIPv4Loopback(nodePortAddresses: readonly string[]): boolean {
  const v4 = nodePortAddresses.map((c) => parseCIDRSloppy(c)).filter((c) => c !== null && c.family === 'IPv4');
  if (v4.length === 0) return true;
  return v4.some((c) => c!.text.endsWith('/0') || c!.text.startsWith('127.'));
}
