// The iptables Dataplane: apply, probe, cleanup - the mode's only I/O, every tool run through one
// ToolRunner (src/kernel/runner.ts). One `iptables-restore -w 5 --noflush --counters` per sync
// (plus nat batches on the nft backend, several at once: batches.ts); jump rules checked with
// -C (full syncs only, as upstream); a canary plus jump-rule checks for drift; upstream
// CleanupLeftovers (shared with IPVS mode, src/kernel/iptables/cleanup.ts).

import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { ProxyState } from '../../model/types.js';
import type { DataplaneConfig } from '../config.js';
import type { CleanupOptions, Dataplane, SyncOptions, SyncResult } from '../types.js';
import { createLogger, type Logger } from '../../log/logger.js';
import { metrics } from '../../metrics/metrics.js';
import { ExecError } from '../../util/exec.js';
import { cleanupIptablesLeftovers } from '../shared/iptables-cleanup.js';
import { jumpArgs, type JumpRule } from '../../kernel/iptables/jumps.js';
import { WAIT, backendTools, chainsFromSave, netnsRunner, type Backend, type BackendChoice, type Tools } from '../../kernel/iptables/tools.js';
import type { ToolRunner } from '../../kernel/runner.js';
import { JUMP_RULES, KUBELET_JUMP_RULES, KUBE_FORWARD, KUBE_PROXY_CANARY, isServiceChainName } from './layout.js';
import { runBatches } from './batches.js';
import { needsRouteLocalnet, plan, type Applied } from './planner.js';

export interface IptablesOptions {
  /** Which iptables backend; 'auto' (default) detects it like upstream's iptables-wrapper. */
  readonly backend?: BackendChoice;
  /** Run every tool inside this named network namespace (`ip netns exec`); for tests and demos. */
  readonly netns?: string;
  /** Runs every tool (sync, probe, cleanup; tests inject a fake); default: the real runner, inside `netns`. */
  readonly run?: ToolRunner;
  /** nf_conntrack_tcp_be_liberal is set (no INVALID drop rule); default: read the sysctl once. */
  readonly conntrackTCPLiberal?: boolean;
  /** MASQUERADE --random-fully; default true (iptables >= 1.6.2). */
  readonly randomFully?: boolean;
  /**
   * Split per-service chains into restores of about this many lines (0: never). Default: 5000
   * for the nft backend, whose --noflush restore is quadratic in its input, 0 for legacy (each
   * legacy restore rewrites the whole table, so one is cheapest).
   */
  readonly batchLines?: number;
  /**
   * How many of those batch restores may run at once (batches.ts; the first always runs alone).
   * Default for the nft backend: two per CPU, at most 4 (a restore spends part of its time waiting
   * for the kernel's nf_tables commit mutex, so two per core keep the cores busy: 10k services on
   * 2 cores, batch phase 4.2-4.5 s with 4 at once vs 5.0-5.5 s with 2); 1 for legacy (its restores
   * take the xtables lock, so they could only queue).
   */
  readonly restoreConcurrency?: number;
  readonly logger?: Logger;
}

const RESTORE_ARGS = [...WAIT, '--noflush', '--counters'];
export const NFT_BATCH_LINES = 5000;
export const NFT_RESTORE_CONCURRENCY_MAX = 4;

/** iptables-restore failed; the message quotes the failing line of the input. */
class RestoreError extends Error {}

/** A jump rule is present in its built-in chain (`iptables -C`). */
async function jumpExists(tools: Tools, j: JumpRule): Promise<boolean> {
  const r = await tools.run('iptables', [...WAIT, '-t', j.table, '-C', j.src, ...jumpArgs(j)], { allowFailure: true });
  return r.code === 0;
}

async function readTCPBeLiberal(netns: string | undefined): Promise<boolean> {
  const path = '/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal';
  try {
    const text = netns === undefined ? await readFile(path, 'utf8') : (await netnsRunner(netns)('cat', [path])).stdout;
    return text.trim() !== '' && text.trim() !== '0';
  } catch {
    return false; // conntrack not loaded yet: the default (0) applies
  }
}

function restoreError(e: unknown, input: string): Error {
  if (e instanceof RestoreError) return e;
  if (!(e instanceof ExecError)) return e instanceof Error ? e : new Error(String(e));
  // iptables-restore names the failing line ("line 42 failed"): quote it for the log.
  const m = /line:? (\d+)/i.exec(e.result.stderr);
  const lineNo = m ? Number(m[1]) : 0;
  const line = lineNo > 0 ? input.split('\n')[lineNo - 1] : undefined;
  return new RestoreError(`iptables-restore failed: ${e.result.stderr.trim()}${line ? ` (line ${lineNo}: ${line})` : ''}`);
}

export function createIptablesDataplane(cfg: DataplaneConfig, opts: IptablesOptions = {}): Dataplane {
  const log = opts.logger ?? createLogger('proxier');
  const family = cfg.family;
  const fam = { ip_family: family };
  let liberal: boolean | undefined = opts.conntrackTCPLiberal;
  let applied: Applied | null = null;
  // After a failure or drift the kernel may differ from `applied`: next sync is full and
  // re-reads the nat table for leftover service chains (also on the very first sync).
  let needFull = true;
  let needSave = true;

  const runner = opts.run ?? netnsRunner(opts.netns);
  const tools = backendTools(family, opts.backend ?? 'auto', runner, log);

  async function missingJumps(t: Tools, state: ProxyState): Promise<JumpRule[]> {
    const wanted = needsRouteLocalnet(cfg, state) ? [...JUMP_RULES, ...KUBELET_JUMP_RULES] : [...JUMP_RULES];
    const present = await Promise.all(wanted.map((j) => jumpExists(t, j)));
    return wanted.filter((_, i) => !present[i]);
  }

  async function sync(state: ProxyState, o: SyncOptions): Promise<SyncResult> {
    const t = await tools();
    liberal ??= await readTCPBeLiberal(opts.netns);
    const full = o.full || needFull || applied === null;
    let toolMillis = 0;
    let existing: string[] | undefined;
    let jumps: JumpRule[] = [];
    if (full) {
      // Upstream ensures the jumps before the restore with -C/-I; we check with -C and insert the
      // missing ones inside the restore itself, after the chains exist, in the same transaction.
      const t0 = performance.now();
      jumps = await missingJumps(t, state);
      if (needSave) {
        const saved = await t.run('iptables-save', ['-t', 'nat'], { allowFailure: true });
        if (saved.code === 0) existing = chainsFromSave(saved.stdout).filter(isServiceChainName);
        else log.error('Failed to execute iptables-save: stale chains will not be deleted', { stderr: saved.stderr.trim() });
      }
      toolMillis += performance.now() - t0;
    }
    const p = plan(applied, state, cfg, {
      full,
      randomFully: opts.randomFully ?? true,
      conntrackTCPLiberal: liberal,
      missingJumps: jumps,
      canary: full,
      batchLines: opts.batchLines ?? (t.backend === 'nft' ? NFT_BATCH_LINES : 0),
      ...(existing ? { existingNatChains: existing } : {}),
    });
    for (const w of p.warnings) log.error(w, { ipFamily: family });
    log.v(2).info('Reloading service iptables data', {
      ipFamily: family,
      full: p.counts.full,
      numServices: state.services.size,
      numEndpoints: p.counts.totalEndpoints,
      numFilterRules: p.counts.filterRules,
      numNATRules: p.counts.natRulesWritten,
      numNATChains: p.counts.natChainsWritten,
      deletedChains: p.counts.deletedChains,
      restores: p.batches.length + 1,
    });
    const concurrency = opts.restoreConcurrency ?? (t.backend === 'nft' ? Math.min(2 * availableParallelism(), NFT_RESTORE_CONCURRENCY_MAX) : 1);
    let input = '';
    try {
      // Per-service chains first (several restores at once: wall time, not their sum, is tool
      // time), then the main restore that jumps into them.
      const t0 = performance.now();
      await runBatches(p.batches, concurrency, async (b) => {
        try {
          await t.run('iptables-restore', RESTORE_ARGS, { input: b });
        } catch (e) {
          throw restoreError(e, b);
        }
      });
      toolMillis += performance.now() - t0;
      input = p.restoreInput;
      const r = await t.run('iptables-restore', RESTORE_ARGS, { input });
      toolMillis += r.millis;
    } catch (e) {
      metrics.iptablesRestoreFailuresTotal.inc(fam);
      if (!p.counts.full) metrics.iptablesPartialRestoreFailuresTotal.inc(fam);
      needFull = true;
      needSave = true;
      const err = restoreError(e, input);
      log.error('Failed to execute iptables-restore', { ipFamily: family, err: err.message });
      throw err;
    }
    applied = p.next;
    needFull = false;
    needSave = false;
    metrics.iptablesRulesTotal.set({ table: 'filter', ip_family: family }, p.counts.filterRules);
    metrics.iptablesRulesLast.set({ table: 'filter', ip_family: family }, p.counts.filterRules);
    metrics.iptablesRulesTotal.set({ table: 'nat', ip_family: family }, p.counts.natRulesTotal);
    metrics.iptablesRulesLast.set({ table: 'nat', ip_family: family }, p.counts.natRulesWritten);
    return { full: p.counts.full, operations: p.counts.restoreLines, toolMillis };
  }

  async function detectDrift(): Promise<boolean> {
    if (applied === null) return false; // nothing programmed yet; the first sync is full anyway
    const t = await tools();
    // mangle holds nothing of ours but the canary: its disappearance means tables were wiped
    // (upstream's Monitor). nat and filter: a flush (-F) removes rules but not chains, so check
    // the jump rules instead; that also covers -F followed by -X. A canary check there would add
    // nothing but cost: with the legacy backend every command reads the whole table.
    const natJump = JUMP_RULES.find((j) => j.table === 'nat' && j.src === 'PREROUTING')!;
    const filterJump = JUMP_RULES.find((j) => j.table === 'filter' && j.dst === KUBE_FORWARD)!;
    const canary = t.run('iptables', [...WAIT, '-t', 'mangle', '-S', KUBE_PROXY_CANARY], { allowFailure: true }).then((r) => r.code === 0);
    const ok = await Promise.all([canary, jumpExists(t, natJump), jumpExists(t, filterJump)]);
    if (ok.every(Boolean)) return false;
    log.info('iptables canary or jump rules missing: forcing a full sync', { ipFamily: family });
    needFull = true;
    needSave = true;
    return true;
  }

  async function cleanup(co: CleanupOptions = {}): Promise<void> {
    applied = null;
    needFull = true;
    needSave = true;
    const choice = opts.backend ?? 'auto';
    // With auto-detection clean both backends: leftovers may sit in the one not chosen now.
    const backends: Backend[] = choice === 'auto' ? ['nft', 'legacy'] : [choice];
    const errors: string[] = [];
    for (const b of backends) {
      try {
        // Shared with IPVS mode: removes any mode's chains, whatever an earlier (partial) cleanup left.
        const kept = await cleanupIptablesLeftovers(family, b, runner, co.keep);
        if (kept.length > 0) log.warn('Chains kept: referenced from chains that are not ours', { ipFamily: family, backend: b, chains: kept });
      } catch (e) {
        metrics.iptablesRestoreFailuresTotal.inc(fam);
        errors.push(`iptables cleanup (${b}, ${family}): ${(e as Error).message}`);
      }
    }
    if (errors.length > 0) throw new Error(errors.join('; '));
  }

  return {
    mode: 'iptables',
    family,
    sync,
    detectDrift,
    render: (state) => plan(null, state, cfg, { full: true, randomFully: opts.randomFully ?? true, conntrackTCPLiberal: liberal ?? false }).restoreInput,
    cleanup,
  };
}
