// The control-plane model: raw Service / EndpointSlice / Node events in, one immutable
// ProxyState (+ StateChange) per IP family out.
//
// Events are validated and normalised immediately (so onInvalid fires once per object
// version, never per build) and mark the affected Service dirty for the families it can
// touch. build(family) recomputes only that family's dirty Services, keeps every
// ServicePort that is structurally unchanged (same object identity), and derives
// changedKeys from the comparison rather than from the events, so no-op churn never
// reaches a dataplane.

import { createLogger } from '../log/logger.js';
import { metrics } from '../metrics/metrics.js';
import type { EventType, ObjectKind } from '../sources/types.js';
import { parseEndpointSlice, type ParsedSlice } from './endpointslice.js';
import { deepEqual } from './equal.js';
import { parseCIDRSloppy, parseIPSloppy } from './ip.js';
import { mergeSlices } from './merge.js';
import { parseNode, type ParsedNode } from './node.js';
import { InvalidObject, bestEffortKey, get, isRecord } from './raw.js';
import { parseService, type ParsedService } from './service.js';
import { buildServicePorts, servicePortEqual } from './serviceport.js';
import { SortedMap } from './sortedmap.js';
import { LABEL_HOSTNAME, LABEL_TOPOLOGY_ZONE } from './topology.js';
import type { Endpoint, IPFamily, NodePortAddresses, ProxyState, ServicePort, StateChange } from './types.js';

export interface ModelOptions {
  nodeName: string;
  /**
   * Called once per invalid object version: kind, "ns/name", reason, and the event's origin (its
   * manifest file) when the source gave one. Default: log a warning + metrics.invalidObjectsTotal.inc({kind})
   */
  onInvalid?: (kind: ObjectKind, key: string, reason: string, origin?: string) => void;
}

export interface BuildContext {
  /** This node's IPs of the family. */
  nodeIPs: readonly string[];
  /** Already resolved. */
  nodePortAddresses: NodePortAddresses;
  serviceCIDRs?: readonly string[];
}

export interface BuildOptions {
  /**
   * A look at the current state (--print-rules, debug views) that must not swallow changes:
   * this build's StateChange is carried into the next non-peek build of the family too.
   */
  peek?: boolean;
}

const FAMILIES: readonly IPFamily[] = ['IPv4', 'IPv6'];
/** Bound on remembered invalid versions, so a stream of garbage cannot grow memory without limit. */
const MAX_INVALID_REMEMBERED = 10000;
/** Bound on trigger times kept per family between builds (a family may never be built). */
const MAX_PENDING_TRIGGERS = 10000;

const log = createLogger('model');

function defaultOnInvalid(kind: ObjectKind, key: string, reason: string, origin?: string): void {
  log.warn('Ignoring invalid object', { kind, object: key, reason, ...(origin !== undefined ? { file: origin } : {}) });
  metrics.invalidObjectsTotal.inc({ kind });
}

/** Per-family build state. */
interface FamilyState {
  built: boolean;
  generation: number;
  /** Services whose ServicePorts may differ from the last build of this family. */
  dirty: Set<string>;
  /** Recompute everything (first build, zone change). */
  allDirty: boolean;
  /** svcKey -> its ServicePorts at the last build (sorted by key). */
  perService: Map<string, readonly ServicePort[]>;
  /** The services map of the last build (immutable, shared with the last ProxyState). */
  published: SortedMap<ServicePort>;
  /** Topology labels signature at the last build. */
  topology: string;
  zoneUsed: string;
  triggers: Date[];
  /** The change of peek builds since the last real build, folded into the next one. */
  carried: StateChange | null;
  /** Slices of this family: svcKey -> sliceKey -> slice. */
  slicesByService: Map<string, Map<string, ParsedSlice>>;
}

function newFamilyState(): FamilyState {
  return {
    built: false,
    generation: 0,
    dirty: new Set(),
    allDirty: true,
    perService: new Map(),
    published: SortedMap.empty(),
    topology: '',
    zoneUsed: '',
    triggers: [],
    carried: null,
    slicesByService: new Map(),
  };
}

/**
 * A family that was never built recomputes everything on its first build anyway; not
 * tracking keys for it keeps a single-stack proxy's unused family from collecting every
 * Service key ever seen.
 */
function markDirty(fs: FamilyState, svcKey: string): void {
  if (!fs.allDirty) fs.dirty.add(svcKey);
}

/** Identity of one object version, for "report invalid once per version". */
function versionSignature(obj: unknown): string {
  if (isRecord(obj)) {
    const md = get(obj, 'metadata');
    if (isRecord(md)) {
      const rv = get(md, 'resourceVersion');
      if (typeof rv === 'string' && rv !== '' && rv.length < 64) return `rv:${rv}`;
    }
  }
  try {
    return `json:${JSON.stringify(obj)}`;
  } catch {
    return `unique:${Math.random()}`;
  }
}

export class ServiceModel {
  private readonly nodeName: string;
  private readonly onInvalid: (kind: ObjectKind, key: string, reason: string, origin?: string) => void;
  /** Origin of the event being handled (for the invalid-object report). */
  private origin: string | undefined;
  private readonly services = new Map<string, ParsedService>();
  /** sliceKey ("ns/sliceName") -> slice, any family. */
  private readonly slices = new Map<string, ParsedSlice>();
  private readonly fam: Record<IPFamily, FamilyState> = { IPv4: newFamilyState(), IPv6: newFamilyState() };
  private nodeRaw: unknown | null = null;
  private nodeParsed: ParsedNode | null = null;
  /** "kind|key" -> signature of the invalid version already reported. */
  private readonly invalidSeen = new Map<string, string>();

  constructor(opts: ModelOptions) {
    this.nodeName = opts.nodeName;
    this.onInvalid = opts.onInvalid ?? defaultOnInvalid;
  }

  /** Feed one source event. Returns true when it can change some ProxyState (false for no-op updates: same content, ignored objects). */
  onEvent(kind: ObjectKind, type: EventType, object: unknown, origin?: string): boolean {
    this.origin = origin;
    try {
      if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return false;
      switch (kind) {
        case 'Service':
          return this.onService(type, object);
        case 'EndpointSlice':
          return this.onSlice(type, object);
        case 'Node':
          return this.onNode(type, object);
        default:
          return false;
      }
    } catch (err) {
      // InvalidObject is handled in the on* methods; anything reaching here is our bug, but
      // one bad object must never stop the proxy.
      this.reportInvalid(kind, bestEffortKey(object, kind !== 'Node') ?? '?', `internal error: ${String(err)}`, object);
      return false;
    } finally {
      this.origin = undefined;
    }
  }

  /** The current Node object for this node (raw), or null. */
  node(): unknown | null {
    return this.nodeRaw;
  }

  /** Build the state for one family; reuses ServicePort objects unchanged since this family's previous build (same identity). Pure with respect to its inputs. */
  build(family: IPFamily, ctx: BuildContext, opts: BuildOptions = {}): { state: ProxyState; change: StateChange } {
    const fs = this.fam[family];
    const labels = this.nodeParsed?.topologyLabels ?? {};
    const zone = labels[LABEL_TOPOLOGY_ZONE] ?? '';
    const topology = `${zone}\u0000${labels[LABEL_HOSTNAME] ?? ''}`;
    const topologyChanged = fs.built && fs.topology !== topology;
    if (fs.zoneUsed !== zone) fs.allDirty = true;

    let toCheck: Iterable<string>;
    if (fs.allDirty) {
      const all = new Set<string>(this.services.keys());
      for (const k of fs.perService.keys()) all.add(k);
      toCheck = all;
    } else {
      toCheck = fs.dirty;
    }

    const changedKeys = new Set<string>();
    const written = new Map<string, ServicePort>();
    const removed = new Set<string>();
    let conntrackCleanupRequired = false;
    for (const svcKey of toCheck) {
      const svc = this.services.get(svcKey);
      const old = fs.perService.get(svcKey) ?? [];
      let next: ServicePort[] = [];
      if (svc && svc.families[family]) {
        const slices = fs.slicesByService.get(svcKey);
        const eps = mergeSlices(slices ? slices.values() : [], this.nodeName);
        next = buildServicePorts(svc, family, eps, this.nodeName, zone);
      }
      // Both lists are sorted by key: walk them together.
      let i = 0;
      let j = 0;
      while (i < next.length || j < old.length) {
        const np = next[i];
        const op = old[j];
        if (np && (!op || np.key < op.key)) {
          // added
          changedKeys.add(np.key);
          written.set(np.key, np);
          if (np.protocol === 'UDP') conntrackCleanupRequired = true;
          i++;
        } else if (op && (!np || op.key < np.key)) {
          // removed
          changedKeys.add(op.key);
          removed.add(op.key);
          if (op.protocol === 'UDP') conntrackCleanupRequired = true;
          j++;
        } else if (np && op) {
          if (servicePortEqual(op, np)) {
            next[i] = op;
          } else {
            changedKeys.add(np.key);
            if (np.protocol === 'UDP' || op.protocol === 'UDP') conntrackCleanupRequired = true;
            written.set(np.key, np);
          }
          i++;
          j++;
        }
      }
      if (next.length > 0) fs.perService.set(svcKey, next);
      else fs.perService.delete(svcKey);
    }

    // Only the chunks holding changed keys are copied; everything else is shared.
    fs.published = fs.published.withChanges(written, removed);

    const triggerTimes = fs.triggers;
    fs.triggers = [];
    fs.dirty = new Set();
    fs.allDirty = false;
    fs.built = true;
    fs.topology = topology;
    fs.zoneUsed = zone;
    fs.generation++;

    const state: ProxyState = {
      family,
      services: fs.published,
      node: { name: this.nodeName, ips: normaliseIPs(ctx.nodeIPs, family), labels: { ...labels } },
      nodePortAddresses: ctx.nodePortAddresses,
      serviceCIDRs: normaliseCIDRs(ctx.serviceCIDRs ?? [], family),
      generation: fs.generation,
    };
    let change: StateChange = { changedKeys, conntrackCleanupRequired, topologyChanged, triggerTimes };
    const carried = fs.carried;
    if (carried) {
      // A peek since the last real build saw part of the changes first: hand them on.
      for (const k of carried.changedKeys) changedKeys.add(k);
      change = {
        changedKeys,
        conntrackCleanupRequired: conntrackCleanupRequired || carried.conntrackCleanupRequired,
        topologyChanged: topologyChanged || carried.topologyChanged,
        triggerTimes: [...carried.triggerTimes, ...triggerTimes],
      };
    }
    fs.carried = opts.peek ? change : null;
    return { state, change };
  }

  /** Distinct IPs of ready local endpoints of a Service (all ports, both families) — for health-check node ports. */
  /**
   * Distinct local ready endpoint IPs of a Service, of one family (upstream counts per proxier,
   * i.e. per family) or, without `only`, of both.
   */
  localReadyEndpoints(namespace: string, name: string, only?: IPFamily): number {
    const svcKey = `${namespace}/${name}`;
    const ips = new Set<string>();
    for (const family of only === undefined ? FAMILIES : [only]) {
      const slices = this.fam[family].slicesByService.get(svcKey);
      if (!slices) continue;
      for (const eps of mergeSlices(slices.values(), this.nodeName).values()) {
        for (const ep of eps) if (ep.isLocal && ep.ready) ips.add(ep.ip);
      }
    }
    return ips.size;
  }

  /**
   * Every endpoint of a Service's slices of `family`, per slice port ("name/protocol"), as merged
   * for the build (debug views: endpoints no service port uses, or of the other family).
   */
  endpointsByPort(namespace: string, name: string, family: IPFamily): ReadonlyMap<string, readonly Endpoint[]> {
    const slices = this.fam[family].slicesByService.get(`${namespace}/${name}`);
    return slices ? mergeSlices(slices.values(), this.nodeName) : new Map();
  }

  // --- events -------------------------------------------------------------------------

  private markServiceDirty(svcKey: string): void {
    for (const f of FAMILIES) markDirty(this.fam[f], svcKey);
  }

  private onService(type: EventType, object: unknown): boolean {
    if (type === 'DELETED') return this.deleteByKey('Service', object);
    let parsed;
    try {
      parsed = parseService(object);
    } catch (err) {
      if (!(err instanceof InvalidObject)) throw err;
      return this.invalidUpdate('Service', object, err.message);
    }
    if (this.invalidSeen.size > 0) this.invalidSeen.delete(`Service|${parsed.kind === 'ok' ? parsed.svc.key : parsed.key}`);
    if (parsed.kind === 'skip') return this.removeService(parsed.key);
    const svc = parsed.svc;
    const prev = this.services.get(svc.key);
    if (prev && deepEqual(prev, svc)) return false;
    this.services.set(svc.key, svc);
    this.markServiceDirty(svc.key);
    return true;
  }

  private removeService(key: string): boolean {
    if (!this.services.delete(key)) return false;
    this.markServiceDirty(key);
    return true;
  }

  private onSlice(type: EventType, object: unknown): boolean {
    if (type === 'DELETED') return this.deleteByKey('EndpointSlice', object);
    let parsed;
    try {
      parsed = parseEndpointSlice(object, this.nodeName);
    } catch (err) {
      if (!(err instanceof InvalidObject)) throw err;
      return this.invalidUpdate('EndpointSlice', object, err.message);
    }
    if (this.invalidSeen.size > 0) this.invalidSeen.delete(`EndpointSlice|${parsed.kind === 'ok' ? parsed.slice.key : parsed.key}`);
    if (parsed.kind === 'skip') return this.removeSlice(parsed.key);
    const slice = parsed.slice;
    const prev = this.slices.get(slice.key);
    if (prev && deepEqual(prev, slice)) return false;
    if (prev) this.removeSlice(prev.key);
    this.slices.set(slice.key, slice);
    const fs = this.fam[slice.family];
    let bySlice = fs.slicesByService.get(slice.serviceKey);
    if (!bySlice) fs.slicesByService.set(slice.serviceKey, (bySlice = new Map()));
    bySlice.set(slice.key, slice);
    markDirty(fs, slice.serviceKey);
    if (parsed.triggerTime && fs.triggers.length < MAX_PENDING_TRIGGERS) fs.triggers.push(parsed.triggerTime);
    return true;
  }

  private removeSlice(key: string): boolean {
    const prev = this.slices.get(key);
    if (!prev) return false;
    this.slices.delete(key);
    const fs = this.fam[prev.family];
    const bySlice = fs.slicesByService.get(prev.serviceKey);
    if (bySlice) {
      bySlice.delete(key);
      if (bySlice.size === 0) fs.slicesByService.delete(prev.serviceKey);
    }
    markDirty(fs, prev.serviceKey);
    return true;
  }

  private onNode(type: EventType, object: unknown): boolean {
    const key = bestEffortKey(object, false);
    // Only this node matters (upstream watches it with a field selector).
    if (key !== null && key !== this.nodeName) return false;
    if (type === 'DELETED') {
      if (key === null) return this.deleteByKey('Node', object);
      this.invalidSeen.delete(`Node|${key}`);
      return this.setNode(null, null);
    }
    let parsed: ParsedNode;
    try {
      parsed = parseNode(object);
    } catch (err) {
      if (!(err instanceof InvalidObject)) throw err;
      return this.invalidUpdate('Node', object, err.message);
    }
    this.invalidSeen.delete(`Node|${parsed.name}`);
    return this.setNode(object, parsed);
  }

  private setNode(raw: unknown | null, parsed: ParsedNode | null): boolean {
    const before = this.nodeParsed?.signature ?? null;
    this.nodeRaw = raw;
    this.nodeParsed = parsed;
    return before !== (parsed?.signature ?? null);
  }

  /** DELETED carries the last known object; only its identity matters. */
  private deleteByKey(kind: ObjectKind, object: unknown): boolean {
    const key = bestEffortKey(object, kind !== 'Node');
    if (key === null) {
      this.reportInvalid(kind, '?', 'deleted object has no usable metadata.name/namespace', object);
      return false;
    }
    this.invalidSeen.delete(`${kind}|${key}`);
    if (kind === 'Service') return this.removeService(key);
    if (kind === 'EndpointSlice') return this.removeSlice(key);
    return this.setNode(null, null);
  }

  /**
   * An invalid version replaces whatever valid version we had: the object is treated as
   * deleted until a valid version arrives (keeping stale rules for an object the API now
   * describes differently would be a guess; dropping it is what the object says).
   */
  private invalidUpdate(kind: ObjectKind, object: unknown, reason: string): boolean {
    const key = bestEffortKey(object, kind !== 'Node');
    this.reportInvalid(kind, key ?? '?', reason, object);
    if (key === null) return false;
    if (kind === 'Service') return this.removeService(key);
    if (kind === 'EndpointSlice') return this.removeSlice(key);
    return key === this.nodeName ? this.setNode(null, null) : false;
  }

  private reportInvalid(kind: ObjectKind, key: string, reason: string, object: unknown): void {
    const sig = versionSignature(object);
    const id = `${kind}|${key === '?' ? sig : key}`;
    if (this.invalidSeen.get(id) === sig) return;
    if (this.invalidSeen.size >= MAX_INVALID_REMEMBERED) this.invalidSeen.clear();
    this.invalidSeen.set(id, sig);
    try {
      this.onInvalid(kind, key, reason, this.origin);
    } catch (err) {
      log.error('onInvalid callback failed', { err: String(err) });
    }
  }
}

/** Keep this family's parseable IPs, normalised; others are dropped. */
function normaliseIPs(ips: readonly string[], family: IPFamily): string[] {
  const out: string[] = [];
  for (const s of ips) {
    const ip = parseIPSloppy(s);
    if (ip && ip.family === family && !out.includes(ip.text)) out.push(ip.text);
  }
  return out;
}

/** Keep this family's parseable CIDRs, normalised to their network; others are dropped. */
function normaliseCIDRs(cidrs: readonly string[], family: IPFamily): string[] {
  const out: string[] = [];
  for (const s of cidrs) {
    const c = parseCIDRSloppy(s.trim());
    if (c && c.family === family && !out.includes(c.text)) out.push(c.text);
  }
  return out;
}
