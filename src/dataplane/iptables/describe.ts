// explain's view of the iptables layout: the chains one packet path traverses, named by the
// planner's own hashing (layout.ts), and our part of iptables-save for /debug/rules.

import { joinHostPort } from '../../model/ip.js';
import type { IPFamily } from '../../model/types.js';
import { LIST_TIMEOUT_MS, type Describer, type KernelObject, type RulesLister } from '../describe.js';
import { KUBE_EXTERNAL_SERVICES, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL, KUBE_SERVICES, endpointChainName, serviceChainNames } from './layout.js';
import { detectBackend, toolName } from '../../kernel/iptables/tools.js';
import { realRunner } from '../../kernel/runner.js';

export const describeIptables: Describer = (path) => {
  const { sp } = path;
  const n = serviceChainNames(sp.spn, sp.protocol);
  const chains: string[] = [];
  const objects: KernelObject[] = [];
  const add = (table: string, chain: string, detail?: string): void => {
    chains.push(chain);
    objects.push({ kind: 'chain', name: `${table} ${chain}`, ...(detail ? { detail } : {}) });
  };
  if (path.cause === 'source-ranges') {
    add('nat', KUBE_SERVICES);
    add('nat', n.fw, 'no source range matched: not DNATed');
    add('filter', KUBE_PROXY_FIREWALL, 'DROP');
    return { mode: 'iptables', objects, chains };
  }
  if (path.outcome !== 'forward') {
    const verdict = path.outcome === 'reject' ? 'REJECT' : 'DROP';
    add('filter', path.via === 'ClusterIP' ? KUBE_SERVICES : KUBE_EXTERNAL_SERVICES, verdict);
    return { mode: 'iptables', objects, chains };
  }
  add('nat', KUBE_SERVICES);
  if (path.via === 'NodePort') add('nat', KUBE_NODEPORTS);
  if (path.via !== 'ClusterIP') {
    if (path.via === 'LoadBalancer' && sp.loadBalancerSourceRanges.length > 0) add('nat', n.fw);
    add('nat', n.ext);
  }
  add('nat', path.policy === 'local' ? n.svl : n.svc);
  const endpointChains: string[] = [];
  for (const ep of path.endpoints) {
    const sep = endpointChainName(sp.spn, sp.protocol, joinHostPort(ep.ip, ep.port));
    endpointChains.push(sep);
    objects.push({ kind: 'chain', name: `nat ${sep}`, detail: `DNAT --to-destination ${joinHostPort(ep.ip, ep.port)}` });
  }
  return { mode: 'iptables', objects, chains, endpointChains };
};

/** The lines of iptables-save output that belong to us: KUBE-* chains, their rules, and jumps to them. */
export function filterOurs(save: string): string {
  const out: string[] = [];
  let table: string[] = [];
  let ours = 0;
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) {
      table = [line];
      ours = 0;
    } else if (line === 'COMMIT') {
      if (ours > 0) out.push(...table, line);
      table = [];
    } else if (/^:KUBE-/.test(line) || /^-A KUBE-/.test(line) || /-j KUBE-/.test(line)) {
      table.push(line);
      ours++;
    }
  }
  return out.length > 0 ? out.join('\n') + '\n' : '';
}

export const listIptablesRules: RulesLister = async (family: IPFamily) => {
  const backend = await detectBackend();
  const tool = toolName('iptables-save', family, backend);
  const r = await realRunner(tool, [], { allowFailure: true, timeoutMs: LIST_TIMEOUT_MS });
  return [{ title: `${tool} (KUBE-* chains only)`, text: r.code === 0 ? filterOurs(r.stdout) : `(${tool} failed: ${r.stderr.trim()})\n` }];
};
