// Loopback addresses in rule text. Which addresses are loopback is model/ip.ts isLoopbackIP
// (shared with node address discovery); here is how each writer spells the loopback network.

import type { IPFamily } from '../../model/types.js';

/** The family's loopback network as iptables rules write it ("-s 127.0.0.0/8", "! -d ::1/128"). */
export function iptablesLoopback(family: IPFamily): string {
  return family === 'IPv6' ? '::1/128' : '127.0.0.0/8';
}

/** The family's loopback network as nft rules write it ("ip6 daddr != ::1"). */
export function nftLoopback(family: IPFamily): string {
  return family === 'IPv6' ? '::1' : '127.0.0.0/8';
}
