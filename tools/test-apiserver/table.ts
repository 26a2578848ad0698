// Server-side printing (meta.k8s.io/v1 Table) for `kubectl get` without -o, so humans see the usual
// columns (TYPE, CLUSTER-IP, PORT(S), ENDPOINTS …) instead of just NAME and AGE.

import type { Obj } from './store.js';

type Cell = string | number;
interface Column {
  readonly name: string;
  readonly type: string;
  readonly priority?: number;
  readonly cell: (o: Obj) => Cell;
}

function get(o: unknown, ...path: string[]): unknown {
  let cur = o;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Obj)[p];
  }
  return cur;
}

function arr(v: unknown): Obj[] {
  return Array.isArray(v) ? (v as Obj[]) : [];
}

export function age(ts: unknown, now = Date.now()): string {
  const t = typeof ts === 'string' ? Date.parse(ts) : NaN;
  if (Number.isNaN(t)) return '<unknown>';
  const s = Math.max(0, Math.floor((now - t) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

const NAME: Column = { name: 'Name', type: 'string', cell: (o) => String(get(o, 'metadata', 'name') ?? '') };
const AGE: Column = { name: 'Age', type: 'string', cell: (o) => age(get(o, 'metadata', 'creationTimestamp')) };

function servicePorts(o: Obj): string {
  const ps = arr(get(o, 'spec', 'ports')).map((p) => `${String(p.port)}${p.nodePort ? `:${String(p.nodePort)}` : ''}/${String(p.protocol ?? 'TCP')}`);
  return ps.length ? ps.join(',') : '<none>';
}

function externalIPs(o: Obj): string {
  const ips = [
    ...arr(get(o, 'status', 'loadBalancer', 'ingress')).map((i) => String(i.ip ?? i.hostname ?? '')),
    ...((get(o, 'spec', 'externalIPs') as string[] | undefined) ?? []),
  ].filter(Boolean);
  if (ips.length) return ips.join(',');
  if (get(o, 'spec', 'type') === 'LoadBalancer') return '<pending>';
  if (get(o, 'spec', 'type') === 'ExternalName') return String(get(o, 'spec', 'externalName') ?? '');
  return '<none>';
}

function sliceEndpoints(o: Obj): string {
  const addrs = arr(o.endpoints).flatMap((e) => (Array.isArray(e.addresses) ? (e.addresses as string[]) : []));
  if (addrs.length === 0) return '<unset>';
  return addrs.length > 3 ? `${addrs.slice(0, 3).join(',')} + ${addrs.length - 3} more...` : addrs.join(',');
}

const COLUMNS: Record<string, Column[]> = {
  Service: [
    NAME,
    { name: 'Type', type: 'string', cell: (o) => String(get(o, 'spec', 'type') ?? 'ClusterIP') },
    { name: 'Cluster-IP', type: 'string', cell: (o) => String(get(o, 'spec', 'clusterIP') ?? '<none>') },
    { name: 'External-IP', type: 'string', cell: externalIPs },
    { name: 'Port(s)', type: 'string', cell: servicePorts },
    AGE,
    {
      name: 'Selector',
      type: 'string',
      priority: 1,
      cell: (o) => Object.entries((get(o, 'spec', 'selector') as Obj | undefined) ?? {}).map(([k, v]) => `${k}=${String(v)}`).join(',') || '<none>',
    },
  ],
  EndpointSlice: [
    NAME,
    { name: 'AddressType', type: 'string', cell: (o) => String(o.addressType ?? '') },
    { name: 'Ports', type: 'string', cell: (o) => arr(o.ports).map((p) => String(p.port ?? '<unset>')).join(',') || '<unset>' },
    { name: 'Endpoints', type: 'string', cell: sliceEndpoints },
    AGE,
  ],
  Node: [
    NAME,
    {
      name: 'Status',
      type: 'string',
      cell: (o) => (arr(get(o, 'status', 'conditions')).find((c) => c.type === 'Ready')?.status === 'True' ? 'Ready' : 'NotReady'),
    },
    AGE,
  ],
  ServiceCIDR: [NAME, { name: 'CIDRs', type: 'string', cell: (o) => ((get(o, 'spec', 'cidrs') as string[] | undefined) ?? []).join(',') }, AGE],
  // kubectl's columns for events (LAST SEEN, TYPE, REASON, OBJECT, MESSAGE), from the events.k8s.io/v1 fields.
  Event: [
    { name: 'Last Seen', type: 'string', cell: (o) => age(get(o, 'series', 'lastObservedTime') ?? get(o, 'deprecatedLastTimestamp') ?? o.eventTime) },
    { name: 'Type', type: 'string', cell: (o) => String(o.type ?? '') },
    { name: 'Reason', type: 'string', cell: (o) => String(o.reason ?? '') },
    { name: 'Object', type: 'string', cell: (o) => `${String(get(o, 'regarding', 'kind') ?? '').toLowerCase()}/${String(get(o, 'regarding', 'name') ?? '')}` },
    { name: 'Message', type: 'string', cell: (o) => String(o.note ?? '') },
  ],
  Namespace: [NAME, { name: 'Status', type: 'string', cell: (o) => String(get(o, 'status', 'phase') ?? 'Active') }, AGE],
};

export function wantsTable(accept: string | undefined): boolean {
  return (accept ?? '').includes('as=Table');
}

export function toTable(kind: string, objects: readonly Obj[], listMeta: Obj): Obj {
  const cols = COLUMNS[kind] ?? [NAME, AGE];
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    columnDefinitions: cols.map((c) => ({ name: c.name, type: c.type, format: c === NAME ? 'name' : '', description: '', priority: c.priority ?? 0 })),
    rows: objects.map((o) => ({
      cells: cols.map((c) => c.cell(o)),
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}
