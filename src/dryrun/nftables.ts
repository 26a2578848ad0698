// `nft list table` (text, stateless) -> canonical groups. The listing is canonicalised by
// src/dataplane/nftables/canonical.ts first, so endpoint-block placement (which depends on the
// history of incremental syncs) does not show as a difference.

import { canonicalBlocks } from '../dataplane/nftables/canonical.js';
import type { Canonical, Group } from './canonical.js';

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
