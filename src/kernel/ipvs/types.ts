// The kernel objects IPVS mode manages (src/kernel/ipvs), as plain data: the planner's output, the applier's
// record of what it programmed, and the parsers' view of what the kernel holds all use these.

import type { IPFamily, Protocol } from '../../model/types.js';

export interface RealServer {
  readonly ip: string;
  readonly port: number;
  readonly weight: number;
}

export interface VirtualServer {
  readonly protocol: Protocol;
  readonly ip: string;
  readonly port: number;
  readonly scheduler: string;
  /** ClientIP affinity timeout in seconds (ipvsadm -p); 0 = not persistent. */
  readonly persistence: number;
  /** Scheduler flags (ipvsadm -b), sorted, e.g. ["mh-port"]. */
  readonly flags: readonly string[];
  /** realServerKey -> real server. */
  readonly reals: ReadonlyMap<string, RealServer>;
}

/** Desired (or observed) kernel state of one family. */
export interface IpvsState {
  readonly family: IPFamily;
  /** Addresses bound to kube-ipvs0. */
  readonly addresses: ReadonlySet<string>;
  /** virtualServerKey -> virtual server. */
  readonly virtualServers: ReadonlyMap<string, VirtualServer>;
  /** ipset name -> entries (ipset's textual form, normalised). Every set of the family is present. */
  readonly sets: ReadonlyMap<string, ReadonlySet<string>>;
}

export interface IpvsPlan extends IpvsState {
  /** iptables-restore --noflush input (our chains and rules; the built-in jumps are ensured apart). */
  readonly iptables: string;
}

/** "198.19.0.10:80" or "[2001:db8::1]:80" (ipvsadm's address form). */
export function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export function vsKey(protocol: Protocol, ip: string, port: number): string {
  return `${protocol}/${hostPort(ip, port)}`;
}

export function rsKey(ip: string, port: number): string {
  return hostPort(ip, port);
}

/** Whether two virtual servers differ in a property `ipvsadm -E` changes (not their real servers). */
export function vsPropsEqual(a: VirtualServer, b: VirtualServer): boolean {
  return a.scheduler === b.scheduler && a.persistence === b.persistence && a.flags.join(',') === b.flags.join(',');
}
