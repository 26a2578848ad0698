// Pure iptables planner: (previously applied state, desired state) -> one
// `iptables-restore --noflush --counters` input with upstream's exact layout
// (pkg/proxy/iptables/proxier.go syncProxyRules), plus the new applied state.
//
// Full sync writes every chain. Partial sync always rewrites the filter table and the nat
// top-level chains, but the per-service chains (SVC/SVL/EXT/FW/SEP) only for service ports
// whose ServicePort object changed identity. Unlike upstream, unchanged services' chains are not
// even generated (their rule counts are remembered), so a partial sync costs O(services) for
// the top-level rules plus O(changed endpoints), not O(all endpoints).

import type { ProxyState, ServicePort } from '../../model/types.js';
import type { DataplaneConfig } from '../config.js';
import { isIPv4Loopback } from '../../model/ip.js';
import { jumpInsertLine, type JumpRule } from '../../kernel/iptables/jumps.js';
import { RestoreTable, renderRestore } from '../../kernel/iptables/restore.js';
import {
  FILTER_TOP_CHAINS,
  KUBE_FIREWALL,
  KUBE_FORWARD,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_PROXY_CANARY,
  KUBE_SERVICES,
  NAT_TOP_CHAINS,
  isServiceChainName,
} from './layout.js';
import { LARGE_CLUSTER_ENDPOINTS_THRESHOLD, NFACCT_INVALID, facts, writeServiceChains, writeTopRules, type Ctx } from './service.js';
import { iptablesLocalArgs, localTrafficMatch } from '../shared/local-traffic.js';
import { iptablesLoopback } from '../shared/loopback.js';
import { masqueradeMark } from '../shared/masquerade.js';

export { LARGE_CLUSTER_ENDPOINTS_THRESHOLD, NFACCT_INVALID, NFACCT_LOCALHOST_NODEPORTS, probability } from './service.js';

/** What the kernel holds after a successful restore of a plan (the planner's memory). */
export interface Applied {
  readonly family: ProxyState['family'];
  /** The state's service map; identity of its values tells which services changed. */
  readonly services: ReadonlyMap<string, ServicePort>;
  /** Per-service nat chains (SVC/SVL/EXT/FW/SEP) programmed for each service key. */
  readonly serviceChains: ReadonlyMap<string, readonly string[]>;
  /** Number of nat rules in those chains, per service key (for the rules-total metric). */
  readonly serviceNatRules: ReadonlyMap<string, number>;
  readonly largeClusterMode: boolean;
  /** Whether the layout-affecting settings were the same (else the next sync must be full). */
  readonly settingsKey: string;
}

export interface PlanOptions {
  readonly full: boolean;
  /** MASQUERADE --random-fully (iptables >= 1.6.2). Default true. */
  readonly randomFully?: boolean;
  /** nf_conntrack_tcp_be_liberal is set: no INVALID drop rule. Default false. */
  readonly conntrackTCPLiberal?: boolean;
  /** Use `-m nfacct` counters (the nfacct objects must exist). Default false. */
  readonly nfacct?: boolean;
  /** Jump rules missing from the built-in chains: inserted at position 1 in this restore. */
  readonly missingJumps?: readonly JumpRule[];
  /** Declare the KUBE-PROXY-CANARY chains (filter, nat, mangle). */
  readonly canary?: boolean;
  /** nat chains found in the kernel (iptables-save); leftover service chains get deleted. */
  readonly existingNatChains?: Iterable<string>;
  /**
   * Split the per-service chains into separate nat-only restores of about this many lines, run
   * before the main one (see Plan.batches). 0/undefined: one restore. Only worth it where the
   * restore tool is superlinear in its input (iptables-nft with --noflush).
   */
  readonly batchLines?: number;
}

export interface PlanCounts {
  readonly full: boolean;
  readonly largeClusterMode: boolean;
  readonly totalEndpoints: number;
  readonly servicesWritten: number;
  readonly filterRules: number;
  /** nat rules in this restore (-A lines). */
  readonly natRulesWritten: number;
  /** nat rules kube-proxy owns after this restore. */
  readonly natRulesTotal: number;
  readonly natChainsWritten: number;
  readonly deletedChains: number;
  readonly noLocalEndpointsInternal: number;
  readonly noLocalEndpointsExternal: number;
  readonly restoreLines: number;
}

export interface Plan {
  /**
   * nat-only restore inputs holding per-service chains, to apply (in order) before
   * `restoreInput`. Each is atomic on its own: a service's chains are always in one batch, and
   * each batch re-declares KUBE-MARK-MASQ (the only outside chain they jump to) with its rule.
   * Empty unless PlanOptions.batchLines split the work.
   */
  readonly batches: readonly string[];
  /** The main restore: filter, nat top-level chains, stale-chain deletion, jumps, canary. */
  readonly restoreInput: string;
  readonly next: Applied;
  readonly counts: PlanCounts;
  /** Non-fatal configuration problems (e.g. a loopback nodePortAddress that cannot work). */
  readonly warnings: readonly string[];
}

/**
 * Localhost NodePorts are on when configured, IPv4, and nodePortAddresses covers an IPv4
 * loopback address (match-all counts). The runtime must then set route_localnet=1.
 */
export function needsRouteLocalnet(cfg: DataplaneConfig, state: ProxyState): boolean {
  if (!cfg.localhostNodePorts || cfg.family !== 'IPv4') return false;
  const npa = state.nodePortAddresses;
  return npa.matchAll || npa.ips.some(isIPv4Loopback);
}

/** Settings that change the layout of unchanged services' chains: a change forces a full sync. */
function settingsKey(cfg: DataplaneConfig, state: ProxyState): string {
  return JSON.stringify([cfg.family, cfg.masqueradeBit, cfg.masqueradeAll, cfg.localDetector, state.node.ips[0] ?? '']);
}

const descending = (a: string, b: string): number => (a < b ? 1 : a > b ? -1 : 0);

export function plan(prev: Applied | null, state: ProxyState, cfg: DataplaneConfig, opts: PlanOptions): Plan {
  const ipv6 = cfg.family === 'IPv6';
  let totalEndpoints = 0;
  for (const sp of state.services.values()) totalEndpoints += sp.endpoints.length;
  const largeClusterMode = totalEndpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD;
  const sKey = settingsKey(cfg, state);
  const full =
    opts.full || prev === null || prev.family !== cfg.family || prev.largeClusterMode !== largeClusterMode || prev.settingsKey !== sKey;

  const local = localTrafficMatch(cfg.localDetector);
  const ctx: Ctx = {
    masqMark: masqueradeMark(cfg.masqueradeBit, 'iptables'),
    masqueradeAll: cfg.masqueradeAll,
    ifLocal: local && iptablesLocalArgs(local, false).join(' '),
    ifNotLocal: local && iptablesLocalArgs(local, true).join(' '),
    largeClusterMode,
    localhostNodePorts: needsRouteLocalnet(cfg, state),
    nfacct: opts.nfacct ?? false,
    nodeIP: state.node.ips[0],
  };
  const warnings: string[] = [];

  // Chains are declared by name; rules are restore lines (writers in service.ts).
  const filterChains = [...FILTER_TOP_CHAINS];
  const filterRules: string[] = [];
  const natChains = [...NAT_TOP_CHAINS];
  const natRules: string[] = [];
  if (opts.canary) {
    filterChains.push(KUBE_PROXY_CANARY);
    natChains.push(KUBE_PROXY_CANARY);
  }

  const mark = ctx.masqMark;
  natRules.push(`-A ${KUBE_POSTROUTING} -m mark ! --mark ${mark}/${mark} -j RETURN`);
  natRules.push(`-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${mark}`);
  natRules.push(
    `-A ${KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${opts.randomFully ?? true ? ' --random-fully' : ''}`,
  );
  natRules.push(`-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${mark}`);

  if (!ipv6 && ctx.localhostNodePorts) {
    // The anti-martian rule for route_localnet (issue 90259); kubelet writes an identical copy.
    filterChains.push(KUBE_FIREWALL);
    filterRules.push(
      `-A ${KUBE_FIREWALL} -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
    );
  }

  const serviceChains = new Map<string, readonly string[]>(full || !prev ? [] : prev.serviceChains);
  const serviceNatRules = new Map<string, number>(full || !prev ? [] : prev.serviceNatRules);
  const written = new Set<string>();
  let servicesWritten = 0;
  let natChainsWritten = 0;
  let noLocalInt = 0;
  let noLocalExt = 0;
  let natRulesTotal = 0;
  let perServiceWritten = 0;
  const staleCandidates: string[] = [];

  // Per-service chains go to batch buffers when batching, else straight into the main restore.
  const batchLines = opts.batchLines ?? 0;
  const batches: RestoreTable[] = [];
  let bChains: string[] = [];
  let bRules: string[] = [];
  const cut = (): void => {
    if (bChains.length === 0) return;
    // Declared in descending name order: iptables-nft (1.8.9) keeps a restore's chains in a list
    // sorted by name, inserting each after a linear scan from the head that stops at the first
    // name >= the new one. Descending order stops that scan at once, so a batch costs linear
    // instead of quadratic time in its chains (5k services, restore CPU: 5000-line batches
    // 6.2 s -> 5.6 s, 20000-line batches 17.9 s -> 6.6 s). The order of `:CHAIN` lines does not
    // change what the restore creates.
    bChains.sort(descending);
    batches.push(new RestoreTable('nat', [KUBE_MARK_MASQ, ...bChains], [`-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${mark}`, ...bRules]));
    bChains = [];
    bRules = [];
  };

  for (const [key, sp] of state.services) {
    const f = facts(sp);
    const nl = writeTopRules(sp, f, ctx, filterRules, natRules);
    if (nl.noLocalInt) noLocalInt++;
    if (nl.noLocalExt) noLocalExt++;

    const prevSp = prev?.services.get(key);
    if (!full && prevSp === sp) {
      natRulesTotal += serviceNatRules.get(key) ?? 0;
      continue;
    }
    if (prev && !full) {
      const old = prev.serviceChains.get(key);
      if (old) staleCandidates.push(...old);
    }
    const chains: string[] = [];
    const sink = batchLines > 0 ? bRules : natRules;
    const before = sink.length;
    writeServiceChains(sp, f, ctx, chains, sink);
    const count = sink.length - before;
    for (const c of chains) {
      (batchLines > 0 ? bChains : natChains).push(c);
      written.add(c);
    }
    if (batchLines > 0 && bChains.length + bRules.length >= batchLines) cut();
    serviceChains.set(key, chains);
    serviceNatRules.set(key, count);
    natRulesTotal += count;
    perServiceWritten += count;
    servicesWritten++;
    natChainsWritten += chains.length;
  }
  if (batches.length === 0 && bChains.length > 0) {
    // Everything fits in one batch: no point in a second restore. (Loops, not spread arguments:
    // without batching these arrays are empty, but a huge batchLines could make them large.)
    for (const c of bChains) natChains.push(c);
    const tail = natRules.splice(4); // keep KUBE-POSTROUTING and KUBE-MARK-MASQ first
    for (const r of bRules) natRules.push(r);
    for (const r of tail) natRules.push(r);
  } else if (batches.length > 0) {
    cut();
  }
  const inline = batches.length === 0;

  // Chains of changed/removed services (partial) or of everything before (full), plus leftovers
  // found in the kernel, that this plan does not write: flush with a chain line, then -X.
  // Chain names are unique per service key, so "not written now" means stale.
  if (prev) {
    if (full) {
      for (const chains of prev.serviceChains.values()) staleCandidates.push(...chains);
    } else {
      for (const key of prev.services.keys()) {
        if (!state.services.has(key)) {
          const old = prev.serviceChains.get(key);
          if (old) staleCandidates.push(...old);
          serviceChains.delete(key);
          serviceNatRules.delete(key);
        }
      }
    }
  }
  if (opts.existingNatChains) {
    for (const c of opts.existingNatChains) if (isServiceChainName(c)) staleCandidates.push(c);
  }
  const deleted = new Set<string>();
  for (const c of staleCandidates) {
    if (written.has(c) || deleted.has(c)) continue;
    deleted.add(c);
    natChains.push(c);
    natRules.push(`-X ${c}`);
  }

  // Tail call to KUBE-NODEPORTS: must be the last rule of nat KUBE-SERVICES.
  const tailComment = `-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"`;
  const npa = state.nodePortAddresses;
  if (npa.matchAll) {
    let dest = '-m addrtype --dst-type LOCAL';
    if (ipv6 || !ctx.localhostNodePorts) dest += ` ! -d ${iptablesLoopback(cfg.family)}`;
    natRules.push(`-A ${KUBE_SERVICES} ${tailComment} ${dest} -j ${KUBE_NODEPORTS}`);
  } else {
    for (const ip of npa.ips) {
      const loopback = ipv6 ? ip === '::1' : isIPv4Loopback(ip);
      if (loopback) {
        if (ipv6) {
          warnings.push(`--nodeport-addresses includes localhost but localhost NodePorts are not supported on IPv6 (address ${ip})`);
          continue;
        }
        if (!ctx.localhostNodePorts) {
          warnings.push(`--nodeport-addresses includes localhost but --iptables-localhost-nodeports=false was passed (address ${ip})`);
          continue;
        }
      }
      natRules.push(`-A ${KUBE_SERVICES} ${tailComment} -d ${ip} -j ${KUBE_NODEPORTS}`);
    }
  }

  if (!(opts.conntrackTCPLiberal ?? false)) {
    // INVALID packets cause spurious RSTs (issues 74839, 117924).
    const acct = ctx.nfacct ? ` -m nfacct --nfacct-name ${NFACCT_INVALID}` : '';
    filterRules.push(`-A ${KUBE_FORWARD} -m conntrack --ctstate INVALID${acct} -j DROP`);
  }
  filterRules.push(`-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`);
  filterRules.push(
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  );

  natRulesTotal += natRules.length - deleted.size - (inline ? perServiceWritten : 0);

  const filterJumps: string[] = [];
  const natJumps: string[] = [];
  for (const j of opts.missingJumps ?? []) {
    const line = jumpInsertLine(j);
    if (j.table === 'filter') filterJumps.push(line);
    else if (j.table === 'nat') natJumps.push(line);
  }

  const tables = [
    new RestoreTable('filter', filterChains, filterRules.concat(filterJumps)),
    new RestoreTable('nat', natChains, natRules.concat(natJumps)),
  ];
  if (opts.canary) tables.push(new RestoreTable('mangle', [KUBE_PROXY_CANARY]));

  const next: Applied = {
    family: cfg.family,
    services: state.services,
    serviceChains,
    serviceNatRules,
    largeClusterMode,
    settingsKey: sKey,
  };
  // Lines of every restore: per table `*table`, declarations, operations, COMMIT.
  let restoreLines = 0;
  for (const t of [...tables, ...batches]) restoreLines += t.chains.length + t.lines.length + 2;
  return {
    batches: batches.map((b) => renderRestore([b])),
    restoreInput: renderRestore(tables),
    next,
    counts: {
      full,
      largeClusterMode,
      totalEndpoints,
      servicesWritten,
      filterRules: filterRules.length,
      natRulesWritten: natRules.length - deleted.size + (inline ? 0 : perServiceWritten),
      natRulesTotal,
      natChainsWritten,
      deletedChains: deleted.size,
      noLocalEndpointsInternal: noLocalInt,
      noLocalEndpointsExternal: noLocalExt,
      restoreLines,
    },
    warnings,
  };
}
