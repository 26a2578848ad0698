// Typed iptables-restore content: a restore is a list of table blocks, each declaring chains
// (`:NAME - [0:0]`, which creates or, with --noflush, flushes them) followed by rule operations,
// ended by COMMIT. Writers build RestoreTable values; render() produces the exact text the tools
// read. parseRestore() reads such text back (the in-memory fake, tests), with the same tokenising
// rules as iptables-restore (whitespace-separated, double quotes group, backslash escapes inside).

import type { Table } from './jumps.js';

/** `:NAME - [0:0]`: declare (create, or flush with --noflush) a user chain. */
export function chainLine(chain: string): string {
  return `:${chain} - [0:0]`;
}

/** One table block of a restore. Rule lines are kept as text: they are written once, read never. */
export class RestoreTable {
  /** Declared chains, in declaration order. */
  readonly chains: string[];
  /** Operations after the declarations (`-A`, `-I`, `-D`, `-X`), in order. */
  readonly lines: string[];

  constructor(
    readonly table: Table,
    chains: string[] = [],
    lines: string[] = [],
  ) {
    this.chains = chains;
    this.lines = lines;
  }

  declare(...chains: string[]): this {
    for (const c of chains) this.chains.push(c);
    return this;
  }

  /** `-A chain spec`; `spec` is restore text (quoted where needed) or an argument list joined by spaces. */
  append(chain: string, spec: string | readonly string[]): this {
    this.lines.push(`-A ${chain} ${typeof spec === 'string' ? spec : spec.join(' ')}`);
    return this;
  }

  /** `-I chain pos spec`. */
  insert(chain: string, pos: number, spec: string): this {
    this.lines.push(`-I ${chain} ${pos} ${spec}`);
    return this;
  }

  /** `-D chain spec`. */
  delete(chain: string, spec: string): this {
    this.lines.push(`-D ${chain} ${spec}`);
    return this;
  }

  /** `-X chain` (the chain must be declared, i.e. flushed, in this block first). */
  deleteChain(chain: string): this {
    this.lines.push(`-X ${chain}`);
    return this;
  }

  /** The block's lines, `*table` to `COMMIT`. */
  render(): string[] {
    const out = [`*${this.table}`];
    for (const c of this.chains) out.push(chainLine(c));
    for (const l of this.lines) out.push(l);
    out.push('COMMIT');
    return out;
  }
}

/** The restore text of `tables` (one newline-terminated string). */
export function renderRestore(tables: readonly RestoreTable[]): string {
  const out: string[] = [];
  for (const t of tables) for (const l of t.render()) out.push(l);
  return out.join('\n') + '\n';
}

/** Split one restore line into arguments as iptables-restore does (double quotes group words). */
export function tokenizeRestoreLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inQuote = false;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (inQuote) {
      if (ch === '\\' && i + 1 < line.length && (line[i + 1] === '"' || line[i + 1] === '\\')) cur += line[++i];
      else if (ch === '"') inQuote = false;
      else cur += ch;
    } else if (ch === '"') {
      inQuote = true;
      has = true;
    } else if (ch === ' ' || ch === '\t') {
      if (has || cur !== '') out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (inQuote) throw new Error(`unterminated quote in: ${line}`);
  if (has || cur !== '') out.push(cur);
  return out;
}

/** One argument as iptables-save prints it: bare when it has no space or quote, else quoted. */
export function quoteRestoreArg(arg: string): string {
  if (arg !== '' && /^[^\s"\\']+$/.test(arg)) return arg;
  return `"${arg.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export type RestoreOp =
  | { readonly kind: 'chain'; readonly chain: string; readonly policy: string; readonly lineNo: number }
  | { readonly kind: 'rule'; readonly op: '-A' | '-I' | '-D' | '-R'; readonly chain: string; readonly pos: number; readonly args: readonly string[]; readonly lineNo: number }
  | { readonly kind: 'chainop'; readonly op: '-N' | '-X' | '-F'; readonly chain: string; readonly lineNo: number };

export interface RestoreBlock {
  readonly table: string;
  readonly ops: readonly RestoreOp[];
}

/** Parse restore text into blocks; throws `line N failed` (iptables-restore's wording) on bad syntax. */
export function parseRestore(text: string): RestoreBlock[] {
  const blocks: RestoreBlock[] = [];
  let cur: { table: string; ops: RestoreOp[] } | null = null;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!.trim();
    const fail = (why: string): never => {
      throw new Error(`line ${lineNo} failed: ${why}`);
    };
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      if (cur) fail('table started before COMMIT');
      cur = { table: line.slice(1).trim(), ops: [] };
      continue;
    }
    if (!cur) fail(`no table: ${line}`);
    const block = cur!;
    if (line === 'COMMIT') {
      blocks.push(block);
      cur = null;
      continue;
    }
    if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/);
      if (!name) fail('empty chain name');
      block.ops.push({ kind: 'chain', chain: name!, policy: policy ?? '-', lineNo });
      continue;
    }
    const t = tokenizeRestoreLine(line);
    const op = t[0];
    const chain = t[1];
    if (!chain) fail(`no chain: ${line}`);
    if (op === '-A' || op === '-D') block.ops.push({ kind: 'rule', op, chain: chain!, pos: 0, args: t.slice(2), lineNo });
    else if (op === '-I' || op === '-R') {
      const pos = /^\d+$/.test(t[2] ?? '') ? Number(t[2]) : op === '-I' ? 1 : fail('-R needs a position');
      const args = /^\d+$/.test(t[2] ?? '') ? t.slice(3) : t.slice(2);
      block.ops.push({ kind: 'rule', op, chain: chain!, pos: pos as number, args, lineNo });
    } else if (op === '-N' || op === '-X' || op === '-F') block.ops.push({ kind: 'chainop', op, chain: chain!, lineNo });
    else fail(`unknown command: ${line}`);
  }
  if (cur) throw new Error(`line ${lines.length} failed: COMMIT expected`);
  return blocks;
}
