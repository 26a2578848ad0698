// Shapes of bench/results/<date>.json and small statistics helpers.

import type { Stat3, TimelineRow } from './e2e-stats.js';
import type { Mode } from './modes.js';

export type { Stat3, TimelineRow };

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
  /** End-to-end figures (absent in results files from before they existed). */
  readonly e2e?: E2ERecord[];
  readonly notes: string[];
}

/** Nearest-rank percentiles (p99 of 50 samples is the largest but one… i.e. close to the max). */
export function percentiles(xs: readonly number[]): Percentiles {
  if (xs.length === 0) return { count: 0, p50: NaN, p99: NaN, max: NaN, mean: NaN };
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
  return { count: s.length, p50: at(0.5), p99: at(0.99), max: s[s.length - 1]!, mean: s.reduce((a, b) => a + b, 0) / s.length };
}

/** One change of the end-to-end benchmark: an EndpointSlice PUT switching the last service to a new pod. */
export interface E2EChangeSample {
  /** PUT sent → first new connection answered by the new pod. */
  readonly writeToTrafficMs: number;
  /** The PUT's round trip to the test API server. */
  readonly putMs: number;
  /** The proxy's kubeproxy_network_programming_duration_seconds for this change (trigger time = PUT sent → rules programmed). */
  readonly eventToKernelMs: number | null;
  /** The proxy's kubeproxy_sync_proxy_rules_duration_seconds of the sync(s) in between (mean). */
  readonly syncMs: number | null;
  /** PUT sent → the proxy's "Synced rules" log line (IPv4). */
  readonly loggedSyncEndMs: number | null;
  /** The kernel tool's share of that sync, from the same log line. */
  readonly toolMs: number | null;
}

export type E2ESource = 'apiserver' | 'manifests-json' | 'manifests-yaml' | 'legacy-restore';

/** One end-to-end configuration (source × mode × N): start → serving samples, RSS, changes. */
export interface E2ERecord {
  readonly source: E2ESource;
  readonly mode: 'nftables' | 'iptables' | 'iptables-legacy-restore';
  readonly services: number;
  /** Process spawn → the last service answers (or, for legacy-restore, the restore's wall time), ms. */
  readonly start: Stat3 | null;
  /** VmRSS 1 s after serving, MB. */
  readonly rssMB: Stat3 | null;
  /** VmHWM (peak RSS) at that point, MB. */
  readonly peakMB: Stat3 | null;
  readonly changes: readonly E2EChangeSample[];
  readonly churn: { readonly changes: number; readonly seconds: number; readonly rssBeforeMB: number; readonly rssAfterMB: number } | null;
  readonly timeline: readonly TimelineRow[] | null;
  /** Samples that failed or hit their limit (and why). */
  readonly errors: readonly string[];
  /** legacy-restore only: the time limit a sample ran past (the figure is then "> overMs"), ms. */
  readonly overMs?: number;
}
