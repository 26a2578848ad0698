// Builders for raw API objects in tests (plain JSON, as a source would deliver them).

export interface SvcOpts {
  ns?: string;
  type?: string;
  clusterIP?: string;
  clusterIPs?: string[];
  ipFamilies?: string[];
  ports?: Record<string, unknown>[];
  labels?: Record<string, unknown>;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  resourceVersion?: string;
}

export function svc(name: string, o: SvcOpts = {}): Record<string, unknown> {
  const clusterIP = o.clusterIP ?? '198.19.0.1';
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: o.ns ?? 'ns',
      ...(o.labels ? { labels: o.labels } : {}),
      ...(o.resourceVersion ? { resourceVersion: o.resourceVersion } : {}),
    },
    spec: {
      type: o.type ?? 'ClusterIP',
      clusterIP,
      ...(o.clusterIPs ? { clusterIPs: o.clusterIPs } : {}),
      ...(o.ipFamilies ? { ipFamilies: o.ipFamilies } : {}),
      ports: o.ports ?? [{ name: 'p', port: 80, protocol: 'TCP' }],
      ...(o.spec ?? {}),
    },
    ...(o.status ? { status: o.status } : {}),
  };
}

export interface EpOpts {
  ready?: boolean | null;
  serving?: boolean | null;
  terminating?: boolean | null;
  nodeName?: string;
  zone?: string;
  zones?: string[];
  nodes?: string[];
}

export function ep(addr: string | string[], o: EpOpts = {}): Record<string, unknown> {
  const conditions: Record<string, unknown> = {};
  if (o.ready !== undefined) conditions.ready = o.ready;
  if (o.serving !== undefined) conditions.serving = o.serving;
  if (o.terminating !== undefined) conditions.terminating = o.terminating;
  const hints: Record<string, unknown> = {};
  if (o.zones) hints.forZones = o.zones.map((name) => ({ name }));
  if (o.nodes) hints.forNodes = o.nodes.map((name) => ({ name }));
  return {
    addresses: Array.isArray(addr) ? addr : [addr],
    conditions,
    ...(o.nodeName !== undefined ? { nodeName: o.nodeName } : {}),
    ...(o.zone !== undefined ? { zone: o.zone } : {}),
    ...(o.zones || o.nodes ? { hints } : {}),
  };
}

export interface SliceOpts {
  ns?: string;
  service?: string | null;
  addressType?: string | null;
  ports?: Record<string, unknown>[];
  endpoints?: Record<string, unknown>[];
  annotations?: Record<string, string>;
  labels?: Record<string, unknown>;
}

export function slice(name: string, o: SliceOpts = {}): Record<string, unknown> {
  const labels: Record<string, unknown> = { ...(o.labels ?? {}) };
  if (o.service !== null) labels['kubernetes.io/service-name'] = o.service ?? name.replace(/-[^-]*$/, '');
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: o.ns ?? 'ns', labels, ...(o.annotations ? { annotations: o.annotations } : {}) },
    ...(o.addressType !== null ? { addressType: o.addressType ?? 'IPv4' } : {}),
    ports: o.ports ?? [{ name: 'p', port: 8080, protocol: 'TCP' }],
    endpoints: o.endpoints ?? [],
  };
}

export function node(name: string, labels: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, labels }, ...extra };
}

export const ctx4 = { nodeIPs: ['198.18.0.1'], nodePortAddresses: { matchAll: true } as const };
export const ctx6 = { nodeIPs: ['2001:db8::1'], nodePortAddresses: { matchAll: true } as const };
