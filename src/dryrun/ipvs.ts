// IPVS state -> canonical groups: virtual servers with their real servers (`ipvsadm -Sn`, whose
// format is also what ipvsadm -R reads, so the rendered plan parses the same way), ipset
// entries (`ipset save` / `ipset restore` lines) and kube-ipvs0's addresses.

import { parseIpsetSave } from '../kernel/ipset/parse.js';
import { parseIpvsadmSave } from '../kernel/ipvs/parse.js';
import { SET_INFO, setName } from '../dataplane/ipvs/layout.js';
import { cidrContains } from '../model/ip.js';
import type { IPFamily } from '../model/types.js';
import type { Canonical, Group } from './canonical.js';

export interface IpvsText {
  /** `ipvsadm -Sn` output or `ipvsadm -R` input. */
  readonly ipvsadm: string;
  /** `ipset save` output or `ipset restore` input. */
  readonly ipset: string;
  /** kube-ipvs0's addresses of the family. */
  readonly addresses: readonly string[];
}

export function ipvsCanonical(t: IpvsText, family: IPFamily, excludeCIDRs: readonly string[] = []): Canonical {
  const out = new Map<string, Group>();
  for (const vs of parseIpvsadmSave(t.ipvsadm, family).values()) {
    // Virtual servers in --ipvs-exclude-cidrs are not ours: a sync never touches them.
    if (excludeCIDRs.some((c) => cidrContains(c, vs.ip))) continue;
    const addr = vs.ip.includes(':') ? `[${vs.ip}]:${vs.port}` : `${vs.ip}:${vs.port}`;
    const header = [`scheduler ${vs.scheduler}`, ...(vs.flags.length ? [`flags ${vs.flags.join(',')}`] : []), ...(vs.persistence ? [`persistent ${vs.persistence}`] : [])].join('; ');
    const reals = [...vs.reals.values()].map((r) => `${r.ip.includes(':') ? `[${r.ip}]` : r.ip}:${r.port} weight ${r.weight}`);
    out.set(`virtual-server ${vs.protocol} ${addr}`, { header, items: reals, ordered: false });
  }
  const names = new Set(SET_INFO.map((s) => setName(s.id, family)));
  for (const [name, entries] of parseIpsetSave(t.ipset, names)) out.set(`ipset ${name}`, { header: '', items: [...entries], ordered: false });
  out.set('addresses kube-ipvs0', { header: '', items: [...t.addresses], ordered: false });
  return out;
}

/** Sections of the IPVS mode's rendered text (src/dataplane/ipvs/render.ts), by their `# ` title. */
export function splitIpvsRender(text: string): { ipvsadm: string; addresses: string[]; ipset: string; iptables: string } {
  const sections = new Map<string, string[]>();
  let cur: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('# ')) sections.set(line.slice(2), (cur = []));
    else cur.push(line);
  }
  const get = (title: string): string[] => sections.get(title) ?? [];
  return {
    ipvsadm: get('ipvsadm -R').join('\n'),
    addresses: get('kube-ipvs0').filter((l) => l !== '').map((l) => l.replace(/\/\d+$/, '')),
    ipset: get('ipset restore').join('\n'),
    iptables: get('iptables-restore --noflush').join('\n') + '\n',
  };
}
