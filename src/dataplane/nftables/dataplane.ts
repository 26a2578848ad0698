// nftables dataplane: the only I/O of the mode. The planner (planner.ts, pure) turns the applied
// state and a ProxyState into a typed Transaction; this applies it as one atomic transaction
// (`nft -f -`; the element socket for a transaction of element additions and deletions only; the
// persistent `nft -i` stream for other small incremental ones), probes for drift and cleans up, in
// whatever network namespace this process runs in. Tools run only through the injected ToolRunner
// and NftStreamFactory (kernel/), so a fake kernel can stand in (an injected runner also turns the
// element socket off: it would reach this process's namespace, not the fake's).

import { availableParallelism } from 'node:os';
import type { ProxyState } from '../../model/types.js';
import type { DataplaneConfig } from '../config.js';
import type { Dataplane, SyncOptions, SyncResult } from '../types.js';
import { ExecError } from '../../util/exec.js';
import { metrics } from '../../metrics/metrics.js';
import { createLogger } from '../../log/logger.js';
import { type ToolRunner, realRunner } from '../../kernel/runner.js';
import { Transaction } from '../../kernel/nftables/transaction.js';
import { stageFull } from '../../kernel/nftables/staged.js';
import { setLayout, type SetLayout } from '../../kernel/nftables/elements-netlink.js';
import { openNftElementWriter, type NftElementWriter } from '../../kernel/nftables/elements-socket.js';
import {
  type NftStream,
  type NftStreamFactory,
  NftSessionError,
  NftSessionUnsupported,
  nftSessionFactory,
} from '../../kernel/nftables/session.js';
import { CANARY_CHAIN, CANARY_RULE_HANDLE, DEFAULT_TABLE, MARKER_SET, familyWord, tableRef } from './layout.js';
import { type Applied, plan, planFull, plansFull, withTableStart } from './planner.js';
import type { TableStart } from './layout.js';
import { ServiceCache } from './service.js';

const log = createLogger('nftables');
/** nft echoes the failing command; keep errors readable when a transaction is megabytes. */
const MAX_ERROR_TEXT = 4000;

export interface NftablesOptions {
  readonly tableName?: string;
  /**
   * Apply incremental transactions through a persistent `nft -i` (session.ts; default true).
   * Full syncs always use `nft -f -`.
   */
  readonly interactive?: boolean;
  /** Runs `nft` (default: the real tool). */
  readonly runner?: ToolRunner;
  /** Makes the persistent `nft -i` stream (default: NftSession). */
  readonly streams?: NftStreamFactory;
  /**
   * A full sync that creates the table (none there) with at least this many elements is applied in
   * stages, its elements by parallel `nft` processes (kernel/nftables/staged.ts). Default 20,000
   * (~1,500 services × 10 endpoints; below that one process takes ~0.1 s and staging gains nothing).
   */
  readonly stagedMinElements?: number;
  /** Parallel element stages (default: the CPUs this process may use, at most 4; below 2 nothing is staged). */
  readonly stagedParts?: number;
  /**
   * How set and map elements are written: 'netlink' (one nfnetlink socket, kernel/nftables/
   * elements-socket.ts: the elements of a first start, and every change that only adds and deletes
   * elements; `nft` for everything else and where the socket cannot be opened) or 'nft' (always
   * `nft`). Default: 'netlink', or 'nft' when `runner` is given (a fake runner stands for a kernel
   * the socket would not reach) or a KPX_TOOL_NFT wrapper is set (it must see every write).
   */
  readonly elements?: 'netlink' | 'nft';
}

/** Incremental scripts larger than this go through `nft -f -` (one huge interactive line gains nothing). */
const MAX_INTERACTIVE_SCRIPT = 1 << 20;
/**
 * `nft -i` processes that died before completing any transaction, in a row, after which this
 * Dataplane stops trying (a KPX_TOOL_NFT wrapper or an nft build without CLI support).
 */
const MAX_SESSION_START_FAILURES = 3;
const STAGED_MIN_ELEMENTS = 20_000;
/** With the element socket, staging pays off much earlier: the elements cost no `nft` parsing. */
const STAGED_MIN_ELEMENTS_NETLINK = 2_000;
const STAGED_MAX_PARTS = 4;

function errorText(e: unknown): string {
  const t =
    e instanceof ExecError
      ? e.result.stderr.trim() || e.message
      : e instanceof NftSessionError
        ? e.stderr || e.message
        : e instanceof Error
          ? e.message
          : String(e);
  return t.length > MAX_ERROR_TEXT ? t.slice(0, MAX_ERROR_TEXT) + ' …' : t;
}

export function createNftablesDataplane(cfg: DataplaneConfig, opts: NftablesOptions = {}): Dataplane {
  const tableName = opts.tableName ?? DEFAULT_TABLE;
  const fam = familyWord(cfg.family);
  const run = opts.runner ?? realRunner;
  const cache = new ServiceCache();
  // null: nothing known to be applied (start, after a failure or drift) -> next sync is full.
  let applied: Applied | null = null;
  let session: NftStream | null = opts.interactive === false ? null : (opts.streams ?? nftSessionFactory)(fam, tableName, MARKER_SET);
  /** Session processes lost before their first completed transaction, in a row. */
  let sessionStartFailures = 0;
  const useNetlink = (opts.elements ?? (opts.runner || process.env.KPX_TOOL_NFT ? 'nft' : 'netlink')) === 'netlink';
  /** The element socket once asked for: null inside when it cannot be opened (then `nft` writes everything). */
  let writerOpening: Promise<NftElementWriter | null> | null = null;
  /** Element layouts of the table's sets and maps (a full plan declares them all). */
  const layouts = new Map<string, SetLayout | null>();
  const layoutOf = (set: string): SetLayout | null => layouts.get(set) ?? null;

  /** Opens the socket once (loading the addon); every caller gets the same answer. */
  const openElementWriter = (): Promise<NftElementWriter | null> => {
    if (!useNetlink) return Promise.resolve(null);
    writerOpening ??= openNftElementWriter().then(
      (w) => {
        log.v(2).info('Writing nftables elements over netlink', { ipFamily: cfg.family });
        return w;
      },
      (e: unknown) => {
        log.info('nftables netlink socket unavailable; nft writes the elements', { ipFamily: cfg.family, err: e });
        return null;
      },
    );
    return writerOpening;
  };
  /** Remember the layouts of the sets and maps a plan declares. */
  const learnLayouts = (tx: Transaction, full: boolean): void => {
    if (full) layouts.clear();
    for (const op of tx.ops) {
      const o = op.object;
      if (o.kind !== 'set' && o.kind !== 'map') continue;
      if (op.verb === 'add') layouts.set(o.name, setLayout(o.spec));
      else if (op.verb === 'delete') layouts.delete(o.name);
    }
  };

  /** A transaction of element additions and deletions only, applied atomically over the socket; null: use nft. */
  const applyElementsOnly = async (tx: Transaction, script: () => string): Promise<number | null> => {
    if (!useNetlink || tx.ops.some((op) => op.object.kind !== 'element' || !layouts.get(op.object.set))) return null;
    const w = await openElementWriter();
    if (!w) return null;
    return w.apply(script().split('\n').filter((l) => l !== ''), layoutOf, true);
  };

  /** Count, log and throw a failed sync (the table probe or the transaction). */
  const syncFailed = (e: unknown, full: boolean): never => {
    metrics.nftablesSyncFailuresTotal.inc({ ip_family: cfg.family });
    const text = errorText(e);
    log.error('nftables sync failed', { ipFamily: cfg.family, full, error: text });
    throw new Error(`nftables sync failed (${cfg.family}): ${text}`);
  };

  /**
   * Does the kernel hold our table? A full plan replaces it when it does and creates it when it
   * does not (layout.ts TableStart): never `add` + `delete` of a table that was not there, which the
   * kernel shows as an empty table until the commit. Asked as a check-only `create table` (fails
   * with "File exists" iff the table is there; nothing is committed, and a table created and not
   * deleted is never shown), which loads no cache: ~0.1 s at 10k services where nft 1.0.6's
   * `list tables` takes 3 s. Whatever changes between this and the transaction makes the
   * transaction fail whole (`delete` of a missing table, `create` of an existing one), and the
   * retry, a full sync again, looks again.
   */
  const tableStart = async (): Promise<TableStart> => {
    const probe = new Transaction(tableRef(fam, tableName)).createTable();
    const r = await run('nft', ['-c', '-f', '-'], { input: probe.render(), allowFailure: true });
    if (r.code === 0) return 'create';
    if (/File exists/.test(r.stderr)) return 'replace';
    throw new ExecError('nft', ['-c', '-f', '-'], r);
  };

  const stagedMin = opts.stagedMinElements ?? (useNetlink ? STAGED_MIN_ELEMENTS_NETLINK : STAGED_MIN_ELEMENTS);
  const stagedParts = opts.stagedParts ?? Math.min(availableParallelism(), STAGED_MAX_PARTS);

  /**
   * A full transaction that creates the table, in stages (staged.ts): skeleton, element parts at
   * once, then the hooks. Null when it does not qualify; resolves with wall millis.
   */
  const applyStaged = async (tx: Transaction): Promise<number | null> => {
    const writer = await openElementWriter();
    if ((stagedParts < 2 && !writer) || tx.size < stagedMin) return null;
    const st = stageFull(tx, Math.max(2, stagedParts));
    if (!st || st.elementCount < stagedMin) return null;
    const t0 = process.hrtime.bigint();
    await run('nft', ['-f', '-'], { input: st.skeleton });
    // The table and its sets exist now: start `nft -i` (its first answer costs ~25-50 ms, a process
    // and a cache fill) while the element stages run, so that a change queued behind this first
    // sync does not wait for it afterwards. Later commits of this table need no new cache fill.
    if (session !== null && !session.alive) session.warm();
    // Over the socket in batches, or by parallel `nft` processes (every part is waited for, also
    // when one fails: the retry must not race a part still running).
    let parts: number | 'netlink' = 'netlink';
    if (!writer || (await writer.apply(st.elementLines, layoutOf, false)) === null) {
      parts = st.elements.length;
      const done = await Promise.allSettled(st.elements.map((input) => run('nft', ['-f', '-'], { input })));
      for (const r of done) if (r.status === 'rejected') throw r.reason;
    }
    await run('nft', ['-f', '-'], { input: st.hooks });
    const millis = Number(process.hrtime.bigint() - t0) / 1e6;
    log.v(2).info('Created the table in stages', { ipFamily: cfg.family, elements: st.elementCount, parts, millis: Math.round(millis) });
    return millis;
  };

  /** One incremental transaction through the session (or `nft -f -`): resolves with wall millis. */
  const applyIncremental = async (s: NftStream, script: string): Promise<number> => {
    const t0 = process.hrtime.bigint();
    const fresh = !s.alive;
    try {
      // Script lines are whole commands (no newline inside a command): one line, one transaction.
      await s.apply(script.split('\n').filter((l) => l !== ''));
    } catch (e) {
      if (e instanceof NftSessionUnsupported) {
        // Nothing was sent: use nft -f from now on (a wrapper that cannot stream, no CLI support).
        log.warn('nft -i unusable; using nft -f for every transaction', { ipFamily: cfg.family, error: e.stderr });
        session = null;
        return (await run('nft', ['-f', '-'], { input: script })).millis;
      }
      if (e instanceof NftSessionError && e.sessionLost && fresh && ++sessionStartFailures >= MAX_SESSION_START_FAILURES) {
        log.warn('nft -i keeps exiting at start; using nft -f for every transaction', { ipFamily: cfg.family, error: e.stderr });
        session = null;
      }
      throw e;
    }
    sessionStartFailures = 0;
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };

  return {
    mode: 'nftables',
    family: cfg.family,

    async sync(state: ProxyState, o: SyncOptions): Promise<SyncResult> {
      // Asked for here, not at creation (a Dataplane made only to render or clean up needs none),
      // and before planning: the addon's files are read while the plan is computed.
      void openElementWriter();
      const prev = o.full ? null : applied;
      // A full plan starts the table as the kernel has it (create or replace): ask `nft` now and
      // plan meanwhile (the planning is CPU, the question a process: ~25 ms saved at every start).
      const asking = plansFull(prev, state, cfg, { tableName }) ? tableStart() : null;
      let p = plan(prev, state, cfg, { tableName, cache, tableStart: asking ? 'create' : undefined });
      let start: TableStart | undefined;
      if (asking) {
        start = await asking.catch((e: unknown) => {
          applied = null;
          return syncFailed(e, true);
        });
        p = withTableStart(p, start);
      }
      learnLayouts(p.tx, p.full);
      // Until this transaction succeeds the kernel state is uncertain (a lost `nft -i` may or may
      // not have committed it): forget `applied` now, so a failure makes the next sync full.
      applied = null;
      // Not `p.script === ''`: that renders the whole text, which a staged full sync renders again (~45 ms at 10k).
      if (p.tx.empty) {
        applied = p.next;
        return { full: false, operations: 0, toolMillis: 0 };
      }
      try {
        // A lost session (process died mid-transaction) fails the sync like a failed `nft -f`: the
        // transaction may or may not have been committed, and the forced full sync repairs either.
        const viaNftF = async (): Promise<number> => (await run('nft', ['-f', '-'], { input: p.script })).millis;
        const millis = p.full
          ? ((start === 'create' ? await applyStaged(p.tx) : null) ?? (await viaNftF()))
          : ((await applyElementsOnly(p.tx, () => p.script)) ??
            (session !== null && p.script.length <= MAX_INTERACTIVE_SCRIPT ? await applyIncremental(session, p.script) : await viaNftF()));
        applied = p.next;
        // After a full sync (the start, a failure, drift) the next change would pay `nft -i`'s
        // start and first cache fill (~0.5 s at 10k services): pay it now, off the change's path.
        if (p.full && session !== null && !session.alive) session.warm();
        log.v(4).info('nftables transaction applied', { ipFamily: cfg.family, full: p.full, operations: p.ops, millis });
        return { full: p.full, operations: p.ops, toolMillis: millis };
      } catch (e) {
        return syncFailed(e, p.full);
      }
    },

    async detectDrift(): Promise<boolean> {
      if (!applied) return true;
      // A check-only (-c: the kernel validates, then aborts) deletion of the canary rule by handle
      // fails iff the rule is gone (table deleted, flushed, or `flush ruleset`). Listing even one
      // chain makes nft 1.0.6 load every set with its elements: 1+ s at 10k services; this does not.
      const probe = new Transaction(tableRef(fam, tableName)).delete({ kind: 'rule-handle', chain: CANARY_CHAIN, handle: CANARY_RULE_HANDLE });
      const r = await run('nft', ['-c', '-f', '-'], { input: probe.render(), allowFailure: true });
      const drift = r.code !== 0;
      if (drift) {
        log.info('nftables drift detected, next sync is full', { ipFamily: cfg.family });
        applied = null;
      }
      return drift;
    },

    render(state: ProxyState): string {
      return planFull(state, cfg, { tableName, cache }).script;
    },

    async close(): Promise<void> {
      // Waited for: a lingering nft keeps the network namespace alive (tests delete and re-create
      // namespaces right after stopping the proxy).
      await session?.close();
      // Awaited: a socket still opening would otherwise be left open.
      const opening = writerOpening;
      writerOpening = Promise.resolve(null);
      (await opening)?.close();
    },

    async cleanup(): Promise<void> {
      // add-then-delete makes "not found" impossible, in one transaction for both families.
      const tx = new Transaction(tableRef('ip', tableName));
      for (const f of ['ip', 'ip6'] as const) tx.use(tableRef(f, tableName)).addTable().deleteTable();
      const script = tx.render();
      await session?.close();
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
