// Upstream server.go checkBadConfig / checkBadIPConfig: configuration that is valid but probably not
// what the user meant. Warnings are logged as "Kube-proxy configuration may be incomplete or
// incorrect"; a few family mismatches have always been fatal upstream and stay fatal here.

import type { IPFamily } from '../model/types.js';
import type { KubeProxyConfiguration } from './types.js';
import { cidrFamily, ipFamily, splitHostPort } from './net.js';

const famOf = (n: 4 | 6 | null): IPFamily | null => (n === 4 ? 'IPv4' : n === 6 ? 'IPv6' : null);
const other = (f: IPFamily): IPFamily => (f === 'IPv4' ? 'IPv6' : 'IPv4');
/** "IPv6" -> "6", as upstream prints netutils.IPFamily in "IPv%s". */
const digit = (f: IPFamily): string => f.slice(3);

/** utilerrors.NewAggregate text: one message as-is, several as "[a, b]". */
export function aggregateMessages(msgs: readonly string[]): string {
  return msgs.length === 1 ? (msgs[0] as string) : `[${msgs.join(', ')}]`;
}

/** netutils.IsDualStackCIDRStrings: valid CIDRs with at least one of each family. */
function isDualStack(cidrs: readonly string[]): boolean {
  const fams = cidrs.map((c) => famOf(cidrFamily(c)));
  if (fams.some((f) => f === null)) return false;
  return fams.includes('IPv4') && fams.includes('IPv6');
}

/** badCIDRs: a non-empty list whose CIDRs are all of `wrong`. */
function badCIDRs(cidrs: readonly string[], wrong: IPFamily): boolean {
  return cidrs.length > 0 && cidrs.every((c) => famOf(cidrFamily(c)) === wrong);
}

/** badBindAddress: "IP:port" whose IP is non-zero and of `wrong`. */
function badBindAddress(addr: string, wrong: IPFamily): boolean {
  const hp = splitHostPort(addr);
  if (!Array.isArray(hp) || hp[0] === '') return false;
  const host = hp[0];
  return famOf(ipFamily(host)) === wrong && host !== '0.0.0.0' && host !== '::';
}

export interface CheckContext {
  readonly config: KubeProxyConfiguration;
  readonly primary: IPFamily;
  /** nodePortAddresses with `primary` resolved to the node IPs' CIDRs (none when unknown). */
  readonly nodePortAddresses: readonly string[];
  readonly podCIDRs: readonly string[];
  readonly clusterCIDRs: readonly string[];
}

/** checkBadConfig: warnings only. */
export function checkBadConfig(c: CheckContext): string[] {
  const errs: string[] = [];
  const anyDual = [c.clusterCIDRs, c.nodePortAddresses, c.config.ipvs.excludeCIDRs ?? [], c.podCIDRs].some(isDualStack);
  const ofPrimary = c.nodePortAddresses.filter((a) => famOf(cidrFamily(a)) === c.primary).length;
  if (c.nodePortAddresses.length === 0) {
    errs.push('nodePortAddresses is unset; NodePort connections will be accepted on all local IPs. Consider using `--nodeport-addresses primary`');
  } else if (anyDual && ofPrimary === c.nodePortAddresses.length) {
    errs.push(
      `cluster appears to be dual-stack but nodePortAddresses contains only ${c.primary} addresses; NodePort connections will be accepted on all local ${other(c.primary)} IPs`,
    );
  } else if (ofPrimary === 0) {
    errs.push(
      `cluster appears to be ${c.primary}-primary but nodePortAddresses contains only ${other(c.primary)} addresses; NodePort connections will be accepted on all local ${c.primary} IPs`,
    );
  }
  return errs;
}

/** checkBadIPConfig: messages, and whether they are fatal. */
export function checkBadIPConfig(c: CheckContext, dualStackSupported: boolean): { errors: string[]; fatal: boolean } {
  const errs: string[] = [];
  let fatal = false;
  const bad = other(c.primary);
  const clusterType = dualStackSupported ? `${c.primary}-primary` : `${c.primary}-only`;
  if (badCIDRs(c.clusterCIDRs, bad)) {
    errs.push(`cluster is ${clusterType} but clusterCIDRs contains only IPv${digit(bad)} addresses`);
    if (c.config.detectLocalMode === 'ClusterCIDR' && !dualStackSupported) fatal = true;
  }
  if (badCIDRs(c.podCIDRs, bad)) {
    errs.push(`cluster is ${clusterType} but node.spec.podCIDRs contains only IPv${digit(bad)} addresses`);
    if (c.config.detectLocalMode === 'NodeCIDR') fatal = true;
  }
  if (famOf(ipFamily(c.config.winkernel.sourceVip)) === bad) errs.push(`cluster is ${clusterType} but winkernel.sourceVip is IPv${digit(bad)}`);
  if (!dualStackSupported) {
    if (badCIDRs(c.config.ipvs.excludeCIDRs ?? [], bad)) errs.push(`cluster is ${clusterType} but ipvs.excludeCIDRs contains only IPv${digit(bad)} addresses`);
    if (badBindAddress(c.config.healthzBindAddress, bad)) errs.push(`cluster is ${clusterType} but healthzBindAddress is IPv${digit(bad)}`);
    if (badBindAddress(c.config.metricsBindAddress, bad)) errs.push(`cluster is ${clusterType} but metricsBindAddress is IPv${digit(bad)}`);
  }
  return { errors: errs, fatal };
}
