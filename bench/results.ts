// Shapes of bench/results/<date>.json and small statistics helpers.

import type { Mode } from './modes.js';

/** A timed value: measured, over its time limit, skipped (with why) or failed. */
export type Timed =
  | { readonly kind: 'ok'; readonly ms: number }
  | { readonly kind: 'timeout'; readonly limitMs: number }
  | { readonly kind: 'skipped'; readonly why: string }
  | { readonly kind: 'error'; readonly message: string };

export interface Percentiles {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

export interface SyncRecord {
  readonly mode: Mode;
  readonly services: number;
  readonly endpoints: number;
  readonly modelBuildMs: number | null;
  readonly full: Timed;
  /** Share of the full sync spent in the kernel tool (nft / iptables-restore / iptables), ms. */
  readonly fullToolMs: number | null;
  readonly fullOperations: number | null;
  readonly incremental: { readonly wall: Percentiles; readonly tool: Percentiles; readonly budgetHit: boolean; readonly failures?: readonly string[]; readonly forcedFull?: number } | { readonly skipped: string } | null;
}

export interface ConnRecord {
  /** 'none' = no proxy rules at all (the physical baseline). */
  readonly mode: Mode | 'none';
  readonly services: number;
  /** The same trio measured just before the rules were loaded (no rules: the paired physical baseline), µs. */
  readonly baselineUs?: number;
  readonly result: { readonly usPerConn: number; readonly usMedian: number; readonly connPerSec: number; readonly rounds: readonly number[]; readonly connections: number; readonly errors: number } | { readonly skipped: string };
}

export interface ControlRecord {
  readonly services: number;
  readonly result: { readonly listMs: number; readonly buildMs: number; readonly planMs: number; readonly totalMs: number; readonly maxRssMB: number; readonly heapUsedMB: number } | { readonly skipped: string };
}

export interface ChurnRecord {
  readonly mode: Mode;
  readonly services: number;
  readonly ratePerSec: number;
  readonly seconds: number;
  readonly minSyncMs: number;
  readonly result:
    | { readonly changes: number; readonly syncs: number; readonly latency: Percentiles; readonly wallMs: number; readonly cpuSelfMs: number; readonly cpuToolsMs: number }
    | { readonly skipped: string };
}

export interface Machine {
  readonly cores: number;
  readonly cpuModel: string;
  readonly kernel: string;
  readonly node: string;
  readonly nft: string;
  readonly iptablesNft: string;
  readonly iptablesLegacy: string;
  readonly loadAvgStart: readonly number[];
  readonly loadAvgEnd: readonly number[];
}

export interface BenchResults {
  readonly date: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly command: string;
  readonly quick: boolean;
  readonly machine: Machine;
  readonly settings: Record<string, unknown>;
  readonly sync: SyncRecord[];
  readonly conn: ConnRecord[];
  readonly control: ControlRecord[];
  readonly churn: ChurnRecord[];
  readonly notes: string[];
}

/** Nearest-rank percentiles (p99 of 50 samples is the largest but one… i.e. close to the max). */
export function percentiles(xs: readonly number[]): Percentiles {
  if (xs.length === 0) return { count: 0, p50: NaN, p99: NaN, max: NaN, mean: NaN };
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
  return { count: s.length, p50: at(0.5), p99: at(0.99), max: s[s.length - 1]!, mean: s.reduce((a, b) => a + b, 0) / s.length };
}
