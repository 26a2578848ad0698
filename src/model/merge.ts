// Merge all EndpointSlices of one Service (one family) into per-port endpoint lists
// (upstream endpointInfoByServicePort + addEndpoints + endpointsMapFromEndpointInfo).

import { joinHostPort } from './ip.js';
import type { ParsedSlice } from './endpointslice.js';
import type { Endpoint, Protocol } from './types.js';

/** Port identity used to match slice ports to service ports: name and protocol (not number). */
export function portId(name: string, protocol: Protocol): string {
  return `${name}/${protocol}`;
}

/**
 * Endpoints per portId, each list sorted by "ip:port". Slices are visited in name order
 * (upstream visits a Go map, i.e. randomly; we want determinism). For the same ip:port the
 * first copy wins unless a later copy is not terminating (a reused pod IP beats the
 * terminating pod that had it).
 */
export function mergeSlices(slices: Iterable<ParsedSlice>, nodeName: string): Map<string, Endpoint[]> {
  const byPort = new Map<string, Map<string, Endpoint>>();
  const ordered = [...slices].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const slice of ordered) {
    for (const p of slice.ports) {
      if (p.name === null || p.port === null) continue;
      const id = portId(p.name, p.protocol);
      let set = byPort.get(id);
      if (!set) byPort.set(id, (set = new Map()));
      for (const e of slice.endpoints) {
        const key = joinHostPort(e.ip, p.port);
        if (set.has(key) && e.terminating) continue;
        set.set(key, {
          ip: e.ip,
          port: p.port,
          ready: e.ready,
          serving: e.serving,
          terminating: e.terminating,
          // An empty node name is never local, even if this node's name were empty.
          isLocal: nodeName !== '' && e.nodeName === nodeName,
          nodeName: e.nodeName,
          zone: e.zone,
          zoneHints: e.zoneHints,
          nodeHints: e.nodeHints,
        });
      }
    }
  }
  const out = new Map<string, Endpoint[]>();
  for (const [id, set] of byPort) {
    if (set.size === 0) continue;
    const keys = [...set.keys()].sort();
    out.set(
      id,
      keys.map((k) => set.get(k)!),
    );
  }
  return out;
}
