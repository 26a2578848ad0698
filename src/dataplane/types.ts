// The one interface every dataplane implements (nftables, iptables, ipvs), per IP family.
//
// Pure builders, thin appliers: each dataplane folder holds a pure planner
// (state + previous applied state -> transaction text + new applied state), golden-tested,
// and a thin applier that hands that text to the kernel tool. `Dataplane` glues them.

import type { IPFamily, ProxyState } from '../model/types.js';
import type { DataplaneConfig } from './config.js';
import type { ProxyMode } from '../config/types.js';

export interface SyncOptions {
  /** Rewrite everything (first sync, after a failure, topology change, periodic full sync, drift). */
  readonly full: boolean;
}

export interface SyncResult {
  /** Whether this run was a full sync (a dataplane may upgrade a partial request to full). */
  readonly full: boolean;
  /** Size of what was sent to the kernel tool (lines / operations), for logs and benchmarks. */
  readonly operations: number;
  /** Milliseconds spent inside kernel tools (nft, iptables-restore, ipvsadm, ipset). */
  readonly toolMillis: number;
}

export interface Dataplane {
  readonly mode: ProxyMode;
  readonly family: IPFamily;
  /**
   * Program `state`. Atomic: on failure it throws and the previously applied ruleset stays in
   * the kernel; the next call after a failure must be a full sync (the dataplane forces it).
   */
  sync(state: ProxyState, opts: SyncOptions): Promise<SyncResult>;
  /**
   * Cheap check whether our rules were removed or flushed by someone else since the last
   * sync (canary). true means the next sync must be full.
   */
  detectDrift(): Promise<boolean>;
  /** The ruleset text this mode would program for `state` from scratch (for --print-rules). */
  render(state: ProxyState): string;
  /**
   * What a full sync would program now, when that depends on more than `state` (IPVS: the
   * local addresses that match-all NodePorts bind to, read at sync time). For --dry-run;
   * defaults to render(state).
   */
  renderLive?(state: ProxyState): Promise<string>;
  /**
   * Remove everything this mode created for this family. Best effort; throws on failure.
   * With `opts` it removes another mode's leftovers while `opts.keep` runs (a mode switch).
   */
  cleanup(opts?: CleanupOptions): Promise<void>;
  /**
   * Stop helper processes (nftables: the persistent `nft -i`) and wait for them; optional,
   * idempotent. Rules stay in place.
   */
  close?(): Promise<void>;
}

/** How a mode switch removes the previous mode's leftovers (see docs/operations.md "Mode switch"). */
export interface CleanupOptions {
  /**
   * iptables chains and built-in jumps the now-running mode owns: left alone (iptables and IPVS
   * mode share chain names such as KUBE-SERVICES; the new mode's first sync already rewrote them).
   */
  readonly keep?: IptablesKeep;
  /**
   * IPVS: remove the iptables rules and ipsets now, but keep virtual servers and kube-ipvs0 until
   * IPVS tracks no connection (or this many ms passed), so established connections keep working.
   */
  readonly drainMs?: number;
}

/** Chains and built-in-chain jumps of a mode, for CleanupOptions.keep. */
export interface IptablesKeep {
  chain(table: string, chain: string): boolean;
  jump(table: string, builtin: string, target: string, comment: string): boolean;
}

export type DataplaneFactory = (cfg: DataplaneConfig) => Dataplane;
