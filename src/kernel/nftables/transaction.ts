// One nftables transaction: an ordered list of typed operations (add, flush, delete) that `nft -f`
// applies atomically, and its rendering as `nft -f` text. Operations keep the order they were
// added in: nft applies them in order (references must exist before the rules that use them).

import {
  type Chain,
  type ElementBatch,
  type NamedSet,
  type NftObject,
  type Rule,
  type Table,
  type TableRef,
  type Verb,
  quote,
  renderSpec,
} from './objects.js';

export interface Op {
  readonly verb: Verb;
  readonly table: TableRef;
  readonly object: NftObject;
}

export class Transaction {
  readonly ops: Op[] = [];
  /** Commands plus elements (a measure of transaction size; an element command counts its elements). */
  private n = 0;
  private ref: TableRef;

  constructor(table: TableRef) {
    this.ref = table;
  }

  /** The table later operations go to (one transaction may touch several, e.g. cleanup). */
  use(table: TableRef): this {
    this.ref = table;
    return this;
  }

  get table(): TableRef {
    return this.ref;
  }

  private push(verb: Verb, object: NftObject, count = 1): this {
    this.ops.push({ verb, table: this.ref, object });
    this.n += count;
    return this;
  }

  add(object: NftObject): this {
    return this.push('add', object, object.kind === 'element' ? object.batch.count : 1);
  }
  /** `create table`: fails (and with it the transaction) when the table exists. */
  create(object: Table): this {
    return this.push('create', object);
  }
  flush(object: Chain | NamedSet): this {
    return this.push('flush', object);
  }
  delete(object: NftObject): this {
    return this.push('delete', object, object.kind === 'element' ? object.batch.count : 1);
  }

  /** Replaces the first `n` operations (each counted once) with those of `head`. */
  replaceHead(n: number, head: Transaction): this {
    if (n > this.ops.length) throw new Error(`replaceHead: ${n} operations asked, ${this.ops.length} present`);
    this.ops.splice(0, n, ...head.ops);
    this.n += head.size - n;
    return this;
  }

  // Shorthands for the common objects.
  addTable(comment?: string): this {
    return this.add(comment === undefined ? { kind: 'table' } : { kind: 'table', comment });
  }
  createTable(comment?: string): this {
    return this.create(comment === undefined ? { kind: 'table' } : { kind: 'table', comment });
  }
  deleteTable(): this {
    return this.delete({ kind: 'table' });
  }
  addChain(name: string, base?: Chain['base']): this {
    return this.add(base ? { kind: 'chain', name, base } : { kind: 'chain', name });
  }
  addRule(chain: string, rule: string): this {
    const r: Rule = { kind: 'rule', chain, rule };
    return this.add(r);
  }
  addElements(set: string, batch: ElementBatch): this {
    return batch.count === 0 ? this : this.add({ kind: 'element', set, batch });
  }
  deleteElements(set: string, batch: ElementBatch): this {
    return batch.count === 0 ? this : this.delete({ kind: 'element', set, batch });
  }

  /** Commands + elements. */
  get size(): number {
    return this.n;
  }

  get empty(): boolean {
    return this.ops.length === 0;
  }

  /** `nft -f` text: one command per line; '' for an empty transaction. */
  render(): string {
    return this.renderOps(this.ops);
  }

  /** `nft -f` text of some of this transaction's operations (staged.ts cuts a full one in stages). */
  renderOps(ops: readonly Op[]): string {
    const lines: string[] = [];
    for (const op of ops) renderOp(op, lines);
    return lines.length === 0 ? '' : lines.join('\n') + '\n';
  }
}

function renderOp(op: Op, out: string[]): void {
  const { verb, object: o } = op;
  const pre = `${op.table.family} ${op.table.name}`;
  if (verb === 'create' && o.kind !== 'table') throw new Error(`nft transaction: only tables are created here, not a ${o.kind}`);
  switch (o.kind) {
    case 'table':
      out.push((verb === 'add' || verb === 'create') && o.comment !== undefined ? `${verb} table ${pre} { comment ${quote(o.comment)} ; }` : `${verb} table ${pre}`);
      return;
    case 'chain':
      if (verb === 'add' && o.base) {
        out.push(`add chain ${pre} ${o.name} { type ${o.base.type} hook ${o.base.hook} priority ${o.base.priority} ; }`);
      } else out.push(`${verb} chain ${pre} ${o.name}`);
      return;
    case 'set':
    case 'map':
      out.push(verb === 'add' ? `add ${o.kind} ${pre} ${o.name} ${renderSpec(o.spec)}` : `${verb} ${o.kind} ${pre} ${o.name}`);
      return;
    case 'rule':
      if (verb !== 'add') throw new Error(`nft transaction: a rule is deleted by handle, not ${verb}`);
      out.push('add rule ' + pre + ' ' + o.chain + ' ' + o.rule);
      return;
    case 'rule-handle':
      if (verb !== 'delete') throw new Error(`nft transaction: a rule handle can only be deleted`);
      out.push(`delete rule ${pre} ${o.chain} handle ${o.handle}`);
      return;
    case 'element':
      if (verb === 'flush' || verb === 'create') throw new Error(`nft transaction: ${verb} the set, not its elements`);
      o.batch.render(`${verb} element ${pre} ${o.set}`, verb, (line) => out.push(line));
      return;
  }
}
