// Environment for the kernel tools we start.
//
// Why: a full nftables sync at 10k services makes `nft` allocate several hundred MB in small
// pieces; with transparent huge pages in `madvise` mode (the Debian default) every 4 KiB page is a
// fault. glibc's `glibc.malloc.hugetlb=1` tunable (glibc >= 2.35; ignored by older ones) makes
// malloc madvise its heap for huge pages: measured here, the nft process of a 10k x 10 full sync
// spent a third less CPU (docs/nftables.md). Only nft gets it: iptables-restore and ipset were
// not measurably faster. An operator's own GLIBC_TUNABLES are kept and win on conflict.

const TUNABLES: Readonly<Record<string, string>> = {
  nft: 'glibc.malloc.hugetlb=1',
};

/** The environment a tool runs with: `base` plus the tool's glibc tunables, if any. */
export function toolEnv(command: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const ours = TUNABLES[command];
  if (!ours) return base;
  const theirs = base.GLIBC_TUNABLES;
  // glibc reads the colon-separated list left to right; later entries win, so the operator's go last.
  return { ...base, GLIBC_TUNABLES: theirs ? `${ours}:${theirs}` : ours };
}
