// Command line of bench/run.ts (pure, so it is unit-tested without a kernel).
//   node dist/bench/run.js [--quick] [--only a,b] [--out DIR] [--sizes 100,1000] [--limit SECONDS]
//                          [--docs | --no-docs] [--budget MINUTES]
// --only takes section names (e2e, sync, conn, control, churn) and/or mode names; both filter.

import type { E2EPlan } from './e2e.js';
import { MODES, type Mode } from './modes.js';

export const SECTIONS = ['e2e', 'sync', 'conn', 'control', 'churn'] as const;
export type Section = (typeof SECTIONS)[number];

export interface BenchPlan {
  readonly quick: boolean;
  readonly modes: readonly Mode[];
  readonly sections: readonly Section[];
  /** Service counts for full + incremental sync. */
  readonly sizes: readonly number[];
  readonly endpoints: number;
  readonly changes: number;
  readonly incrementalBudgetMs: number;
  /** Per full-sync time limit. */
  readonly limitMs: number;
  /** Full-sync limit of the upstream nftables layout (its 10k load takes about 2 min; the figure matters for a target). */
  readonly baselineLimitMs: number;
  /** Connection-test sizes (besides the no-rules baseline and the 0-service layouts). */
  readonly connSizes: readonly number[];
  readonly connRounds: number;
  readonly connPerRound: number;
  readonly controlSizes: readonly number[];
  readonly churn: { readonly services: number; readonly modes: readonly Mode[]; readonly ratePerSec: number; readonly seconds: number; readonly minSyncMs: number };
  /** End-to-end figures (proxy process, test API server, traffic): bench/e2e.ts. */
  readonly e2e: E2EPlan;
  /** Output directory for results; null: bench/results (full) or a temp dir (--quick). */
  readonly out: string | null;
  /** Rewrite docs/benchmarks.md and docs/benchmarks/*.svg. */
  readonly docs: boolean;
  /** Whole-run budget: later measurements are skipped (and reported so) once it is spent. */
  readonly budgetMs: number;
  readonly help: boolean;
  /** Re-render the markdown and charts from an earlier results JSON instead of measuring. */
  readonly fromJson: string | null;
  /** Add the sync records of another results file (sizes/modes this run lacks), e.g. a separate 100k run. */
  readonly addJson: string | null;
}

export const USAGE = `usage: bench/run [--quick] [--only NAMES] [--out DIR] [--sizes N,N] [--limit SECONDS] [--baseline-limit SECONDS] [--docs|--no-docs] [--budget MINUTES]
  --quick        N = 100 and 1000, fewer repetitions, results in a temp dir, docs untouched (CI smoke test)
  --only NAMES   comma-separated sections (${SECTIONS.join(', ')}) and/or modes (${MODES.join(', ')})
  --out DIR      where <date>.json and <date>.md go (default bench/results; --quick: a temp dir)
  --sizes N,N    service counts for the sync measurements (10 endpoints each)
  --e2e-sizes N,N  service counts for the end-to-end measurements (default 1000,10000,50000; --quick 1000)
  --samples K    end-to-end start samples per configuration (default 3)
  --limit S      time limit of one full sync, seconds (default 90; 10 with --quick)
  --baseline-limit S  time limit of one upstream-nftables full sync (default 240; --limit or 10 with --quick)
  --from-json F  no measurement: re-render the markdown and charts from results file F
  --add-json F   also report the sync records of results file F that this run lacks (e.g. a separate 100k run)
  --docs         write docs/benchmarks.md and docs/benchmarks/*.svg (default without --quick)
  --budget M     whole-run budget in minutes (default 17 and 1.75 with --quick, leaving room for the build within 20 and 3 minutes)`;

function positiveInts(v: string, flag: string): number[] {
  const out = v.split(',').map((s) => Number(s.trim()));
  if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n < 1 || n > 1_000_000)) throw new Error(`${flag}: expected positive integers, got "${v}"`);
  return out;
}

function positive(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag}: expected a positive number, got "${v}"`);
  return n;
}

export function parseArgs(argv: readonly string[]): BenchPlan {
  let quick = false;
  let only: string[] | null = null;
  let out: string | null = null;
  let sizes: number[] | null = null;
  let e2eSizes: number[] | null = null;
  let samples: number | null = null;
  let limit: number | null = null;
  let baselineLimit: number | null = null;
  let docs: boolean | null = null;
  let budget: number | null = null;
  let help = false;
  let fromJson: string | null = null;
  let addJson: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--quick':
        quick = true;
        break;
      case '--only':
        only = value().split(',').map((s) => s.trim()).filter(Boolean);
        break;
      case '--out':
        out = value();
        break;
      case '--sizes':
        sizes = positiveInts(value(), '--sizes');
        break;
      case '--e2e-sizes':
        e2eSizes = positiveInts(value(), '--e2e-sizes');
        break;
      case '--samples':
        samples = Math.max(1, Math.round(positive(value(), '--samples')));
        break;
      case '--limit':
        limit = positive(value(), '--limit');
        break;
      case '--baseline-limit':
        baselineLimit = positive(value(), '--baseline-limit');
        break;
      case '--budget':
        budget = positive(value(), '--budget');
        break;
      case '--from-json':
        fromJson = value();
        break;
      case '--add-json':
        addJson = value();
        break;
      case '--docs':
        docs = true;
        break;
      case '--no-docs':
        docs = false;
        break;
      case '-h':
      case '--help':
        help = true;
        break;
      default:
        throw new Error(`unknown argument "${a}"\n${USAGE}`);
    }
  }
  let modes: Mode[] = [...MODES];
  let sections: Section[] = [...SECTIONS];
  if (only) {
    const unknown = only.filter((n) => !(MODES as readonly string[]).includes(n) && !(SECTIONS as readonly string[]).includes(n));
    if (unknown.length) throw new Error(`--only: unknown name(s) ${unknown.join(', ')}`);
    const m = only.filter((n): n is Mode => (MODES as readonly string[]).includes(n));
    const s = only.filter((n): n is Section => (SECTIONS as readonly string[]).includes(n));
    if (m.length) modes = m;
    if (s.length) sections = s;
  }
  return {
    quick,
    modes,
    sections,
    sizes: sizes ?? (quick ? [100, 1000] : [1000, 5000, 10000]),
    endpoints: 10,
    changes: quick ? 10 : 30,
    incrementalBudgetMs: quick ? 10_000 : 45_000,
    limitMs: (limit ?? (quick ? 10 : 60)) * 1000,
    baselineLimitMs: (baselineLimit ?? limit ?? (quick ? 10 : 40)) * 1000,
    connSizes: quick ? [1000] : [1000, 10000],
    connRounds: quick ? 3 : 7,
    connPerRound: quick ? 200 : 600,
    controlSizes: quick ? [1000] : [1000, 10000],
    churn: quick
      ? { services: 1000, modes: ['nftables'], ratePerSec: 200, seconds: 2, minSyncMs: 1000 }
      : { services: 10000, modes: ['nftables', 'iptables-legacy'], ratePerSec: 200, seconds: 10, minSyncMs: 1000 },
    e2e: ((): E2EPlan => {
      const e2eN = e2eSizes ?? (quick ? [1000] : [1000, 10000, 50000]);
      return {
        sizes: e2eN,
        iptablesSizes: quick ? [] : e2eN.filter((n) => n <= 10000),
        manifestsSizes: quick ? [1000] : e2eN.filter((n) => n === 10000),
        endpoints: 10,
        samples: samples ?? 3,
        changes: quick ? 6 : 21,
        changesAt10k: quick ? 6 : 105,
        spacingMs: 1200,
        churnChanges: quick ? 100 : 1000,
        changeSizes: e2eN,
      };
    })(),
    out,
    docs: docs ?? !quick,
    budgetMs: (budget ?? (quick ? 1.75 : 17)) * 60_000,
    help,
    fromJson,
    addJson,
  };
}
