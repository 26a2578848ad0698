// Human-readable rendering of a plan (for --print-rules and golden tests): ipvsadm -S style
// virtual/real servers, kube-ipvs0 addresses, ipset restore text, iptables-restore text.

import type { IpvsPlan } from '../../kernel/ipvs/types.js';
import { rsLine, vsLine } from '../../kernel/ipvs/ipvsadm.js';
import { SET_INFO, setName } from './layout.js';

/** `ipset create` lines for every set of the family (upstream options; -exist makes them idempotent). */
export function setCreateLines(family: 'IPv4' | 'IPv6'): string[] {
  const fam = family === 'IPv6' ? 'inet6' : 'inet';
  return SET_INFO.map((s) => {
    const name = setName(s.id, family);
    if (s.type === 'bitmap:port') return `create ${name} bitmap:port range 0-65535 comment`;
    return `create ${name} ${s.type} family ${fam} hashsize 1024 maxelem 65536 comment`;
  });
}

export function renderIpvsText(plan: IpvsPlan): string {
  const vsLines: string[] = [];
  for (const key of [...plan.virtualServers.keys()].sort()) {
    const vs = plan.virtualServers.get(key)!;
    vsLines.push(vsLine('-A', vs));
    for (const rk of [...vs.reals.keys()].sort()) vsLines.push(rsLine('-a', vs, vs.reals.get(rk)!));
  }
  const setLines = setCreateLines(plan.family);
  for (const [name, entries] of plan.sets) for (const e of [...entries].sort()) setLines.push(`add ${name} ${e}`);
  return [
    '# ipvsadm -R',
    ...vsLines,
    '# kube-ipvs0',
    ...[...plan.addresses].sort().map((a) => `${a}/${plan.family === 'IPv6' ? 128 : 32}`),
    '# ipset restore',
    ...setLines,
    '# iptables-restore --noflush',
    plan.iptables.trimEnd(),
    '',
  ].join('\n');
}
