// The proxy modes the fault tests run in, and how to read a mode's programmed Service VIPs back from
// the kernel per family. iptables runs on both backends: `iptables` (the nft backend, the default
// here) and `iptables-legacy` (KPX_IPTABLES_BACKEND=legacy, as test/traffic and test/lifecycle do).
// `ipvs` only in the IPVS guest (test/guest/faults.test.ts).

import { iptablesServiceTuples, iptablesServingTuples, nftServiceTuples, type Family } from './churn.js';
import type { World } from './world.js';

export type Mode = 'nftables' | 'iptables' | 'iptables-legacy' | 'ipvs';
/** The modes this machine's kernel runs (IPVS needs the guest). */
export const MODES: readonly Mode[] = ['nftables', 'iptables', 'iptables-legacy'];

export const heavy = process.env.KPX_HEAVY === '1';

/** --proxy-mode and extra environment of a run mode. */
export function modeRun(m: Mode): { proxyMode: 'nftables' | 'iptables' | 'ipvs'; env: NodeJS.ProcessEnv } {
  return m === 'iptables-legacy' ? { proxyMode: 'iptables', env: { KPX_IPTABLES_BACKEND: 'legacy' } } : { proxyMode: m, env: {} };
}

/** The iptables tool of a mode and family, e.g. ip6tables-legacy (`suffix` '-save' for the listing). */
export function iptTool(m: Mode, family: Family, suffix = ''): string {
  const base = family === 'IPv4' ? 'iptables' : 'ip6tables';
  return `${base}-${m === 'iptables-legacy' ? 'legacy' : 'nft'}${suffix}`;
}

/** ClusterIP virtual servers ("TCP  198.19.0.1:80 rr", "TCP  [2001:db8:19::1]:80 rr") of an `ipvsadm -Ln` listing. */
export function ipvsServiceTuples(list: string, family: Family): Set<string> {
  const out = new Set<string>();
  const re = family === 'IPv4' ? /^TCP\s+(198\.19\.\d+\.\d+):(\d+)\s/gm : /^TCP\s+\[(2001:db8:19::[0-9a-f]+)\]:(\d+)\s/gm;
  for (const m of list.matchAll(re)) out.add(`${m[1]} . tcp . ${m[2]}`);
  return out;
}

/**
 * "VIP . tcp . port" tuples of one family as the kernel holds them in this mode. `serving`: in
 * iptables modes, only the VIPs whose rules lead from the nat hooks to a DNAT (iptablesServingTuples).
 */
export async function kernelServiceTuples(world: World, m: Mode, family: Family, o: { serving?: boolean } = {}): Promise<Set<string>> {
  if (m === 'ipvs') return ipvsServiceTuples(await world.exec('node', ['ipvsadm', '-L', '-n'], { allowFailure: true, timeoutMs: 60_000 }), family);
  if (m === 'nftables') {
    const table = await world.exec('node', ['nft', 'list', 'table', family === 'IPv4' ? 'ip' : 'ip6', 'kube-proxy'], { allowFailure: true, timeoutMs: 60_000 });
    return nftServiceTuples(table);
  }
  const save = await world.exec('node', [iptTool(m, family, '-save')], { allowFailure: true, timeoutMs: 60_000 });
  return o.serving ? iptablesServingTuples(save) : iptablesServiceTuples(save);
}
