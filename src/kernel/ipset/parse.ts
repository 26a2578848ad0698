// Parsing ipset's output: `ipset save`, and the normal form of an entry, so that a planned entry
// and the one ipset prints compare equal. Pure, so it is tested on the host.

/** IP protocol numbers of the protocol names set entries carry (ipsetRestore writes the numbers). */
export const PROTOCOL_NUMBERS: Readonly<Record<string, string>> = { tcp: '6', udp: '17', sctp: '132' };
const PROTOCOL_NAMES: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(PROTOCOL_NUMBERS).map(([name, n]) => [n, name]));

/** Normalise an ipset entry so a planned entry and a saved one compare equal. */
export function normaliseSetEntry(entry: string): string {
  // A protocol given as a number (what ipsetRestore writes) reads back as its name.
  const e = entry.replace(/,(6|17|132):/, (_m, n: string) => `,${PROTOCOL_NAMES[n]!}:`);
  // ipset prints a host "net" (the last part of hash:ip,port,net) without its /32 or /128.
  const i = e.lastIndexOf(',');
  const last = e.slice(i + 1);
  const v6 = last.includes(':') && !/^(tcp|udp|sctp):/.test(last);
  if ((!v6 && last.endsWith('/32')) || (v6 && last.endsWith('/128'))) return e.slice(0, e.lastIndexOf('/'));
  return e;
}

/** `ipset save` -> set name -> entries, for the names in `wanted` only. */
export function parseIpsetSave(text: string, wanted: ReadonlySet<string>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const t = line.trim().split(/\s+/);
    if (t.length < 2 || !wanted.has(t[1]!)) continue;
    if (t[0] === 'create') {
      if (!out.has(t[1]!)) out.set(t[1]!, new Set());
    } else if (t[0] === 'add' && t[2]) {
      let s = out.get(t[1]!);
      if (!s) out.set(t[1]!, (s = new Set()));
      s.add(normaliseSetEntry(t[2].toLowerCase()));
    }
  }
  return out;
}
