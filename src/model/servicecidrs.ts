// ServiceCIDR objects (networking.k8s.io/v1) -> the CIDRs the nftables dataplane drops traffic to when
// no Service holds the address (upstream pkg/proxy/config ServiceCIDRConfig + OnServiceCIDRsChanged).
// Upstream keeps one set of CIDR strings and removes an old object's CIDRs on update/delete, so two
// objects naming the same CIDR lose it when one goes; we keep the CIDRs per object and publish the union.

import type { EventType } from '../sources/types.js';
import { parseCIDRSloppy } from './ip.js';

function nameOf(obj: unknown): string {
  const md = (obj as { metadata?: { name?: unknown } } | null)?.metadata;
  return typeof md?.name === 'string' ? md.name : '';
}

/** spec.cidrs of a raw ServiceCIDR: only well-formed CIDR strings (the API server validates them). */
export function serviceCIDRsOf(obj: unknown): string[] {
  const cidrs = (obj as { spec?: { cidrs?: unknown } } | null)?.spec?.cidrs;
  if (!Array.isArray(cidrs)) return [];
  return cidrs.filter((c): c is string => typeof c === 'string' && parseCIDRSloppy(c.trim()) !== null);
}

export class ServiceCIDRTracker {
  private readonly byName = new Map<string, readonly string[]>();
  private current: readonly string[] = [];

  /** Apply one event; true when the published union changed. */
  onEvent(type: EventType, obj: unknown): boolean {
    const name = nameOf(obj);
    if (!name) return false;
    if (type === 'DELETED') this.byName.delete(name);
    else this.byName.set(name, serviceCIDRsOf(obj));
    const next = [...new Set([...this.byName.values()].flat())].sort();
    if (next.length === this.current.length && next.every((c, i) => c === this.current[i])) return false;
    this.current = next;
    return true;
  }

  /** Every known ServiceCIDR range, both families, sorted (the model keeps the family it builds). */
  cidrs(): readonly string[] {
    return this.current;
  }
}
