// The masquerade mark: one bit of the packet mark (masqueradeBit, 0..31) that flags a packet for
// SNAT in postrouting. All three modes set, test and clear the same value; only its spelling in
// rule text differs per writer. The kernel stores the number, so the spellings are equivalent;
// each is kept byte-for-byte so rendered rulesets (golden files, --print-rules) do not change.

/** How a writer spells the mark in its rule text. */
export type MarkSpelling =
  /** nft: shortest hex, "0x4000". */
  | 'nft'
  /** iptables mode: Go's `%#08x` as upstream NewProxier (the width counts digits only), "0x00004000". */
  | 'iptables'
  /** IPVS mode's iptables rules: six digits, "0x004000" (as this project has always written them). */
  | 'ipvs';

const DIGITS: Readonly<Record<MarkSpelling, number>> = { nft: 0, iptables: 8, ipvs: 6 };

/** The mark value, 1 << bit (as an unsigned 32-bit number: bit 31 stays positive). */
export function masqueradeMarkValue(bit: number): number {
  return 2 ** bit;
}

/** The mark as `spelling` writes it, e.g. masqueradeMark(14, 'iptables') = "0x00004000". */
export function masqueradeMark(bit: number, spelling: MarkSpelling): string {
  return '0x' + masqueradeMarkValue(bit).toString(16).padStart(DIGITS[spelling], '0');
}
