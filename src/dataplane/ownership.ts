// Which iptables chains and built-in jumps each mode owns, so that a mode switch removes the
// previous mode's leftovers without touching what the running mode just programmed (iptables and
// IPVS mode share chain names: KUBE-SERVICES, KUBE-POSTROUTING, KUBE-MARK-MASQ, KUBE-FORWARD, ...).

import type { ProxyMode } from '../config/types.js';
import type { IptablesKeep } from './types.js';
import { FILTER_TOP_CHAINS, JUMP_RULES, KUBE_PROXY_CANARY, NAT_TOP_CHAINS, isServiceChainName } from './iptables/layout.js';
import { CHAINS as IPVS_CHAINS, JUMPS as IPVS_JUMPS } from './ipvs/layout.js';

const IPTABLES_CHAINS: Record<string, ReadonlySet<string>> = {
  nat: new Set([...NAT_TOP_CHAINS, KUBE_PROXY_CANARY]),
  filter: new Set([...FILTER_TOP_CHAINS, KUBE_PROXY_CANARY]),
  mangle: new Set([KUBE_PROXY_CANARY]),
};

const IPTABLES_KEEP: IptablesKeep = {
  chain: (table, chain) => IPTABLES_CHAINS[table]?.has(chain) === true || (table === 'nat' && isServiceChainName(chain)),
  jump: (table, builtin, target, comment) => JUMP_RULES.some((j) => j.table === table && j.src === builtin && j.dst === target && j.comment === comment),
};

const IPVS_KEEP: IptablesKeep = {
  chain: (table, chain) => IPVS_CHAINS.some((c) => c.table === table && c.chain === chain),
  jump: (table, builtin, target, comment) => IPVS_JUMPS.some((j) => j.table === table && j.src === builtin && j.dst === target && j.comment === comment),
};

/** The iptables objects `mode` owns while it runs (nftables: none). */
export function iptablesOwnedBy(mode: ProxyMode): IptablesKeep | undefined {
  return mode === 'iptables' ? IPTABLES_KEEP : mode === 'ipvs' ? IPVS_KEEP : undefined;
}
