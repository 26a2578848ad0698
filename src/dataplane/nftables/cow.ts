// A string-keyed map that forks cheaply, so the planner can return a next applied state without
// touching the previous one (10^5 hairpin IPs or element keys: copying them per sync would cost
// more than the sync). While being built (a full plan) it is one insertion-ordered Map, which the
// full plan iterates for its output order; freeze() splits it into shards of ~SHARD_SIZE keys by
// key hash, after which fork() copies only the shard array and the first write to a shard copies
// that shard (a one-service change touches a few dozen shards: its hairpin IPs, its elements).

const SHARD_SIZE = 64;

function shardCount(n: number): number {
  let c = 16;
  while (c * SHARD_SIZE < n && c < 1 << 16) c *= 2;
  return c;
}

function hashOf(key: string): number {
  // Every character: keys share long suffixes and prefixes ("<ip> . tcp . 80", "<ns>/<name>:http/TCP"),
  // and a hash of only some of them put 9 in 10 service ports, or half the service-ips elements, in
  // one shard, which a fork then copied on each write (a one-change plan at 10k services took twice
  // the time of the in-place planner before it). It runs on every lookup (every service port on
  // every plan): two characters a step (h·31² + a·31 + b), about twice as fast as one.
  const n = key.length;
  let h = n;
  let i = 0;
  for (; i + 1 < n; i += 2) h = (Math.imul(h, 961) + key.charCodeAt(i) * 31 + key.charCodeAt(i + 1)) | 0;
  if (i < n) h = (Math.imul(h, 31) + key.charCodeAt(i)) | 0;
  return (h ^ (h >>> 16)) >>> 0;
}

export class CowMap<V> {
  /** Building: one ordered Map. Frozen: null. */
  private ordered: Map<string, V> | null = new Map();
  private shards: (Map<string, V> | undefined)[] = [];
  /** Shards this instance created (may be written); the others are shared with a fork. */
  private own: boolean[] = [];
  private n = 0;
  /** Shard count - 1 (a power of two minus one). */
  private mask = 15;

  get size(): number {
    return this.ordered ? this.ordered.size : this.n;
  }

  get(key: string): V | undefined {
    return this.ordered ? this.ordered.get(key) : this.shards[hashOf(key) & this.mask]?.get(key);
  }

  has(key: string): boolean {
    return this.ordered ? this.ordered.has(key) : this.shards[hashOf(key) & this.mask]?.has(key) === true;
  }

  private writable(key: string): Map<string, V> {
    const i = hashOf(key) & this.mask;
    let s = this.shards[i];
    if (!this.own[i]) {
      s = s ? new Map(s) : new Map();
      this.shards[i] = s;
      this.own[i] = true;
    }
    return s!;
  }

  set(key: string, v: V): void {
    if (this.ordered) {
      this.ordered.set(key, v);
      return;
    }
    const s = this.writable(key);
    if (!s.has(key)) this.n++;
    s.set(key, v);
  }

  delete(key: string): void {
    if (this.ordered) {
      this.ordered.delete(key);
      return;
    }
    if (!this.has(key)) return;
    this.writable(key).delete(key);
    this.n--;
  }

  /** Entries: in insertion order before freeze(), in shard order after. */
  *entries(): IterableIterator<[string, V]> {
    if (this.ordered) {
      yield* this.ordered;
      return;
    }
    for (const s of this.shards) if (s) yield* s;
  }

  /** The largest shard's size (0 before freeze()): what a first write after a fork copies at most. */
  maxShardSize(): number {
    let m = 0;
    for (const s of this.shards) if (s && s.size > m) m = s.size;
    return m;
  }

  /** Switch to the shared-shard form (once the full plan has read the insertion order). */
  freeze(): this {
    const o = this.ordered;
    if (!o) return this;
    this.ordered = null;
    this.n = o.size;
    this.mask = shardCount(o.size) - 1;
    for (const [k, v] of o) this.writable(k).set(k, v);
    return this;
  }

  /**
   * A copy sharing every shard (this one must be frozen, and is not changed). The copy copies a
   * shard before its first write to it; the original is not written after it was forked (the
   * planner writes only the state it is building).
   */
  fork(): CowMap<V> {
    if (this.ordered) throw new Error('CowMap.fork: freeze() first');
    const c = new CowMap<V>();
    c.ordered = null;
    c.n = this.n;
    if (this.n > 4 * SHARD_SIZE * (this.mask + 1)) {
      // Grown well past its shard count: re-shard into the copy (O(n), rare).
      c.mask = shardCount(this.n) - 1;
      for (const s of this.shards) if (s) for (const [k, v] of s) c.writable(k).set(k, v);
      return c;
    }
    c.mask = this.mask;
    c.shards = this.shards.slice();
    return c;
  }
}
