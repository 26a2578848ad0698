// Pure iptables planner: (previously applied state, desired state) -> one
// `iptables-restore --noflush --counters` input with upstream's exact layout
// (pkg/proxy/iptables/proxier.go syncProxyRules), plus the new applied state.
//
// Full sync writes every chain. Partial sync always rewrites the filter table and the nat
// top-level chains, but the per-service chains (SVC/SVL/EXT/FW/SEP) only for service ports
// whose ServicePort object changed identity. Unlike upstream, unchanged services' chains are not
// even generated (their rule counts are remembered), so a partial sync costs O(services) for
// the top-level rules plus O(changed endpoints), not O(all endpoints).

import type { Endpoint, ProxyState, ServicePort } from '../../model/types.js';
import type { DataplaneConfig } from '../config.js';
import {
  FILTER_TOP_CHAINS,
  KUBE_EXTERNAL_SERVICES,
  KUBE_FIREWALL,
  KUBE_FORWARD,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_PROXY_CANARY,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
  NAT_TOP_CHAINS,
  jumpRestoreSpec,
  type JumpRule,
} from './chains.js';
import { endpointChainName, isServiceChainName, serviceChainNames } from './hash.js';
import { cidrContains, isIPv4Loopback, joinHostPort } from '../../model/ip.js';
import { iptablesLocalArgs, localTrafficMatch } from '../shared/local-traffic.js';
import { iptablesLoopback } from '../shared/loopback.js';
import { masqueradeMark } from '../shared/masquerade.js';

/** Upstream largeClusterEndpointsThreshold: above this many endpoints, drop per-endpoint comments. */
export const LARGE_CLUSTER_ENDPOINTS_THRESHOLD = 1000;

export const NFACCT_INVALID = 'ct_state_invalid_dropped_pkts';
export const NFACCT_LOCALHOST_NODEPORTS = 'localhost_nps_accepted_pkts';

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

interface Ctx {
  readonly masqMark: string;
  readonly masqueradeAll: boolean;
  /** Local-traffic match as rule text ("-s 198.18.0.0/16"), or null without a detector. */
  readonly ifLocal: string | null;
  readonly ifNotLocal: string | null;
  readonly largeClusterMode: boolean;
  readonly localhostNodePorts: boolean;
  readonly nfacct: boolean;
  readonly nodeIP: string | undefined;
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

// Go's fmt "%0.10f" rounds the exact binary value half-to-even; JS toFixed rounds ties up.
// Ties only happen when 1/n is a finite decimal (n = 2^a 5^b), so handle those exactly.
const probabilityCache: string[] = [];
export function probability(n: number): string {
  const cached = probabilityCache[n];
  if (cached !== undefined) return cached;
  let m = n;
  while (m % 2 === 0) m /= 2;
  while (m % 5 === 0) m /= 5;
  let s: string;
  if (m !== 1) {
    s = (1 / n).toFixed(10);
  } else {
    // 1/n = q / 10^k exactly, with k the number of decimals needed.
    let k = 0;
    let pow = 1n;
    const bn = BigInt(n);
    while (pow % bn !== 0n) {
      pow *= 10n;
      k++;
    }
    let q = pow / bn; // 1/n = q * 10^-k
    if (k > 10) {
      const div = 10n ** BigInt(k - 10);
      const rem = q % div;
      q = q / div;
      const half = div / 2n;
      if (rem > half || (rem === half && q % 2n === 1n)) q += 1n;
      k = 10;
    }
    const digits = q.toString().padStart(k + 1, '0');
    const intPart = digits.slice(0, digits.length - k) || '0';
    s = `${intPart}.${digits.slice(digits.length - k).padEnd(10, '0')}`;
  }
  probabilityCache[n] = s;
  return s;
}

const chainLine = (c: string): string => `:${c} - [0:0]`;

function serviceComment(ctx: Ctx, comment: string): string {
  // Upstream appendServiceCommentLocked: comments cost 40%+ of the restore size at scale.
  return ctx.largeClusterMode ? '' : ` -m comment --comment ${comment}`;
}

/** Derived per-service facts shared by the top-level and per-service writers. */
interface SvcFacts {
  readonly proto: string;
  readonly names: ReturnType<typeof serviceChainNames>;
  readonly hasEndpoints: boolean;
  readonly hasInternalEndpoints: boolean;
  readonly hasExternalEndpoints: boolean;
  readonly internalChain: string;
  readonly externalPolicyChain: string;
  readonly externalPolicyLocal: boolean;
  readonly usesClusterPolicyChain: boolean;
  readonly usesLocalPolicyChain: boolean;
  readonly usesExternalChain: boolean;
  readonly usesFWChain: boolean;
  readonly lbChain: string;
}

function facts(sp: ServicePort): SvcFacts {
  const proto = sp.protocol.toLowerCase();
  const names = serviceChainNames(sp.spn, proto);
  const hasEndpoints = sp.hasAnyEndpoints;
  const externalPolicyLocal = sp.externalPolicyLocal && sp.externallyAccessible;
  const noLocal = sp.localEndpoints.length === 0;
  const usesFWChain = hasEndpoints && sp.loadBalancerIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
  return {
    proto,
    names,
    hasEndpoints,
    hasInternalEndpoints: hasEndpoints && !(sp.internalPolicyLocal && noLocal),
    hasExternalEndpoints: hasEndpoints && !(externalPolicyLocal && noLocal),
    internalChain: sp.internalPolicyLocal ? names.svl : names.svc,
    externalPolicyChain: externalPolicyLocal ? names.svl : names.svc,
    externalPolicyLocal,
    usesClusterPolicyChain: sp.clusterEndpoints.length > 0 && sp.usesClusterEndpoints,
    usesLocalPolicyChain: sp.localEndpoints.length > 0 && sp.usesLocalEndpoints,
    usesExternalChain: hasEndpoints && sp.externallyAccessible,
    usesFWChain,
    lbChain: usesFWChain ? names.fw : names.ext,
  };
}

/** Rules in filter and in the nat top-level chains for one service port (always written). */
function writeTopRules(sp: ServicePort, f: SvcFacts, ctx: Ctx, filter: string[], nat: string[]): { noLocalInt: boolean; noLocalExt: boolean } {
  const { proto } = f;
  const spn = sp.spn;
  const m = `-m ${proto} -p ${proto}`;
  let intTarget = '';
  let intComment = '';
  let extTarget = '';
  let extComment = '';
  let noLocalInt = false;
  let noLocalExt = false;
  if (!f.hasEndpoints) {
    intTarget = extTarget = 'REJECT';
    intComment = extComment = `"${spn} has no endpoints"`;
  } else {
    if (!f.hasInternalEndpoints) {
      intTarget = 'DROP';
      intComment = `"${spn} has no local endpoints"`;
      noLocalInt = true;
    }
    if (!f.hasExternalEndpoints) {
      extTarget = 'DROP';
      extComment = `"${spn} has no local endpoints"`;
      noLocalExt = true;
    }
  }

  if (f.hasInternalEndpoints) {
    nat.push(`-A ${KUBE_SERVICES} -m comment --comment "${spn} cluster IP" ${m} -d ${sp.clusterIP} --dport ${sp.port} -j ${f.internalChain}`);
  } else {
    filter.push(`-A ${KUBE_SERVICES} -m comment --comment ${intComment} ${m} -d ${sp.clusterIP} --dport ${sp.port} -j ${intTarget}`);
  }

  for (const ip of sp.externalIPs) {
    if (f.hasEndpoints) {
      nat.push(`-A ${KUBE_SERVICES} -m comment --comment "${spn} external IP" ${m} -d ${ip} --dport ${sp.port} -j ${f.names.ext}`);
    }
    if (!f.hasExternalEndpoints) {
      filter.push(`-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${extComment} ${m} -d ${ip} --dport ${sp.port} -j ${extTarget}`);
    }
  }

  for (const ip of sp.loadBalancerIPs) {
    if (f.hasEndpoints) {
      nat.push(`-A ${KUBE_SERVICES} -m comment --comment "${spn} loadbalancer IP" ${m} -d ${ip} --dport ${sp.port} -j ${f.lbChain}`);
    }
    if (f.usesFWChain) {
      filter.push(
        `-A ${KUBE_PROXY_FIREWALL} -m comment --comment "${spn} traffic not accepted by ${f.names.fw}" ${m} -d ${ip} --dport ${sp.port} -j DROP`,
      );
    }
  }
  if (!f.hasExternalEndpoints) {
    for (const ip of sp.loadBalancerIPs) {
      filter.push(`-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${extComment} ${m} -d ${ip} --dport ${sp.port} -j ${extTarget}`);
    }
  }

  if (sp.nodePort !== 0) {
    if (f.hasEndpoints) {
      if (ctx.localhostNodePorts && ctx.nfacct) {
        nat.push(
          `-A ${KUBE_NODEPORTS} -m comment --comment ${spn} ${m} -d 127.0.0.0/8 --dport ${sp.nodePort} -m nfacct --nfacct-name ${NFACCT_LOCALHOST_NODEPORTS} -j ${f.names.ext}`,
        );
      }
      nat.push(`-A ${KUBE_NODEPORTS} -m comment --comment ${spn} ${m} --dport ${sp.nodePort} -j ${f.names.ext}`);
    }
    if (!f.hasExternalEndpoints) {
      filter.push(
        `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${extComment} -m addrtype --dst-type LOCAL ${m} --dport ${sp.nodePort} -j ${extTarget}`,
      );
    }
  }

  if (sp.healthCheckNodePort !== 0) {
    filter.push(
      `-A ${KUBE_NODEPORTS} -m comment --comment "${spn} health check node port" -m tcp -p tcp --dport ${sp.healthCheckNodePort} -j ACCEPT`,
    );
  }
  return { noLocalInt, noLocalExt };
}

function writeServiceToEndpointRules(sp: ServicePort, f: SvcFacts, ctx: Ctx, chain: string, eps: readonly Endpoint[], rules: string[]): void {
  if (sp.affinityTimeoutSeconds > 0) {
    for (const ep of eps) {
      const hp = joinHostPort(ep.ip, ep.port);
      const sep = endpointChainName(sp.spn, f.proto, hp);
      rules.push(
        `-A ${chain}${serviceComment(ctx, `"${sp.spn} -> ${hp}"`)} -m recent --name ${sep} --rcheck --seconds ${sp.affinityTimeoutSeconds} --reap -j ${sep}`,
      );
    }
  }
  const n = eps.length;
  eps.forEach((ep, i) => {
    const hp = joinHostPort(ep.ip, ep.port);
    const sep = endpointChainName(sp.spn, f.proto, hp);
    const stat = i < n - 1 ? ` -m statistic --mode random --probability ${probability(n - i)}` : '';
    rules.push(`-A ${chain}${serviceComment(ctx, `"${sp.spn} -> ${hp}"`)}${stat} -j ${sep}`);
  });
}

/** The per-service nat chains (SVC/SVL/EXT/FW/SEP) of one service port. */
function writeServiceChains(sp: ServicePort, f: SvcFacts, ctx: Ctx, chains: string[], rules: string[]): void {
  const spn = sp.spn;
  const { names } = f;

  if (f.hasInternalEndpoints) {
    const match = `-m comment --comment "${spn} cluster IP" -m ${f.proto} -p ${f.proto} -d ${sp.clusterIP} --dport ${sp.port}`;
    if (ctx.masqueradeAll) {
      rules.push(`-A ${f.internalChain} ${match} -j ${KUBE_MARK_MASQ}`);
    } else if (ctx.ifNotLocal !== null) {
      rules.push(`-A ${f.internalChain} ${match} ${ctx.ifNotLocal} -j ${KUBE_MARK_MASQ}`);
    }
  }

  if (f.usesExternalChain) {
    chains.push(names.ext);
    if (!f.externalPolicyLocal) {
      rules.push(`-A ${names.ext} -m comment --comment "masquerade traffic for ${spn} external destinations" -j ${KUBE_MARK_MASQ}`);
    } else {
      if (ctx.ifLocal !== null) {
        rules.push(`-A ${names.ext} -m comment --comment "pod traffic for ${spn} external destinations" ${ctx.ifLocal} -j ${names.svc}`);
      }
      rules.push(
        `-A ${names.ext} -m comment --comment "masquerade LOCAL traffic for ${spn} external destinations" -m addrtype --src-type LOCAL -j ${KUBE_MARK_MASQ}`,
      );
      rules.push(`-A ${names.ext} -m comment --comment "route LOCAL traffic for ${spn} external destinations" -m addrtype --src-type LOCAL -j ${names.svc}`);
    }
    if (f.hasExternalEndpoints) rules.push(`-A ${names.ext} -j ${f.externalPolicyChain}`);
  }

  if (f.usesFWChain) {
    chains.push(names.fw);
    const head = `-A ${names.fw} -m comment --comment "${spn} loadbalancer IP"`;
    let allowFromNode = false;
    for (const cidr of sp.loadBalancerSourceRanges) {
      rules.push(`${head} -s ${cidr} -j ${names.ext}`);
      if (ctx.nodeIP !== undefined && cidrContains(cidr, ctx.nodeIP)) allowFromNode = true;
    }
    if (allowFromNode) {
      for (const ip of sp.loadBalancerIPs) rules.push(`${head} -s ${ip} -j ${names.ext}`);
    }
    rules.push(`-A ${names.fw} -m comment --comment "other traffic to ${spn} will be dropped by KUBE-PROXY-FIREWALL"`);
  }

  if (f.usesClusterPolicyChain) {
    chains.push(names.svc);
    writeServiceToEndpointRules(sp, f, ctx, names.svc, sp.clusterEndpoints, rules);
  }
  if (f.usesLocalPolicyChain) {
    chains.push(names.svl);
    writeServiceToEndpointRules(sp, f, ctx, names.svl, sp.localEndpoints, rules);
  }

  const affinity = sp.affinityTimeoutSeconds > 0;
  for (const ep of sp.allReachableEndpoints) {
    const hp = joinHostPort(ep.ip, ep.port);
    const sep = endpointChainName(spn, f.proto, hp);
    chains.push(sep);
    const head = `-A ${sep}${serviceComment(ctx, spn)}`;
    rules.push(`${head} -s ${ep.ip} -j ${KUBE_MARK_MASQ}`);
    rules.push(`${head}${affinity ? ` -m recent --name ${sep} --set` : ''} -m ${f.proto} -p ${f.proto} -j DNAT --to-destination ${hp}`);
  }
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

  const filterChains = FILTER_TOP_CHAINS.map(chainLine);
  const filterRules: string[] = [];
  const natChains = NAT_TOP_CHAINS.map(chainLine);
  const natRules: string[] = [];
  if (opts.canary) {
    filterChains.push(chainLine(KUBE_PROXY_CANARY));
    natChains.push(chainLine(KUBE_PROXY_CANARY));
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
    filterChains.push(chainLine(KUBE_FIREWALL));
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
  const batches: string[][] = [];
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
    batches.push(['*nat', chainLine(KUBE_MARK_MASQ), ...bChains, `-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${mark}`, ...bRules, 'COMMIT']);
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
      (batchLines > 0 ? bChains : natChains).push(chainLine(c));
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
    natChains.push(chainLine(c));
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
    const line = `-I ${j.src} 1 ${jumpRestoreSpec(j)}`;
    if (j.table === 'filter') filterJumps.push(line);
    else if (j.table === 'nat') natJumps.push(line);
  }

  const parts = [
    '*filter',
    ...filterChains,
    ...filterRules,
    ...filterJumps,
    'COMMIT',
    '*nat',
    ...natChains,
    ...natRules,
    ...natJumps,
    'COMMIT',
  ];
  if (opts.canary) parts.push('*mangle', chainLine(KUBE_PROXY_CANARY), 'COMMIT');

  const next: Applied = {
    family: cfg.family,
    services: state.services,
    serviceChains,
    serviceNatRules,
    largeClusterMode,
    settingsKey: sKey,
  };
  let restoreLines = parts.length;
  for (const b of batches) restoreLines += b.length;
  return {
    batches: batches.map((b) => b.join('\n') + '\n'),
    restoreInput: parts.join('\n') + '\n',
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
