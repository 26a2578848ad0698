// One dataplane measurement, run by bench/run.ts INSIDE a throw-away network namespace
// (`ip netns exec kpx-bench-… node worker.js '<json>'`), so every kernel tool it starts programs
// that namespace only, exactly as the proxy does when it runs there. Prints one JSON line per
// phase on stdout; the parent enforces time limits by killing this process group.
//
// Phases: model (ServiceModel ingest + build), full (first sync into the empty namespace),
// incremental (one endpoint added/removed alternately, timed from ServiceModel.onEvent to
// sync returning), churn (a bounded stream of changes through a BoundedFrequencyRunner).

import { readFileSync } from 'node:fs';
import { createIptablesDataplane } from '../src/dataplane/iptables/index.js';
import { createNftablesDataplane } from '../src/dataplane/nftables/index.js';
import { configureLogging } from '../src/log/logger.js';
import { BoundedFrequencyRunner } from '../src/proxy/runner.js';
import { createUpstreamNftBaseline } from './baselines/upstream-nft.js';
import { BUILD_CTX, DATAPLANE_CONFIG, POD_CIDR, range, sliceObject } from './fixtures.js';
import { MODES, type Mode } from './modes.js';
import { emit, loadAndFullSync, now, type Syncer } from './worker-phases.js';

export interface WorkerJob {
  readonly mode: Mode;
  readonly services: number;
  readonly endpoints: number;
  /** Incremental changes to time (0: skip the phase). */
  readonly changes: number;
  /** Stop the incremental phase early after this long (ms), keeping the samples so far. */
  readonly incrementalBudgetMs: number;
  readonly churn?: { readonly ratePerSec: number; readonly seconds: number; readonly minSyncMs: number };
}

function makeSyncer(mode: Mode): Syncer {
  switch (mode) {
    case 'nftables':
      return createNftablesDataplane(DATAPLANE_CONFIG);
    case 'iptables-nft':
      return createIptablesDataplane(DATAPLANE_CONFIG, { backend: 'nft', conntrackTCPLiberal: false });
    case 'iptables-legacy':
      return createIptablesDataplane(DATAPLANE_CONFIG, { backend: 'legacy', conntrackTCPLiberal: false });
    case 'upstream-iptables-nft':
      // Upstream writes the whole table in one `iptables-nft-restore --noflush`: no batches.
      return createIptablesDataplane(DATAPLANE_CONFIG, { backend: 'nft', conntrackTCPLiberal: false, batchLines: 0 });
    case 'upstream-nft':
      return createUpstreamNftBaseline({ podCIDR: POD_CIDR });
  }
}


/** CPU of this process and of its reaped children (the kernel tools), ms. */
function cpuMillis(): { self: number; children: number } {
  const u = process.cpuUsage();
  // /proc/self/stat fields 16/17 (cutime, cstime) in clock ticks (USER_HZ = 100 on Linux).
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { self: (u.user + u.system) / 1000, children: (Number(f[13]) + Number(f[14])) * 10 };
}

async function main(job: WorkerJob): Promise<void> {
  configureLogging({ sink: () => undefined });
  if (!MODES.includes(job.mode)) throw new Error(`unknown mode ${job.mode}`);
  const N = job.services;
  const E = job.endpoints;

  const { model, dp } = await loadAndFullSync(N, E, () => makeSyncer(job.mode));

  // Incremental: pairs of (remove the last endpoint, add it back) on services spread over the
  // range. Remove-first keeps the total at N*E-1 / N*E endpoints, so N=100 x 10 never crosses
  // upstream's large-cluster threshold (> 1000 endpoints), which would force full iptables syncs.
  const version = new Map<number, number>();
  const change = (k: number): { i: number; obj: Record<string, unknown> } => {
    const i = N <= 1 ? 0 : (Math.floor(k / 2) * 7919 + (N >> 1)) % N;
    const v = (version.get(i) ?? 0) + 1;
    version.set(i, v);
    return { i, obj: sliceObject(i, k % 2 === 0 ? range(E - 1) : range(E), v) };
  };
  if (job.changes > 0 && N > 0) {
    emit({ phase: 'incremental-start' });
    const samples: { wallMs: number; toolMs: number; full: boolean }[] = [];
    const failures: string[] = [];
    let forced = 0;
    const t0 = now();
    for (let k = 0; k < job.changes && now() - t0 < job.incrementalBudgetMs; k++) {
      const { obj } = change(k);
      const ts = now();
      model.onEvent('EndpointSlice', 'MODIFIED', obj);
      const st = model.build('IPv4', BUILD_CTX).state;
      try {
        const res = await dp.sync(st, { full: false });
        // After a failure the dataplane forces a full sync: not an incremental sample.
        if (res.full) forced++;
        else samples.push({ wallMs: now() - ts, toolMs: res.toolMillis, full: res.full });
      } catch (e) {
        // Shared machine: e.g. another process holding the global xtables lock past `-w 5`.
        failures.push(e instanceof Error ? e.message.slice(0, 300) : String(e));
        if (failures.length > 5) break;
      }
    }
    emit({ phase: 'incremental', samples, budgetHit: samples.length + failures.length + forced < job.changes && failures.length <= 5, failures, forcedFull: forced });
  }

  if (job.churn && N > 0) {
    emit({ phase: 'churn-start' });
    const { ratePerSec, seconds, minSyncMs } = job.churn;
    let pending: number[] = [];
    const latencies: number[] = [];
    let syncs = 0;
    const runner = new BoundedFrequencyRunner(
      'bench-sync',
      async () => {
        const batch = pending;
        pending = [];
        const st = model.build('IPv4', BUILD_CTX).state;
        await dp.sync(st, { full: false });
        const end = now();
        syncs++;
        for (const ts of batch) latencies.push(end - ts);
      },
      { minIntervalMs: minSyncMs, maxIntervalMs: 3_600_000, retryMaxMs: 1000 },
    );
    runner.start();
    const total = Math.round(ratePerSec * seconds);
    const cpu0 = cpuMillis();
    const start = now();
    let sent = 0;
    let k = 1_000_000; // a different service sequence from the incremental phase
    while (sent < total && now() - start < seconds * 1000 + 5000) {
      const due = Math.min(total, Math.floor(((now() - start) / 1000) * ratePerSec));
      for (; sent < due; sent++, k++) {
        const { obj } = change(k);
        pending.push(now());
        model.onEvent('EndpointSlice', 'MODIFIED', obj);
        runner.run();
      }
      await new Promise((res) => setTimeout(res, 5));
    }
    const drainUntil = now() + 10_000;
    while ((pending.length > 0 || latencies.length < sent) && now() < drainUntil) await new Promise((res) => setTimeout(res, 10));
    const wall = now() - start;
    const cpu1 = cpuMillis();
    await runner.stop();
    emit({
      phase: 'churn',
      changes: sent,
      syncs,
      wallMs: wall,
      latencies,
      cpuSelfMs: cpu1.self - cpu0.self,
      cpuToolsMs: cpu1.children - cpu0.children,
    });
  }
  emit({ phase: 'done' });
}

const job = JSON.parse(process.argv[2] ?? '{}') as WorkerJob;
main(job).then(
  () => process.exit(0),
  (e: unknown) => {
    emit({ phase: 'error', message: e instanceof Error ? e.message.slice(0, 2000) : String(e) });
    process.exit(1);
  },
);
