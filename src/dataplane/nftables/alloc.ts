// Integer key blocks of the endpoint maps. A service port's endpoint choice is
// `numgen random mod n offset base map @endpoints-<proto>-<page>`, so it owns keys
// [base, base+n). Blocks come in power-of-two capacities so a service whose endpoint count changes
// within its capacity keeps its block (an endpoint change stays a few element operations, no
// chain rewrite when n holds).
//
// Keys are split into pages of PAGE_KEYS, one named map per page: the kernel checks every element
// added to a map against every rule bound to that map (nft_add_set_elem walks set->bindings), so
// one map for all services costs elements × services on a full load (measured: 5k services with
// 10 endpoints, 5.5 s instead of 0.9 s). Pages bound that to ≤ PAGE_KEYS² per page.
// Blocks are aligned to their capacity so none straddles a page; a block larger than a page gets
// a map of its own.

import type { Endpoint } from '../../model/types.js';

/** Keys per endpoint-map page. */
export const PAGE_KEYS = 1024;

export interface Block {
  readonly base: number;
  readonly cap: number;
}

export function capacityFor(n: number): number {
  let c = 1;
  while (c < n) c *= 2;
  return c;
}

export class BlockAllocator {
  private highWater = 0;
  private readonly free = new Map<number, number[]>();
  /** Blocks released during the current plan: reusable only once that transaction is applied. */
  private pending: Block[] = [];

  alloc(n: number): Block {
    const cap = capacityFor(n);
    const list = this.free.get(cap);
    const base = list?.pop();
    if (base !== undefined) return { base, cap };
    const align = Math.min(cap, PAGE_KEYS);
    const start = Math.ceil(this.highWater / align) * align;
    // The alignment gap [highWater, start) stays unused: at most one block's worth per allocation
    // that needed alignment, and keys are plentiful (32 bits).
    const b = { base: start, cap };
    this.highWater = start + cap;
    return b;
  }

  /** An independent copy (the planner allocates in the copy, never in the previous state's). */
  fork(): BlockAllocator {
    const c = new BlockAllocator();
    c.highWater = this.highWater;
    for (const [cap, bases] of this.free) c.free.set(cap, bases.slice());
    c.pending = this.pending.slice();
    return c;
  }

  release(b: Block): void {
    this.pending.push(b);
  }

  /** Make blocks released by the plan just built reusable (call after building the plan). */
  settle(): void {
    for (const b of this.pending) {
      let list = this.free.get(b.cap);
      if (!list) this.free.set(b.cap, (list = []));
      list.push(b.base);
    }
    this.pending = [];
  }

  /** Keys in use or on free lists (for docs/benchmarks). */
  get size(): number {
    return this.highWater;
  }
}

/** Which endpoint map (page) holds `b`: a page number, or "x<base>" for a block bigger than a page. */
export function pageOf(b: Block): string {
  return b.cap <= PAGE_KEYS ? String(Math.floor(b.base / PAGE_KEYS)) : `x${b.base}`;
}

// Slots: which endpoint sits at which key of a block (or index of a shared-map entry).

/** An endpoint-map element value. */
export function epValue(ep: Pick<Endpoint, 'ip' | 'port'>): string {
  return `${ep.ip} . ${ep.port}`;
}

/**
 * Slot order for `eps` that keeps every surviving endpoint at its old index when that index still
 * exists (indices must stay 0..n-1), so one endpoint replaced is one element replaced, and one
 * added or removed is one or two.
 */
export function compactSlots(old: readonly Endpoint[] | undefined, eps: readonly Endpoint[]): readonly Endpoint[] {
  if (!old || old.length === 0) return eps;
  const want = new Map<string, Endpoint>();
  for (const e of eps) want.set(epValue(e), e);
  const slots: (Endpoint | undefined)[] = new Array<Endpoint | undefined>(eps.length);
  const placed = new Set<string>();
  for (let i = 0; i < Math.min(old.length, eps.length); i++) {
    const k = epValue(old[i]!);
    const e = want.get(k);
    if (e !== undefined) {
      slots[i] = e;
      placed.add(k);
    }
  }
  let hole = 0;
  for (const e of eps) {
    if (placed.has(epValue(e))) continue;
    while (slots[hole] !== undefined) hole++;
    slots[hole] = e;
  }
  return slots as Endpoint[];
}

/**
 * A policy chain's block of `endpoints` keys and which endpoint sits at each key (key base+i holds
 * slots[i]). The record keeps Endpoint objects, not "ip . port" strings: at 10k × 10 that is
 * 10^5 strings fewer to build and keep per full plan; the element text is built once, on output.
 */
export interface SlotBlock<T = Endpoint> extends Block {
  readonly slots: readonly T[];
}

/**
 * Keep each surviving endpoint at its old key when it still fits, fill holes with new ones, so an
 * endpoint added or removed changes one or two elements rather than shifting the whole block.
 * Values are compared by `keyOf` (an endpoint's element value "ip . port"); a new block keeps
 * `values` itself as its slots (callers pass an array nobody mutates).
 */
export function assignSlots<T>(
  old: SlotBlock<T> | undefined,
  values: readonly T[],
  alloc: BlockAllocator,
  keyOf: (v: T) => string = String,
): SlotBlock<T> {
  // Keep the block while the endpoints fit, unless it became 4× too big (hysteresis: a service
  // oscillating around a power of two does not move back and forth).
  const keep = old !== undefined && values.length <= old.cap && !(old.cap > 4 && values.length * 4 <= old.cap);
  if (old && keep) {
    const want = new Map<string, T>();
    for (const v of values) want.set(keyOf(v), v);
    const slots: (T | undefined)[] = new Array<T | undefined>(values.length);
    const placed = new Set<string>();
    for (let i = 0; i < Math.min(old.slots.length, values.length); i++) {
      const k = keyOf(old.slots[i]!);
      const v = want.get(k);
      if (v !== undefined) {
        slots[i] = v;
        placed.add(k);
      }
    }
    let hole = 0;
    for (const v of values) {
      if (placed.has(keyOf(v))) continue;
      while (slots[hole] !== undefined) hole++;
      slots[hole] = v;
    }
    return { base: old.base, cap: old.cap, slots: slots as T[] };
  }
  // The caller releases `old` (it knows whether the block is still used).
  const b = alloc.alloc(values.length);
  return { base: b.base, cap: b.cap, slots: values };
}

