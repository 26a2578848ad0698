// The v1alpha1 -> internal conversion rules (pkg/proxy/apis/config/v1alpha1/conversion.go): which
// section's sync periods, masquerade settings and bit the chosen mode actually uses.

import type { KubeProxyConfiguration } from './types.js';
import { parseDuration } from '../util/duration.js';

export interface EffectiveSettings {
  syncPeriodNs: bigint;
  minSyncPeriodNs: bigint;
  masqueradeAll: boolean;
  masqueradeBit: number | null;
  /** clusterCIDR split on ',' (parts trimmed); [] when unset. */
  clusterCIDRs: string[];
}

/** Durations in a loaded/defaulted config are valid Go durations; a bad one reads as 0 here. */
export function durationNs(d: string | null | undefined): bigint {
  if (d === null || d === undefined) return 0n;
  try {
    return parseDuration(d);
  } catch {
    return 0n;
  }
}

export function effectiveSettings(c: KubeProxyConfiguration): EffectiveSettings {
  // mode ipvs reads ipvs.*; nftables reads nftables.*; anything else (incl. "") reads iptables.*.
  const sync = c.mode === 'ipvs' ? c.ipvs : c.mode === 'nftables' ? c.nftables : c.iptables;
  const masq = c.mode === 'nftables' ? c.nftables : c.iptables;
  // ipvs mode takes its masquerade bit from iptables.masqueradeBit.
  const bit = c.mode === 'nftables' ? c.nftables.masqueradeBit : c.iptables.masqueradeBit;
  return {
    syncPeriodNs: durationNs(sync.syncPeriod),
    minSyncPeriodNs: durationNs(sync.minSyncPeriod),
    masqueradeAll: masq.masqueradeAll,
    masqueradeBit: bit,
    clusterCIDRs: c.clusterCIDR === '' ? [] : c.clusterCIDR.split(',').map((s) => s.trim()),
  };
}
