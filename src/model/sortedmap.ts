// An immutable ReadonlyMap<string, V> that iterates in key order and derives a changed copy
// in O(changes · chunk + n / chunk) instead of O(n): keys live in sorted chunks, and a new
// version shares every chunk it did not touch with the previous one. With 100k service
// ports, copying a Map per build cost 50–100 ms; this costs well under 1 ms. Two versions derived
// from one another can also be diffed in O(chunks + keys of the chunks not shared) (forEachChange):
// what lets a sync's bookkeeping follow the changes instead of walking every service port.

const CHUNK = 256;

interface Chunk<V> {
  readonly keys: readonly string[];
  readonly vals: readonly V[];
}

function lowerBound(arr: readonly string[], key: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class SortedMap<V> implements ReadonlyMap<string, V> {
  private readonly chunks: readonly Chunk<V>[];
  /** First key of each chunk, for binary search. */
  private readonly firsts: readonly string[];
  readonly size: number;

  private constructor(chunks: readonly Chunk<V>[]) {
    this.chunks = chunks;
    this.firsts = chunks.map((c) => c.keys[0]!);
    let n = 0;
    for (const c of chunks) n += c.keys.length;
    this.size = n;
  }

  static empty<V>(): SortedMap<V> {
    return new SortedMap<V>([]);
  }

  /** Entries in any order; duplicate keys: the last wins. */
  static from<V>(entries: Iterable<readonly [string, V]>): SortedMap<V> {
    const m = new Map<string, V>(entries);
    const keys = [...m.keys()].sort();
    const chunks: Chunk<V>[] = [];
    for (let i = 0; i < keys.length; i += CHUNK) {
      const ks = keys.slice(i, i + CHUNK);
      chunks.push({ keys: ks, vals: ks.map((k) => m.get(k)!) });
    }
    return new SortedMap(chunks);
  }

  private chunkIndex(key: string): number {
    // Last chunk whose first key <= key (0 when key sorts before everything).
    const i = lowerBound(this.firsts, key);
    if (i < this.firsts.length && this.firsts[i] === key) return i;
    return Math.max(0, i - 1);
  }

  get(key: string): V | undefined {
    if (this.chunks.length === 0) return undefined;
    const c = this.chunks[this.chunkIndex(key)]!;
    const j = lowerBound(c.keys, key);
    return c.keys[j] === key ? c.vals[j] : undefined;
  }

  has(key: string): boolean {
    if (this.chunks.length === 0) return false;
    const c = this.chunks[this.chunkIndex(key)]!;
    return c.keys[lowerBound(c.keys, key)] === key;
  }

  /** A new map with `set` entries written (added or replaced) and `remove` keys deleted. */
  withChanges(set: ReadonlyMap<string, V>, remove: ReadonlySet<string>): SortedMap<V> {
    if (set.size === 0 && remove.size === 0) return this;
    if (this.chunks.length === 0) return SortedMap.from(set);
    // Group the changed keys by the chunk they fall into.
    const byChunk = new Map<number, string[]>();
    const note = (k: string) => {
      const i = this.chunkIndex(k);
      const l = byChunk.get(i);
      if (l) l.push(k);
      else byChunk.set(i, [k]);
    };
    for (const k of set.keys()) note(k);
    for (const k of remove) note(k);
    const out: Chunk<V>[] = [];
    for (let i = 0; i < this.chunks.length; i++) {
      const touched = byChunk.get(i);
      if (!touched) {
        out.push(this.chunks[i]!);
        continue;
      }
      const m = new Map<string, V>();
      const c = this.chunks[i]!;
      for (let j = 0; j < c.keys.length; j++) m.set(c.keys[j]!, c.vals[j]!);
      for (const k of touched) {
        if (remove.has(k)) m.delete(k);
        else m.set(k, set.get(k)!);
      }
      const keys = [...m.keys()].sort();
      for (let s = 0; s < keys.length; s += CHUNK) {
        const ks = keys.slice(s, s + CHUNK);
        out.push({ keys: ks, vals: ks.map((k) => m.get(k)!) });
      }
    }
    return new SortedMap(out);
  }

  /**
   * Calls `cb(key, before, after)` for every key whose value differs by identity between `a` and
   * `b` (added: `before` undefined; removed: `after` undefined), in key order. A chunk present in
   * both (untouched by the withChanges calls between them) holds the same keys and values in both,
   * so only the keys of the other chunks are compared. Values must not be undefined.
   */
  static forEachChange<V>(a: SortedMap<V>, b: SortedMap<V>, cb: (key: string, before: V | undefined, after: V | undefined) => void): void {
    if (a === b) return;
    const inA = new Set(a.chunks);
    const inB = new Set(b.chunks);
    const ac = a.chunks.filter((c) => !inB.has(c));
    const bc = b.chunks.filter((c) => !inA.has(c));
    // A key of a chunk only `a` has is in `b` only in a chunk only `b` has (a shared chunk holding
    // it would hold it in `a` too, twice): merge the two sorted key runs.
    let ci = 0;
    let ki = 0;
    let cj = 0;
    let kj = 0;
    for (;;) {
      const ca = ac[ci];
      const cb2 = bc[cj];
      if (ca === undefined && cb2 === undefined) return;
      const ka = ca?.keys[ki];
      const kb = cb2?.keys[kj];
      let stepA = false;
      let stepB = false;
      if (kb === undefined || (ka !== undefined && ka < kb)) {
        cb(ka!, ca!.vals[ki], undefined);
        stepA = true;
      } else if (ka === undefined || kb < ka) {
        cb(kb, undefined, cb2!.vals[kj]);
        stepB = true;
      } else {
        const va = ca!.vals[ki];
        const vb = cb2!.vals[kj];
        if (va !== vb) cb(ka, va, vb);
        stepA = stepB = true;
      }
      if (stepA && ++ki >= ca!.keys.length) {
        ci++;
        ki = 0;
      }
      if (stepB && ++kj >= cb2!.keys.length) {
        cj++;
        kj = 0;
      }
    }
  }

  *entries(): MapIterator<[string, V]> {
    for (const c of this.chunks) for (let j = 0; j < c.keys.length; j++) yield [c.keys[j]!, c.vals[j]!];
  }

  *keys(): MapIterator<string> {
    for (const c of this.chunks) yield* c.keys;
  }

  *values(): MapIterator<V> {
    for (const c of this.chunks) yield* c.vals;
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  forEach(cb: (value: V, key: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    for (const c of this.chunks) for (let j = 0; j < c.keys.length; j++) cb.call(thisArg, c.vals[j]!, c.keys[j]!, this);
  }

  get [Symbol.toStringTag](): string {
    return 'SortedMap';
  }
}

/**
 * Every key whose value differs by identity between two versions of a map (see
 * SortedMap.forEachChange): in O(changed chunks) and key order for two SortedMaps, else by comparing
 * every key (O(n); `b`'s order, then the keys only `a` has). Values must not be undefined.
 */
export function forEachChange<V>(
  a: ReadonlyMap<string, V>,
  b: ReadonlyMap<string, V>,
  cb: (key: string, before: V | undefined, after: V | undefined) => void,
): void {
  if (a === b) return;
  if (a instanceof SortedMap && b instanceof SortedMap) return SortedMap.forEachChange(a as SortedMap<V>, b as SortedMap<V>, cb);
  b.forEach((v, k) => {
    const o = a.get(k);
    if (o !== v) cb(k, o, v);
  });
  a.forEach((v, k) => {
    if (!b.has(k)) cb(k, v, undefined);
  });
}
