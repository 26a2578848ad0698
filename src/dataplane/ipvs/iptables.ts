// The iptables rules IPVS mode still needs (upstream writeIptablesRules), as iptables-restore
// --noflush input. Which rules appear depends only on which ipsets are non-empty, so the text
// changes rarely and an incremental sync usually skips iptables-restore.

import type { IPFamily } from '../../model/types.js';
import type { DataplaneConfig } from '../config.js';
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
} from './names.js';

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
  const mark = masqueradeMark(inp.cfg.masqueradeBit, 'ipvs');
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

  const out: string[] = ['*nat'];
  for (const c of CHAINS) if (c.table === 'nat') out.push(`:${c.chain} - [0:0]`);
  for (const r of nat) out.push(r.join(' '));
  out.push('COMMIT', '*filter');
  for (const c of CHAINS) if (c.table === 'filter') out.push(`:${c.chain} - [0:0]`);
  for (const r of filter) out.push(r.join(' '));
  out.push('COMMIT');
  return out.join('\n') + '\n';
}
