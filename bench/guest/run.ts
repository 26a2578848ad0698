// Guest benchmark: ipvs vs nftables vs iptables in ONE run of the IPVS guest (qemu TCG, 1 vCPU,
// see ../shared/ipvs-vm/README.md), because the host kernel has no IPVS. Emulation makes every
// absolute figure 10-20x too slow and noisy, so the output is meant for RATIOS between figures
// taken in the same run: update latency 10k/1k, connection setup N/0, mode vs mode.
//
//   npm run build   # on the host; never compile in the guest (tsc takes minutes there)
//   ../shared/ipvs-vm/run-in-vm --timeout 1500 -- node dist/bench/guest/run.js [--quick]
//
// Per mode (ipvs, nftables, iptables-legacy; iptables-nft at 1k only: its --noflush restore is
// quadratic) and N (1k, 10k services x 10 endpoints), in fresh namespaces each time:
//   1. full sync wall time (+ SyncResult.toolMillis), by bench/guest/worker in the node namespace;
//   2. one-endpoint-change latency (ServiceModel.onEvent -> dataplane.sync), median / max;
//   3. connection setup, µs per new TCP connection client ns -> node ns -> pod ns, to the
//      last-created service's ClusterIP, through the rules the worker left in place;
// plus the N = 0 baseline (no rules, client straight to the pod address), measured at the start
// and the end of the run. Every phase has a time limit (reported as "> limit") and the whole run
// has a budget: what does not fit is reported as skipped, never silently dropped.
//
// Safety: all rules live in namespaces named kpx-gbench-<random>-…, deleted in finally and on
// SIGINT/SIGTERM; addresses come from bench/fixtures (198.18.0.0/15 only).

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/util/exec.js';
import { connTools, removeConnTools } from '../connsetup.js';
import { killAllWorkers, runPhasedWorker, type WorkerOutcome } from '../spawn-worker.js';
import { CLIENT_IP, clusterIP, NODE_IP, NODE_POD_SIDE_IP, POD_CIDR, POD_NS_IP, podIP, servicePort, TARGET_PORT } from '../fixtures.js';
import type { GuestJob, GuestMode } from './worker.js';

const WORKER = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url));

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  readonly quick: boolean;
  readonly sizes: readonly number[];
  readonly endpoints: number;
  readonly changes: number;
  /** Connection test: rounds x connections per round, each round bounded to roundSeconds. */
  readonly connRounds: number;
  readonly connPerRound: number;
  readonly roundSeconds: number;
  /** Whole-run budget for this process (the guest adds its boot and node start on top). */
  readonly budgetMs: number;
  readonly outDir: string;
}

function parseArgs(argv: readonly string[]): Options {
  const quick = argv.includes('--quick');
  const val = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const sizes = val('--sizes')?.split(',').map(Number) ?? (quick ? [100, 1000] : [1000, 10000]);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 20000)) throw new Error('--sizes: integers 1..20000');
  return {
    quick,
    sizes,
    endpoints: 10,
    changes: quick ? 4 : 20, // 10 removes + 10 adds (reported apart as well)
    // About 1 ms per connection under TCG: 5 x 200 keeps a measurement near 1-2 s and bounded to
    // 5 x 4 s, and the best of 5 rounds filters the host's hiccups.
    connRounds: quick ? 3 : 5,
    connPerRound: quick ? 100 : 200,
    roundSeconds: 4,
    budgetMs: Number(val('--budget-s') ?? (quick ? 480 : 1080)) * 1000,
    outDir: val('--out-dir') ?? 'bench/results',
  };
}

/** Time limits per measurement (ms). TCG: generous, but each one bounded. */
function limits(mode: GuestMode, n: number): { model: number; full: number; changeBudget: number; change: number } {
  const big = n > 2000;
  if (mode === 'iptables-nft') return { model: 60_000, full: 90_000, changeBudget: 30_000, change: 90_000 };
  return {
    model: big ? 120_000 : 60_000,
    full: big ? 300_000 : 120_000,
    // Stop timing changes after this long (samples so far kept); the hard limit covers one
    // more remove/add pair on top.
    changeBudget: big ? 60_000 : 30_000,
    change: big ? 180_000 : 90_000,
  };
}

// ---------------------------------------------------------------------------------------------
// Namespaces (own prefix: never the root namespace, never another run's namespaces)

const TAG = randomBytes(3).toString('hex');
const liveNs = new Set<string>();
let nsSeq = 0;

async function addNs(role: string): Promise<string> {
  const name = `kpx-gbench-${TAG}-${nsSeq++}-${role}`;
  liveNs.add(name);
  await run('ip', ['netns', 'add', name]);
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

async function delNs(name: string): Promise<void> {
  if (!liveNs.delete(name)) return;
  await run('ip', ['netns', 'del', name], { allowFailure: true, timeoutMs: 60_000 });
}

interface Trio {
  readonly node: string;
  readonly client: string;
  readonly pod: string;
}

/** client (198.18.0.2) -- node (router; the proxy's rules) -- pod (answers on the whole pod /17). */
async function makeTrio(): Promise<Trio> {
  const node = await addNs('node');
  const client = await addNs('client');
  const pod = await addNs('pod');
  // One `ip -batch` per namespace: each process start costs 50-250 ms under TCG.
  const batch = async (ns: string, lines: string[]): Promise<void> => {
    await run('ip', ['-n', ns, '-batch', '-'], { input: lines.join('\n') + '\n' });
  };
  await batch(node, [
    `link add to-client type veth peer name eth0 netns ${client}`,
    `link add to-pod type veth peer name eth0 netns ${pod}`,
    `addr add ${NODE_IP}/30 dev to-client`,
    `addr add ${NODE_POD_SIDE_IP}/30 dev to-pod`,
    'link set to-client up',
    'link set to-pod up',
    `route add ${POD_CIDR} via ${POD_NS_IP}`,
  ]);
  await batch(client, [`addr add ${CLIENT_IP}/30 dev eth0`, 'link set eth0 up', `route add default via ${NODE_IP}`]);
  await batch(pod, [
    `addr add ${POD_NS_IP}/30 dev eth0`,
    'link set eth0 up',
    `route add default via ${NODE_POD_SIDE_IP}`,
    `route add local ${POD_CIDR} dev lo`,
  ]);
  await run('ip', ['netns', 'exec', node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  return { node, client, pod };
}

async function delTrio(t: Trio): Promise<void> {
  await Promise.all([delNs(t.node), delNs(t.client), delNs(t.pod)]);
}

// ---------------------------------------------------------------------------------------------
// Worker (full sync + changes) with per-phase limits enforced by killing its process group
// (bench/spawn-worker.ts); activePids holds the connection-setup servers

const activePids = new Set<number>();

function killAll(): void {
  killAllWorkers();
  for (const pid of activePids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  activePids.clear();
}

function runWorker(ns: string, job: GuestJob, lim: ReturnType<typeof limits>): Promise<WorkerOutcome> {
  // The "model" limit includes node's start (1.7 s+ under TCG).
  return runPhasedWorker(ns, WORKER, job, lim);
}

// ---------------------------------------------------------------------------------------------
// Connection setup (the C client/server of bench/connsetup, with a readiness wait: under TCG the
// server's `ip netns exec` + exec takes far longer than the host-tuned fixed pause)

interface ConnFigure {
  readonly target: string;
  /** Lowest round's µs per connection (others only add time), and the median round. */
  readonly usBest: number;
  readonly usMedian: number;
  readonly rounds: readonly number[];
  readonly connections: number;
  readonly errors: number;
}

async function measureConn(dir: string, t: Trio, ip: string, port: number, o: Options): Promise<ConnFigure> {
  const cpu = String(Math.max(0, cpus().length - 1));
  const server: ChildProcess = spawn('ip', ['netns', 'exec', t.pod, 'taskset', '-c', cpu, join(dir, 'server'), String(TARGET_PORT)], {
    stdio: 'ignore',
    detached: true,
  });
  if (server.pid) activePids.add(server.pid);
  const client = async (count: number, seconds: number): Promise<{ ok: number; errors: number; us: number }> => {
    const r = await run('ip', ['netns', 'exec', t.client, 'taskset', '-c', '0', join(dir, 'client'), ip, String(port), String(count), String(seconds)], {
      timeoutMs: (seconds + 20) * 1000,
    });
    const [ok = 0, errors = 0, us = 0] = r.stdout.trim().split(/\s+/).map(Number);
    return { ok, errors, us };
  };
  try {
    const ready = performance.now() + 20_000;
    while ((await client(1, 2)).ok === 0) {
      if (performance.now() > ready) throw new Error(`no connection to ${ip}:${port} within 20 s`);
      await new Promise((r) => setTimeout(r, 250));
    }
    await client(Math.min(100, o.connPerRound), o.roundSeconds); // warm-up: caches, ARP, IPVS/conntrack paths
    const rounds: number[] = [];
    let connections = 0;
    let errors = 0;
    for (let i = 0; i < o.connRounds; i++) {
      const r = await client(o.connPerRound, o.roundSeconds);
      connections += r.ok;
      errors += r.errors;
      if (r.ok > 0) rounds.push(r.us / r.ok);
    }
    if (rounds.length === 0) throw new Error(`no connection to ${ip}:${port} succeeded (${errors} errors)`);
    const sorted = [...rounds].sort((a, b) => a - b);
    return { target: `${ip}:${port}`, usBest: sorted[0]!, usMedian: sorted[Math.floor(sorted.length / 2)]!, rounds, connections, errors };
  } finally {
    if (server.pid) {
      activePids.delete(server.pid);
      try {
        process.kill(-server.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Main

interface Row {
  readonly mode: GuestMode;
  readonly services: number;
  readonly endpoints: number;
  readonly status: 'ok' | 'skipped' | 'error';
  readonly note?: string;
  readonly full?: { wallMs: number | null; toolMs: number | null; operations: number | null; limitMs: number; overLimit: boolean };
  readonly change?: {
    medianMs: number | null;
    maxMs: number | null;
    toolMedianMs: number | null;
    buildMedianMs: number | null;
    samples: number;
    /** Every sample's wall time (ms), in order (remove, add, remove, …): outliers are visible. */
    wallMs: readonly number[];
    /** Medians per kind of change, and of the JS share (wall - tools - model rebuild). */
    removeMedianMs: number | null;
    addMedianMs: number | null;
    jsMedianMs: number | null;
    attempted: number;
    budgetMs: number;
    overLimit: boolean;
    forcedFull: number;
    failures: readonly string[];
  };
  readonly conn?: ConnFigure | { error: string };
  readonly model?: { ingestMs: number; buildMs: number };
  readonly elapsedMs: number;
}

const median = (xs: readonly number[]): number | null => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

async function measureMode(mode: GuestMode, n: number, o: Options, dir: string | null): Promise<Row> {
  const t0 = performance.now();
  const lim = limits(mode, n);
  const trio = await makeTrio();
  try {
    const out = await runWorker(trio.node, { mode, services: n, endpoints: o.endpoints, changes: o.changes, changeBudgetMs: lim.changeBudget }, lim);
    const p = out.phases;
    const full = p.full;
    const ch = p.change;
    const samples = (ch?.samples as { kind: string; wallMs: number; buildMs: number; toolMs: number }[] | undefined) ?? [];
    const walls = samples.map((s) => s.wallMs);
    const row: Omit<Row, 'elapsedMs' | 'conn' | 'status' | 'note'> = {
      mode,
      services: n,
      endpoints: o.endpoints,
      model: p.model ? { ingestMs: num(p.model.ingestMs) ?? 0, buildMs: num(p.model.buildMs) ?? 0 } : undefined,
      full: { wallMs: num(full?.wallMs), toolMs: num(full?.toolMs), operations: num(full?.operations), limitMs: lim.full, overLimit: out.timedOut === 'full' },
      change: {
        medianMs: median(walls),
        maxMs: walls.length ? Math.max(...walls) : null,
        toolMedianMs: median(samples.map((s) => s.toolMs)),
        buildMedianMs: median(samples.map((s) => s.buildMs)),
        samples: samples.length,
        wallMs: walls.map((w) => Math.round(w)),
        removeMedianMs: median(samples.filter((x) => x.kind === 'remove').map((x) => x.wallMs)),
        addMedianMs: median(samples.filter((x) => x.kind === 'add').map((x) => x.wallMs)),
        jsMedianMs: median(samples.map((x) => x.wallMs - x.toolMs - x.buildMs)),
        attempted: num(ch?.attempted) ?? 0,
        budgetMs: lim.changeBudget,
        overLimit: out.timedOut === 'change',
        forcedFull: num(ch?.forcedFull) ?? 0,
        failures: (ch?.failures as string[] | undefined) ?? [],
      },
    };
    const err = p.error ? String(p.error.message) : out.timedOut ? `${out.timedOut} phase over its limit` : !p.done ? `worker ended early: ${out.stderr.slice(-500)}` : undefined;
    log(`${mode} N=${n}: full ${fmtMs(row.full!.wallMs)}${row.full!.overLimit ? ` (> ${lim.full / 1000} s)` : ''}, change median ${fmtMs(row.change!.medianMs)} max ${fmtMs(row.change!.maxMs)} (${samples.length} samples; remove ${fmtMs(row.change!.removeMedianMs)}, add ${fmtMs(row.change!.addMedianMs)}; tools ${fmtMs(row.change!.toolMedianMs)}, model build ${fmtMs(row.change!.buildMedianMs)}, JS ${fmtMs(row.change!.jsMedianMs)})${err ? `; ${err}` : ''}`);
    // Connection setup only through a complete ruleset (after a time limit the namespace may
    // hold a half-applied one, or none).
    let conn: Row['conn'];
    if (dir && p.full && !out.timedOut) {
      try {
        conn = await measureConn(dir, trio, clusterIP(n - 1), servicePort(n - 1), o);
        log(`${mode} N=${n}: connection setup ${conn.usBest.toFixed(0)} µs (median round ${conn.usMedian.toFixed(0)})`);
      } catch (e) {
        conn = { error: e instanceof Error ? e.message : String(e) };
        log(`${mode} N=${n}: connection setup failed: ${conn.error}`);
      }
    }
    return { ...row, conn, status: p.error || !p.full ? 'error' : 'ok', note: err, elapsedMs: performance.now() - t0 };
  } finally {
    await delTrio(trio);
  }
}

async function baseline(o: Options, dir: string): Promise<ConnFigure | { error: string }> {
  const trio = await makeTrio();
  try {
    const r = await measureConn(dir, trio, podIP(0, 0), TARGET_PORT, o);
    log(`baseline N=0 (no rules, straight to the pod): ${r.usBest.toFixed(0)} µs (median round ${r.usMedian.toFixed(0)})`);
    return r;
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  } finally {
    await delTrio(trio);
  }
}

const started = performance.now();
function log(s: string): void {
  process.stderr.write(`[guest-bench +${((performance.now() - started) / 1000).toFixed(1)}s] ${s}\n`);
}
function fmtMs(v: number | null | undefined): string {
  return v == null ? '–' : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(0)} ms`;
}

/** Rough cost of one measurement, to skip (and say so) rather than overrun the run budget. */
function estimateMs(mode: GuestMode, n: number): number {
  const perK = mode === 'ipvs' ? 15_000 : mode === 'iptables-nft' ? 30_000 : 8_000;
  return 40_000 + (n / 1000) * perK;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces): run it in the IPVS guest');
  if (!existsSync('/proc/net/ip_vs')) throw new Error('no IPVS in this kernel: run it in the guest (../shared/ipvs-vm/run-in-vm)');
  const date = new Date().toISOString().slice(0, 10);
  log(`sizes ${o.sizes.join(', ')} x ${o.endpoints} endpoints; ${o.changes} changes; budget ${o.budgetMs / 1000} s; guest=${process.env.IPVS_VM_GUEST === '1'}`);

  const tc = performance.now();
  const dir = await connTools();
  log(dir ? `connection tools compiled (${((performance.now() - tc) / 1000).toFixed(1)} s)` : 'no gcc: connection setup not measured');

  const baselines: (ConnFigure | { error: string })[] = [];
  if (dir) baselines.push(await baseline(o, dir));

  // Warm-up per mode (10 services, no timing kept): the first use of a mode in the guest loads
  // its kernel modules on demand (nf_tables, ip_tables, xt_*, ip_set, ...) and pulls its tools
  // through 9p; without this the first measured size (1k) would carry that cost and the 10k/1k
  // ratios would look flatter than they are.
  for (const mode of ['ipvs', 'nftables', 'iptables-legacy', 'iptables-nft'] as const) {
    const ns = await addNs(`warm-${mode}`);
    try {
      const w = await runWorker(ns, { mode, services: 10, endpoints: 2, changes: 2, changeBudgetMs: 10_000 }, { model: 60_000, full: 60_000, changeBudget: 10_000, change: 30_000 });
      log(`warm-up ${mode}: ${w.phases.done ? 'ok' : `failed ${w.timedOut ?? ''} ${String(w.phases.error?.message ?? w.stderr.slice(-300))}`}`);
    } finally {
      await delNs(ns);
    }
  }

  const rows: Row[] = [];
  const modesFor = (n: number): GuestMode[] => (n <= 1000 ? ['ipvs', 'nftables', 'iptables-legacy', 'iptables-nft'] : ['ipvs', 'nftables', 'iptables-legacy']);
  for (const n of o.sizes) {
    for (const mode of modesFor(n)) {
      const left = o.budgetMs - (performance.now() - started);
      // Leave room for the closing baseline (~30 s).
      if (estimateMs(mode, n) > left - 30_000) {
        log(`${mode} N=${n}: skipped (run budget: ${Math.round(left / 1000)} s left)`);
        rows.push({ mode, services: n, endpoints: o.endpoints, status: 'skipped', note: 'run budget', elapsedMs: 0 });
        continue;
      }
      try {
        rows.push(await measureMode(mode, n, o, dir));
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        log(`${mode} N=${n}: error ${msg}`);
        rows.push({ mode, services: n, endpoints: o.endpoints, status: 'error', note: msg.slice(0, 500), elapsedMs: 0 });
      }
    }
  }
  if (dir) baselines.push(await baseline(o, dir));

  const result = {
    kind: 'kube-proxy-ts guest benchmark',
    caveat: 'emulated qemu TCG guest, 1 vCPU: absolute figures are 10-20x slow and noisy; compare ratios only',
    date: new Date().toISOString(),
    kernel: (await run('uname', ['-r'])).stdout.trim(),
    guest: process.env.IPVS_VM_GUEST === '1',
    node: process.version,
    options: o,
    baselines,
    rows,
    ratios: ratios(rows, baselines),
    totalMs: performance.now() - started,
  };
  mkdirSync(o.outDir, { recursive: true });
  const file = join(o.outDir, `guest-${date}${o.quick ? '-quick' : ''}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  writeFileSync(file.replace(/\.json$/, '.md'), markdown(result.rows, baselines, result.ratios, result.kernel, o) + '\n');
  log(`wrote ${file} (+ .md); total ${(result.totalMs / 1000).toFixed(0)} s`);
}

// ---------------------------------------------------------------------------------------------
// Ratios and the markdown tables

type Ratios = Record<string, number | null>;

function connUs(c: Row['conn'] | ConnFigure | { error: string } | undefined): number | null {
  return c && 'usBest' in c ? c.usBest : null;
}

function baselineUs(bs: readonly (ConnFigure | { error: string })[]): number | null {
  // The lower of the two (start, end): noise on a shared host only adds time.
  const v = bs.map(connUs).filter((x): x is number => x !== null);
  return v.length ? Math.min(...v) : null;
}

function ratios(rows: readonly Row[], bs: readonly (ConnFigure | { error: string })[]): Ratios {
  const get = (mode: GuestMode, n: number): Row | undefined => rows.find((r) => r.mode === mode && r.services === n && r.status !== 'skipped');
  const div = (a: number | null | undefined, b: number | null | undefined): number | null => (a != null && b != null && b > 0 ? a / b : null);
  const sizes = [...new Set(rows.map((r) => r.services))].sort((a, b) => a - b);
  const lo = sizes[0]!;
  const hi = sizes[sizes.length - 1]!;
  const base = baselineUs(bs);
  const out: Ratios = {};
  for (const m of ['ipvs', 'nftables', 'iptables-legacy', 'iptables-nft'] as const) {
    out[`${m}.change.${hi}/${lo}`] = div(get(m, hi)?.change?.medianMs, get(m, lo)?.change?.medianMs);
    out[`${m}.changeRemove.${hi}/${lo}`] = div(get(m, hi)?.change?.removeMedianMs, get(m, lo)?.change?.removeMedianMs);
    out[`${m}.changeAdd.${hi}/${lo}`] = div(get(m, hi)?.change?.addMedianMs, get(m, lo)?.change?.addMedianMs);
    out[`${m}.full.${hi}/${lo}`] = div(get(m, hi)?.full?.wallMs, get(m, lo)?.full?.wallMs);
    for (const n of sizes) out[`${m}.conn.${n}/0`] = div(connUs(get(m, n)?.conn), base);
  }
  for (const n of sizes) {
    for (const other of ['nftables', 'iptables-legacy'] as const) {
      out[`change.${n}.ipvs/${other}`] = div(get('ipvs', n)?.change?.medianMs, get(other, n)?.change?.medianMs);
      out[`full.${n}.ipvs/${other}`] = div(get('ipvs', n)?.full?.wallMs, get(other, n)?.full?.wallMs);
      out[`conn.${n}.ipvs/${other}`] = div(connUs(get('ipvs', n)?.conn), connUs(get(other, n)?.conn));
    }
  }
  return out;
}

function markdown(rows: readonly Row[], bs: readonly (ConnFigure | { error: string })[], r: Ratios, kernel: string, o: Options): string {
  const sizes = [...new Set(rows.map((x) => x.services))].sort((a, b) => a - b);
  const modes = [...new Set(rows.map((x) => x.mode))];
  const cell = (mode: GuestMode, n: number, f: (row: Row) => string): string => {
    const row = rows.find((x) => x.mode === mode && x.services === n);
    if (!row) return 'n/a';
    if (row.status === 'skipped') return `skipped (${row.note})`;
    return f(row);
  };
  const fullCell = (row: Row): string =>
    row.full?.overLimit ? `> ${row.full.limitMs / 1000} s` : row.full?.wallMs != null ? `${fmtMs(row.full.wallMs)} (tools ${fmtMs(row.full.toolMs)})` : `error`;
  const changeCell = (row: Row): string =>
    row.full?.overLimit
      ? '–'
      : row.change?.medianMs != null
        ? `${fmtMs(row.change.medianMs)} / ${fmtMs(row.change.maxMs)} (${row.change.samples}${row.change.overLimit ? `, > ${row.change.budgetMs / 1000} s limit` : row.change.samples < o.changes ? `, ${row.change.budgetMs / 1000} s budget` : ''})`
        : row.change?.overLimit
          ? `> limit`
          : 'error';
  const base = baselineUs(bs);
  const connCell = (row: Row): string => {
    const us = connUs(row.conn);
    if (us == null) return row.conn && 'error' in row.conn ? `error` : '–';
    return `${us.toFixed(0)} µs (×${base ? (us / base).toFixed(2) : '?'})`;
  };
  const rf = (k: string): string => (r[k] == null ? '–' : `×${r[k]!.toFixed(2)}`);
  const lo = sizes[0]!;
  const hi = sizes[sizes.length - 1]!;
  const L: string[] = [];
  L.push(`**Emulated TCG guest, 1 vCPU (kernel ${kernel}): ratios only.** Absolute times are 10-20x the host's and noisy; each row's figures come from the same guest run.`);
  L.push('');
  L.push(`Services × ${o.endpoints} endpoints. Full sync: first sync into a fresh namespace, wall (inside kernel tools). One-endpoint change: ServiceModel.onEvent → dataplane.sync, median / max (samples). Connection setup: best of ${o.connRounds} rounds of ≤ ${o.connPerRound} connections (≤ ${o.roundSeconds} s each), client → node → pod via the last-created service's ClusterIP; × = ratio to N = 0 (no rules, straight to the pod: ${base ? base.toFixed(0) : '?'} µs, lower of start/end of run).`);
  L.push('');
  L.push(`| mode | N | full sync | one-endpoint change: median / max (samples) | medians: remove / add | medians: in tools / model rebuild / JS | connection setup |`);
  L.push(`|---|---:|---|---|---|---|---|`);
  for (const m of modes) for (const n of sizes) {
    if (!rows.some((x) => x.mode === m && x.services === n)) continue;
    const kinds = (row: Row): string => (row.change?.medianMs != null ? `${fmtMs(row.change.removeMedianMs)} / ${fmtMs(row.change.addMedianMs)}` : '–');
    const split = (row: Row): string =>
      row.change?.medianMs != null ? `${fmtMs(row.change.toolMedianMs)} / ${fmtMs(row.change.buildMedianMs)} / ${fmtMs(row.change.jsMedianMs)}` : '–';
    L.push(`| ${m} | ${n} | ${cell(m, n, fullCell)} | ${cell(m, n, changeCell)} | ${cell(m, n, kinds)} | ${cell(m, n, split)} | ${cell(m, n, connCell)} |`);
  }
  L.push('');
  L.push(`| ratio | ipvs | nftables | iptables-legacy |`);
  L.push(`|---|---:|---:|---:|`);
  for (const [what, key] of [['change latency', 'change'], ['endpoint-remove latency', 'changeRemove'], ['endpoint-add latency', 'changeAdd']] as const) {
    L.push(`| ${what} ${hi}/${lo} | ${rf(`ipvs.${key}.${hi}/${lo}`)} | ${rf(`nftables.${key}.${hi}/${lo}`)} | ${rf(`iptables-legacy.${key}.${hi}/${lo}`)} |`);
  }
  L.push(`| full sync ${hi}/${lo} | ${rf(`ipvs.full.${hi}/${lo}`)} | ${rf(`nftables.full.${hi}/${lo}`)} | ${rf(`iptables-legacy.full.${hi}/${lo}`)} |`);
  for (const n of sizes) L.push(`| connection setup ${n}/0 | ${rf(`ipvs.conn.${n}/0`)} | ${rf(`nftables.conn.${n}/0`)} | ${rf(`iptables-legacy.conn.${n}/0`)} |`);
  L.push('');
  L.push(`| ipvs vs | ${sizes.map((n) => `N=${n}`).join(' | ')} |`);
  L.push(`|---|${sizes.map(() => '---:').join('|')}|`);
  for (const [what, key] of [['change latency', 'change'], ['full sync', 'full'], ['connection setup', 'conn']] as const) {
    for (const other of ['nftables', 'iptables-legacy'] as const) L.push(`| ${what}, ipvs/${other} | ${sizes.map((n) => rf(`${key}.${n}.ipvs/${other}`)).join(' | ')} |`);
  }
  return L.join('\n');
}

const cleanup = async (): Promise<void> => {
  killAll();
  await Promise.all([...liveNs].map(delNs));
  removeConnTools();
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    log(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}
try {
  await main();
} catch (e) {
  log(`failed: ${e instanceof Error ? e.stack : String(e)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
