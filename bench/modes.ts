// The dataplane variants the benchmark measures side by side.

export const MODES = ['nftables', 'iptables-nft', 'iptables-legacy', 'upstream-iptables-nft', 'upstream-nft'] as const;
export type Mode = (typeof MODES)[number];

export const MODE_LABEL: Record<Mode, string> = {
  nftables: 'nftables (ours)',
  'iptables-nft': 'iptables-nft (ours: upstream layout, restores batched)',
  'iptables-legacy': 'iptables-legacy (ours = upstream iptables)',
  'upstream-iptables-nft': 'upstream iptables-nft (one --noflush restore)',
  'upstream-nft': 'upstream nftables layout (baseline generator)',
};

/** Short labels for tables and charts. */
export const MODE_SHORT: Record<Mode, string> = {
  nftables: 'nftables (ours)',
  'iptables-nft': 'iptables-nft (ours)',
  'iptables-legacy': 'iptables-legacy',
  'upstream-iptables-nft': 'upstream iptables-nft',
  'upstream-nft': 'upstream nftables',
};
