// explain's view of the IPVS layout: the virtual server and the ipset entries of one packet path,
// taken from the planner's own output for the one service port; and our part of ipvsadm / ipset /
// iptables-save for /debug/rules.

import type { IPFamily, ProxyState } from '../../model/types.js';
import { realRunner as run } from '../../kernel/runner.js';
import { LIST_TIMEOUT_MS, type Describer, type KernelObject, type RulesLister } from '../describe.js';
import { filterOurs } from '../iptables/describe.js';
import { vsKey } from '../../kernel/ipvs/types.js';
import { DUMMY_DEVICE } from './layout.js';
import { planIpvs } from './planner.js';

export const describeIpvs: Describer = (path, input) => {
  const { sp } = path;
  const one: ProxyState = { ...input.state, services: new Map([[sp.key, sp]]) };
  const plan = planIpvs(one, input.config, input.localIPs);
  const key = vsKey(sp.protocol, path.dst, path.port);
  const vs = plan.virtualServers.get(key);
  const objects: KernelObject[] = [];
  if (vs) {
    objects.push({ kind: 'virtual server', name: key, detail: `scheduler ${vs.scheduler}${vs.persistence ? `, persistent ${vs.persistence}s` : ''}` });
    for (const r of vs.reals.values()) objects.push({ kind: 'real server', name: `${key} -> ${r.ip.includes(':') ? `[${r.ip}]` : r.ip}:${r.port}`, detail: `weight ${r.weight}` });
  }
  if (plan.addresses.has(path.dst)) objects.push({ kind: 'rule', name: `address ${path.dst} on ${DUMMY_DEVICE}` });
  const port = path.via === 'NodePort' ? sp.nodePort : sp.port;
  for (const [set, entries] of plan.sets) {
    for (const e of entries) {
      // Entries naming this destination (ip,proto:port...) or, for NodePort bitmaps, the port.
      if (e.startsWith(`${path.dst},`) || e === String(port) || (e.includes(`:${port},`) && e.startsWith(path.dst))) {
        objects.push({ kind: 'ipset entry', name: set, detail: e });
      }
    }
  }
  return { mode: 'ipvs', objects, chains: [], ...(vs ? { virtualServer: key } : {}) };
};

export const listIpvsRules: RulesLister = async (family: IPFamily) => {
  const v6 = family === 'IPv6';
  const [vs, sets, save] = await Promise.all([
    run('ipvsadm', ['-S', '-n'], { allowFailure: true, timeoutMs: LIST_TIMEOUT_MS }),
    run('ipset', ['save'], { allowFailure: true, timeoutMs: LIST_TIMEOUT_MS }),
    run(v6 ? 'ip6tables-save' : 'iptables-save', [], { allowFailure: true, timeoutMs: LIST_TIMEOUT_MS }),
  ]);
  // ipvsadm lists both families: IPv6 virtual servers carry bracketed addresses.
  const vsLines = vs.stdout.split('\n').filter((l) => l !== '' && /\[/.test(l) === v6);
  const ours = (name: string): boolean => (v6 ? name.startsWith('KUBE-6-') : name.startsWith('KUBE-') && !name.startsWith('KUBE-6-'));
  const setLines = sets.stdout.split('\n').filter((l) => {
    const name = l.split(' ')[1] ?? '';
    return ours(name);
  });
  return [
    { title: 'ipvsadm -S -n', text: vs.code === 0 ? vsLines.join('\n') + (vsLines.length ? '\n' : '') : `(ipvsadm failed: ${vs.stderr.trim()})\n` },
    { title: 'ipset save (KUBE-* sets of this family)', text: setLines.join('\n') + (setLines.length ? '\n' : '') },
    { title: `${v6 ? 'ip6tables' : 'iptables'}-save (KUBE-* chains only)`, text: save.code === 0 ? filterOurs(save.stdout) : `(failed: ${save.stderr.trim()})\n` },
  ];
};
