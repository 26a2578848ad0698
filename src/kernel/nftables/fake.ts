// An in-memory nftables that applies Transactions with nft's semantics and dumps a canonical
// listing: the role sigs.k8s.io/knftables' Fake plays. Tests use it to check planners without root:
// a transaction the kernel would refuse fails here too, for the reasons modelled below.
//
// Semantics modelled (as the kernel applies an `nft -f` file):
// - the whole transaction is atomic: one failing operation leaves the state untouched;
// - `add` of an existing table, chain or set is a no-op, unless the declaration differs (base
//   chain hook, set type): then it fails; `add element` of an existing key with the same value is a
//   no-op, with another value it fails;
// - `flush` and `delete` of a missing object fail; deleting a chain that still has rules or is
//   the target of a jump/goto (in a rule or a verdict-map element) fails, and so does deleting a
//   set or map some rule still references (`@name`);
// - rules referencing a missing chain or set, and verdict elements to a missing chain, fail;
// - handles count up per table from 1 over chains, sets and rules, never reused;
// - `create table` of an existing table fails ("File exists").
// Visibility while the kernel processes a transaction is not a state here (apply is one step),
// except for the one case where the kernel shows something the transaction does not leave: a table
// created and deleted by the same transaction (it did not exist before) is visible, empty, in the
// current generation from its deletion until the commit (nft_deactivate_next overwrites the
// "not yet active" mark; docs/reliability.md section 10). Such transactions are counted in
// `exposedEmptyTables`, so tests can require that none is sent.

import { ExecError, type ExecResult } from '../../util/exec.js';
import type { ToolRunner } from '../runner.js';
import type { Family, NftObject, SetSpec, TableRef } from './objects.js';
import { renderSpec } from './objects.js';
import { parseScript } from './parse.js';
import { NftSessionError, type NftStream, type NftStreamFactory } from './session.js';
import type { Op, Transaction } from './transaction.js';

export class NftError extends Error {
  constructor(
    message: string,
    /** Index of the failing operation in the transaction. */
    readonly op: number,
  ) {
    super(message);
    this.name = 'NftError';
  }
}

interface FakeRule {
  readonly handle: number;
  readonly rule: string;
}
interface FakeChain {
  readonly handle: number;
  readonly base: string | undefined;
  rules: FakeRule[];
}
interface FakeSet {
  readonly handle: number;
  readonly kind: 'set' | 'map';
  readonly spec: SetSpec;
  /** key -> value ('' for sets) and comment. */
  elements: Map<string, { value: string; comment: string | undefined }>;
}
interface FakeTable {
  comment: string | undefined;
  nextHandle: number;
  chains: Map<string, FakeChain>;
  sets: Map<string, FakeSet>;
}

const JUMP = /\b(?:jump|goto) (\S+)/g;
const SETREF = /@(\S+)/g;
/** Rule text without its comment (comments may mention @sets in prose). */
function code(rule: string): string {
  return rule.replace(/comment "[^"]*"/g, '');
}

function baseText(o: NftObject): string | undefined {
  return o.kind === 'chain' && o.base ? `type ${o.base.type} hook ${o.base.hook} priority ${o.base.priority}` : undefined;
}

function cloneTable(t: FakeTable): FakeTable {
  return {
    comment: t.comment,
    nextHandle: t.nextHandle,
    chains: new Map([...t.chains].map(([n, c]) => [n, { ...c, rules: [...c.rules] }])),
    sets: new Map([...t.sets].map(([n, s]) => [n, { ...s, elements: new Map(s.elements) }])),
  };
}

export class FakeNftables {
  private tables = new Map<string, FakeTable>();
  /** Transactions applied successfully. */
  applied = 0;
  /** Transactions (applied or not) that created and deleted the same, previously absent table. */
  exposedEmptyTables = 0;

  private static key(t: TableRef): string {
    return `${t.family} ${t.name}`;
  }

  /** Apply atomically; throws NftError (and changes nothing) when any operation fails. */
  apply(tx: Transaction | readonly Op[]): void {
    const ops = Array.isArray(tx) ? (tx as readonly Op[]) : (tx as Transaction).ops;
    const work = new Map([...this.tables].map(([k, t]) => [k, cloneTable(t)]));
    const created = new Set<string>();
    let exposed = false;
    ops.forEach((op, i) => {
      if (op.object.kind === 'table') {
        const k = FakeNftables.key(op.table);
        if ((op.verb === 'add' || op.verb === 'create') && !work.has(k)) created.add(k);
        else if (op.verb === 'delete' && created.has(k) && !exposed) {
          exposed = true;
          this.exposedEmptyTables++;
        }
      }
      try {
        applyOp(work, op);
      } catch (e) {
        const what = `${op.verb} ${op.object.kind} ${FakeNftables.key(op.table)}`;
        throw new NftError(`${what}: ${e instanceof Error ? e.message : String(e)}`, i);
      }
    });
    this.tables = work;
    this.applied++;
  }

  /** Like `nft -c`: validate without changing anything. */
  check(tx: Transaction | readonly Op[]): void {
    const saved = this.tables;
    const n = this.applied;
    try {
      this.apply(tx);
    } finally {
      this.tables = saved;
      this.applied = n;
    }
  }

  /**
   * A ToolRunner that answers `nft [-c] -f -` (input parsed back into operations) and
   * `nft list table F T` from this fake; any other command fails. Pass `fail` to make a
   * transaction fail like nft would (fault injection): return an error text, or null.
   */
  runner(fail?: (script: string) => string | null): ToolRunner {
    return async (command, args, opts = {}) => {
      const result = (code: number, stdout = '', stderr = ''): ExecResult => {
        const r = { code, stdout, stderr, millis: 0 };
        if (code !== 0 && !opts.allowFailure) throw new ExecError(command, args, r);
        return r;
      };
      if (command !== 'nft') return result(127, '', `fake nftables: not nft: ${command}`);
      const a = [...args];
      if (a[0] === 'list' && a[1] === 'table') {
        const d = this.dump(a[2] as Family, a[3] ?? '');
        return d === null ? result(1, '', `Error: No such file or directory; did you mean table ‘${a[3]}’?`) : result(0, d);
      }
      const check = a[0] === '-c';
      if (check) a.shift();
      if (a[0] !== '-f' || a[1] !== '-') return result(2, '', `fake nftables: unsupported arguments ${args.join(' ')}`);
      const script = opts.input ?? '';
      try {
        const injected = fail?.(script) ?? null;
        if (injected !== null) return result(1, '', injected);
        const ops = parseScript(script);
        if (check) this.check(ops);
        else this.apply(ops);
        return result(0);
      } catch (e) {
        if (e instanceof ExecError) throw e;
        return result(1, '', `Error: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
  }

  /** An NftStreamFactory whose streams apply each line to this fake (stands in for `nft -i`). */
  streams(): NftStreamFactory {
    return () => {
      let alive = false;
      const s: NftStream = {
        get alive() {
          return alive;
        },
        warm: () => {
          alive = true;
        },
        apply: async (commands) => {
          alive = true;
          try {
            this.apply(parseScript(commands.join('; ')));
          } catch (e) {
            throw new NftSessionError('nft transaction failed', e instanceof Error ? e.message : String(e), false);
          }
        },
        close: async () => {
          alive = false;
        },
      };
      return s;
    };
  }

  hasTable(family: Family, name: string): boolean {
    return this.tables.has(`${family} ${name}`);
  }

  /** Drop everything (like `flush ruleset`). */
  reset(): void {
    this.tables = new Map();
  }

  /**
   * One table in `nft list table` shape (tab-indented blocks, one `elements = { … }` line per set),
   * with chains and sets in name order and elements sorted: canonical, so equal states dump equal.
   * Null when the table does not exist.
   */
  dump(family: Family, name: string): string | null {
    const t = this.tables.get(`${family} ${name}`);
    if (!t) return null;
    const out = [`table ${family} ${name} {`];
    if (t.comment !== undefined) out.push(`\tcomment "${t.comment}"`);
    for (const [n, s] of [...t.sets].sort(byName)) {
      out.push(`\t${s.kind} ${n} {`, `\t\t${renderSpec(s.spec)}`);
      const els = [...s.elements].map(([k, v]) => k + (v.comment !== undefined ? ` comment "${v.comment}"` : '') + (s.kind === 'map' ? ` : ${v.value}` : ''));
      if (els.length > 0) out.push(`\t\telements = { ${els.sort().join(', ')} }`);
      out.push('\t}');
    }
    for (const [n, c] of [...t.chains].sort(byName)) {
      out.push(`\tchain ${n} {`);
      if (c.base) out.push(`\t\t${c.base};`);
      for (const r of c.rules) out.push(`\t\t${r.rule}`);
      out.push('\t}');
    }
    out.push('}');
    return out.join('\n') + '\n';
  }

  /** Every table's dump, in name order. */
  dumpAll(): string {
    return [...this.tables.keys()]
      .sort()
      .map((k) => {
        const [f, n] = k.split(' ') as [Family, string];
        return this.dump(f, n)!;
      })
      .join('');
  }
}

function byName<T>(a: [string, T], b: [string, T]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`${what}: No such file or directory`);
  return v;
}

function chainReferenced(t: FakeTable, name: string): string | null {
  for (const [cn, c] of t.chains) {
    for (const r of c.rules) for (const m of code(r.rule).matchAll(JUMP)) if (m[1] === name) return `rule in chain ${cn}`;
  }
  for (const [sn, s] of t.sets) {
    if (s.kind !== 'map') continue;
    for (const v of s.elements.values()) for (const m of v.value.matchAll(JUMP)) if (m[1] === name) return `element of map ${sn}`;
  }
  return null;
}

function setReferenced(t: FakeTable, name: string): string | null {
  for (const [cn, c] of t.chains) {
    for (const r of c.rules) for (const m of code(r.rule).matchAll(SETREF)) if (m[1] === name) return `rule in chain ${cn}`;
  }
  return null;
}

function checkRefs(t: FakeTable, text: string): void {
  text = code(text);
  for (const m of text.matchAll(JUMP)) need(t.chains.get(m[1]!), `chain ${m[1]}`);
  for (const m of text.matchAll(SETREF)) need(t.sets.get(m[1]!), `set ${m[1]}`);
}

function applyOp(tables: Map<string, FakeTable>, op: Op): void {
  const key = `${op.table.family} ${op.table.name}`;
  const o = op.object;
  if (o.kind === 'table') {
    if (op.verb === 'add' || op.verb === 'create') {
      if (op.verb === 'create' && tables.has(key)) throw new Error(`table ${key}: File exists`);
      if (!tables.has(key)) tables.set(key, { comment: o.comment, nextHandle: 1, chains: new Map(), sets: new Map() });
    } else if (op.verb === 'delete') {
      need(tables.get(key), `table ${key}`);
      tables.delete(key);
    } else {
      const t = need(tables.get(key), `table ${key}`);
      for (const c of t.chains.values()) c.rules = [];
      for (const s of t.sets.values()) s.elements = new Map();
    }
    return;
  }
  if (op.verb === 'create') throw new Error(`create ${o.kind}: not modelled (tables only)`);
  const t = need(tables.get(key), `table ${key}`);
  switch (o.kind) {
    case 'chain': {
      const cur = t.chains.get(o.name);
      if (op.verb === 'add') {
        if (cur) {
          if (cur.base !== baseText(o)) throw new Error(`chain ${o.name} exists with another declaration: File exists`);
          return;
        }
        t.chains.set(o.name, { handle: t.nextHandle++, base: baseText(o), rules: [] });
        return;
      }
      const c = need(cur, `chain ${o.name}`);
      if (op.verb === 'flush') {
        c.rules = [];
        return;
      }
      if (c.rules.length > 0) throw new Error(`chain ${o.name} is not empty: Device or resource busy`);
      const ref = chainReferenced(t, o.name);
      if (ref) throw new Error(`chain ${o.name} is referenced (${ref}): Device or resource busy`);
      t.chains.delete(o.name);
      return;
    }
    case 'set':
    case 'map': {
      const cur = t.sets.get(o.name);
      if (op.verb === 'add') {
        if (cur) {
          if (cur.kind !== o.kind || renderSpec(cur.spec) !== renderSpec(o.spec)) throw new Error(`${o.kind} ${o.name} exists with another declaration: File exists`);
          return;
        }
        t.sets.set(o.name, { handle: t.nextHandle++, kind: o.kind, spec: o.spec, elements: new Map() });
        return;
      }
      const s = need(cur, `${o.kind} ${o.name}`);
      if (s.kind !== o.kind) throw new Error(`${o.name} is a ${s.kind}, not a ${o.kind}`);
      if (op.verb === 'flush') {
        s.elements = new Map();
        return;
      }
      const ref = setReferenced(t, o.name);
      if (ref) throw new Error(`${o.kind} ${o.name} is referenced (${ref}): Device or resource busy`);
      t.sets.delete(o.name);
      return;
    }
    case 'rule': {
      if (op.verb !== 'add') throw new Error('rules are deleted by handle');
      const c = need(t.chains.get(o.chain), `chain ${o.chain}`);
      checkRefs(t, o.rule);
      c.rules.push({ handle: t.nextHandle++, rule: o.rule });
      return;
    }
    case 'rule-handle': {
      if (op.verb !== 'delete') throw new Error('a rule handle can only be deleted');
      const c = need(t.chains.get(o.chain), `chain ${o.chain}`);
      const i = c.rules.findIndex((r) => r.handle === o.handle);
      if (i < 0) throw new Error(`rule handle ${o.handle} in chain ${o.chain}: No such file or directory`);
      c.rules.splice(i, 1);
      return;
    }
    case 'element': {
      const s = need(t.sets.get(o.set), `set ${o.set}`);
      if (op.verb === 'flush') throw new Error('flush the set, not its elements');
      for (const e of o.batch.items()) {
        const cur = s.elements.get(e.key);
        if (op.verb === 'delete') {
          need(cur, `element ${e.key} of ${o.set}`);
          s.elements.delete(e.key);
          continue;
        }
        if ((s.kind === 'map') !== (e.value !== undefined)) throw new Error(`element ${e.key}: ${s.kind === 'map' ? 'map element needs a value' : 'set element has a value'}`);
        const value = e.value ?? '';
        if (cur) {
          if (cur.value !== value) throw new Error(`element ${e.key} of ${o.set} exists with value ${cur.value}: File exists`);
          continue;
        }
        if (s.kind === 'map') checkRefs(t, value);
        s.elements.set(e.key, { value, comment: e.comment });
      }
      return;
    }
  }
}
