// Removal of every iptables chain and jump any mode of ours ever created (iptables mode, and the
// iptables layer of IPVS mode), whichever mode created them and however far an earlier cleanup got.
//
// Why one shared cleanup instead of one per mode: both modes use some of the same chain names
// (KUBE-SERVICES, KUBE-POSTROUTING, KUBE-MARK-MASQ, KUBE-PROXY-FIREWALL, KUBE-FORWARD) but hook and
// link them differently. A per-mode cleanup that removes only its own jumps leaves the other mode's
// references behind and fails with EBUSY ("CHAIN_DEL failed (Device or resource busy)"). Planning
// from what `iptables-save` shows now makes the result independent of order and of earlier partial
// runs: per table, one restore that flushes all of our chains, deletes every rule in a built-in
// chain that jumps to one of them, and deletes the chains (atomic per table).

import { isServiceChainName } from '../iptables/layout.js';
import type { IptablesKeep } from '../types.js';
import type { IPFamily } from '../../model/types.js';
import { realRunner, type ToolRunner } from '../../kernel/runner.js';
import { chainsFromSave, makeTools, WAIT, type Backend } from '../../kernel/iptables/tools.js';

/** Chains of ours per table: iptables mode and IPVS mode (upstream iptables + ipvs proxiers). */
const OURS: Record<string, ReadonlySet<string>> = {
  nat: new Set([
    'KUBE-SERVICES',
    'KUBE-NODEPORTS',
    'KUBE-POSTROUTING',
    'KUBE-MARK-MASQ',
    'KUBE-PROXY-CANARY',
    // IPVS mode
    'KUBE-NODE-PORT',
    'KUBE-LOAD-BALANCER',
  ]),
  filter: new Set([
    'KUBE-SERVICES',
    'KUBE-EXTERNAL-SERVICES',
    'KUBE-FORWARD',
    'KUBE-NODEPORTS',
    'KUBE-PROXY-FIREWALL',
    'KUBE-PROXY-CANARY',
    // IPVS mode
    'KUBE-NODE-PORT',
    'KUBE-SOURCE-RANGES-FIREWALL',
    'KUBE-IPVS-FILTER',
    'KUBE-IPVS-OUT-FILTER',
  ]),
  mangle: new Set(['KUBE-PROXY-CANARY']),
};

/**
 * Whether `chain` in `table` was created by a mode of ours. Kubelet's chains (KUBE-FIREWALL,
 * KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT, KUBE-MARK-DROP) are not: upstream's cleanup keeps them.
 */
export function isOurChain(table: string, chain: string): boolean {
  if (OURS[table]?.has(chain)) return true;
  return table === 'nat' && isServiceChainName(chain);
}

const BUILTIN = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);

interface TableText {
  readonly chains: string[];
  readonly rules: { chain: string; line: string; target: string | null; comment: string }[];
}

function parseSave(save: string): Map<string, TableText> {
  const tables = new Map<string, TableText>();
  let cur: TableText | null = null;
  for (const raw of save.split('\n')) {
    const line = raw.trimEnd();
    if (line.startsWith('*')) {
      cur = { chains: [], rules: [] };
      tables.set(line.slice(1).trim(), cur);
    } else if (!cur) continue;
    else if (line.startsWith(':')) cur.chains.push(...chainsFromSave(line));
    else if (line.startsWith('-A ')) {
      const chain = line.split(' ')[1]!;
      const m = / -[jg] (\S+)/.exec(line);
      const c = /--comment (?:"((?:[^"\\]|\\.)*)"|(\S+))/.exec(line);
      cur.rules.push({ chain, line, target: m ? m[1]! : null, comment: c ? (c[1] ?? c[2]!) : '' });
    }
  }
  return tables;
}

export interface LeftoverPlan {
  /** iptables-restore --noflush input (one block per table that holds something of ours), or ''. */
  readonly restore: string;
  /** Chains of ours kept because a chain not of ours still jumps to them (reported, not an error). */
  readonly kept: readonly string[];
}

/**
 * Plan the removal of our chains from full `iptables-save` output (pure). Jumps from built-in
 * chains are deleted; a user chain that is not ours (kubelet, a CNI) and jumps to one of our
 * chains is never edited: that chain of ours, and what it reaches, stays (upstream keeps
 * KUBE-MARK-MASQ for that reason).
 */
export function planLeftoverCleanup(save: string, keepMode?: IptablesKeep): LeftoverPlan {
  const out: string[] = [];
  const kept: string[] = [];
  for (const [table, t] of parseSave(save)) {
    // With a running mode to keep, its chains count as foreign: what they reach stays too.
    const ours = new Set(t.chains.filter((c) => isOurChain(table, c) && !keepMode?.chain(table, c)));
    if (ours.size === 0) continue;
    // Chains of ours still referenced from a foreign user chain, closed over our own jumps.
    const keep = new Set<string>();
    const visit = (c: string): void => {
      if (keep.has(c) || !ours.has(c)) return;
      keep.add(c);
      for (const r of t.rules) if (r.chain === c && r.target) visit(r.target);
    };
    // (The running mode's chains count as foreign here too: what they still reach must stay.)
    for (const r of t.rules) if (r.target && !ours.has(r.chain) && !BUILTIN.has(r.chain)) visit(r.target);
    const remove = [...ours].filter((c) => !keep.has(c));
    for (const c of keep) kept.push(`${table}/${c}`);
    // Kept chains reach only kept chains (closure above): only built-in chains need unlinking. A
    // jump to a chain the running mode keeps goes when that mode does not hook it the same way.
    const dels = t.rules
      .filter((r) => r.target && BUILTIN.has(r.chain))
      .filter((r) => remove.includes(r.target!) || (keepMode?.chain(table, r.target!) && !keepMode.jump(table, r.chain, r.target!, r.comment)))
      .map((r) => '-D' + r.line.slice(2));
    if (remove.length === 0 && dels.length === 0) continue;
    out.push(`*${table}`, ...remove.map((c) => `:${c} - [0:0]`), ...dels, ...remove.map((c) => `-X ${c}`), 'COMMIT');
  }
  return { restore: out.length > 0 ? out.join('\n') + '\n' : '', kept };
}

/**
 * Remove our chains from one backend and family, through `runner` (e.g. netnsRunner(ns)). Returns
 * the chains kept because something else references them. Throws when the restore fails.
 */
export async function cleanupIptablesLeftovers(
  family: IPFamily,
  backend: Backend,
  runner: ToolRunner = realRunner,
  keepMode?: IptablesKeep,
): Promise<readonly string[]> {
  const t = makeTools(family, backend, runner);
  // No `-t`: iptables-legacy-save then lists only tables that exist, where naming one would create it.
  let save;
  try {
    save = await t.run('iptables-save', [], { allowFailure: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []; // backend not installed: nothing of ours
    throw e;
  }
  if (save.code !== 0) throw new Error(`${backend} ${family} iptables-save: ${save.stderr.trim()}`);
  if (!save.stdout.includes('KUBE-')) return [];
  const p = planLeftoverCleanup(save.stdout, keepMode);
  if (p.restore === '') return p.kept;
  const r = await t.run('iptables-restore', [...WAIT, '--noflush'], { input: p.restore, allowFailure: true });
  if (r.code !== 0) throw new Error(`${backend} ${family} iptables-restore: ${r.stderr.trim()}`);
  return p.kept;
}
