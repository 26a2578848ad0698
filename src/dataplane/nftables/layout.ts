// The nftables table's fixed layout: object names, the table skeleton every full transaction
// writes (base chains, dispatch chains, the shared sets and maps), and the facts it depends on.
// Per-service-port objects are in service.ts; the planner (planner.ts) combines both.

import type { ProxyState } from '../../model/types.js';
import type { DataplaneConfig } from '../config.js';
import { cidrContains, isLoopbackIP } from '../../model/ip.js';
import type { BaseChainSpec, Family, SetSpec, TableRef } from '../../kernel/nftables/objects.js';
import { elementList } from '../../kernel/nftables/objects.js';
import type { Transaction } from '../../kernel/nftables/transaction.js';
import { localTrafficMatch, nftLocalExprs } from '../shared/local-traffic.js';
import { nftLoopback } from '../shared/loopback.js';
import { masqueradeMark } from '../shared/masquerade.js';
import { nftString } from '../shared/nft-string.js';
import type { ServiceCache } from './service.js';

export const DEFAULT_TABLE = 'kube-proxy';
export const TABLE_COMMENT = 'rules for kube-proxy';
export const CANARY_CHAIN = 'canary';
export const CANARY_COMMENT = 'kube-proxy-ts drift canary';
/**
 * Handle of the canary rule: handles count up per table from 1 (chain `canary` = 1, its rule = 2)
 * and are never reused, so "rule 2 of chain canary exists" means our table was neither deleted,
 * flushed nor replaced by anyone else since our last full sync.
 */
export const CANARY_RULE_HANDLE = 2;
/**
 * Name of the empty set listed as the completion marker of the persistent `nft -i` (session.ts):
 * declared by the full plan.
 */
export const MARKER_SET = 'sync-marker';

export const MARK_MASQ_CHAIN = 'mark-for-masquerade';
export const REJECT_CHAIN = 'reject-chain';
export const HAIRPIN_SET = 'hairpin';
export const CLUSTER_IPS_SET = 'cluster-ips';
export const NODEPORT_IPS_SET = 'nodeport-ips';
export const SERVICE_IPS_MAP = 'service-ips';
export const SERVICE_NODEPORTS_MAP = 'service-nodeports';
export const NO_ENDPOINT_SERVICES_MAP = 'no-endpoint-services';
export const NO_ENDPOINT_NODEPORTS_MAP = 'no-endpoint-nodeports';
export const FIREWALL_IPS_MAP = 'firewall-ips';

export function familyWord(family: ProxyState['family']): 'ip' | 'ip6' {
  return family === 'IPv6' ? 'ip6' : 'ip';
}

export function tableRef(family: ProxyState['family'] | Family, name = DEFAULT_TABLE): TableRef {
  return { family: family === 'IPv6' ? 'ip6' : family === 'IPv4' ? 'ip' : family, name };
}

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
  /** Interned names and shared objects (memoisation only: same output with a fresh one). */
  readonly cache: ServiceCache;
}

export function ruleContext(state: ProxyState, cfg: DataplaneConfig, cache: ServiceCache): RuleContext {
  const ipX = familyWord(state.family);
  return {
    ipX,
    addrType: ipX === 'ip6' ? 'ipv6_addr' : 'ipv4_addr',
    masqueradeAll: cfg.masqueradeAll,
    ...nftLocalExprs(localTrafficMatch(cfg.localDetector), state.family),
    nodeIPs: state.node.ips,
    cidrContains,
    cache,
  };
}

/** Everything outside per-service rules that the table depends on: a change forces a full plan. */
export function signatureOf(state: ProxyState, cfg: DataplaneConfig, table: string): string {
  return JSON.stringify([
    table,
    state.family,
    cfg.masqueradeBit,
    cfg.masqueradeAll,
    cfg.localDetector,
    state.node.ips,
    state.nodePortAddresses,
    state.serviceCIDRs,
  ]);
}

/**
 * How a full plan starts the table, by what the kernel is known to hold:
 * - 'replace' (the table exists): `delete table` + `add table`. Until the commit the kernel shows
 *   the old table whole, then the new one whole. Fails if the table is gone meanwhile.
 * - 'create' (no table): `create table`. Nothing is shown until the commit. Fails if a table
 *   appeared meanwhile. Either failure leaves the kernel as it was; the next full sync looks again.
 * - 'any' (unknown; --print-rules, hand-applied scripts): `add table` + `delete table` + `add
 *   table`, valid whatever is there. When there was no table, the kernel shows the table created
 *   and deleted by this transaction, empty, from its deletion until the commit (the deletion
 *   overwrites its "not yet active" generation mark), so the dataplane never sends it.
 */
export type TableStart = 'replace' | 'create' | 'any';

/** The table from scratch (one atomic transaction replaces whatever was there), the canary, then the fixed skeleton. */
export function writeTableStart(tx: Transaction, start: TableStart = 'any'): void {
  writeTableVerbs(tx, start);
  // The canary comes first in the fresh table, so its rule always gets handle CANARY_RULE_HANDLE.
  tx.addChain(CANARY_CHAIN);
  tx.addRule(CANARY_CHAIN, `counter comment ${nftString(CANARY_COMMENT)}`);
}

/** The table operations a full plan begins with, by how the table starts: the only part of a full plan that depends on it. */
export function writeTableVerbs(tx: Transaction, start: TableStart): void {
  if (start === 'replace') tx.deleteTable().addTable(TABLE_COMMENT);
  else if (start === 'create') tx.createTable(TABLE_COMMENT);
  else tx.addTable(TABLE_COMMENT).deleteTable().addTable(TABLE_COMMENT);
}

function set(tx: Transaction, kind: 'set' | 'map', name: string, spec: SetSpec): void {
  tx.add({ kind, name, spec });
}

/** Table, base chains, fixed chains, sets and maps: everything that is not per service. */
export function writeFixed(tx: Transaction, state: ProxyState, cfg: DataplaneConfig, ctx: RuleContext): void {
  const { ipX, addrType } = ctx;
  const mark = masqueradeMark(cfg.masqueradeBit, 'nft');
  const npa = state.nodePortAddresses;
  const loopback = nftLoopback(state.family);

  set(tx, 'set', CLUSTER_IPS_SET, { type: addrType, comment: 'Active ClusterIPs' });
  // Listed after every transaction of the persistent `nft -i` (session.ts) as its completion
  // signal: empty, so listing it costs nothing.
  set(tx, 'set', MARKER_SET, { type: 'inet_proto', comment: 'kube-proxy-ts internal, always empty: listed after each update to confirm nft applied it' });
  if (!npa.matchAll) set(tx, 'set', NODEPORT_IPS_SET, { type: addrType, comment: 'IPs that accept NodePort traffic' });
  const ipProtoPort = `${addrType} . inet_proto . inet_service : verdict`;
  set(tx, 'map', SERVICE_IPS_MAP, { type: ipProtoPort, comment: 'ClusterIP, ExternalIP and LoadBalancer IP traffic' });
  set(tx, 'map', SERVICE_NODEPORTS_MAP, { type: 'inet_proto . inet_service : verdict', comment: 'NodePort traffic' });
  set(tx, 'map', NO_ENDPOINT_SERVICES_MAP, { type: ipProtoPort, comment: 'vmap to drop or reject packets to services with no endpoints' });
  set(tx, 'map', NO_ENDPOINT_NODEPORTS_MAP, {
    type: 'inet_proto . inet_service : verdict',
    comment: 'vmap to drop or reject packets to service nodeports with no endpoints',
  });
  set(tx, 'map', FIREWALL_IPS_MAP, { type: ipProtoPort, comment: 'destinations that are subject to LoadBalancerSourceRanges' });
  set(tx, 'set', HAIRPIN_SET, {
    type: `${addrType} . ${addrType}`,
    comment: 'endpoint . endpoint: a pod reaching itself through a service is masqueraded',
  });

  const base: [string, BaseChainSpec, string[]][] = [
    ['filter-prerouting-pre-dnat', { type: 'filter', hook: 'prerouting', priority: -110 }, ['ct state new jump firewall-check']],
    ['filter-output-pre-dnat', { type: 'filter', hook: 'output', priority: -110 }, ['ct state new jump firewall-check']],
    ['filter-input', { type: 'filter', hook: 'input', priority: 0 }, ['ct state new jump nodeport-endpoints-check', 'ct state new jump service-endpoints-check']],
    ['filter-forward', { type: 'filter', hook: 'forward', priority: 0 }, ['ct state new jump service-endpoints-check', 'ct state new jump cluster-ips-check']],
    ['filter-output', { type: 'filter', hook: 'output', priority: 0 }, ['ct state new jump service-endpoints-check', 'ct state new jump cluster-ips-check']],
    ['nat-prerouting', { type: 'nat', hook: 'prerouting', priority: -100 }, ['jump services']],
    ['nat-output', { type: 'nat', hook: 'output', priority: -100 }, ['jump services']],
    [
      'nat-postrouting',
      { type: 'nat', hook: 'postrouting', priority: 100 },
      [`ct status dnat ${ipX} saddr . ${ipX} daddr @${HAIRPIN_SET} jump ${MARK_MASQ_CHAIN}`, 'jump masquerading'],
    ],
  ];
  const nodePortMatch = npa.matchAll ? `fib daddr type local ${ipX} daddr != ${loopback}` : `${ipX} daddr @${NODEPORT_IPS_SET}`;
  // Off-cluster sources to a ClusterIP are masqueraded (upstream: one rule per service chain,
  // `ip daddr <clusterIP> <proto> dport <port> <not-local> jump mark-for-masquerade`). One rule over
  // @cluster-ips marks the same packets that get DNATed; a packet to a ClusterIP that is not
  // DNATed (unknown port, no endpoints) is rejected or dropped by the filter chains and never
  // reaches nat-postrouting, so its mark is never used. Saves a rule per service port: 10k such
  // rules cost ~0.35 s CPU of a 1.45 s full load at 10k services.
  const masqClusterIP = cfg.masqueradeAll ? '' : ctx.ifNotLocal;
  const fixed: [string, string[]][] = [
    [
      'services',
      [
        ...(masqClusterIP === null ? [] : [`${ipX} daddr @${CLUSTER_IPS_SET} ${masqClusterIP ? masqClusterIP + ' ' : ''}jump ${MARK_MASQ_CHAIN}`]),
        `${ipX} daddr . meta l4proto . th dport vmap @${SERVICE_IPS_MAP}`,
        `${nodePortMatch} meta l4proto . th dport vmap @${SERVICE_NODEPORTS_MAP}`,
      ],
    ],
    ['service-endpoints-check', [`${ipX} daddr . meta l4proto . th dport vmap @${NO_ENDPOINT_SERVICES_MAP}`]],
    [
      'nodeport-endpoints-check',
      [
        `${npa.matchAll ? `${ipX} daddr != ${loopback}` : `${ipX} daddr @${NODEPORT_IPS_SET}`} meta l4proto . th dport vmap @${NO_ENDPOINT_NODEPORTS_MAP}`,
      ],
    ],
    [REJECT_CHAIN, ['reject comment "helper for @no-endpoint-services / @no-endpoint-nodeports"']],
    [
      'cluster-ips-check',
      [
        `${ipX} daddr @${CLUSTER_IPS_SET} reject comment "Reject traffic to invalid ports of ClusterIPs"`,
        ...(state.serviceCIDRs.length > 0
          ? [`${ipX} daddr { ${state.serviceCIDRs.join(', ')} } drop comment "Drop traffic to unallocated ClusterIPs"`]
          : []),
      ],
    ],
    ['firewall-check', [`${ipX} daddr . meta l4proto . th dport vmap @${FIREWALL_IPS_MAP}`]],
    [MARK_MASQ_CHAIN, [`mark set mark or ${mark}`]],
    ['masquerading', [`mark and ${mark} == 0 return`, `mark set mark xor ${mark}`, 'masquerade fully-random']],
  ];
  for (const [name] of fixed) tx.addChain(name);
  for (const [name, spec] of base) tx.addChain(name, spec);
  for (const [name, rules] of fixed) for (const r of rules) tx.addRule(name, r);
  for (const [name, , rules] of base) for (const r of rules) tx.addRule(name, r);
  // Localhost NodePorts are not supported in nftables mode (as upstream): skip loopback IPs.
  const npIPs = npa.matchAll ? [] : npa.ips.filter((ip) => !isLoopbackIP(ip));
  if (npIPs.length > 0) tx.addElements(NODEPORT_IPS_SET, elementList(npIPs.map((key) => ({ key }))));
}
