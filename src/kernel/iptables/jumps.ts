// Jump rules from the built-in chains into ours (upstream iptablesJumpChains), as values, shared
// by both modes that write iptables rules: rendered as argv (iptables -C/-D/-A) or as a restore
// line, found missing in iptables-save output, and inserted into a restore text.

import { quoteRestoreArg, tokenizeRestoreLine } from './restore.js';

export type Table = 'filter' | 'nat' | 'mangle' | 'raw';

export interface JumpRule {
  readonly table: Table;
  /** Built-in chain holding the jump. */
  readonly src: string;
  /** Our chain. */
  readonly dst: string;
  readonly comment: string;
  /** Matches before the comment (e.g. `-m conntrack --ctstate NEW`). */
  readonly extra: readonly string[];
}

/** The rule spec (after `-A/-C/-D/-I <src>`) as an argument array, for iptables -C / -D. */
export function jumpArgs(j: JumpRule): string[] {
  const args = [...j.extra];
  if (j.comment) args.push('-m', 'comment', '--comment', j.comment);
  args.push('-j', j.dst);
  return args;
}

/** The same rule spec as one iptables-restore line fragment (comment always quoted). */
export function jumpRestoreSpec(j: JumpRule): string {
  const parts = [...j.extra];
  if (j.comment) parts.push('-m', 'comment', '--comment', `"${j.comment}"`);
  parts.push('-j', j.dst);
  return parts.join(' ');
}

/** `-I <src> 1 <spec>`: the jump prepended to its built-in chain inside a restore. */
export function jumpInsertLine(j: JumpRule): string {
  return `-I ${j.src} 1 ${jumpRestoreSpec(j)}`;
}

/** A restore line placed in its table's block. */
export interface TableLine {
  readonly table: string;
  readonly line: string;
}

/**
 * The jumps of `wanted` absent from `iptables-save` output, as `-I <src> 1` lines. A rule counts as
 * present when its arguments equal the jump's (quoting aside), as `iptables -C` would say.
 */
export function missingJumpsInSave(save: string, wanted: readonly JumpRule[]): (TableLine & { readonly table: Table })[] {
  const tables = new Map<string, Set<string>>();
  let table = '';
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) {
      table = line.slice(1).trim();
      if (!tables.has(table)) tables.set(table, new Set());
    } else if (line.startsWith('-A ')) tables.get(table)?.add(tokenizeRestoreLine(line.trim()).map(quoteRestoreArg).join(' '));
  }
  const out: (TableLine & { table: Table })[] = [];
  for (const j of wanted) {
    const have = ['-A', j.src, ...jumpArgs(j)].map(quoteRestoreArg).join(' ');
    if (!tables.get(j.table)?.has(have)) out.push({ table: j.table, line: jumpInsertLine(j) });
  }
  return out;
}

/** `lines` inserted before the COMMIT of their table in an iptables-restore text (also used by --dry-run). */
export function insertJumps(text: string, jumps: readonly TableLine[]): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let table = '';
  for (const l of lines) {
    if (l.startsWith('*')) table = l.slice(1);
    if (l === 'COMMIT') for (const j of jumps) if (j.table === table) out.push(j.line);
    out.push(l);
  }
  return out.join('\n');
}
