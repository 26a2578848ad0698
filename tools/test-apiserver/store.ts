// In-memory object store of the test API server: one monotonically increasing resourceVersion for all
// writes (as etcd's revision), an event log for watch replay, and compaction to make old versions expire.

import { randomUUID } from 'node:crypto';
import { apiVersionOf, type ResourceInfo } from './resources.js';

export type Obj = Record<string, unknown>;
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface LogEvent {
  readonly rv: number;
  readonly resource: ResourceInfo;
  readonly type: WatchEventType;
  readonly object: Obj;
  /** The object before this write (MODIFIED/DELETED), so watches can turn selector transitions into ADDED/DELETED. */
  readonly prev: Obj | undefined;
}

/** An API error that maps to a Status body. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Obj,
  ) {
    super(message);
  }
}

export function metaOf(o: Obj): Obj {
  const m = o.metadata;
  return m !== null && typeof m === 'object' && !Array.isArray(m) ? (m as Obj) : {};
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

export function keyFor(namespace: string, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export class Store {
  private rv = 1;
  private compactedRv = 0;
  private readonly data = new Map<ResourceInfo, Map<string, Obj>>();
  private readonly sortedKeys = new Map<ResourceInfo, string[]>();
  private log: LogEvent[] = [];
  private readonly listeners = new Set<(e: LogEvent) => void>();
  // 198.19.160.10 on: clear of the addresses tests give their Services explicitly (ClusterIPs in
  // 198.19.0-127.x, LB ingress 198.19.200.x, external IPs 198.19.201.x: docs/testing.md).
  private ipCounter = 160 * 256 + 10;
  private nodePortCounter = 30000;
  /** Watch replay keeps at most this many events; older versions expire (410) as after etcd compaction. */
  maxLogEvents = 200_000;

  currentRv(): number {
    return this.rv;
  }

  oldestRv(): number {
    return this.compactedRv;
  }

  onEvent(fn: (e: LogEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private map(r: ResourceInfo): Map<string, Obj> {
    let m = this.data.get(r);
    if (!m) this.data.set(r, (m = new Map()));
    return m;
  }

  get(r: ResourceInfo, namespace: string, name: string): Obj | undefined {
    return this.map(r).get(keyFor(namespace, name));
  }

  /** Keys in sorted order (for stable pagination); cached until the key set changes. */
  keys(r: ResourceInfo): string[] {
    let k = this.sortedKeys.get(r);
    if (!k) this.sortedKeys.set(r, (k = [...this.map(r).keys()].sort()));
    return k;
  }

  getByKey(r: ResourceInfo, key: string): Obj | undefined {
    return this.map(r).get(key);
  }

  /** Events after `rv` for `r`, or undefined when `rv` is older than the compaction point. */
  eventsSince(r: ResourceInfo, rv: number): LogEvent[] | undefined {
    if (rv < this.compactedRv) return undefined;
    // The log is sorted by rv: binary search the first event after rv.
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.log[mid]!.rv <= rv) lo = mid + 1;
      else hi = mid;
    }
    return this.log.slice(lo).filter((e) => e.resource === r);
  }

  compact(rv?: number): void {
    const to = Math.min(rv ?? this.rv, this.rv);
    this.compactedRv = Math.max(this.compactedRv, to);
    this.log = this.log.filter((e) => e.rv > this.compactedRv);
  }

  private record(r: ResourceInfo, type: WatchEventType, object: Obj, prev: Obj | undefined, rv: number): void {
    const e: LogEvent = { rv, resource: r, type, object, prev };
    this.log.push(e);
    if (this.log.length > this.maxLogEvents) this.compact(this.log[this.log.length - this.maxLogEvents]!.rv - 1);
    for (const l of this.listeners) l(e);
  }

  create(r: ResourceInfo, namespace: string, input: Obj): Obj {
    const meta = { ...metaOf(input) };
    let name = str(meta.name);
    if (!name && str(meta.generateName)) name = str(meta.generateName) + randomUUID().slice(0, 5);
    if (!name) throw new ApiError(422, 'Invalid', `${r.kind} "" is invalid: metadata.name: Required value: name or generateName is required`);
    const ns = r.namespaced ? namespace || str(meta.namespace) || 'default' : '';
    const m = this.map(r);
    const key = keyFor(ns, name);
    if (m.has(key)) {
      throw new ApiError(409, 'AlreadyExists', `${r.plural}${r.group ? '.' + r.group : ''} "${name}" already exists`, {
        name,
        group: r.group,
        kind: r.plural,
      });
    }
    const rv = ++this.rv;
    const obj: Obj = {
      ...input,
      kind: r.kind,
      apiVersion: apiVersionOf(r),
      metadata: {
        ...meta,
        name,
        ...(r.namespaced ? { namespace: ns } : {}),
        uid: randomUUID(),
        resourceVersion: String(rv),
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        generation: 1,
      },
    };
    if (!r.namespaced) delete (obj.metadata as Obj).namespace;
    this.applyDefaults(r, obj);
    m.set(key, obj);
    this.sortedKeys.delete(r);
    this.record(r, 'ADDED', obj, undefined, rv);
    return obj;
  }

  /**
   * Replace an object. `expectedRv` (from the body) must match when non-empty, else 409 Conflict.
   * `statusOnly`: a /status write changes only .status; a main write keeps .status for kinds with the subresource.
   */
  update(r: ResourceInfo, namespace: string, name: string, input: Obj, statusOnly = false): Obj {
    const m = this.map(r);
    const key = keyFor(r.namespaced ? namespace : '', name);
    const cur = m.get(key);
    if (!cur) throw notFound(r, name);
    const inMeta = metaOf(input);
    if (str(inMeta.name) && str(inMeta.name) !== name) throw new ApiError(400, 'BadRequest', `the name of the object (${str(inMeta.name)}) does not match the name on the URL (${name})`);
    const expected = str(inMeta.resourceVersion);
    const curMeta = metaOf(cur);
    if (expected && expected !== curMeta.resourceVersion) {
      throw new ApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${r.plural}${r.group ? '.' + r.group : ''} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        { name, group: r.group, kind: r.plural },
      );
    }
    let next: Obj;
    if (statusOnly) next = { ...cur, status: input.status };
    else {
      next = { ...input };
      if (r.hasStatus) {
        if (cur.status === undefined) delete next.status;
        else next.status = cur.status;
      }
    }
    const newMeta: Obj = statusOnly ? { ...curMeta } : { ...inMeta };
    Object.assign(newMeta, {
      name,
      uid: curMeta.uid,
      creationTimestamp: curMeta.creationTimestamp,
      resourceVersion: curMeta.resourceVersion,
      generation: curMeta.generation,
    });
    if (r.namespaced) newMeta.namespace = curMeta.namespace;
    else delete newMeta.namespace;
    next.kind = r.kind;
    next.apiVersion = apiVersionOf(r);
    next.metadata = newMeta;
    if (r.kind === 'Service') patchAllocatedValues(next, cur);
    this.applyDefaults(r, next);
    if (!statusOnly && !sameSpec(cur, next)) newMeta.generation = Number(curMeta.generation ?? 1) + 1;
    // A write that changes nothing does not bump resourceVersion nor emit an event, as upstream.
    if (canonical(next) === canonical(cur)) return cur;
    const rv = ++this.rv;
    newMeta.resourceVersion = String(rv);
    m.set(key, next);
    this.record(r, 'MODIFIED', next, cur, rv);
    return next;
  }

  delete(r: ResourceInfo, namespace: string, name: string): Obj {
    const m = this.map(r);
    const key = keyFor(r.namespaced ? namespace : '', name);
    const cur = m.get(key);
    if (!cur) throw notFound(r, name);
    const rv = ++this.rv;
    // The final state carries the deletion's resourceVersion, as the API server reports it.
    const gone: Obj = { ...cur, metadata: { ...metaOf(cur), resourceVersion: String(rv) } };
    m.delete(key);
    this.sortedKeys.delete(r);
    this.record(r, 'DELETED', gone, cur, rv);
    return gone;
  }

  /** API defaults the proxy relies on (a subset of the real defaulting and allocation). */
  private applyDefaults(r: ResourceInfo, obj: Obj): void {
    if (r.kind !== 'Service') return;
    const spec: Obj = obj.spec && typeof obj.spec === 'object' ? { ...(obj.spec as Obj) } : {};
    obj.spec = spec;
    spec.type ??= 'ClusterIP';
    spec.sessionAffinity ??= 'None';
    if (spec.type !== 'ExternalName') {
      if (!spec.clusterIP) {
        // Allocated from the test ranges (198.19.0.0/16, 2001:db8:19::/64) the test topology routes, one
        // address per requested family, as the allocator does for dual-stack.
        const n = this.ipCounter++;
        const families = Array.isArray(spec.ipFamilies) && spec.ipFamilies.length > 0 ? (spec.ipFamilies as unknown[]) : ['IPv4'];
        const ips = families.map((f) => (f === 'IPv6' ? `2001:db8:19::${n.toString(16)}` : `198.19.${(n >> 8) & 255}.${n & 255}`));
        spec.clusterIP = ips[0];
        spec.clusterIPs ??= ips;
      }
      spec.clusterIPs ??= [spec.clusterIP];
      if (spec.clusterIP !== 'None') {
        spec.ipFamilies ??= ['IPv4'];
        spec.ipFamilyPolicy ??= 'SingleStack';
      }
      spec.internalTrafficPolicy ??= 'Cluster';
    }
    const external = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
    if (external) spec.externalTrafficPolicy ??= 'Cluster';
    if (Array.isArray(spec.ports)) {
      spec.ports = spec.ports.map((p: unknown) => {
        const port: Obj = { ...(p as Obj) };
        port.protocol ??= 'TCP';
        port.targetPort ??= port.port;
        if (external && !port.nodePort) port.nodePort = this.nodePortCounter++;
        return port;
      });
    }
  }
}

/** As the service registry: an update that leaves allocated values unset keeps the old ones (clusterIP, nodePorts). */
function patchAllocatedValues(next: Obj, cur: Obj): void {
  const ns = (next.spec && typeof next.spec === 'object' ? { ...(next.spec as Obj) } : {}) as Obj;
  const os = (cur.spec ?? {}) as Obj;
  next.spec = ns;
  if (!ns.clusterIP && os.clusterIP && (ns.type ?? 'ClusterIP') !== 'ExternalName') {
    ns.clusterIP = os.clusterIP;
    ns.clusterIPs ??= os.clusterIPs;
  }
  if (Array.isArray(ns.ports) && Array.isArray(os.ports)) {
    ns.ports = ns.ports.map((p: unknown) => {
      const np = { ...(p as Obj) };
      if (!np.nodePort) {
        const old = (os.ports as Obj[]).find((o) => o.port === np.port && (o.protocol ?? 'TCP') === (np.protocol ?? 'TCP'));
        if (old?.nodePort) np.nodePort = old.nodePort;
      }
      return np;
    });
  }
}

function canonical(o: Obj): string {
  return JSON.stringify(o, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v));
}

/** Generation tracks spec changes only. */
function sameSpec(a: Obj, b: Obj): boolean {
  return JSON.stringify(a.spec ?? null) === JSON.stringify(b.spec ?? null);
}

export function notFound(r: ResourceInfo, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${r.plural}${r.group ? '.' + r.group : ''} "${name}" not found`, { name, group: r.group, kind: r.plural });
}
