// `nft list table` (text, stateless) -> canonical groups, for --dry-run's comparison of the kernel
// with the next sync, and as one string (normalizeTable) for tests comparing two tables.
//
// The canonical form of the listing, so a table built by a sequence of incremental
// transactions can be compared with a fresh full load of the same state: endpoint blocks are
// placed by an allocator (keys differ by history), so each `numgen ... offset B map @endpoints`
// is replaced by the sorted endpoints it can pick; chains, sets and elements are sorted.
// Shared endpoint maps (`cluster-endpoints-*`, `nodeport-endpoints-*`: `<address . port | nodePort>
// . i : endpoint`) keep surviving endpoints at their index, so their elements become
// `<prefix> : <pick sorted endpoints>`; shared DNAT chains (`dnat-*`, `ext-dnat-*`, `np-dnat-*`)
// stay in the kernel after the last port with that endpoint count went, so unreferenced ones are
// dropped. It knows nftables mode's object names (src/dataplane/nftables/layout.ts), so it is not part of
// the kernel layer's nft model; the fake's own canonical dump is src/kernel/nftables/fake.ts.

import type { Canonical, Group } from './canonical.js';

export interface Block {
  readonly header: string;
  readonly decl: string[];
  readonly elements: string[];
}

function parseBlocks(listing: string): { head: string[]; blocks: Block[] } {
  const head: string[] = [];
  const blocks: Block[] = [];
  let cur: { header: string; body: string[] } | null = null;
  const finish = (c: { header: string; body: string[] }): void => {
    const i = c.body.findIndex((l) => l.startsWith('elements ='));
    const decl = (i < 0 ? c.body : c.body.slice(0, i)).filter((l) => l !== '');
    const elText = i < 0 ? '' : c.body.slice(i).join(' ').replace(/^elements = \{/, '').replace(/\}\s*$/, '');
    const elements = elText
      .split(',')
      .map((e) => e.trim())
      .filter((e) => e !== '');
    blocks.push({ header: c.header, decl, elements });
  };
  for (const line of listing.split('\n')) {
    if (/^\t(chain|set|map) .* \{$/.test(line)) cur = { header: line.trim(), body: [] };
    else if (line === '\t}') {
      if (cur) finish(cur);
      cur = null;
    } else if (cur) cur.body.push(line.trim());
    else if (line.trim() !== '' && line.trim() !== '}') head.push(line.trim());
  }
  return { head, blocks };
}

/**
 * The listing's blocks in canonical form (unsorted): endpoint blocks folded into the picks that
 * use them, shared maps' elements as picks, unused shared chains and maps dropped, counters zeroed.
 */
export function canonicalBlocks(listing: string, opts: { keepUnusedShared?: boolean } = {}): { head: string[]; blocks: (Block & { unusedShared: boolean })[] } {
  const { head, blocks } = parseBlocks(listing);
  const endpoints = new Map<string, string>();
  const epBlocks = blocks.filter((b) => /^map endpoints-[a-z]+-[x0-9]+ \{$/.test(b.header));
  for (const b of epBlocks) {
    const map = b.header.split(' ')[1]!;
    for (const e of b.elements) {
      const i = e.indexOf(' : ');
      endpoints.set(`${map}/${Number(e.slice(0, i))}`, e.slice(i + 3));
    }
  }
  const shared = /^(?:cluster|nodeport)-endpoints-[a-z]+$/;
  for (const b of blocks) {
    if (!shared.test(b.header.split(' ')[1] ?? '') || !b.header.startsWith('map ')) continue;
    const byPrefix = new Map<string, string[]>();
    for (const e of b.elements) {
      const m = /^(.*) \. (\d+) : (.*)$/.exec(e);
      if (!m) continue;
      let l = byPrefix.get(m[1]!);
      if (!l) byPrefix.set(m[1]!, (l = []));
      l[Number(m[2])] = m[3]!;
    }
    b.elements.length = 0;
    for (const [prefix, l] of byPrefix) b.elements.push(`${prefix} : <pick ${Array.from(l, (x) => x ?? 'HOLE').sort().join(' | ')}>`);
  }
  const referenced = new Set<string>();
  for (const b of blocks) for (const e of b.elements) for (const m of e.matchAll(/goto ((?:ext-|np-)?dnat-[a-z]+-\d+)/g)) referenced.add(m[1]!);
  const isUnusedShared = (b: Block): boolean => {
    const m = /^chain ((?:ext-|np-)?dnat-[a-z]+-\d+) \{$/.exec(b.header);
    if (m !== null) return !referenced.has(m[1]!);
    // A shared endpoint map also stays declared after its last element went.
    return b.elements.length === 0 && /^map (?:cluster|nodeport)-endpoints-[a-z]+ \{$/.test(b.header);
  };
  const out = blocks
    .filter((b) => !epBlocks.includes(b) && (opts.keepUnusedShared === true || !isUnusedShared(b)))
    .map((b) => ({
      unusedShared: isUnusedShared(b),
      header: b.header,
      decl: b.decl.map((l) =>
        l
          .replace(/numgen random mod (\d+)(?: offset (\d+))? map @(endpoints-[a-z]+-[x0-9]+)/, (_m, n: string, off: string | undefined, map: string) => {
            const base = Number(off ?? 0);
            const picks: string[] = [];
            for (let i = 0; i < Number(n); i++) picks.push(endpoints.get(`${map}/${base + i}`) ?? `MISSING(${map}/${base + i})`);
            return `<pick ${picks.sort().join(' | ')}>`;
          })
          .replace(/counter packets \d+ bytes \d+/, 'counter'),
      ),
      elements: b.elements,
    }));
  return { head, blocks: out };
}

/** One string per table: equal for two tables that program the same behaviour. */
export function normalizeTable(listing: string): string {
  const { head, blocks } = canonicalBlocks(listing);
  const out = blocks.map((b) =>
    [b.header, ...b.decl, ...(b.elements.length ? [`elements: ${[...b.elements].sort().join(' ; ')}`] : [])].join('\n  '),
  );
  return [...head, ...out.sort()].join('\n');
}

/** A chain's own line: `type filter hook input priority filter; policy accept;`. */
const CHAIN_PROPS = /^type \S+ hook /;

export function nftCanonical(listing: string): Canonical {
  const out = new Map<string, Group>();
  if (listing.trim() === '') return out;
  // Unused shared chains/maps are kept, so deleting the last reference to one shows as exactly that.
  const { head, blocks } = canonicalBlocks(listing, { keepUnusedShared: true });
  // "table ip kube-proxy {" and its comment.
  out.set('table', { header: head.filter((l) => !l.startsWith('table ')).join('; '), items: [], ordered: false });
  for (const b of blocks) {
    const key = b.header.replace(/ \{$/, '');
    if (key.startsWith('chain ')) {
      out.set(key, {
        header: b.decl.filter((l) => CHAIN_PROPS.test(l)).join('; '),
        items: b.decl.filter((l) => !CHAIN_PROPS.test(l)),
        ordered: true,
        optional: b.unusedShared,
      });
    } else {
      out.set(key, { header: b.decl.join('; '), items: b.elements, ordered: false, optional: b.unusedShared });
    }
  }
  return out;
}
