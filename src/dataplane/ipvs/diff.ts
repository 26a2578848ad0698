// Pure diff: (what the kernel holds, desired plan) -> the tool input that turns one into the other,
// plus the state the kernel holds afterwards. Graceful termination lives here too: a removed TCP
// real server is first set to weight 0 and kept ("pending") until it has no connections.

import type { Protocol } from '../../model/types.js';
import { type IpvsPlan, type IpvsState, type RealServer, type VirtualServer, hostPort, vsPropsEqual } from './model.js';
import { cidrContains } from '../../model/ip.js';

/** A real server waiting for its connections to drain before deletion; keyed by pendingKey(). */
export interface PendingRS {
  readonly vsKey: string;
  readonly protocol: Protocol;
  readonly vip: string;
  readonly vport: number;
  readonly rs: RealServer;
}

export function pendingKey(vsKey: string, rsKey: string): string {
  return `${vsKey}/${rsKey}`;
}

export interface IpvsOps {
  /** ipset restore lines run first: creates (full sync) and added entries. */
  readonly setAdds: readonly string[];
  /** ipvsadm -R lines: virtual servers added/edited, real servers added/re-weighted, then deletions. */
  readonly ipvs: readonly string[];
  /** `ip -batch` lines binding new addresses to kube-ipvs0. */
  readonly addrAdds: readonly string[];
  /** `ip -batch` lines unbinding stale addresses. */
  readonly addrDels: readonly string[];
  /** ipset restore lines run last: removed entries. */
  readonly setDels: readonly string[];
  /** Real servers drained after this sync (weight 0, waiting for zero connections). */
  readonly pending: ReadonlyMap<string, PendingRS>;
  /** The kernel's state once all of the above succeeded. */
  readonly next: IpvsState;
}

export function serviceFlag(p: Protocol): string {
  return p === 'TCP' ? '-t' : p === 'UDP' ? '-u' : '--sctp-service';
}

export function vsSpec(vs: { protocol: Protocol; ip: string; port: number }): string {
  return `${serviceFlag(vs.protocol)} ${hostPort(vs.ip, vs.port)}`;
}

export function vsLine(op: '-A' | '-E', vs: VirtualServer): string {
  let s = `${op} ${vsSpec(vs)} -s ${vs.scheduler}`;
  if (vs.flags.length > 0) s += ` -b ${vs.flags.join(',')}`;
  if (vs.persistence > 0) s += ` -p ${vs.persistence}`;
  return s;
}

export function rsLine(op: '-a' | '-e', vs: { protocol: Protocol; ip: string; port: number }, rs: RealServer): string {
  return `${op} ${vsSpec(vs)} -r ${hostPort(rs.ip, rs.port)} -m -w ${rs.weight}`;
}

/** Upstream IsRsGracefulTerminationNeeded: only TCP drains. */
export function drains(p: Protocol): boolean {
  return p === 'TCP';
}

export interface DiffOptions {
  /** Add "create" lines for every set (first/full sync). */
  readonly createSets: boolean;
  /** Set types and create options per set name, for the create lines. */
  readonly setCreateLines: readonly string[];
  readonly excludeCIDRs: readonly string[];
  /** Real servers already draining. */
  readonly pending: ReadonlyMap<string, PendingRS>;
}

export function diffIpvs(cur: IpvsState, want: IpvsPlan, opts: DiffOptions): IpvsOps {
  const setAdds: string[] = opts.createSets ? [...opts.setCreateLines] : [];
  const setDels: string[] = [];
  for (const [name, entries] of want.sets) {
    const have = cur.sets.get(name) ?? new Set<string>();
    for (const e of entries) if (!have.has(e)) setAdds.push(`add ${name} ${e}`);
    for (const e of have) if (!entries.has(e)) setDels.push(`del ${name} ${e}`);
  }

  const addrAdds: string[] = [];
  const addrDels: string[] = [];
  const plen = want.family === 'IPv6' ? 128 : 32;
  for (const a of want.addresses) if (!cur.addresses.has(a)) addrAdds.push(`addr add ${a}/${plen} dev kube-ipvs0`);
  for (const a of cur.addresses) if (!want.addresses.has(a)) addrDels.push(`addr del ${a}/${plen} dev kube-ipvs0`);

  const adds: string[] = [];
  const dels: string[] = [];
  const pending = new Map<string, PendingRS>();
  const nextVS = new Map<string, VirtualServer>();

  for (const [key, vs] of want.virtualServers) {
    const old = cur.virtualServers.get(key);
    // The planner reuses VirtualServer objects of unchanged services: nothing to compare.
    if (old === vs) {
      nextVS.set(key, vs);
      continue;
    }
    if (!old) adds.push(vsLine('-A', vs));
    else if (!vsPropsEqual(old, vs)) adds.push(vsLine('-E', vs));
    let reals: Map<string, RealServer> | null = null;
    // New real servers before removals, so a service being changed never has none in between.
    for (const [rk, rs] of vs.reals) {
      const have = old?.reals.get(rk);
      if (!have) adds.push(rsLine('-a', vs, rs));
      else if (have.weight !== rs.weight) adds.push(rsLine('-e', vs, rs));
    }
    if (old) {
      for (const [rk, rs] of old.reals) {
        if (vs.reals.has(rk)) continue;
        const pk = pendingKey(key, rk);
        if (!drains(vs.protocol)) {
          dels.push(`-d ${vsSpec(vs)} -r ${hostPort(rs.ip, rs.port)}`);
          continue;
        }
        if (rs.weight !== 0) adds.push(rsLine('-e', vs, { ...rs, weight: 0 }));
        const drained: RealServer = { ...rs, weight: 0 };
        pending.set(pk, opts.pending.get(pk) ?? { vsKey: key, protocol: vs.protocol, vip: vs.ip, vport: vs.port, rs: drained });
        (reals ??= new Map(vs.reals)).set(rk, drained);
      }
    }
    // Without draining real servers the kernel now holds exactly `vs`: keep the object so the
    // next diff can skip it by identity.
    nextVS.set(key, reals ? { ...vs, reals } : vs);
  }
  for (const [key, vs] of cur.virtualServers) {
    if (want.virtualServers.has(key)) continue;
    if (opts.excludeCIDRs.some((c) => cidrContains(c, vs.ip))) continue;
    dels.push(`-D ${vsSpec(vs)}`);
  }

  const next: IpvsState = { family: want.family, addresses: want.addresses, virtualServers: nextVS, sets: want.sets };
  return { setAdds, ipvs: [...adds, ...dels], addrAdds, addrDels, setDels, pending, next };
}

/** ipvsadm -R lines deleting drained real servers, and the state without them. */
export function dropDrained(state: IpvsState, pending: ReadonlyMap<string, PendingRS>, done: readonly string[]): { lines: string[]; next: IpvsState; pending: Map<string, PendingRS> } {
  const lines: string[] = [];
  const left = new Map(pending);
  const vss = new Map(state.virtualServers);
  for (const pk of done) {
    const p = pending.get(pk);
    if (!p) continue;
    left.delete(pk);
    const vs = vss.get(p.vsKey);
    if (!vs) continue;
    lines.push(`-d ${vsSpec(vs)} -r ${hostPort(p.rs.ip, p.rs.port)}`);
    const reals = new Map(vs.reals);
    reals.delete(hostPort(p.rs.ip, p.rs.port));
    vss.set(p.vsKey, { ...vs, reals });
  }
  return { lines, next: { ...state, virtualServers: vss }, pending: left };
}
