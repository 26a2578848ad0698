// explain's view of the nftables layout: which elements, chains and maps carry one packet path.
// Built by running the planner's own per-service builder (buildService) on the one service port,
// so the names and targets are exactly what the planner writes.

import { realRunner } from '../../kernel/runner.js';
import type { IPFamily } from '../../model/types.js';
import { LIST_TIMEOUT_MS, type Describer, type KernelObject, type RulesLister } from '../describe.js';
import { BlockAllocator } from './alloc.js';
import { endpointChainName, serviceChainNames } from './names.js';
import {
  DEFAULT_TABLE,
  FIREWALL_IPS_MAP,
  NO_ENDPOINT_NODEPORTS_MAP,
  NO_ENDPOINT_SERVICES_MAP,
  REJECT_CHAIN,
  SERVICE_IPS_MAP,
  SERVICE_NODEPORTS_MAP,
  ruleContext,
} from './layout.js';
import { ServiceCache, buildService } from './service.js';

const nftFamily = (f: IPFamily): 'ip' | 'ip6' => (f === 'IPv6' ? 'ip6' : 'ip');

export const describeNftables: Describer = (path, input) => {
  const { sp } = path;
  const fam = nftFamily(input.state.family);
  // A fresh allocator: endpoint-map page numbers may differ from the running table's.
  const rec = buildService(sp, ruleContext(input.state, input.config, new ServiceCache()), undefined, new BlockAllocator());
  const names = serviceChainNames(sp);
  const proto = rec.proto;
  const objects: KernelObject[] = [{ kind: 'table', name: `${fam} ${DEFAULT_TABLE}` }];
  const chains: string[] = [];
  const element = (maps: readonly string[], key: string): string | null => {
    const e = rec.elements.find((x) => maps.includes(x.map) && x.key === key);
    if (!e) return null;
    objects.push({ kind: 'element', name: `@${e.map}`, detail: `${e.key} : ${e.value ?? ''}` });
    return e.value;
  };
  const addChain = (name: string): void => {
    if (chains.includes(name)) return;
    chains.push(name);
    const rules = rec.chains.get(name) ?? rec.shared.find((c) => c.name === name)?.rules;
    objects.push({ kind: 'chain', name, ...(rules ? { detail: rules.join(' ; ') } : {}) });
  };
  const key = path.via === 'NodePort' ? `${proto} . ${sp.nodePort}` : `${path.dst} . ${proto} . ${sp.port}`;

  if (path.cause === 'source-ranges') {
    addChain('firewall-check');
    element([FIREWALL_IPS_MAP], key);
    addChain(names.firewall);
    return { mode: 'nftables', objects, chains };
  }
  if (path.outcome !== 'forward') {
    addChain(path.via === 'NodePort' ? 'nodeport-endpoints-check' : 'service-endpoints-check');
    const v = element(path.via === 'NodePort' ? [NO_ENDPOINT_NODEPORTS_MAP] : [NO_ENDPOINT_SERVICES_MAP], key);
    if (v?.includes(REJECT_CHAIN)) addChain(REJECT_CHAIN);
    return { mode: 'nftables', objects, chains };
  }
  addChain('services');
  const target = element(path.via === 'NodePort' ? [SERVICE_NODEPORTS_MAP] : [SERVICE_IPS_MAP], key);
  const first = target?.replace(/^(goto|jump) /, '');
  if (first) addChain(first);
  if (first === names.external) {
    if (path.policy === 'local') addChain(names.local);
    else if (rec.chains.has(names.service)) addChain(names.service);
  }
  const endpointChains: string[] = [];
  if (sp.affinityTimeoutSeconds > 0) {
    for (const ep of path.endpoints) {
      const name = endpointChainName(sp, ep);
      endpointChains.push(name);
      objects.push({ kind: 'chain', name, detail: (rec.chains.get(name) ?? []).join(' ; ') });
    }
  }
  const ownEntry = (prefix: string): boolean => (path.via === 'NodePort' ? prefix === String(sp.nodePort) : prefix === `${path.dst} . ${sp.port}`);
  for (const en of rec.entries.filter((x) => ownEntry(x.prefix))) objects.push({ kind: 'map', name: `@${en.map}`, detail: `${en.prefix} . 0..${en.slots.length - 1} -> endpoints` });
  for (const m of rec.endpointMaps) objects.push({ kind: 'map', name: `@${m.replace(/-\d+$/, '-*')}`, detail: 'this port\'s block of endpoint slots' });
  return { mode: 'nftables', objects, chains, ...(endpointChains.length ? { endpointChains } : {}) };
};

export const listNftablesRules: RulesLister = async (family) => {
  const table = `${nftFamily(family)} ${DEFAULT_TABLE}`;
  const r = await realRunner('nft', ['list', 'table', ...table.split(' ')], { allowFailure: true, timeoutMs: LIST_TIMEOUT_MS });
  return [{ title: `nft list table ${table}`, text: r.code === 0 ? r.stdout : `(no such table: ${r.stderr.trim()})\n` }];
};
