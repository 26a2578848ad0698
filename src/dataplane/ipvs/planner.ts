// IPVS mode's pure planner: ProxyState -> the desired kernel state (kube-ipvs0 addresses, virtual
// and real servers, ipset entries, iptables-restore text; upstream syncProxyRules), and the diff
// from what the kernel holds to it: the tool input of one sync plus the state after it (no I/O,
// inputs never mutated). Graceful termination lives in the diff: a removed TCP real server is
// first set to weight 0 and kept ("pending") until it has no connections.

import type { IPFamily, Protocol, ProxyState } from '../../model/types.js';
import type { DataplaneConfig } from '../config.js';
import { cidrContains } from '../../model/ip.js';
import { RestoreTable, renderRestore } from '../../kernel/iptables/restore.js';
import type { IpsetOp, SetSpec } from '../../kernel/ipset/ipset.js';
import { rsLine, vsLine, vsSpec } from '../../kernel/ipvs/ipvsadm.js';
import { type IpvsPlan, type IpvsState, type RealServer, type VirtualServer, hostPort, vsPropsEqual } from '../../kernel/ipvs/types.js';
import { iptablesLocalArgs, localTrafficMatch } from '../shared/local-traffic.js';
import { iptablesLoopback } from '../shared/loopback.js';
import { masqueradeMark } from '../shared/masquerade.js';
import {
  CHAINS,
  KUBE_FORWARD,
  KUBE_IPVS_FILTER,
  KUBE_IPVS_OUT_FILTER,
  KUBE_LOAD_BALANCER,
  KUBE_MARK_MASQ,
  KUBE_NODE_PORT,
  KUBE_POSTROUTING,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
  KUBE_SOURCE_RANGES_FIREWALL,
  SET_INFO,
  type SetId,
  type Table,
  setName,
} from './layout.js';
import { DEFAULT_SCHEDULER, SetBuilder, fragmentCache, fragmentFor, nodePortIPs, type FragmentContext } from './service.js';

export { chooseEndpoints, needsLocalAddresses, nodePortIPs } from './service.js';
export { rsLine, serviceFlag, vsLine, vsSpec } from '../../kernel/ipvs/ipvsadm.js';

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

// The iptables rules IPVS mode still needs (upstream writeIptablesRules), as iptables-restore
// --noflush input. Which rules appear depends only on which ipsets are non-empty, so the text
// changes rarely and an incremental sync usually skips iptables-restore.

export interface IptablesInput {
  readonly family: IPFamily;
  readonly cfg: DataplaneConfig;
  readonly nonEmpty: (id: SetId) => boolean;
  /** LB ip/proto/port whose source ranges exclude the node (KUBE-IPVS-OUT-FILTER DROP). */
  readonly lbNoNodeAccess: readonly { ip: string; proto: string; port: number }[];
}

/** Upstream ipsetWithIptablesChain: set -> jump, written when the set is non-empty, in this order. */
const SET_JUMPS: readonly { id: SetId; table: Table; from: string; to: string; match: string; proto: string }[] = [
  { id: 'loopBack', table: 'nat', from: KUBE_POSTROUTING, to: 'MASQUERADE', match: 'dst,dst,src', proto: '' },
  { id: 'loadBalancer', table: 'nat', from: KUBE_SERVICES, to: KUBE_LOAD_BALANCER, match: 'dst,dst', proto: '' },
  { id: 'loadBalancerLocal', table: 'nat', from: KUBE_LOAD_BALANCER, to: 'RETURN', match: 'dst,dst', proto: '' },
  { id: 'nodePortLocalTCP', table: 'nat', from: KUBE_NODE_PORT, to: 'RETURN', match: 'dst', proto: 'tcp' },
  { id: 'nodePortTCP', table: 'nat', from: KUBE_NODE_PORT, to: KUBE_MARK_MASQ, match: 'dst', proto: 'tcp' },
  { id: 'nodePortLocalUDP', table: 'nat', from: KUBE_NODE_PORT, to: 'RETURN', match: 'dst', proto: 'udp' },
  { id: 'nodePortUDP', table: 'nat', from: KUBE_NODE_PORT, to: KUBE_MARK_MASQ, match: 'dst', proto: 'udp' },
  { id: 'nodePortLocalSCTP', table: 'nat', from: KUBE_NODE_PORT, to: 'RETURN', match: 'dst,dst', proto: 'sctp' },
  { id: 'nodePortSCTP', table: 'nat', from: KUBE_NODE_PORT, to: KUBE_MARK_MASQ, match: 'dst,dst', proto: 'sctp' },
  { id: 'loadBalancerFW', table: 'filter', from: KUBE_PROXY_FIREWALL, to: KUBE_SOURCE_RANGES_FIREWALL, match: 'dst,dst', proto: '' },
  { id: 'loadBalancerSourceCIDR', table: 'filter', from: KUBE_SOURCE_RANGES_FIREWALL, to: 'RETURN', match: 'dst,dst,src', proto: '' },
  { id: 'loadBalancerSourceIP', table: 'filter', from: KUBE_SOURCE_RANGES_FIREWALL, to: 'RETURN', match: 'dst,dst,src', proto: '' },
];

const COMMENTS = new Map(SET_INFO.map((s) => [s.id, s.comment]));

export function buildIptables(inp: IptablesInput): string {
  const fam = inp.family;
  const set = (id: SetId): string => setName(id, fam);
  const comment = (id: SetId): string[] => ['-m', 'comment', '--comment', `"${COMMENTS.get(id)!}"`];
  const nat: string[][] = [];
  const filter: string[][] = [];
  const mark = masqueradeMark(inp.cfg.masqueradeBit, 'iptables');
  const local = localTrafficMatch(inp.cfg.localDetector);

  nat.push(['-A', KUBE_SERVICES, '-s', iptablesLoopback(fam), '-j', 'RETURN']);

  for (const j of SET_JUMPS) {
    if (!inp.nonEmpty(j.id)) continue;
    const args = ['-A', j.from, ...(j.proto ? ['-p', j.proto] : []), ...comment(j.id), '-m', 'set', '--match-set', set(j.id), j.match, '-j', j.to];
    (j.table === 'nat' ? nat : filter).push(args);
  }

  if (inp.nonEmpty('clusterIP')) {
    const args = ['-A', KUBE_SERVICES, ...comment('clusterIP'), '-m', 'set', '--match-set', set('clusterIP')];
    if (inp.cfg.masqueradeAll) nat.push([...args, 'dst,dst', '-j', KUBE_MARK_MASQ]);
    else if (local !== null) nat.push([...args, 'dst,dst', ...iptablesLocalArgs(local, true), '-j', KUBE_MARK_MASQ]);
    // No detector: masquerade node-originated traffic whose source is a VIP on kube-ipvs0.
    else nat.push([...args, 'src,dst', '-j', KUBE_MARK_MASQ]);
  }

  const externalIPRules = (args: string[]): void => {
    nat.push([...args, '-m', 'physdev', '!', '--physdev-is-in', '-m', 'addrtype', '!', '--src-type', 'LOCAL', '-j', 'ACCEPT']);
    nat.push([...args, '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'ACCEPT']);
  };
  if (inp.nonEmpty('externalIP')) {
    const args = ['-A', KUBE_SERVICES, ...comment('externalIP'), '-m', 'set', '--match-set', set('externalIP'), 'dst,dst'];
    nat.push([...args, '-j', KUBE_MARK_MASQ]);
    externalIPRules(args);
  }
  if (inp.nonEmpty('externalIPLocal')) {
    externalIPRules(['-A', KUBE_SERVICES, ...comment('externalIPLocal'), '-m', 'set', '--match-set', set('externalIPLocal'), 'dst,dst']);
  }

  nat.push(['-A', KUBE_SERVICES, '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', KUBE_NODE_PORT]);
  nat.push(['-A', KUBE_LOAD_BALANCER, '-j', KUBE_MARK_MASQ]);
  filter.push(['-A', KUBE_SOURCE_RANGES_FIREWALL, '-j', 'DROP']);

  // The node reaching an LB VIP it is not allowed to: IPVS sees src = dst = the VIP (issue #119656).
  for (const e of inp.lbNoNodeAccess) {
    filter.push(['-A', KUBE_IPVS_OUT_FILTER, '-s', e.ip, '-m', 'ipvs', '--vaddr', e.ip, '--vproto', e.proto, '--vport', String(e.port), '-j', 'DROP']);
  }

  // Accept IPVS traffic in case later rules would block it; last in KUBE-SERVICES.
  for (const id of ['clusterIP', 'loadBalancer'] as const) {
    if (inp.nonEmpty(id)) nat.push(['-A', KUBE_SERVICES, '-m', 'set', '--match-set', set(id), 'dst,dst', '-j', 'ACCEPT']);
  }

  filter.push(['-A', KUBE_FORWARD, '-m', 'comment', '--comment', '"kubernetes forwarding rules"', '-m', 'mark', '--mark', `${mark}/${mark}`, '-j', 'ACCEPT']);
  filter.push(['-A', KUBE_FORWARD, '-m', 'comment', '--comment', '"kubernetes forwarding conntrack rule"', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT']);
  filter.push(['-A', KUBE_NODE_PORT, ...comment('healthCheckNodePort'), '-m', 'set', '--match-set', set('healthCheckNodePort'), 'dst', '-j', 'ACCEPT']);

  // Block access to other host ports through VIPs (issue #72236).
  filter.push(['-A', KUBE_IPVS_FILTER, '-m', 'set', '--match-set', set('loadBalancer'), 'dst,dst', '-j', 'RETURN']);
  filter.push(['-A', KUBE_IPVS_FILTER, '-m', 'set', '--match-set', set('clusterIP'), 'dst,dst', '-j', 'RETURN']);
  filter.push(['-A', KUBE_IPVS_FILTER, '-m', 'set', '--match-set', set('externalIP'), 'dst,dst', '-j', 'RETURN']);
  filter.push(['-A', KUBE_IPVS_FILTER, '-m', 'set', '--match-set', set('externalIPLocal'), 'dst,dst', '-j', 'RETURN']);
  filter.push(['-A', KUBE_IPVS_FILTER, '-m', 'set', '--match-set', set('healthCheckNodePort'), 'dst', '-j', 'RETURN']);
  filter.push(['-A', KUBE_IPVS_FILTER, '-m', 'conntrack', '--ctstate', 'NEW', '-m', 'set', '--match-set', set('ipvsIPs'), 'dst', '-j', 'REJECT']);

  nat.push(['-A', KUBE_POSTROUTING, '-m', 'mark', '!', '--mark', `${mark}/${mark}`, '-j', 'RETURN']);
  nat.push(['-A', KUBE_POSTROUTING, '-j', 'MARK', '--xor-mark', mark]);
  nat.push(['-A', KUBE_POSTROUTING, '-m', 'comment', '--comment', '"kubernetes service traffic requiring SNAT"', '-j', 'MASQUERADE', '--random-fully']);
  nat.push(['-A', KUBE_MARK_MASQ, '-j', 'MARK', '--or-mark', mark]);

  const block = (table: Table, rules: string[][]): RestoreTable =>
    new RestoreTable(
      table,
      CHAINS.filter((c) => c.table === table).map((c) => c.chain),
      rules.map((r) => r.join(' ')),
    );
  return renderRestore([block('nat', nat), block('filter', filter)]);
}

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
  /** ipset restore operations run first: creates (full sync) and added entries. */
  readonly setAdds: readonly IpsetOp[];
  /** ipvsadm -R lines: virtual servers added/edited, real servers added/re-weighted, then deletions. */
  readonly ipvs: readonly string[];
  /** `ip -batch` lines binding new addresses to kube-ipvs0. */
  readonly addrAdds: readonly string[];
  /** `ip -batch` lines unbinding stale addresses. */
  readonly addrDels: readonly string[];
  /** ipset restore operations run last: removed entries. */
  readonly setDels: readonly IpsetOp[];
  /** Real servers drained after this sync (weight 0, waiting for zero connections). */
  readonly pending: ReadonlyMap<string, PendingRS>;
  /** The kernel's state once all of the above succeeded. */
  readonly next: IpvsState;
}

/** Upstream IsRsGracefulTerminationNeeded: only TCP drains. */
export function drains(p: Protocol): boolean {
  return p === 'TCP';
}

export interface DiffOptions {
  /** Create every set of `sets` (first/full sync). */
  readonly createSets: boolean;
  /** The family's sets, as created. */
  readonly sets: readonly SetSpec[];
  readonly excludeCIDRs: readonly string[];
  /** Real servers already draining. */
  readonly pending: ReadonlyMap<string, PendingRS>;
}

export function diffIpvs(cur: IpvsState, want: IpvsPlan, opts: DiffOptions): IpvsOps {
  const setAdds: IpsetOp[] = opts.createSets ? opts.sets.map((set) => ({ op: 'create', set })) : [];
  const setDels: IpsetOp[] = [];
  for (const [name, entries] of want.sets) {
    const have = cur.sets.get(name) ?? new Set<string>();
    for (const e of entries) if (!have.has(e)) setAdds.push({ op: 'add', set: name, entry: e });
    for (const e of have) if (!entries.has(e)) setDels.push({ op: 'del', set: name, entry: e });
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
