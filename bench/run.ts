// The benchmark (`make bench`, `make bench-quick`): our dataplanes against upstream's layouts,
// side by side in one run, every measurement in throw-away network namespaces. See USAGE in
// args.ts and docs/benchmarks.md for what is measured and how.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, USAGE, type BenchPlan } from './args.js';
import { renderCharts } from './charts.js';
import { connTools, measureConnections, removeConnTools } from './connsetup.js';
import { measureControlPlane } from './control.js';
import { killAllE2E, measureE2E } from './e2e.js';
import { clusterIP, podIP, servicePort, TARGET_PORT } from './fixtures.js';
import type { Mode } from './modes.js';
import { addNs, delAllNs, delNs, delTrio, makeTrio, newNsName, type Trio } from './netns.js';
import { renderMarkdown } from './report.js';
import { percentiles, type BenchResults, type ChurnRecord, type ConnRecord, type ControlRecord, type E2ERecord, type Machine, type SyncRecord, type Timed } from './results.js';
import { killAllWorkers, runWorker, type WorkerOutcome } from './spawn-worker.js';

/** The repository root: next to bench/ (tsx) or above dist/bench/ (compiled); else the working directory. */
const REPO = ((): string => {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['..', '../..']) if (existsSync(join(here, up, 'package.json'))) return resolve(here, up);
  return process.cwd();
})();

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 10_000 }).trim().split('\n')[0]!;
  } catch {
    return 'unavailable';
  }
}

function machine(loadAvgStart: number[]): Machine {
  return {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    kernel: release(),
    node: process.version,
    nft: version('nft', ['--version']),
    iptablesNft: version('iptables-nft', ['--version']),
    iptablesLegacy: version('iptables-legacy', ['--version']),
    loadAvgStart,
    loadAvgEnd: loadavg(),
  };
}

const log = (msg: string): void => void process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

class Budget {
  constructor(
    private readonly ms: number,
    private readonly t0 = Date.now(),
  ) {}
  spent(): boolean {
    return Date.now() - this.t0 > this.ms;
  }
  remainingMs(): number {
    return this.ms - (Date.now() - this.t0);
  }
  /** The first `fraction` of this budget, as a budget of its own (same start). */
  share(fraction: number): Budget {
    return new Budget(this.ms * fraction, this.t0);
  }
}

function num(x: unknown): number | null {
  return typeof x === 'number' && Number.isFinite(x) ? x : null;
}

function syncRecord(mode: Mode, n: number, e: number, out: WorkerOutcome, limitMs: number, wantIncremental: string | null): SyncRecord {
  const full = out.phases.full;
  const model = out.phases.model;
  let fullT: Timed;
  if (full) fullT = { kind: 'ok', ms: num(full.wallMs) ?? NaN };
  else if (out.timedOut === 'full') fullT = { kind: 'timeout', limitMs };
  else fullT = { kind: 'error', message: String(out.phases.error?.message ?? out.timedOut ?? out.stderr.slice(0, 500)) };
  let incremental: SyncRecord['incremental'] = null;
  const inc = out.phases.incremental;
  if (inc && Array.isArray(inc.samples)) {
    const samples = inc.samples as { wallMs: number; toolMs: number }[];
    const failures = Array.isArray(inc.failures) ? (inc.failures as string[]) : [];
    incremental = {
      wall: percentiles(samples.map((s) => s.wallMs)),
      tool: percentiles(samples.map((s) => s.toolMs)),
      budgetHit: inc.budgetHit === true,
      ...(failures.length ? { failures } : {}),
      ...(num(inc.forcedFull) ? { forcedFull: num(inc.forcedFull)! } : {}),
    };
  } else if (wantIncremental) incremental = { skipped: wantIncremental };
  else if (full) incremental = { skipped: out.timedOut === 'incremental' ? 'over its time limit' : 'failed' };
  return {
    mode,
    services: n,
    endpoints: e,
    modelBuildMs: model ? (num(model.ingestMs) ?? 0) + (num(model.buildMs) ?? 0) : null,
    full: fullT,
    fullToolMs: full ? num(full.toolMs) : null,
    fullOperations: full ? num(full.operations) : null,
    incremental,
  };
}

async function benchmark(plan: BenchPlan, command: string): Promise<BenchResults> {
  const startedAt = new Date();
  const load0 = loadavg();
  const budget = new Budget(plan.budgetMs);
  const notes: string[] = [];
  const sync: SyncRecord[] = [];
  const conn: ConnRecord[] = [];
  const control: ControlRecord[] = [];
  const churn: ChurnRecord[] = [];
  const e2e: E2ERecord[] = [];
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const want = (s: string): boolean => (plan.sections as readonly string[]).includes(s);
  const kernel = isRoot && (want('sync') || want('conn') || want('churn'));
  if (!isRoot) notes.push('Not root: kernel measurements (e2e, sync, conn, churn) skipped.');
  const connDir = kernel && want('conn') ? await connTools() : null;
  if (kernel && want('conn') && !connDir) notes.push('gcc unavailable: connection setup skipped.');
  const cores = cpus().length;
  const churnHead = (mode: Mode, n: number): Omit<ChurnRecord, 'result'> => ({
    mode, services: n, ratePerSec: plan.churn.ratePerSec, seconds: plan.churn.seconds, minSyncMs: plan.churn.minSyncMs,
  });
  if (cores < 2) notes.push('One CPU: client and server of the connection test share it.');

  const connOnce = (t: Trio, ip: string, port: number) =>
    measureConnections(connDir!, { clientNs: t.client, podNs: t.pod, ip, port, serverPort: TARGET_PORT, rounds: plan.connRounds, perRound: plan.connPerRound, maxSeconds: 10 }, cores);
  /** The trio's no-rules figure, measured before a worker loads rules into it (paired baseline). */
  const preBaseline = async (t: Trio): Promise<number | undefined> => {
    if (!connDir) return undefined;
    try {
      return (await connOnce(t, podIP(0, 0), TARGET_PORT)).usPerConn;
    } catch {
      return undefined;
    }
  };
  const connTest = async (t: Trio, mode: Mode | 'none', n: number, ip: string, port: number, baselineUs?: number): Promise<void> => {
    if (!connDir) return;
    try {
      const r = await connOnce(t, ip, port);
      conn.push({ mode, services: n, ...(baselineUs !== undefined ? { baselineUs } : {}), result: r });
      log(`conn ${mode} N=${n}: ${r.usPerConn.toFixed(1)} µs/conn${baselineUs !== undefined ? ` (paired no-rules ${baselineUs.toFixed(1)} µs)` : ''}`);
    } catch (e) {
      conn.push({ mode, services: n, result: { skipped: `failed: ${(e as Error).message.slice(0, 200)}` } });
    }
  };

  // 0. End to end (what a cluster sees; first, while the run's budget is whole).
  if (isRoot && want('e2e')) {
    // At most 60 % of the run: the dataplane-only figures below keep their share on a loaded machine.
    const b = want('sync') || want('conn') || want('churn') || want('control') ? budget.share(0.6) : budget;
    e2e.push(...(await measureE2E(plan.e2e, { log, spent: () => b.spent(), remainingMs: () => b.remainingMs() })));
  }

  // 0b. Control plane (cheap) (no kernel): list + build + plan in a child process, its own RSS.
  if (want('control')) {
    for (const n of plan.controlSizes) {
      if (budget.spent()) {
        control.push({ services: n, result: { skipped: 'run budget spent' } });
        continue;
      }
      try {
        const r = await measureControlPlane(n, 300_000);
        control.push({ services: n, result: r });
        log(`control N=${n}: ${r.totalMs.toFixed(0)} ms, max RSS ${r.maxRssMB.toFixed(0)} MB`);
      } catch (e) {
        control.push({ services: n, result: { skipped: `failed: ${(e as Error).message.slice(0, 200)}` } });
      }
    }
  }
  // 1. Connection-setup baselines: no rules at all, then each layout with 0 services.
  if (connDir) {
    const t = await makeTrio();
    try {
      await connTest(t, 'none', 0, podIP(0, 0), TARGET_PORT);
    } finally {
      await delTrio(t);
    }
    for (const mode of plan.modes) {
      if (mode === 'upstream-iptables-nft') continue; // same ruleset as iptables-nft
      if (budget.spent()) break;
      const tr = await makeTrio();
      try {
        const pre = await preBaseline(tr);
        const out = await runWorker(tr.node, { mode, services: 0, endpoints: plan.endpoints, changes: 0, incrementalBudgetMs: 0 }, { model: 60_000, full: plan.limitMs, incremental: 0, churn: 0 });
        if (out.phases.full) await connTest(tr, mode, 0, podIP(0, 0), TARGET_PORT, pre);
        else conn.push({ mode, services: 0, result: { skipped: 'rules failed to load' } });
      } finally {
        await delTrio(tr);
      }
    }
  }

  // 2. Full + incremental sync (+ connection setup and churn where asked), fresh namespaces each.
  if (kernel) {
    const overLimit = new Map<Mode, number>();
    for (const n of plan.sizes) {
      for (const mode of plan.modes) {
        const doConn = !!connDir && plan.connSizes.includes(n) && mode !== 'upstream-iptables-nft';
        const doChurn = want('churn') && n === plan.churn.services && plan.churn.modes.includes(mode);
        const doSync = want('sync');
        if (!doSync && !doConn && !doChurn) continue;
        const skip = (why: string): void => {
          if (doSync) sync.push({ mode, services: n, endpoints: plan.endpoints, modelBuildMs: null, full: { kind: 'skipped', why }, fullToolMs: null, fullOperations: null, incremental: null });
          if (doConn) conn.push({ mode, services: n, result: { skipped: why } });
          if (doChurn) churn.push({ ...churnHead(mode, n), result: { skipped: why } });
        };
        const limitMs = mode === 'upstream-nft' ? plan.baselineLimitMs : plan.limitMs;
        const prevLimit = overLimit.get(mode);
        if (prevLimit !== undefined) {
          skip(`full sync was already > ${limitMs / 1000} s at ${prevLimit} services`);
          continue;
        }
        if (budget.spent()) {
          skip('run budget spent');
          continue;
        }
        // Our iptables-nft partial sync is the same code path as upstream's: time it once.
        const incSkip = mode === 'upstream-iptables-nft' ? 'same partial restore as iptables-nft (ours)' : null;
        const changes = doSync && !incSkip ? plan.changes : 0;
        for (let attempt = 0; attempt < 2; attempt++) {
          const trio = doConn ? await makeTrio() : null;
          const ns = trio ? trio.node : await addNs(newNsName('node'));
          try {
            const pre = trio ? await preBaseline(trio) : undefined;
            log(`${mode} N=${n}: sync${doConn ? ' + conn' : ''}${doChurn ? ' + churn' : ''}`);
            const churnCfg = doChurn ? { ratePerSec: plan.churn.ratePerSec, seconds: plan.churn.seconds, minSyncMs: plan.churn.minSyncMs } : undefined;
            const out = await runWorker(
              ns,
              { mode, services: n, endpoints: plan.endpoints, changes, incrementalBudgetMs: plan.incrementalBudgetMs, ...(churnCfg ? { churn: churnCfg } : {}) },
              { model: 300_000, full: limitMs, incremental: plan.incrementalBudgetMs + 60_000, churn: plan.churn.seconds * 1000 + 60_000 },
            );
            const rec = syncRecord(mode, n, plan.endpoints, out, limitMs, changes === 0 ? (incSkip ?? 'not asked') : null);
            if (rec.full.kind === 'error' && attempt === 0) {
              // Shared machine: e.g. the global xtables lock held by someone else past `-w 5`.
              notes.push(`${mode} at ${n} services: first attempt failed (${rec.full.message.slice(0, 160)}); retried once in fresh namespaces.`);
              log(`  failed (${rec.full.message.slice(0, 160)}), retrying`);
              continue;
            }
            if (doSync) sync.push(rec);
            if (rec.full.kind === 'timeout') overLimit.set(mode, n);
            log(`  full ${rec.full.kind === 'ok' ? `${(rec.full.ms / 1000).toFixed(3)} s (tool ${((rec.fullToolMs ?? 0) / 1000).toFixed(3)} s)` : rec.full.kind}` +
              (rec.incremental && 'wall' in rec.incremental ? `, incremental p50 ${rec.incremental.wall.p50.toFixed(1)} ms p99 ${rec.incremental.wall.p99.toFixed(1)} ms` : ''));
            if (doChurn) {
              const c = out.phases.churn;
              if (c && Array.isArray(c.latencies)) {
                churn.push({
                  ...churnHead(mode, n),
                  result: { changes: num(c.changes) ?? 0, syncs: num(c.syncs) ?? 0, latency: percentiles(c.latencies as number[]), wallMs: num(c.wallMs) ?? 0, cpuSelfMs: num(c.cpuSelfMs) ?? 0, cpuToolsMs: num(c.cpuToolsMs) ?? 0 },
                });
              } else churn.push({ ...churnHead(mode, n), result: { skipped: rec.full.kind === 'ok' ? `churn ${out.timedOut === 'churn' ? 'over its time limit' : 'failed'}` : `full sync ${rec.full.kind}` } });
            }
            if (trio) {
              if (rec.full.kind === 'ok') await connTest(trio, mode, n, clusterIP(n - 1), servicePort(n - 1), pre);
              else conn.push({ mode, services: n, result: { skipped: `full sync ${rec.full.kind === 'timeout' ? `> ${limitMs / 1000} s` : rec.full.kind}` } });
            }
          } finally {
            if (trio) await delTrio(trio);
            else await delNs(ns);
          }
          break;
        }
      }
    }
  }

  if (import.meta.url.endsWith('.ts')) notes.push('Run through tsx: child RSS includes the TypeScript loader; `make bench` runs compiled JS.');

  return {
    date: startedAt.toISOString().slice(0, 10),
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command,
    quick: plan.quick,
    machine: machine(load0),
    settings: {
      modes: plan.modes, sizes: plan.sizes, endpointsPerService: plan.endpoints, incrementalChanges: plan.changes,
      fullSyncLimitSeconds: plan.limitMs / 1000, upstreamNftLimitSeconds: plan.baselineLimitMs / 1000, connSizes: plan.connSizes, connRounds: plan.connRounds, connPerRound: plan.connPerRound,
      controlSizes: plan.controlSizes, churn: plan.churn, budgetMinutes: plan.budgetMs / 60_000, e2e: plan.e2e,
    },
    sync, conn, control, churn, e2e, notes,
  };
}

async function main(): Promise<number> {
  let plan: BenchPlan;
  try {
    plan = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  if (plan.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const onSignal = (): void => {
    killAllWorkers();
    killAllE2E();
    void delAllNs().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const command = ['node dist/bench/run.js', ...process.argv.slice(2)].join(' ');
  let results: BenchResults;
  if (plan.fromJson) {
    results = JSON.parse(readFileSync(plan.fromJson, 'utf8')) as BenchResults;
  } else {
    try {
      results = await benchmark(plan, command);
    } finally {
      killAllWorkers();
      killAllE2E();
      await delAllNs();
      removeConnTools();
    }
  }
  if (plan.addJson) {
    const extra = JSON.parse(readFileSync(plan.addJson, 'utf8')) as BenchResults;
    const have = new Set(results.sync.map((x) => `${x.mode}/${x.services}`));
    const added = extra.sync.filter((x) => !have.has(`${x.mode}/${x.services}`));
    if (added.length) {
      results = {
        ...results,
        sync: [...results.sync, ...added].sort((a, b) => a.services - b.services),
        notes: [...results.notes, `Sync figures for ${[...new Set(added.map((x) => `${x.mode} at ${x.services}`))].join(', ')} come from a separate run (${basename(plan.addJson)}) started ${extra.startedAt} (\`${extra.command}\`, load average ${extra.machine.loadAvgStart.map((v) => v.toFixed(1)).join(' / ')}).`],
      };
    }
  }
  const outDir = plan.out ?? (plan.quick ? mkdtempSync(join(tmpdir(), 'kpx-bench-')) : join(REPO, 'bench', 'results'));
  mkdirSync(outDir, { recursive: true });
  const jsonPath = join(outDir, `${results.date}${results.quick ? '-quick' : ''}.json`);
  if (!plan.fromJson) writeFileSync(jsonPath, JSON.stringify(results, null, 2) + '\n');
  const chartDir = plan.docs ? join(REPO, 'docs', 'benchmarks') : join(outDir, 'charts');
  mkdirSync(chartDir, { recursive: true });
  const charts = await renderCharts(results, chartDir);
  const md = renderMarkdown(results, { chartPaths: charts.map((c) => (plan.docs ? `benchmarks/${c}` : join(chartDir, c))), resultsPath: plan.docs ? `../bench/results/${results.date}${results.quick ? '-quick' : ''}.json` : (plan.fromJson ?? jsonPath) });
  writeFileSync(join(outDir, `${results.date}${results.quick ? '-quick' : ''}.md`), md);
  if (plan.docs) writeFileSync(join(REPO, 'docs', 'benchmarks.md'), md);
  process.stdout.write(md.split('\n## Method')[0] + '\n');
  log(`results: ${jsonPath}${plan.docs ? ', docs/benchmarks.md' : ''}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);

