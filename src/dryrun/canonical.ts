// --dry-run's common currency: a ruleset as comparable groups of items, and the diff of two.
// Pure. A group is a chain (ordered rules), a set or map (unordered elements), a virtual server
// (unordered real servers), an address list; its header is what describes the group itself
// (chain hook, map type, scheduler). Per-mode parsers (nftables.ts, iptables.ts, ipvs.ts) turn
// tool output into this form; the kernel's side and the next sync's side go through the same one.

export interface Group {
  /** Properties of the group itself (hook/type/flags, scheduler); '' when none. */
  readonly header: string;
  readonly items: readonly string[];
  /** Whether item order matters (chain rules) or not (set elements, real servers). */
  readonly ordered: boolean;
  /**
   * A leftover a sync may keep (nftables: a shared DNAT chain or map no service uses any more):
   * not a difference when only the kernel has it.
   */
  readonly optional?: boolean;
}

/** Keyed by a readable name, e.g. "nat chain KUBE-SERVICES", "map service-ips", "virtual-server TCP 198.19.0.10:80". */
export type Canonical = ReadonlyMap<string, Group>;

export interface GroupDiff {
  readonly key: string;
  /** added: the next sync would create the group; removed: it would delete it; changed: edit it. */
  readonly status: 'added' | 'removed' | 'changed';
  /** Set when the header differs: [kernel, next sync]. */
  readonly header?: readonly [string, string];
  /** Items the next sync would add. */
  readonly added: readonly string[];
  /** Items the next sync would remove. */
  readonly removed: readonly string[];
  /** Same items, different order (chains only). */
  readonly reordered: boolean;
}

/** Items of `a` not in `b`, as a multiset difference (a chain may hold the same rule twice). */
function minus(a: readonly string[], b: readonly string[]): string[] {
  const count = new Map<string, number>();
  for (const x of b) count.set(x, (count.get(x) ?? 0) + 1);
  const out: string[] = [];
  for (const x of a) {
    const n = count.get(x) ?? 0;
    if (n > 0) count.set(x, n - 1);
    else out.push(x);
  }
  return out;
}

function sameSequence(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** What the next sync would change to turn `kernel` into `desired`, sorted by group key. */
export function diffCanonical(kernel: Canonical, desired: Canonical): GroupDiff[] {
  const out: GroupDiff[] = [];
  const keys = [...new Set([...kernel.keys(), ...desired.keys()])].sort();
  for (const key of keys) {
    const k = kernel.get(key);
    const d = desired.get(key);
    if (!k && d) {
      out.push({ key, status: 'added', added: d.ordered ? [...d.items] : [...d.items].sort(), removed: [], reordered: false });
    } else if (k && !d) {
      out.push({ key, status: 'removed', added: [], removed: k.ordered ? [...k.items] : [...k.items].sort(), reordered: false });
    } else if (k && d) {
      const added = minus(d.items, k.items);
      const removed = minus(k.items, d.items);
      const header = k.header !== d.header ? ([k.header, d.header] as const) : undefined;
      const reordered = d.ordered && added.length === 0 && removed.length === 0 && !sameSequence(k.items, d.items);
      if (added.length === 0 && removed.length === 0 && !header && !reordered) continue;
      out.push({
        key,
        status: 'changed',
        header,
        added: d.ordered ? added : added.sort(),
        removed: d.ordered ? removed : removed.sort(),
        reordered,
      });
    }
  }
  return out;
}

/** Number of item-level changes (a header or an order change counts as one). */
export function countChanges(diffs: readonly GroupDiff[]): number {
  let n = 0;
  for (const d of diffs) n += d.added.length + d.removed.length + (d.header ? 1 : 0) + (d.reordered ? 1 : 0) + (d.status !== 'changed' && d.added.length + d.removed.length === 0 ? 1 : 0);
  return n;
}

/**
 * diff-like text: `-` what the kernel has and the next sync removes, `+` what it would add.
 * A reordered chain is shown whole, in both orders.
 */
export function formatDiff(title: string, diffs: readonly GroupDiff[], kernel: Canonical, desired: Canonical): string {
  if (diffs.length === 0) return `# ${title}: no difference\n`;
  const lines = [`# ${title}: ${countChanges(diffs)} difference(s)`, '--- kernel', '+++ next sync'];
  for (const d of diffs) {
    lines.push(`@@ ${d.key}${d.status === 'changed' ? (d.reordered ? ' (order differs)' : '') : ` (${d.status})`}`);
    if (d.header) {
      lines.push(`- ${d.header[0] === '' ? '(no properties)' : d.header[0]}`, `+ ${d.header[1] === '' ? '(no properties)' : d.header[1]}`);
    }
    if (d.reordered) {
      for (const x of kernel.get(d.key)?.items ?? []) lines.push(`- ${x}`);
      for (const x of desired.get(d.key)?.items ?? []) lines.push(`+ ${x}`);
    }
    for (const x of d.removed) lines.push(`- ${x}`);
    for (const x of d.added) lines.push(`+ ${x}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * Keep only the groups of `kernel` the next sync owns: those it writes, and those `owned` claims
 * (minus optional leftovers it would keep).
 */
export function restrictToOwned(kernel: Canonical, desired: Canonical, owned: (key: string) => boolean): Canonical {
  return new Map([...kernel].filter(([key, g]) => desired.has(key) || (owned(key) && g.optional !== true)));
}
