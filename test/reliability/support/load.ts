// Load scenario: N services x E endpoints served by the test API server inside the node namespace, the
// proxy (nftables mode) watching it, a bounded churn of EndpointSlice changes for D seconds, and a client
// loop connecting to a set of "live" services whose endpoints are real pods and always ready (the churn
// moves them between pods, so their rules change under traffic too). Reports failed connections, sync
// figures and the proxy's RSS over time.

import { promises as fsp } from 'node:fs';
import type { DriverOp, Obj } from './apiserver.js';
import { NsApiServer } from './apiserver.js';
import { prng, svcIP } from './churn.js';
import { debugState, eventually, metricValue, metricsText, sleep, startProxyIn } from './proxy.js';
import { NODE_IP, POD_PORT, podIP, World, type LoopAttempt } from './world.js';

export interface LoadOptions {
  readonly services: number;
  readonly endpointsPerService: number;
  readonly durationMs: number;
  /** Slice updates per second during the churn. */
  readonly changesPerSecond: number;
  /** Services whose endpoints are the real pods (client targets). */
  readonly liveServices: number;
  readonly log?: (line: string) => void;
  /** Log each 5 s sample as it is taken (long runs). */
  readonly sampleLog?: boolean;
}

export interface LoadResult {
  readonly services: number;
  readonly endpoints: number;
  readonly initialSyncMs: number;
  readonly changes: number;
  readonly connections: number;
  readonly failed: number;
  readonly failures: LoopAttempt[];
  readonly rssMB: { atStart: number; atEnd: number; max: number; samples: number[] };
  /** Every 5 s during the churn: open fds, live child processes (nft -i counts as one) and the mean sync time since the previous sample. */
  readonly samples: LoadSample[];
  readonly syncCount: number;
  readonly syncSecondsMean: number | null;
  readonly converged: boolean;
  readonly convergeMs: number;
}

export interface LoadSample {
  readonly tSec: number;
  readonly rssMB: number;
  readonly fds: number;
  readonly children: string[];
  readonly syncMeanMs: number | null;
  /** CPU time (proxy + its children, ms) per sync since the previous sample: unlike syncMeanMs, barely moved by other jobs on the machine. */
  readonly cpuMsPerSync: number | null;
  /** The machine's 1-minute load average when sampled. */
  readonly load1: number;
}

const PODS = 3;

function svcObj(i: number): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `ld-${i}`, namespace: 'default' },
    spec: { type: 'ClusterIP', clusterIP: svcIP(i), clusterIPs: [svcIP(i)], ipFamilies: ['IPv4'], ports: [{ name: 'p', port: 80, protocol: 'TCP', targetPort: POD_PORT }] },
  };
}

function sliceObj(i: number, ips: readonly string[]): Obj {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `ld-${i}-a`, namespace: 'default', labels: { 'kubernetes.io/service-name': `ld-${i}` } },
    addressType: 'IPv4',
    ports: [{ name: 'p', port: POD_PORT, protocol: 'TCP' }],
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true, serving: true, terminating: false } })),
  };
}

/** Fake (never contacted) endpoint addresses for service i: 198.18.128.0 and up. */
function fakeIPs(i: number, n: number, salt: number): string[] {
  const out: string[] = [];
  for (let k = 0; k < n; k++) {
    const x = (i * 7 + k * 131 + salt * 17) % 30000;
    out.push(`198.18.${128 + (x >> 8)}.${x & 255}`);
  }
  return [...new Set(out)];
}

async function rssMB(pid: number): Promise<number> {
  const s = await fsp.readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

async function openFds(pid: number): Promise<number> {
  return (await fsp.readdir(`/proc/${pid}/fd`)).length;
}

/** The proxy's live child processes by command name (every thread's children: libuv may fork from any). */
/** utime+stime(+cutime+cstime when `reaped`) of a process, in clock ticks (/proc/PID/stat fields 14-17). */
async function statTicks(pid: number | string, reaped: boolean): Promise<number> {
  const stat = await fsp.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
  const n = (k: number): number => Number(f[k - 3] ?? 0) || 0;
  return n(14) + n(15) + (reaped ? n(16) + n(17) : 0);
}

const CLK_TCK = 100; // USER_HZ on Linux

/** CPU time in ms of the proxy, its exited (reaped) children and its live ones (the nft -i sessions). */
async function cpuMs(pid: number): Promise<number> {
  let ticks = await statTicks(pid, true);
  for (const k of await childPids(pid)) ticks += await statTicks(k, false);
  return (ticks * 1000) / CLK_TCK;
}

async function load1(): Promise<number> {
  return Number((await fsp.readFile('/proc/loadavg', 'utf8')).split(' ')[0]);
}

async function childProcesses(pid: number): Promise<string[]> {
  const names: string[] = [];
  for (const k of await childPids(pid)) names.push((await fsp.readFile(`/proc/${k}/comm`, 'utf8').catch(() => '?')).trim());
  return names.sort();
}

/** The live children of every thread of `pid` (libuv may fork from any). */
async function childPids(pid: number): Promise<string[]> {
  const pids: string[] = [];
  for (const task of await fsp.readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const kids = (await fsp.readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '')).trim();
    if (kids) pids.push(...kids.split(/\s+/));
  }
  return pids;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const log = o.log ?? ((): void => undefined);
  const world = await World.create({ client: true, pods: PODS });
  try {
    const srv = await NsApiServer.start(world);
    const rnd = prng(7);
    const live = new Map<number, string[]>();
    const ops: DriverOp[] = [
      { t: 'create', obj: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, spec: {}, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } } },
    ];
    for (let i = 1; i <= o.services; i++) {
      let ips: string[];
      if (i <= o.liveServices) {
        ips = Array.from({ length: PODS }, (_, p) => podIP(p + 1));
        live.set(i, ips);
      } else ips = fakeIPs(i, o.endpointsPerService, 0);
      ops.push({ t: 'create', obj: svcObj(i) }, { t: 'create', obj: sliceObj(i, ips) });
    }
    for (let k = 0; k < ops.length; k += 2000) await srv.apply(ops.slice(k, k + 2000));
    log(`created ${o.services} services x ${o.endpointsPerService} endpoints`);

    const t0 = Date.now();
    const proxy = startProxyIn(world, ['--kubeconfig', srv.kubeconfigPath, '--proxy-mode', 'nftables', '--hostname-override', 'node-a']);
    const pid = proxy.child.pid!;
    await eventually(async () => {
      const st = await debugState(world);
      return Object.keys(st.families.IPv4?.services ?? {}).length === o.services;
    }, 'initial sync of every service', 600_000, 1000);
    const initialSyncMs = Date.now() - t0;
    log(`initial sync: ${initialSyncMs} ms`);
    const client = await world.agent('client');
    const targets = [...live.keys()].map((i) => ({ host: svcIP(i), port: 80 }));
    await eventually(async () => (await client.probe(targets[0]!, 1000)).ok, 'live service answers', 60_000);

    const rss: number[] = [await rssMB(pid)];
    const metricsBefore = await metricsText(world);
    const syncsBefore = metricValue(metricsBefore, 'kubeproxy_sync_proxy_rules_duration_seconds_count');
    await client.startLoop(targets, { periodMs: 50, timeoutMs: 2000, maxMs: o.durationMs + 30_000, maxAttempts: 1_000_000 });

    // Churn: every 100 ms a batch of slice updates; live services move between pods (never empty).
    const perTick = Math.max(1, Math.round(o.changesPerSecond / 10));
    let changes = 0;
    let salt = 1;
    const end = Date.now() + o.durationMs;
    let nextRss = Date.now() + 5000;
    const samples: LoadSample[] = [];
    const tChurn = Date.now();
    let lastSync = { count: syncsBefore, sum: metricValue(metricsBefore, 'kubeproxy_sync_proxy_rules_duration_seconds_sum'), cpu: await cpuMs(pid) };
    while (Date.now() < end) {
      const batch: DriverOp[] = [];
      for (let k = 0; k < perTick; k++) {
        salt++;
        if (k === 0 && live.size > 0) {
          const i = 1 + Math.floor(rnd() * live.size);
          const all = Array.from({ length: PODS }, (_, p) => podIP(p + 1));
          const keep = all.filter(() => rnd() < 0.6);
          const ips = keep.length ? keep : [all[Math.floor(rnd() * PODS)]!];
          live.set(i, ips);
          batch.push({ t: 'update', obj: sliceObj(i, ips) });
        } else {
          const i = o.liveServices + 1 + Math.floor(rnd() * (o.services - o.liveServices));
          batch.push({ t: 'update', obj: sliceObj(i, fakeIPs(i, o.endpointsPerService, salt)) });
        }
      }
      const r = await srv.apply(batch);
      changes += r.done;
      if (Date.now() >= nextRss) {
        const mb = await rssMB(pid);
        rss.push(mb);
        // A /metrics request that times out on an overloaded machine skips this sample (logged); it must
        // not end a 30-minute run. The final convergence check still decides whether the proxy is healthy.
        const m = await metricsText(world).catch((e: unknown) => {
          log(`sample skipped: ${String(e)}`);
          return null;
        });
        if (m === null) {
          nextRss += 5000;
          await sleep(100);
          continue;
        }
        const sync = { count: metricValue(m, 'kubeproxy_sync_proxy_rules_duration_seconds_count'), sum: metricValue(m, 'kubeproxy_sync_proxy_rules_duration_seconds_sum'), cpu: await cpuMs(pid) };
        const n = sync.count - lastSync.count;
        const perSync = (x: number): number | null => (n > 0 ? Math.round((x / n) * 10) / 10 : null);
        samples.push({
          tSec: Math.round((Date.now() - tChurn) / 1000),
          rssMB: mb,
          fds: await openFds(pid),
          children: await childProcesses(pid),
          syncMeanMs: perSync((sync.sum - lastSync.sum) * 1000),
          // Includes the proxy's other work in the interval (watch intake, metrics), spread over its syncs.
          cpuMsPerSync: perSync(sync.cpu - lastSync.cpu),
          load1: await load1(),
        });
        lastSync = sync;
        if (o.sampleLog) log(`sample ${JSON.stringify(samples[samples.length - 1])}`);
        nextRss += 5000;
      }
      await sleep(100);
    }
    log(`churn done: ${changes} slice updates`);
    // Converged: the live services' endpoints as last written.
    const tc = Date.now();
    let converged = true;
    try {
      await eventually(async () => {
        const st = await debugState(world);
        const svcs = st.families.IPv4?.services ?? {};
        for (const [i, ips] of live) {
          const got = [...(svcs[`default/ld-${i}:p/TCP`]?.clusterEndpoints ?? [])].sort().join(',');
          if (got !== ips.map((ip) => `${ip}:${POD_PORT}`).sort().join(',')) return false;
        }
        return Object.keys(svcs).length === o.services;
      }, 'converged after the churn', 120_000, 500);
    } catch {
      converged = false;
    }
    const convergeMs = Date.now() - tc;
    const attempts = await client.stopLoop();
    rss.push(await rssMB(pid));
    const metricsAfter = await metricsText(world);
    const syncCount = metricValue(metricsAfter, 'kubeproxy_sync_proxy_rules_duration_seconds_count') - syncsBefore;
    const sum = metricValue(metricsAfter, 'kubeproxy_sync_proxy_rules_duration_seconds_sum') - metricValue(metricsBefore, 'kubeproxy_sync_proxy_rules_duration_seconds_sum');
    const failures = attempts.filter((a) => !a.ok);
    await proxy.stop();
    return {
      services: o.services,
      endpoints: o.endpointsPerService,
      initialSyncMs,
      changes,
      connections: attempts.length,
      failed: failures.length,
      failures: failures.slice(0, 10),
      rssMB: { atStart: rss[0]!, atEnd: rss[rss.length - 1]!, max: Math.max(...rss), samples: rss },
      samples,
      syncCount,
      // Mean, not a percentile: the histogram's sum/count over the churn (both families).
      syncSecondsMean: syncCount > 0 ? sum / syncCount : null,
      converged,
      convergeMs,
    };
  } finally {
    await world.destroy();
  }
}
