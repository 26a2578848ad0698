// A full transaction for a table that does not exist yet, cut into stages that several `nft`
// processes can apply, most of them at once.
//
// Why: at 10k services × 10 endpoints the one `nft -f` of a first start spends ~0.9 s parsing and
// evaluating 150k elements in a single thread (measured: 95 % user space with `nft -c`), while the
// proxy waits and the node's other cores idle. The elements of a set do not depend on each other, so
// they can be evaluated by parallel processes. Measured in a netns on 2 cores (the 10k plan cut
// by hand): one transaction 0.93-0.96 s, skeleton then two element halves at once 0.51-0.53 s.
//
// Why it is safe only for a table that is absent: stage 1 creates the table with its sets, maps,
// regular chains and their rules, but no base chain; the element stages fill the sets; the last
// stage adds the base chains (the hooks) with their rules in one transaction. Until that last
// commit the table is hooked nowhere, so no packet sees it: the ruleset acts as before the start (no
// table), and after the last commit it acts as the whole transaction would. A table that exists is
// serving traffic and must be replaced in one transaction (layout.ts TableStart), so that case is
// never staged. If a stage fails, the table stays unhooked and the caller's retry (a full sync
// that finds the table and replaces it whole) repairs it.

import type { Op, Transaction } from './transaction.js';

export interface StagedTransaction {
  /** `create table`, sets and maps, regular chains and their rules (in the transaction's order). */
  readonly skeleton: string;
  /** Element commands, cut into parts of similar size, to be applied at once after the skeleton. */
  readonly elements: readonly string[];
  /** The same element commands, one per line (for a writer that takes them whole). */
  readonly elementLines: readonly string[];
  /** Base chains and their rules: applied last, in one transaction. */
  readonly hooks: string;
  /** Elements in all parts. */
  readonly elementCount: number;
}

/**
 * Cut `tx` into stages, or null when it cannot be staged: it must begin with `create table` (the
 * table is known to be absent) and contain nothing but additions (`add`), as a full plan does.
 */
export function stageFull(tx: Transaction, parts: number): StagedTransaction | null {
  const ops = tx.ops;
  if (ops.length === 0 || ops[0]!.verb !== 'create' || ops[0]!.object.kind !== 'table') return null;
  const baseChains = new Set<string>();
  for (const op of ops) if (op.object.kind === 'chain' && op.object.base) baseChains.add(op.object.name);
  const skeleton: Op[] = [];
  const hooks: Op[] = [];
  const elementLines: string[] = [];
  let elementCount = 0;
  for (const op of ops.slice(1)) {
    if (op.verb !== 'add') return null;
    const o = op.object;
    if (o.kind === 'element') {
      o.batch.render(`add element ${op.table.family} ${op.table.name} ${o.set}`, 'add', (line) => elementLines.push(line));
      elementCount += o.batch.count;
    } else if ((o.kind === 'chain' && o.base) || (o.kind === 'rule' && baseChains.has(o.chain))) hooks.push(op);
    else skeleton.push(op);
  }
  return {
    skeleton: tx.renderOps([ops[0]!, ...skeleton]),
    elements: cut(elementLines, Math.max(1, parts)),
    elementLines,
    hooks: tx.renderOps(hooks),
    elementCount,
  };
}

/** Lines into `parts` contiguous runs of similar total length (element lines vary in size by set). */
function cut(lines: readonly string[], parts: number): string[] {
  let total = 0;
  for (const l of lines) total += l.length + 1;
  const out: string[] = [];
  let cur: string[] = [];
  let curLen = 0;
  for (const l of lines) {
    cur.push(l);
    curLen += l.length + 1;
    if (out.length < parts - 1 && curLen >= total / parts) {
      out.push(cur.join('\n') + '\n');
      cur = [];
      curLen = 0;
    }
  }
  if (cur.length > 0) out.push(cur.join('\n') + '\n');
  return out;
}
