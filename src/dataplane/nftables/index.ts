// nftables dataplane: pure planner (planner.ts) + a thin applier that pipes each plan to
// `nft -f -` as one atomic transaction, in whatever network namespace this process runs in.

import type { DataplaneConfig, ProxyState } from '../../model/types.js';
import type { Dataplane, SyncOptions, SyncResult } from '../types.js';
import { ExecError, run } from '../../util/exec.js';
import { metrics } from '../../metrics/metrics.js';
import { createLogger } from '../../log/logger.js';
import { type Applied, CANARY_CHAIN, CANARY_RULE_HANDLE, DEFAULT_TABLE, plan, planFull } from './planner.js';

export { plan, planFull, render, DEFAULT_TABLE, CANARY_CHAIN } from './planner.js';
export type { Applied, Plan, PlanOptions } from './planner.js';
export { hashAndTruncate, serviceChainNames, endpointChainName, affinitySetName } from './names.js';

const log = createLogger('nftables');
/** nft echoes the failing command; keep errors readable when a transaction is megabytes. */
const MAX_ERROR_TEXT = 4000;

export interface NftablesOptions {
  readonly tableName?: string;
}

function errorText(e: unknown): string {
  const t = e instanceof ExecError ? e.result.stderr.trim() || e.message : e instanceof Error ? e.message : String(e);
  return t.length > MAX_ERROR_TEXT ? t.slice(0, MAX_ERROR_TEXT) + ' …' : t;
}

export function createNftablesDataplane(cfg: DataplaneConfig, opts: NftablesOptions = {}): Dataplane {
  const tableName = opts.tableName ?? DEFAULT_TABLE;
  const fam = cfg.family === 'IPv6' ? 'ip6' : 'ip';
  // null: nothing known to be applied (start, after a failure or drift) -> next sync is full.
  let applied: Applied | null = null;

  return {
    mode: 'nftables',
    family: cfg.family,

    async sync(state: ProxyState, o: SyncOptions): Promise<SyncResult> {
      const p = plan(o.full ? null : applied, state, cfg, { tableName });
      // An incremental plan updates `applied` in place: until this transaction succeeds it no
      // longer describes the kernel, so forget it now; a failure makes the next sync full.
      applied = null;
      if (p.script === '') {
        applied = p.next;
        return { full: false, operations: 0, toolMillis: 0 };
      }
      try {
        const res = await run('nft', ['-f', '-'], { input: p.script });
        applied = p.next;
        log.v(4).info('nftables transaction applied', { ipFamily: cfg.family, full: p.full, operations: p.ops, millis: res.millis });
        return { full: p.full, operations: p.ops, toolMillis: res.millis };
      } catch (e) {
        metrics.nftablesSyncFailuresTotal.inc({ ip_family: cfg.family });
        const text = errorText(e);
        log.error('nftables sync failed', { ipFamily: cfg.family, full: p.full, error: text });
        throw new Error(`nftables sync failed (${cfg.family}): ${text}`);
      }
    },

    async detectDrift(): Promise<boolean> {
      if (!applied) return true;
      // A check-only (-c: the kernel validates, then aborts) deletion of the canary rule by handle
      // fails iff the rule is gone (table deleted, flushed, or `flush ruleset`). Listing even one
      // chain makes nft 1.0.6 load every set with its elements: 1+ s at 10k services; this does not.
      const r = await run('nft', ['-c', '-f', '-'], {
        input: `delete rule ${fam} ${tableName} ${CANARY_CHAIN} handle ${CANARY_RULE_HANDLE}\n`,
        allowFailure: true,
      });
      const drift = r.code !== 0;
      if (drift) {
        log.info('nftables drift detected, next sync is full', { ipFamily: cfg.family });
        applied = null;
      }
      return drift;
    },

    render(state: ProxyState): string {
      return planFull(state, cfg, { tableName }).script;
    },

    async cleanup(): Promise<void> {
      // add-then-delete makes "not found" impossible, in one transaction for both families.
      const script = ['ip', 'ip6'].map((f) => `add table ${f} ${tableName}\ndelete table ${f} ${tableName}\n`).join('');
      try {
        await run('nft', ['-f', '-'], { input: script });
        applied = null;
      } catch (e) {
        metrics.nftablesCleanupFailuresTotal.inc({ ip_family: cfg.family });
        throw new Error(`nftables cleanup failed: ${errorText(e)}`);
      }
    },
  };
}
