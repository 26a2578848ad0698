// Integer key blocks of the global `endpoints` map. A service port's endpoint choice is
// `numgen random mod n offset base map @endpoints`, so it owns keys [base, base+n). Blocks come
// in power-of-two capacities so a service whose endpoint count changes within its capacity keeps
// its block (an endpoint change stays a few element operations, no chain rewrite when n holds).

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
    const b = { base: this.highWater, cap };
    this.highWater += cap;
    return b;
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
