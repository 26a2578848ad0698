// iptables mode's per-service-port rules (upstream syncProxyRules' per-service loop): the facts
// derived from one ServicePort, its rules in the filter table and the nat top-level chains, and
// its own nat chains (SVC/SVL/EXT/FW/SEP). Pure; the planner decides which services to write.

import type { Endpoint, ServicePort } from '../../model/types.js';
import { cidrContains, joinHostPort } from '../../model/ip.js';
import {
  KUBE_EXTERNAL_SERVICES,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
  endpointChainName,
  serviceChainNames,
} from './layout.js';

/** Upstream largeClusterEndpointsThreshold: above this many endpoints, drop per-endpoint comments. */
export const LARGE_CLUSTER_ENDPOINTS_THRESHOLD = 1000;

export const NFACCT_INVALID = 'ct_state_invalid_dropped_pkts';
export const NFACCT_LOCALHOST_NODEPORTS = 'localhost_nps_accepted_pkts';

export interface Ctx {
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

function serviceComment(ctx: Ctx, comment: string): string {
  // Upstream appendServiceCommentLocked: comments cost 40%+ of the restore size at scale.
  return ctx.largeClusterMode ? '' : ` -m comment --comment ${comment}`;
}

/** Derived per-service facts shared by the top-level and per-service writers. */
export interface SvcFacts {
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

export function facts(sp: ServicePort): SvcFacts {
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
export function writeTopRules(sp: ServicePort, f: SvcFacts, ctx: Ctx, filter: string[], nat: string[]): { noLocalInt: boolean; noLocalExt: boolean } {
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
export function writeServiceChains(sp: ServicePort, f: SvcFacts, ctx: Ctx, chains: string[], rules: string[]): void {
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

