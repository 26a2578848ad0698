// `iptables-save` -> canonical groups: per table, our chains with their rules in order, and the
// built-in chains' rules that jump to our chains. Both sides go through iptables-save, so option
// order and address forms are the tool's own.

import type { Canonical, Group } from './canonical.js';

/** Chains another component owns or that only mark state (kubelet's, our canaries): never compared. */
const IGNORED = new Set(['KUBE-FIREWALL', 'KUBE-KUBELET-CANARY', 'KUBE-IPTABLES-HINT', 'KUBE-PROXY-CANARY']);
const BUILTIN = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);

function jumpTarget(rule: string): string | null {
  const m = /(?:^| )-[jg] (\S+)/.exec(rule);
  return m ? m[1]! : null;
}

/** `tables`: which tables to read (default nat and filter). */
export function iptablesCanonical(save: string, tables: readonly string[] = ['nat', 'filter']): Canonical {
  const chains = new Map<string, string[]>();
  let table = '';
  const ours = (chain: string): boolean => chain.startsWith('KUBE-') && !IGNORED.has(chain);
  for (const raw of save.split('\n')) {
    const line = raw.trimEnd();
    if (line.startsWith('*')) {
      table = line.slice(1);
      continue;
    }
    if (!tables.includes(table)) continue;
    if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0]!;
      if (ours(name)) chains.set(`${table} chain ${name}`, chains.get(`${table} chain ${name}`) ?? []);
    } else if (line.startsWith('-A ')) {
      const rest = line.slice(3);
      const sp = rest.indexOf(' ');
      const chain = sp < 0 ? rest : rest.slice(0, sp);
      const rule = sp < 0 ? '' : rest.slice(sp + 1);
      const target = jumpTarget(rule);
      if (ours(chain) || (BUILTIN.has(chain) && target !== null && ours(target))) {
        const key = `${table} chain ${chain}`;
        let l = chains.get(key);
        if (!l) chains.set(key, (l = []));
        l.push(rule);
      }
    }
  }
  const out = new Map<string, Group>();
  // Our jumps in a built-in chain: their relative order carries no meaning (each is inserted alone).
  for (const [key, items] of chains) out.set(key, { header: '', items, ordered: !BUILTIN.has(key.split(' ')[2]!) });
  return out;
}

/** Chains a sync of the iptables mode deletes when the state no longer has them (service chains). */
export function isServiceChainKey(key: string): boolean {
  return /^(nat|filter) chain KUBE-(SVC|SVL|EXT|FW|SEP)-/.test(key);
}
