// Merge all EndpointSlices of one Service (one family) into per-port endpoint lists
// (upstream endpointInfoByServicePort + addEndpoints + endpointsMapFromEndpointInfo).

import { joinHostPort } from './ip.js';
import type { ParsedSlice, SliceEndpoint } from './endpointslice.js';
import type { Endpoint, Protocol } from './types.js';

/** Port identity used to match slice ports to service ports: name and protocol (not number). */
export function portId(name: string, protocol: Protocol): string {
  return `${name}/${protocol}`;
}

/** One slice's endpoints for one port number: deduplicated, sorted by "ip:port". */
type PortEndpoints = readonly Endpoint[];

interface Memo {
  readonly nodeName: string;
  /** [port, endpoints] pairs: a slice has one or a few ports, a Map per slice would cost more. */
  readonly byPort: [number, PortEndpoints][];
}

/**
 * Endpoint objects are made once per (slice version, port number) and reused by every
 * build: a slice that did not change yields the very same array, so unchanged services
 * compare equal by identity and big clusters do not churn the garbage collector.
 */
const memo = new WeakMap<ParsedSlice, Memo>();

function toEndpoint(e: SliceEndpoint, port: number, nodeName: string): Endpoint {
  // An empty node name is never local, even if this node's name were empty.
  const isLocal = nodeName !== '' && e.nodeName === nodeName;
  // The parse already made it for the slice's first port and this node: reuse it.
  if (e.port === port && e.isLocal === isLocal) return e;
  return Object.freeze({
    ip: e.ip,
    port,
    ready: e.ready,
    serving: e.serving,
    terminating: e.terminating,
    isLocal,
    nodeName: e.nodeName,
    zone: e.zone,
    zoneHints: e.zoneHints,
    nodeHints: e.nodeHints,
  });
}

function sliceEndpoints(slice: ParsedSlice, port: number, nodeName: string): PortEndpoints {
  let m = memo.get(slice);
  if (!m || m.nodeName !== nodeName) memo.set(slice, (m = { nodeName, byPort: [] }));
  for (const [p, pe] of m.byPort) if (p === port) return pe;
  const pe = dedupeSorted(slice.endpoints.map((e) => toEndpoint(e, port, nodeName)));
  m.byPort.push([port, pe]);
  return pe;
}

/**
 * Sort by "ip:port" and apply upstream's duplicate rule (addEndpoints, visiting `eps` in
 * order): the first copy wins unless a later copy is not terminating — i.e. the last
 * non-terminating copy, else the first. Done by sorting indices rather than through a Map:
 * this runs for every slice on the initial list of a large cluster.
 */
export function dedupeSorted(eps: readonly Endpoint[]): PortEndpoints {
  const n = eps.length;
  const keys = eps.map((ep) => joinHostPort(ep.ip, ep.port));
  const idx = Array.from({ length: n }, (_, i) => i);
  // Ties keep input order, which the duplicate rule depends on.
  idx.sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : a - b));
  const out: Endpoint[] = [];
  for (let i = 0; i < n; ) {
    const key = keys[idx[i]!]!;
    let winner = eps[idx[i]!]!;
    let j = i + 1;
    for (; j < n && keys[idx[j]!] === key; j++) {
      const ep = eps[idx[j]!]!;
      if (!ep.terminating) winner = ep;
    }
    out.push(winner);
    i = j;
  }
  return Object.freeze(out);
}

/**
 * Endpoints per portId, each list sorted by "ip:port". Slices are visited in name order
 * (upstream visits a Go map, i.e. randomly; we want determinism).
 */
export function mergeSlices(slices: Iterable<ParsedSlice>, nodeName: string): Map<string, readonly Endpoint[]> {
  const parts = new Map<string, PortEndpoints[]>();
  let ordered = Array.isArray(slices) ? (slices as ParsedSlice[]) : [...slices];
  if (ordered.length > 1) ordered = [...ordered].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const slice of ordered) {
    for (const p of slice.ports) {
      if (p.name === null || p.port === null) continue;
      const id = portId(p.name, p.protocol);
      const pe = sliceEndpoints(slice, p.port, nodeName);
      const list = parts.get(id);
      if (list) list.push(pe);
      else parts.set(id, [pe]);
    }
  }
  const out = new Map<string, readonly Endpoint[]>();
  for (const [id, list] of parts) {
    if (list.length === 1) {
      if (list[0]!.length > 0) out.set(id, list[0]!);
      continue;
    }
    const merged = dedupeSorted(list.flat());
    if (merged.length > 0) out.set(id, merged);
  }
  return out;
}
