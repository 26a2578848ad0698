// The masquerade mark: one bit of the packet mark (masqueradeBit, 0..31) that flags a packet for
// SNAT in postrouting. All three modes set, test and clear the same value; only its spelling in
// rule text differs per syntax: nft's shortest hex, and upstream's `%#08x` in both modes that
// write iptables rules (pkg/proxy/iptables and pkg/proxy/ipvs proxier.go format it the same way).
// The kernel stores the number (iptables-save prints "0x4000" either way), so the spellings only
// show in rendered rulesets (--print-rules, --dry-run, golden files).

/** How a writer spells the mark in its rule text. */
export type MarkSpelling =
  /** nft: shortest hex, "0x4000". */
  | 'nft'
  /** iptables and IPVS modes: Go's `%#08x` as upstream NewProxier (the width counts digits only), "0x00004000". */
  | 'iptables';

const DIGITS: Readonly<Record<MarkSpelling, number>> = { nft: 0, iptables: 8 };

/** The mark value, 1 << bit (as an unsigned 32-bit number: bit 31 stays positive). */
export function masqueradeMarkValue(bit: number): number {
  return 2 ** bit;
}

/** The mark as `spelling` writes it, e.g. masqueradeMark(14, 'iptables') = "0x00004000". */
export function masqueradeMark(bit: number, spelling: MarkSpelling): string {
  return '0x' + masqueradeMarkValue(bit).toString(16).padStart(DIGITS[spelling], '0');
}
