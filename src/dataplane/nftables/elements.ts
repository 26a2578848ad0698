// Set/map elements with owners. Several service ports may claim one element (a ClusterIP in
// `cluster-ips` for each port, an endpoint IP in `hairpin` for each service it backs, or
// conflicting externalIPs); the kernel holds the first claim's value. Changes are tracked per
// element so a plan emits exactly the element deletes/adds whose effective value changed.
// (Nested maps and claim objects reused from the records: this runs ~10^5 times per full plan.)
// Both tables fork cheaply (cow.ts): the planner builds the next state from a fork and never
// writes the previous one; claim lists are replaced, never changed in place, as forks share them.

import { CowMap } from './cow.js';

export interface ElementOp {
  readonly map: string;
  readonly key: string;
  /** Map value text, null for set elements. */
  readonly value: string | null;
  readonly comment?: string;
  /** ServicePort key of the claimer. */
  readonly owner: string;
}

type Claims = ElementOp | ElementOp[];

function first(c: Claims | undefined): ElementOp | undefined {
  return c === undefined ? undefined : Array.isArray(c) ? c[0] : c;
}

function same(a: ElementOp | undefined, b: ElementOp | undefined): boolean {
  if (!a || !b) return a === b;
  return a.value === b.value && a.comment === b.comment;
}

export class ElementTable {
  private readonly claims: Map<string, CowMap<Claims>>;
  /** Effective claim at the first touch since the last takeChanges(), per map and key. */
  private touched = new Map<string, Map<string, ElementOp | undefined>>();
  /** When false (building a full plan), changes are not tracked: everything is new. */
  private tracking = true;

  constructor(tracking = true, claims = new Map<string, CowMap<Claims>>()) {
    this.tracking = tracking;
    this.claims = claims;
  }

  /** A tracking copy sharing this table's (frozen) maps; writes to either are not seen by the other. */
  fork(): ElementTable {
    const claims = new Map<string, CowMap<Claims>>();
    for (const [map, byKey] of this.claims) claims.set(map, byKey.fork());
    return new ElementTable(true, claims);
  }

  /** Make the table forkable (after a plan has read its insertion order). */
  freeze(): this {
    for (const byKey of this.claims.values()) byKey.freeze();
    return this;
  }

  private touch(map: string, key: string, byKey: CowMap<Claims> | undefined): void {
    if (!this.tracking) return;
    let t = this.touched.get(map);
    if (!t) this.touched.set(map, (t = new Map()));
    if (!t.has(key)) t.set(key, first(byKey?.get(key)));
  }

  claim(op: ElementOp): void {
    let byKey = this.claims.get(op.map);
    if (!byKey) this.claims.set(op.map, (byKey = new CowMap()));
    this.touch(op.map, op.key, byKey);
    const cur = byKey.get(op.key);
    if (cur === undefined) byKey.set(op.key, op);
    else if (Array.isArray(cur)) byKey.set(op.key, [...cur, op]);
    else byKey.set(op.key, [cur, op]);
  }

  release(op: ElementOp): void {
    const byKey = this.claims.get(op.map);
    const cur = byKey?.get(op.key);
    if (!byKey || cur === undefined) return;
    if (!Array.isArray(cur)) {
      if (cur.owner !== op.owner) return;
      this.touch(op.map, op.key, byKey);
      byKey.delete(op.key);
      return;
    }
    const i = cur.findIndex((c) => c.owner === op.owner);
    if (i < 0) return;
    this.touch(op.map, op.key, byKey);
    const rest = cur.filter((_, j) => j !== i);
    byKey.set(op.key, rest.length === 1 ? rest[0]! : rest);
  }

  /** Element operations since the last call: deletes (old value gone or replaced) and adds. */
  takeChanges(): { deletes: ElementOp[]; adds: ElementOp[] } {
    const deletes: ElementOp[] = [];
    const adds: ElementOp[] = [];
    for (const [map, keys] of this.touched) {
      const byKey = this.claims.get(map);
      for (const [key, before] of keys) {
        const after = first(byKey?.get(key));
        if (same(before, after)) continue;
        if (before) deletes.push(before);
        if (after) adds.push(after);
      }
    }
    this.touched = new Map();
    return { deletes, adds };
  }

  /** Every element's effective claim by map (for a full plan), and switch to change tracking. */
  allByMap(): Map<string, ElementOp[]> {
    const out = new Map<string, ElementOp[]>();
    for (const [map, byKey] of this.claims) {
      const l: ElementOp[] = [];
      for (const [, c] of byKey.entries()) l.push(Array.isArray(c) ? c[0]! : c);
      if (l.length > 0) out.set(map, l);
    }
    this.tracking = true;
    this.touched = new Map();
    return out;
  }
}

/**
 * A set whose elements carry no value and no comment, so every claim is alike and a count per key
 * is all the ownership needed: the `hairpin` set, keyed by endpoint IP (element `ip . ip`).
 * At 10k services × 10 endpoints this replaces 10^5 ElementOp objects, their key strings and claim
 * lists in the ElementTable with one counter per distinct IP (the dedupe across services and
 * ports is the count).
 */
export class IpRefCount {
  private readonly counts: CowMap<number>;
  /** Presence at the first touch since the last takeChanges(). */
  private touched = new Map<string, boolean>();
  private tracking: boolean;

  constructor(tracking = true, counts = new CowMap<number>()) {
    this.tracking = tracking;
    this.counts = counts;
  }

  /** A tracking copy sharing this (frozen) one's counts; writes to either are not seen by the other. */
  fork(): IpRefCount {
    return new IpRefCount(true, this.counts.fork());
  }

  freeze(): this {
    this.counts.freeze();
    return this;
  }

  claim(ip: string): void {
    const c = this.counts.get(ip);
    if (c !== undefined) {
      this.counts.set(ip, c + 1);
      return;
    }
    if (this.tracking && !this.touched.has(ip)) this.touched.set(ip, false);
    this.counts.set(ip, 1);
  }

  release(ip: string): void {
    const c = this.counts.get(ip);
    if (c === undefined) return;
    if (c > 1) {
      this.counts.set(ip, c - 1);
      return;
    }
    if (this.tracking && !this.touched.has(ip)) this.touched.set(ip, true);
    this.counts.delete(ip);
  }

  /** IPs that appeared and disappeared since the last call. */
  takeChanges(): { removed: string[]; added: string[] } {
    const removed: string[] = [];
    const added: string[] = [];
    for (const [ip, before] of this.touched) {
      const after = this.counts.has(ip);
      if (before && !after) removed.push(ip);
      else if (!before && after) added.push(ip);
    }
    this.touched = new Map();
    return { removed, added };
  }

  /** Every IP (for a full plan), and switch to change tracking. */
  *all(): IterableIterator<string> {
    this.tracking = true;
    this.touched = new Map();
    for (const [ip] of this.counts.entries()) yield ip;
  }
}
