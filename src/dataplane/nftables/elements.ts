// Set/map elements with owners. Several service ports may claim one element (a ClusterIP in
// `cluster-ips` for each port, an endpoint IP in `hairpin` for each service it backs, or
// conflicting externalIPs); the kernel holds the first claim's value. Changes are tracked per
// element so a plan emits exactly the element deletes/adds whose effective value changed.

export interface ElementValue {
  /** Map value text, null for set elements. */
  readonly value: string | null;
  readonly comment?: string;
}

interface Claim extends ElementValue {
  readonly owner: string;
}

export interface ElementOp {
  readonly map: string;
  readonly key: string;
  readonly value: ElementValue;
}

const SEP = '\u0000';

function same(a: ElementValue | undefined, b: ElementValue | undefined): boolean {
  if (!a || !b) return a === b;
  return a.value === b.value && a.comment === b.comment;
}

export class ElementTable {
  private readonly claims = new Map<string, Claim[]>();
  /** Effective value at the first touch since the last takeChanges(), keyed map\0key. */
  private touched = new Map<string, ElementValue | undefined>();

  private effective(id: string): ElementValue | undefined {
    return this.claims.get(id)?.[0];
  }

  private touch(id: string): void {
    if (!this.touched.has(id)) this.touched.set(id, this.effective(id));
  }

  claim(owner: string, map: string, key: string, v: ElementValue): void {
    const id = map + SEP + key;
    this.touch(id);
    const list = this.claims.get(id);
    const c: Claim = { owner, value: v.value, ...(v.comment !== undefined ? { comment: v.comment } : {}) };
    if (list) list.push(c);
    else this.claims.set(id, [c]);
  }

  release(owner: string, map: string, key: string): void {
    const id = map + SEP + key;
    const list = this.claims.get(id);
    if (!list) return;
    const i = list.findIndex((c) => c.owner === owner);
    if (i < 0) return;
    this.touch(id);
    list.splice(i, 1);
    if (list.length === 0) this.claims.delete(id);
  }

  /** Element operations since the last call: deletes (old value gone or replaced) and adds. */
  takeChanges(): { deletes: ElementOp[]; adds: ElementOp[] } {
    const deletes: ElementOp[] = [];
    const adds: ElementOp[] = [];
    for (const [id, before] of this.touched) {
      const after = this.effective(id);
      if (same(before, after)) continue;
      const sep = id.indexOf(SEP);
      const map = id.slice(0, sep);
      const key = id.slice(sep + 1);
      if (before) deletes.push({ map, key, value: before });
      if (after) adds.push({ map, key, value: after });
    }
    this.touched = new Map();
    return { deletes, adds };
  }

  get size(): number {
    return this.claims.size;
  }
}
