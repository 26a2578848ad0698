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
