// An in-memory iptables for one family and backend: applies `iptables-restore --noflush` input
// with its semantics and dumps canonical `iptables-save` text, so planners and appliers can be
// checked without root or a kernel (the role knftables' Fake plays for nftables).
//
// Semantics kept: `:CHAIN` creates a user chain or flushes an existing one (a built-in chain is
// not flushed, only its policy set); -A/-I/-D/-R on a chain that exists; a jump (-j/-g) to a user
// chain that exists in the table; -X only of an empty, unreferenced user chain; -N/-F; each table
// block applies atomically at its COMMIT, and the first failing block stops the restore (earlier
// blocks stay applied), as iptables-restore does. Rules are stored as argument lists: matching
// (-D, -C) compares arguments, not iptables' canonical match syntax, so `-m tcp -p tcp` and
// `-p tcp -m tcp` are different rules here (our writers always spell a rule the same way).
// Counters are not kept.

import type { ExecResult } from '../runner.js';
import type { ToolCall } from '../runner.js';
import { parseRestore, quoteRestoreArg, type RestoreBlock } from './restore.js';

const BUILTIN: Record<string, readonly string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
};

/** Targets that are extensions, not chains (the ones our writers and kubelet use, and then some). */
const TARGETS = new Set([
  'ACCEPT', 'DROP', 'RETURN', 'REJECT', 'QUEUE', 'MARK', 'CONNMARK', 'MASQUERADE', 'DNAT', 'SNAT', 'REDIRECT', 'LOG', 'NFLOG', 'CT', 'NOTRACK', 'TRACE', 'TPROXY',
]);

interface Chain {
  policy: string;
  rules: string[][];
}
type TableState = Map<string, Chain>;

function cloneTable(t: TableState): TableState {
  const out: TableState = new Map();
  for (const [n, c] of t) out.set(n, { policy: c.policy, rules: c.rules.map((r) => [...r]) });
  return out;
}

function target(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length - 1; i++) if (args[i] === '-j' || args[i] === '-g') return args[i + 1];
  return undefined;
}

const sameArgs = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

export class FakeIptables {
  private readonly tables = new Map<string, TableState>();
  /** Restores applied (successful or not), for tests that count tool calls. */
  restores = 0;

  private table(name: string): TableState {
    let t = this.tables.get(name);
    if (!t) {
      const builtins = BUILTIN[name];
      if (!builtins) throw new Error(`can't initialize iptables table \`${name}': Table does not exist`);
      t = new Map(builtins.map((c) => [c, { policy: 'ACCEPT', rules: [] }]));
      this.tables.set(name, t);
    }
    return t;
  }

  /** Apply `iptables-restore --noflush` input. Throws `line N failed: ...` like the tool. */
  restore(input: string): void {
    this.restores++;
    const blocks: RestoreBlock[] = parseRestore(input);
    for (const b of blocks) {
      const next = cloneTable(this.table(b.table));
      applyBlock(b.table, next, b);
      this.tables.set(b.table, next);
    }
  }

  /** iptables -C/-A/-D/-I/-S/-N/-X/-F on one table (argv after the tool name, `-w N` allowed). */
  command(args: readonly string[]): ExecResult {
    const a = [...args];
    let table = 'filter';
    const rest: string[] = [];
    for (let i = 0; i < a.length; i++) {
      if (a[i] === '-w' || a[i] === '--wait') {
        if (/^\d+$/.test(a[i + 1] ?? '')) i++;
      } else if (a[i] === '-t') table = a[++i]!;
      else rest.push(a[i]!);
    }
    const [op, chain, ...spec] = rest;
    const t = this.table(table);
    const fail = (stderr: string, code = 1): ExecResult => ({ stdout: '', stderr, code, millis: 0 });
    const ok = (stdout = ''): ExecResult => ({ stdout, stderr: '', code: 0, millis: 0 });
    if (op === '-S') {
      if (chain !== undefined) {
        const c = t.get(chain);
        if (!c) return fail(`iptables: No chain/target/match by that name.\n`);
        return ok(chainSpec(chain, c, BUILTIN[table]!.includes(chain)).join('\n') + '\n');
      }
      const lines: string[] = [];
      for (const [n, c] of sortedChains(table, t)) lines.push(...chainSpec(n, c, BUILTIN[table]!.includes(n)));
      return ok(lines.join('\n') + '\n');
    }
    if (op === '-C') {
      const c = t.get(chain ?? '');
      if (!c) return fail(`iptables: No chain/target/match by that name.\n`);
      return c.rules.some((r) => sameArgs(r, spec)) ? ok() : fail('iptables: Bad rule (does a matching rule exist in that chain?).\n');
    }
    // Everything else as a one-line restore, atomically.
    const line = [op, chain, ...spec].filter((x): x is string => x !== undefined).map(quoteRestoreArg).join(' ');
    try {
      const next = cloneTable(t);
      applyBlock(table, next, parseRestore(`*${table}\n${line}\nCOMMIT\n`)[0]!);
      this.tables.set(table, next);
      return ok();
    } catch (e) {
      return fail(`iptables: ${(e as Error).message}\n`);
    }
  }

  /** Canonical iptables-save text: tables sorted, built-in chains first, then user chains by name. */
  save(table?: string): string {
    const names = table !== undefined ? (this.tables.has(table) ? [table] : []) : [...this.tables.keys()].sort();
    const out: string[] = [];
    for (const name of names) {
      const t = this.tables.get(name)!;
      out.push(`*${name}`);
      const chains = sortedChains(name, t);
      for (const [n, c] of chains) out.push(`:${n} ${c.policy} [0:0]`);
      for (const [n, c] of chains) for (const r of c.rules) out.push(['-A', n, ...r].map(quoteRestoreArg).join(' '));
      out.push('COMMIT');
    }
    return out.length > 0 ? out.join('\n') + '\n' : '';
  }

  /** The tool-runner face: answers iptables, iptables-save and iptables-restore (any prefix/suffix spelling). */
  handle(call: ToolCall, kind: 'iptables' | 'iptables-save' | 'iptables-restore'): ExecResult {
    if (kind === 'iptables-save') {
      const i = call.args.indexOf('-t');
      return { stdout: this.save(i >= 0 ? call.args[i + 1] : undefined), stderr: '', code: 0, millis: 0 };
    }
    if (kind === 'iptables-restore') {
      if (!call.args.includes('--noflush')) return { stdout: '', stderr: 'fake iptables-restore supports --noflush only\n', code: 2, millis: 0 };
      try {
        this.restore(call.input ?? '');
        return { stdout: '', stderr: '', code: 0, millis: 0 };
      } catch (e) {
        return { stdout: '', stderr: `iptables-restore: ${(e as Error).message}\n`, code: 1, millis: 0 };
      }
    }
    return this.command(call.args);
  }
}

function sortedChains(table: string, t: TableState): [string, Chain][] {
  const builtins = BUILTIN[table] ?? [];
  const user = [...t.keys()].filter((n) => !builtins.includes(n)).sort();
  return [...builtins.filter((n) => t.has(n)), ...user].map((n) => [n, t.get(n)!]);
}

function chainSpec(name: string, c: Chain, builtin: boolean): string[] {
  const out = [builtin ? `-P ${name} ${c.policy}` : `-N ${name}`];
  for (const r of c.rules) out.push(['-A', name, ...r].map(quoteRestoreArg).join(' '));
  return out;
}

function applyBlock(tableName: string, t: TableState, b: RestoreBlock): void {
  const builtins = BUILTIN[tableName] ?? [];
  for (const op of b.ops) {
    const fail = (why: string): never => {
      throw new Error(`line ${op.lineNo} failed: ${why}`);
    };
    if (op.kind === 'chain') {
      const c = t.get(op.chain);
      if (builtins.includes(op.chain)) {
        if (op.policy !== '-') c!.policy = op.policy;
      } else if (c) c.rules = [];
      else t.set(op.chain, { policy: '-', rules: [] });
      continue;
    }
    if (op.kind === 'chainop') {
      const c = t.get(op.chain);
      if (op.op === '-N') {
        if (c) fail(`Chain already exists: ${op.chain}`);
        t.set(op.chain, { policy: '-', rules: [] });
      } else if (op.op === '-F') {
        if (!c) fail(`No chain/target/match by that name: ${op.chain}`);
        c!.rules = [];
      } else {
        if (!c) fail(`No chain/target/match by that name: ${op.chain}`);
        if (builtins.includes(op.chain)) fail(`Can't delete built-in chain ${op.chain}`);
        if (c!.rules.length > 0) fail(`Directory not empty: ${op.chain}`);
        for (const [n, o] of t) if (n !== op.chain && o.rules.some((r) => target(r) === op.chain)) fail(`Device or resource busy: ${op.chain} referenced from ${n}`);
        t.delete(op.chain);
      }
      continue;
    }
    const c = t.get(op.chain);
    if (!c) fail(`No chain/target/match by that name: ${op.chain}`);
    const tgt = target(op.args);
    if (op.op !== '-D' && tgt !== undefined && !TARGETS.has(tgt) && !t.has(tgt)) fail(`Couldn't load target \`${tgt}'`);
    if (op.op === '-A') c!.rules.push([...op.args]);
    else if (op.op === '-I') {
      if (op.pos < 1 || op.pos > c!.rules.length + 1) fail(`Index of insertion too big: ${op.pos}`);
      c!.rules.splice(op.pos - 1, 0, [...op.args]);
    } else if (op.op === '-R') {
      if (op.pos < 1 || op.pos > c!.rules.length) fail(`Index of replacement too big: ${op.pos}`);
      c!.rules[op.pos - 1] = [...op.args];
    } else {
      const i = c!.rules.findIndex((r) => sameArgs(r, op.args));
      if (i < 0) fail('Bad rule (does a matching rule exist in that chain?)');
      c!.rules.splice(i, 1);
    }
  }
}
