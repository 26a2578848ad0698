// Human-readable rendering of a plan (for --print-rules and golden tests): ipvsadm -S style
// virtual/real servers, kube-ipvs0 addresses, ipset restore text, iptables-restore text.

import type { IpvsPlan } from '../../kernel/ipvs/types.js';
import { rsLine, vsLine } from '../../kernel/ipvs/ipvsadm.js';
import { type IpsetOp, ipsetLine } from '../../kernel/ipset/ipset.js';
import { setSpecs } from './layout.js';

export function renderIpvsText(plan: IpvsPlan): string {
  const vsLines: string[] = [];
  for (const key of [...plan.virtualServers.keys()].sort()) {
    const vs = plan.virtualServers.get(key)!;
    vsLines.push(vsLine('-A', vs));
    for (const rk of [...vs.reals.keys()].sort()) vsLines.push(rsLine('-a', vs, vs.reals.get(rk)!));
  }
  const setOps: IpsetOp[] = setSpecs(plan.family).map((set) => ({ op: 'create', set }));
  for (const [name, entries] of plan.sets) for (const e of [...entries].sort()) setOps.push({ op: 'add', set: name, entry: e });
  return [
    '# ipvsadm -R',
    ...vsLines,
    '# kube-ipvs0',
    ...[...plan.addresses].sort().map((a) => `${a}/${plan.family === 'IPv6' ? 128 : 32}`),
    '# ipset restore',
    ...setOps.map(ipsetLine),
    '# iptables-restore --noflush',
    plan.iptables.trimEnd(),
    '',
  ].join('\n');
}
