// The local-traffic detector (--detect-local-mode): which packets come from this node's pods.
// Resolved once from the configuration into a syntax-free match, then rendered for the writer
// that needs it: iptables arguments (iptables mode, IPVS mode) or an nft expression (nftables).

import type { IPFamily } from '../../model/types.js';
import type { LocalDetector } from '../config.js';
import { nftString } from './nft-string.js';

/** What marks pod traffic: a source CIDR, or an input interface (exact, or a name prefix). */
export type LocalTrafficMatch =
  | { readonly by: 'source'; readonly cidr: string }
  | { readonly by: 'interface'; readonly name: string; readonly prefix: boolean };

/** The match for `d`, or null when no detector is configured (mode none). */
export function localTrafficMatch(d: LocalDetector): LocalTrafficMatch | null {
  switch (d.mode) {
    case 'cidr':
      return { by: 'source', cidr: d.cidr };
    case 'bridge':
      return { by: 'interface', name: d.iface, prefix: false };
    case 'prefix':
      return { by: 'interface', name: d.prefix, prefix: true };
    case 'none':
      return null;
  }
}

/** iptables arguments matching local (or, with `negate`, non-local) traffic; [] without a detector. */
export function iptablesLocalArgs(m: LocalTrafficMatch | null, negate: boolean): string[] {
  if (m === null) return [];
  const not = negate ? ['!'] : [];
  if (m.by === 'source') return [...not, '-s', m.cidr];
  return [...not, '-i', m.prefix ? `${m.name}+` : m.name];
}

/** nft expressions matching local and non-local traffic; both null without a detector. */
export function nftLocalExprs(m: LocalTrafficMatch | null, family: IPFamily): { ifLocal: string | null; ifNotLocal: string | null } {
  if (m === null) return { ifLocal: null, ifNotLocal: null };
  if (m.by === 'source') {
    const ipX = family === 'IPv6' ? 'ip6' : 'ip';
    return { ifLocal: `${ipX} saddr ${m.cidr}`, ifNotLocal: `${ipX} saddr != ${m.cidr}` };
  }
  const name = nftString(m.prefix ? `${m.name}*` : m.name);
  return { ifLocal: `iifname ${name}`, ifNotLocal: `iifname != ${name}` };
}
