// The proxy modes the fault tests run in, and how to read a mode's programmed Service VIPs back from
// the kernel per family. iptables runs on both backends: `iptables` (the nft backend, the default
// here) and `iptables-legacy` (KPX_IPTABLES_BACKEND=legacy, as test/traffic and test/lifecycle do).

import { iptablesServiceTuples, nftServiceTuples, type Family } from './churn.js';
import type { World } from './world.js';

export type Mode = 'nftables' | 'iptables' | 'iptables-legacy';
export const MODES: readonly Mode[] = ['nftables', 'iptables', 'iptables-legacy'];

export const heavy = process.env.KPX_HEAVY === '1';

/** --proxy-mode and extra environment of a run mode. */
export function modeRun(m: Mode): { proxyMode: 'nftables' | 'iptables'; env: NodeJS.ProcessEnv } {
  return m === 'iptables-legacy' ? { proxyMode: 'iptables', env: { KPX_IPTABLES_BACKEND: 'legacy' } } : { proxyMode: m, env: {} };
}

/** The iptables tool of a mode and family, e.g. ip6tables-legacy (`suffix` '-save' for the listing). */
export function iptTool(m: Mode, family: Family, suffix = ''): string {
  const base = family === 'IPv4' ? 'iptables' : 'ip6tables';
  return `${base}-${m === 'iptables-legacy' ? 'legacy' : 'nft'}${suffix}`;
}

/** "VIP . tcp . port" tuples of one family as the kernel holds them in this mode. */
export async function kernelServiceTuples(world: World, m: Mode, family: Family): Promise<Set<string>> {
  if (m === 'nftables') {
    const table = await world.exec('node', ['nft', 'list', 'table', family === 'IPv4' ? 'ip' : 'ip6', 'kube-proxy'], { allowFailure: true, timeoutMs: 60_000 });
    return nftServiceTuples(table);
  }
  const save = await world.exec('node', [iptTool(m, family, '-save')], { allowFailure: true, timeoutMs: 60_000 });
  return iptablesServiceTuples(save);
}
