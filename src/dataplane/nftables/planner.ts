// The nftables planner: previous applied state + desired ProxyState -> one typed Transaction
// (kernel/nftables) + the next applied state. No I/O; dataplane.ts applies the transaction.
//
// Full plan: the table from scratch (layout.ts: `add table` + `delete table` + the whole table), so
// a single atomic transaction replaces whatever was there. Incremental plan: only service ports
// whose ServicePort object changed identity; their chains are rewritten only when their rule text
// changed, and set/map elements are diffed through an owner-counted element table. The applied
// state lives in memory: listing the kernel to diff is far slower than writing at scale
// (docs/nftables.md).
//
// Pure: `prev` is never written. An incremental plan builds `next` from a fork of `prev` whose big
// tables (element claims, hairpin counts) share storage with it copy-on-write (cow.ts), so a fork
// costs O(changes), not O(state); a state returned as `next` is not written afterwards either.

import { forEachChange } from '../../model/sortedmap.js';
import type { ProxyState, ServicePort } from '../../model/types.js';
import type { DataplaneConfig } from '../config.js';
import { type ElementBatch, sameSpec } from '../../kernel/nftables/objects.js';
import { Transaction } from '../../kernel/nftables/transaction.js';
import { BlockAllocator } from './alloc.js';
import { CowMap } from './cow.js';
import { entryBatch, opsBatch, pairBatch, slotBatch } from './batches.js';
import { type ElementOp, ElementTable, IpRefCount } from './elements.js';
import { DEFAULT_TABLE, HAIRPIN_SET, type TableStart, ruleContext, signatureOf, tableRef, writeFixed, writeTableStart, writeTableVerbs } from './layout.js';
import {
  ENDPOINT_PROTOCOLS,
  type Entry,
  type ServiceRecord,
  type SetDecl,
  type SharedChain,
  type SlotBlock,
  ServiceCache,
  buildService,
  endpointsMapDecl,
  epValue,
} from './service.js';

export interface PlanOptions {
  readonly tableName?: string;
  /** Force a full plan even when `prev` could be diffed. */
  readonly full?: boolean;
  /** Memoised names (service.ts); default: prev's, else a fresh one. */
  readonly cache?: ServiceCache;
  /** How a full plan starts the table (layout.ts); default 'any'. The dataplane passes what it found in the kernel. */
  readonly tableStart?: TableStart;
}

/** What we last programmed, kept in memory between syncs. */
export interface Applied {
  readonly tableName: string;
  readonly family: ProxyState['family'];
  /** Everything outside per-service rules that the table depends on; a change forces full. */
  readonly signature: string;
  /** Per service-port key: its record and a sequence number (removals are planned in that order). */
  readonly services: CowMap<Placed>;
  /**
   * The `state.services` this was planned from: `services` holds exactly its keys, each record built
   * from its ServicePort. The next incremental plan diffs it against the new state's map
   * (SortedMap.forEachChange: only the chunks the model rewrote) to find the changed ports without
   * looking up every port.
   */
  readonly source: ReadonlyMap<string, ServicePort>;
  /** Sequence number of the next service port added. */
  readonly seq: number;
  /** Shared/owned set and map elements, except endpoint-map elements (kept in the records' blocks). */
  readonly elements: ElementTable;
  /** Endpoint IPs in the `hairpin` set, counted over the service ports that reach them. */
  readonly hairpin: IpRefCount;
  /** Key blocks of each `endpoints-<proto>` map, by lower-case protocol. */
  readonly alloc: Map<string, BlockAllocator>;
  /** Endpoint-map pages and shared endpoint maps declared in the kernel (kept until the next full sync). */
  readonly endpointMaps: Set<string>;
  /** Shared DNAT chains created in the kernel (kept until the next full sync). */
  readonly sharedChains: Set<string>;
  readonly cache: ServiceCache;
}

export interface Placed {
  readonly rec: ServiceRecord;
  readonly seq: number;
}

export interface Plan {
  readonly tx: Transaction;
  /** `nft -f` text of tx ('' when empty); rendered on first use. */
  readonly script: string;
  readonly next: Applied;
  /** Commands + elements sent (a measure of transaction size). */
  readonly ops: number;
  readonly full: boolean;
  /** Service-port keys whose rules were (re)written in this plan. */
  readonly changed: readonly string[];
}

function makePlan(tx: Transaction, next: Applied, full: boolean, changed: readonly string[]): Plan {
  let script: string | undefined;
  return {
    tx,
    get script(): string {
      return (script ??= tx.render());
    },
    next,
    ops: tx.size,
    full,
    changed,
  };
}

/**
 * A full plan made with tableStart 'create', started as `start` instead (the same plan otherwise):
 * the dataplane plans while `nft` tells whether the table exists, then fits the first operation.
 */
export function withTableStart(p: Plan, start: TableStart): Plan {
  const first = p.tx.ops[0];
  if (!p.full || first?.verb !== 'create' || first.object.kind !== 'table') throw new Error('withTableStart: not a full plan made with tableStart create');
  if (start === 'create') return p;
  const head = new Transaction(p.tx.table);
  writeTableVerbs(head, start);
  return makePlan(p.tx.replaceHead(1, head), p.next, true, p.changed);
}

function allocators(): Map<string, BlockAllocator> {
  return new Map(ENDPOINT_PROTOCOLS.map((p) => [p, new BlockAllocator()]));
}

function allocFor(a: Applied, protocol: string): BlockAllocator {
  return a.alloc.get(protocol.toLowerCase())!;
}

function byName<T>(a: [string, T], b: [string, T]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

function setOp(tx: Transaction, verb: 'add' | 'delete', name: string, d: SetDecl): void {
  if (verb === 'add') tx.add({ kind: d.kind, name, spec: d.spec });
  else tx.delete({ kind: d.kind, name, spec: d.spec });
}

/** Element operations per map: one batch per map, maps in name order. */
function elementOps(tx: Transaction, verb: 'add' | 'delete', ops: readonly ElementOp[]): void {
  const byMap = new Map<string, ElementOp[]>();
  for (const op of ops) {
    let l = byMap.get(op.map);
    if (!l) byMap.set(op.map, (l = []));
    l.push(op);
  }
  for (const [map, l] of [...byMap].sort(byName)) {
    if (verb === 'add') tx.addElements(map, opsBatch(l));
    else tx.deleteElements(map, opsBatch(l));
  }
}

/** A map's elements in a full plan: endpoint blocks, hairpin IPs, entries, then claimed elements. */
interface FullGroup {
  slots?: SlotBlock[];
  ips?: readonly string[];
  entries?: Entry[];
  ops?: ElementOp[];
}

function group(groups: Map<string, FullGroup>, map: string): FullGroup {
  let g = groups.get(map);
  if (!g) groups.set(map, (g = {}));
  return g;
}

function fullBatches(g: FullGroup): ElementBatch[] {
  const out: ElementBatch[] = [];
  if (g.slots) out.push(slotBatch(g.slots));
  if (g.ips) out.push(pairBatch(g.ips));
  if (g.entries) out.push(entryBatch(g.entries));
  if (g.ops) out.push(opsBatch(g.ops));
  return out;
}

/**
 * Entry element operations from one record's entries to the next: per index for an entry that
 * stays (a surviving endpoint keeps its index: one replaced endpoint is one delete + one add),
 * all elements for entries that appear or go.
 */
function diffEntries(owner: string, o: readonly Entry[], c: readonly Entry[], deletes: ElementOp[], adds: ElementOp[]): void {
  const olds = new Map<string, Entry>();
  for (const e of o) olds.set(e.map + ' ' + e.prefix, e);
  for (const e of c) {
    const id = e.map + ' ' + e.prefix;
    const oe = olds.get(id);
    olds.delete(id);
    const n = Math.max(oe?.slots.length ?? 0, e.slots.length);
    for (let i = 0; i < n; i++) {
      const ov = oe?.slots[i];
      const cv = e.slots[i];
      if (ov === cv || (ov && cv && ov.ip === cv.ip && ov.port === cv.port)) continue;
      const key = `${e.prefix} . ${i}`;
      if (ov !== undefined) deletes.push({ map: e.map, key, value: epValue(ov), owner });
      if (cv !== undefined) adds.push({ map: e.map, key, value: epValue(cv), owner });
    }
  }
  for (const e of olds.values()) {
    e.slots.forEach((v, i) => deletes.push({ map: e.map, key: `${e.prefix} . ${i}`, value: epValue(v), owner }));
  }
}

/**
 * Endpoint-map element operations from one block state to the next: per key when the port kept its
 * block (a surviving endpoint keeps its key, so usually one delete + one add), else all old keys
 * deleted and all new keys added. Same output as the ElementTable would give for owned keys.
 */
function diffSlots(
  cache: ServiceCache,
  proto: string,
  owner: string,
  o: SlotBlock | undefined,
  c: SlotBlock | undefined,
  deletes: ElementOp[],
  adds: ElementOp[],
): void {
  if (o && c && o.base === c.base && o.cap === c.cap) {
    const map = cache.endpointsMapName(proto, c);
    const n = Math.max(o.slots.length, c.slots.length);
    for (let i = 0; i < n; i++) {
      const ov = o.slots[i];
      const cv = c.slots[i];
      if (ov === cv || (ov && cv && ov.ip === cv.ip && ov.port === cv.port)) continue;
      const key = String(c.base + i);
      if (ov !== undefined) deletes.push({ map, key, value: epValue(ov), owner });
      if (cv !== undefined) adds.push({ map, key, value: epValue(cv), owner });
    }
    return;
  }
  if (o) {
    const map = cache.endpointsMapName(proto, o);
    o.slots.forEach((v, i) => deletes.push({ map, key: String(o.base + i), value: epValue(v), owner }));
  }
  if (c) {
    const map = cache.endpointsMapName(proto, c);
    c.slots.forEach((v, i) => adds.push({ map, key: String(c.base + i), value: epValue(v), owner }));
  }
}

function claimAll(a: Applied, rec: ServiceRecord): void {
  for (const e of rec.elements) a.elements.claim(e);
  for (const ep of rec.hairpin) a.hairpin.claim(ep.ip);
}

function releaseAll(a: Applied, rec: ServiceRecord): void {
  for (const e of rec.elements) a.elements.release(e);
  for (const ep of rec.hairpin) a.hairpin.release(ep.ip);
}

function hairpinOp(ip: string): ElementOp {
  return { map: HAIRPIN_SET, key: `${ip} . ${ip}`, value: null, owner: '' };
}

function sameRules(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((r, i) => r === b[i]);
}

export function planFull(state: ProxyState, cfg: DataplaneConfig, opts: PlanOptions = {}): Plan {
  return fullPlan(state, cfg, opts, opts.cache ?? new ServiceCache());
}

/** Shared DNAT chains made with every full plan, for 1..PRESHARED_MAX endpoints (see fullPlan). */
export const PRESHARED_MAX = 16;

function fullPlan(state: ProxyState, cfg: DataplaneConfig, opts: PlanOptions, cache: ServiceCache): Plan {
  const table = opts.tableName ?? DEFAULT_TABLE;
  const ctx = ruleContext(state, cfg, cache);
  const tx = new Transaction(tableRef(state.family, table));
  writeTableStart(tx, opts.tableStart);
  writeFixed(tx, state, cfg, ctx);

  const next: Applied = {
    tableName: table,
    family: state.family,
    signature: signatureOf(state, cfg, table),
    services: new CowMap(),
    source: state.services,
    seq: 0,
    elements: new ElementTable(false),
    hairpin: new IpRefCount(false),
    alloc: allocators(),
    endpointMaps: new Set(),
    sharedChains: new Set(),
    cache,
  };
  const recs: ServiceRecord[] = [];
  for (const [key, sp] of state.services) {
    const rec = buildService(sp, ctx, undefined, allocFor(next, sp.protocol));
    next.services.set(key, { rec, seq: recs.length });
    claimAll(next, rec);
    recs.push(rec);
  }
  for (const a of next.alloc.values()) a.settle();
  for (const rec of recs) {
    for (const m of rec.endpointMaps) {
      if (next.endpointMaps.has(m)) continue;
      next.endpointMaps.add(m);
      setOp(tx, 'add', m, endpointsMapDecl(ctx.ipX, rec.sp.protocol));
    }
  }
  const shared: SharedChain[] = [];
  for (const rec of recs) {
    for (const c of rec.shared) {
      if (next.sharedChains.has(c.name)) continue;
      next.sharedChains.add(c.name);
      shared.push(c);
      if (next.endpointMaps.has(c.map)) continue;
      next.endpointMaps.add(c.map);
      setOp(tx, 'add', c.map, c.mapDecl);
    }
  }
  // The chains of small endpoint counts, for each kind and protocol in use, now rather than by the
  // first change that needs one: a change that writes a chain is the slow kind (nft re-reads its
  // cache, 25-45 ms at 10k services), where an element-only change takes ~1 ms. Scaling a
  // deployment down to a few replicas is common; to more than PRESHARED_MAX it stays on demand.
  for (const c of [...shared]) {
    for (let n = 1; n <= PRESHARED_MAX; n++) {
      const pre = ctx.cache.sharedChain(ctx.ipX, c.kind, c.proto, n);
      if (next.sharedChains.has(pre.name)) continue;
      next.sharedChains.add(pre.name);
      shared.push(pre);
    }
  }
  shared.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // forEach rather than for-of over entries: no [key, value] array per entry (10^4 records).
  for (const rec of recs) if (rec.sets.size > 0) rec.sets.forEach((d, name) => setOp(tx, 'add', name, d));
  for (const c of shared) tx.addChain(c.name);
  for (const rec of recs) rec.chains.forEach((_, name) => tx.addChain(name));
  for (const c of shared) for (const r of c.rules) tx.addRule(c.name, r);
  for (const rec of recs) rec.chains.forEach((rules, name) => { for (const r of rules) tx.addRule(name, r); });
  const groups = new Map<string, FullGroup>();
  for (const [map, ops] of next.elements.allByMap()) group(groups, map).ops = ops;
  const hairpin = [...next.hairpin.all()];
  if (hairpin.length > 0) group(groups, HAIRPIN_SET).ips = hairpin;
  for (const rec of recs) {
    for (const b of [rec.blocks.service, rec.blocks.local]) if (b) (group(groups, cache.endpointsMapName(rec.proto, b)).slots ??= []).push(b);
    for (const e of rec.entries) (group(groups, e.map).entries ??= []).push(e);
  }
  for (const [map, g] of [...groups].sort(byName)) for (const b of fullBatches(g)) tx.addElements(map, b);
  next.elements.freeze();
  next.hairpin.freeze();
  next.services.freeze();
  return makePlan(tx, { ...next, seq: recs.length }, true, [...state.services.keys()]);
}

/** Whether plan() with these arguments is a full plan (the dataplane asks the kernel about the table first). */
export function plansFull(prev: Applied | null, state: ProxyState, cfg: DataplaneConfig, opts: PlanOptions = {}): boolean {
  return !prev || opts.full === true || prev.family !== state.family || prev.signature !== signatureOf(state, cfg, opts.tableName ?? DEFAULT_TABLE);
}

/** The state to build an incremental plan in: `prev`'s content, sharing its storage copy-on-write. */
function fork(prev: Applied): Applied {
  return {
    ...prev,
    services: prev.services.fork(),
    elements: prev.elements.fork(),
    hairpin: prev.hairpin.fork(),
    alloc: new Map([...prev.alloc].map(([p, a]) => [p, a.fork()])),
    endpointMaps: new Set(prev.endpointMaps),
    sharedChains: new Set(prev.sharedChains),
  };
}

/**
 * Plan the transaction from `prev` (not changed) to `state`. Full when there
 * is no usable `prev`, when asked, or when anything outside per-service rules changed.
 */
export function plan(prev: Applied | null, state: ProxyState, cfg: DataplaneConfig, opts: PlanOptions = {}): Plan {
  if (!prev || plansFull(prev, state, cfg, opts)) {
    return fullPlan(state, cfg, opts, opts.cache ?? prev?.cache ?? new ServiceCache());
  }
  const table = opts.tableName ?? DEFAULT_TABLE;
  const cache = prev.cache;
  const next = fork(prev);
  const ctx = ruleContext(state, cfg, cache);
  const tx = new Transaction(tableRef(state.family, table));

  // Changed ports (a ServicePort object other than the one planned) in key order, and the ports gone.
  const changed: string[] = [];
  const gone: Placed[] = [];
  // The model's SortedMaps share every chunk it did not rewrite: O(changes), not a lookup per port
  // (forEachChange compares key by key for plain Maps; prev.source.get(key) is placed.rec.sp).
  forEachChange(prev.source, state.services, (key, _before, after) => {
    if (after !== undefined) changed.push(key);
    else gone.push(prev.services.get(key)!);
  });
  // In the order the ports were added (as a Map's iteration order would give).
  const removed = gone.sort((a, b) => a.seq - b.seq).map((p) => p.rec);
  let seq = prev.seq;

  const flushChains: string[] = [];
  const deleteChains: string[] = [];
  const addChains: string[] = [];
  const ruleWrites: [string, readonly string[]][] = [];
  const deleteSets: [string, SetDecl][] = [];
  const addSets: [string, SetDecl][] = [];
  const epDeletes: ElementOp[] = [];
  const epAdds: ElementOp[] = [];

  for (const old of removed) {
    releaseAll(next, old);
    diffSlots(cache, old.proto, old.sp.key, old.blocks.service, undefined, epDeletes, epAdds);
    diffSlots(cache, old.proto, old.sp.key, old.blocks.local, undefined, epDeletes, epAdds);
    diffEntries(old.sp.key, old.entries, [], epDeletes, epAdds);
    for (const b of Object.values(old.blocks)) if (b) allocFor(next, old.sp.protocol).release(b);
    for (const name of old.chains.keys()) {
      flushChains.push(name);
      deleteChains.push(name);
    }
    for (const [name, d] of old.sets) deleteSets.push([name, d]);
    next.services.delete(old.sp.key);
  }
  for (const key of changed) {
    const sp = state.services.get(key)!;
    const placed = next.services.get(key);
    const old = placed?.rec;
    if (old) releaseAll(next, old);
    // A protocol change is a new key (the key includes the protocol), so `old` shares the allocator.
    const rec = buildService(sp, ctx, old, allocFor(next, sp.protocol));
    claimAll(next, rec);
    diffSlots(cache, rec.proto, key, old?.blocks.service, rec.blocks.service, epDeletes, epAdds);
    diffSlots(cache, rec.proto, key, old?.blocks.local, rec.blocks.local, epDeletes, epAdds);
    diffEntries(key, old?.entries ?? [], rec.entries, epDeletes, epAdds);
    next.services.set(key, { rec, seq: placed ? placed.seq : seq++ });
    for (const m of rec.endpointMaps) {
      if (next.endpointMaps.has(m)) continue;
      next.endpointMaps.add(m);
      addSets.push([m, endpointsMapDecl(ctx.ipX, sp.protocol)]);
    }
    // A shared chain for a new (protocol, n): the rare case where an endpoint change writes a chain.
    for (const c of rec.shared) {
      if (next.sharedChains.has(c.name)) continue;
      next.sharedChains.add(c.name);
      if (!next.endpointMaps.has(c.map)) {
        next.endpointMaps.add(c.map);
        addSets.push([c.map, c.mapDecl]);
      }
      addChains.push(c.name);
      ruleWrites.push([c.name, c.rules]);
    }

    // A re-declared set (e.g. a new affinity timeout) must be deleted and re-added, which needs
    // every rule referencing it gone first: then rewrite all of this port's chains.
    let rewriteAll = false;
    for (const [name, d] of rec.sets) {
      const od = old?.sets.get(name);
      if (!od) addSets.push([name, d]);
      else if (od.kind !== d.kind || !sameSpec(od.spec, d.spec)) {
        deleteSets.push([name, od]);
        addSets.push([name, d]);
        rewriteAll = true;
      }
    }
    if (old) for (const [name, od] of old.sets) if (!rec.sets.has(name)) deleteSets.push([name, od]);

    for (const [name, rules] of rec.chains) {
      const oldRules = old?.chains.get(name);
      if (oldRules === undefined) {
        addChains.push(name);
        ruleWrites.push([name, rules]);
      } else if (rewriteAll || !sameRules(oldRules, rules)) {
        flushChains.push(name);
        ruleWrites.push([name, rules]);
      }
    }
    if (old) {
      for (const name of old.chains.keys()) {
        if (!rec.chains.has(name)) {
          flushChains.push(name);
          deleteChains.push(name);
        }
      }
    }
  }
  for (const a of next.alloc.values()) a.settle();

  const changes = next.elements.takeChanges();
  const hp = next.hairpin.takeChanges();
  const deletes = changes.deletes.concat(epDeletes, hp.removed.map(hairpinOp));
  const adds = changes.adds.concat(epAdds, hp.added.map(hairpinOp));
  // Order matters: drop references (elements, rules) before deleting what they point to, and
  // create sets/chains before rules and elements that point to them.
  elementOps(tx, 'delete', deletes);
  for (const c of flushChains) tx.flush({ kind: 'chain', name: c });
  for (const [name, d] of deleteSets) setOp(tx, 'delete', name, d);
  for (const [name, d] of addSets) setOp(tx, 'add', name, d);
  for (const c of addChains) tx.addChain(c);
  for (const [c, rules] of ruleWrites) for (const r of rules) tx.addRule(c, r);
  elementOps(tx, 'add', adds);
  for (const c of deleteChains) tx.delete({ kind: 'chain', name: c });

  next.elements.freeze();
  next.hairpin.freeze();
  return makePlan(tx, { ...next, seq, source: state.services }, false, [...changed, ...removed.map((r) => r.sp.key)]);
}

/** The full-sync script for `state` (what --print-rules shows). */
export function render(state: ProxyState, cfg: DataplaneConfig, opts: PlanOptions = {}): string {
  return planFull(state, cfg, opts).script;
}
