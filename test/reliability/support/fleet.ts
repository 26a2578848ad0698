// A fleet on one API server: P proxies (one process each, nftables mode, each in its own network
// namespace with its own kernel ruleset, as one proxy per node) watch the test API server, which runs in
// the world's node namespace and listens on NODE_IP; each proxy namespace is routed to it by a veth.
// With `dry`, the proxies run the test-only dry dataplane (KPX_TEST_DRY_DATAPLANE=1, src/dataplane/dry.ts):
// same namespaces, same planning and rendering, no ruleset and no `nft` process.
//
// What is measured (docs/reliability.md "A fleet on one API server"):
//   - change → programmed on every proxy: an EndpointSlice write carries the trigger-time annotation
//     (the moment of the write); each proxy observes kubeproxy_network_programming_duration_seconds
//     once its dataplane transaction for it has completed (the nft transaction is confirmed, after
//     dp.sync() resolves). Only these writes carry the annotation, so the k-th change is each proxy's
//     k-th observation and its latency is the histogram's _sum delta — exact, not a bucket.
//   - LIST / WATCH requests the server counted across an API-server restart with its history kept and
//     one whose history was compacted while it was down.
//   - the API server process's CPU time per phase, every proxy's RSS (and its nft children's).

import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fromDist, repoRoot } from '../../support/proxy-process.js';
import { RpcChild } from '../../support/rpc-child.js';
import { DRY_DATAPLANE_ENV } from '../../../src/dataplane/registry.js';
import { NsApiServer, type DriverOp, type Obj } from './apiserver.js';
import { svcIP } from './churn.js';
import { sleep, startProxyIn, type RunningProxy } from './proxy.js';
import { NODE_IP, World } from './world.js';

export const LATENCY_METRIC = 'kubeproxy_network_programming_duration_seconds';
/** The proxy's reflectors (src/sources/apiserver.ts): Service, EndpointSlice, Node, ServiceCIDR. */
export const REFLECTORS = 4;

/** Address of fleet proxy i (1-based): 198.18.64.10 and up, 200 per /24. */
export function fleetIP(i: number): string {
  const k = i - 1;
  return `198.18.${64 + Math.floor(k / 200)}.${10 + (k % 200)}`;
}

/** Endpoint addresses of service i (never contacted): 198.18.128.0 and up. */
function endpointIPs(i: number, n: number): string[] {
  const out = new Set<string>();
  for (let k = 0; k < n; k++) {
    const x = (i * 7 + k * 131) % 30000;
    out.add(`198.18.${128 + (x >> 8)}.${x & 255}`);
  }
  return [...out];
}

/** Endpoint address written by change c (1-based, at most 250 changes): 198.18.250.c — distinct in every ruleset. */
export const changedIP = (c: number): string => `198.18.250.${c}`;

const ep = (ip: string): Obj => ({ addresses: [ip], conditions: { ready: true, serving: true, terminating: false } });

function svcObj(i: number): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `fl-${i}`, namespace: 'default' },
    spec: { type: 'ClusterIP', clusterIP: svcIP(i), clusterIPs: [svcIP(i)], ipFamilies: ['IPv4'], ports: [{ name: 'p', port: 80, protocol: 'TCP', targetPort: 8080 }] },
  };
}

function sliceObj(i: number, ips: readonly string[]): Obj {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `fl-${i}-a`, namespace: 'default', labels: { 'kubernetes.io/service-name': `fl-${i}` } },
    addressType: 'IPv4',
    ports: [{ name: 'p', port: 8080, protocol: 'TCP' }],
    endpoints: ips.map(ep),
  };
}

/** The scraper child (support/scraper.ts) in the node namespace. */
class Scraper extends RpcChild {
  constructor(world: World) {
    const script = fromDist
      ? [path.join(repoRoot, 'dist/test/reliability/support/scraper.js')]
      : ['--import', 'tsx', path.join(repoRoot, 'test/reliability/support/scraper.ts')];
    super(`scraper in ${world.ns('node')}`, ['ip', 'netns', 'exec', world.ns('node'), process.execPath, ...script, '--serve'], { cwd: repoRoot });
    world.track(this);
  }

  scrape(urls: readonly string[], names: readonly string[], labels: Record<string, string>, timeoutMs = 10_000): Promise<({ values: Record<string, number> } | { error: string })[]> {
    return this.call('scrape', { urls, names, labels, timeoutMs }, timeoutMs + 60_000);
  }
}

export interface Stats {
  readonly n: number;
  readonly min: number;
  readonly median: number;
  readonly p99: number;
  readonly max: number;
}

/** Nearest-rank percentiles. */
export function stats(values: readonly number[]): Stats {
  const v = [...values].sort((a, b) => a - b);
  const at = (q: number): number => v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))] ?? NaN;
  const r = (x: number): number => Math.round(x * 10) / 10;
  return { n: v.length, min: r(v[0] ?? NaN), median: r(at(0.5)), p99: r(at(0.99)), max: r(v[v.length - 1] ?? NaN) };
}

async function rssKB(pid: number): Promise<number> {
  const s = await fsp.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0);
}

/** RSS (kB) of a process's direct children (the proxy's `nft -i` sessions). */
async function childrenRssKB(pid: number): Promise<number> {
  let sum = 0;
  for (const task of await fsp.readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const kids = (await fsp.readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '')).trim();
    for (const k of kids ? kids.split(/\s+/) : []) sum += await rssKB(Number(k));
  }
  return sum;
}

/**
 * utime+stime of a process plus cutime+cstime (its children it has waited for: the short-lived `nft`
 * drift probes, `ip`, `iptables-save`), in ms (clock ticks of 10 ms).
 */
async function cpuMs(pid: number): Promise<number> {
  const st = await fsp.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11] ?? 0) + Number(f[12] ?? 0) + Number(f[13] ?? 0) + Number(f[14] ?? 0)) * 10;
}

async function childPids(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const task of await fsp.readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const kids = (await fsp.readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '')).trim();
    if (kids) out.push(...kids.split(/\s+/).map(Number));
  }
  return out;
}

async function memAvailableMB(): Promise<number> {
  const s = await fsp.readFile('/proc/meminfo', 'utf8');
  return Math.round(Number(/MemAvailable:\s+(\d+)/.exec(s)?.[1] ?? 0) / 1024);
}

export interface ChangeResult {
  /** ms from the write to each proxy's programmed change, one per proxy. */
  readonly latenciesMs: number[];
  /** ms from the write until the test had seen every proxy's observation (polled every second: coarse). */
  readonly allSeenMs: number;
  /** CPU (ms) of all proxies and their children from just before the write until the last poll. */
  readonly proxiesCpuMs: number;
  /** /metrics scrapes of the proxies in that time (each one a full render in a proxy). */
  readonly scrapes: number;
}

export interface RestartResult {
  /** LISTs started (first pages) per resource plural, and in total. */
  readonly lists: Record<string, number>;
  readonly listsTotal: number;
  readonly listPagesTotal: number;
  readonly watchesTotal: number;
  /** ms from the server listening again until every proxy's watches were open again. */
  readonly reconnectedMs: number;
  readonly apiServerCpuMs: number;
  /** The change written after the restart: programmed on every proxy. */
  readonly changeAfter: ChangeResult;
}

/** A running fleet; every step is bounded. Always call close(). */
export class Fleet {
  readonly proxies: RunningProxy[] = [];
  private changes = 0;
  private constructor(
    readonly world: World,
    readonly srv: NsApiServer,
    private readonly scraper: Scraper,
    readonly size: number,
    readonly services: number,
    private readonly log: (l: string) => void,
  ) {}

  static async start(o: { proxies: number; services: number; endpoints: number; log?: (l: string) => void; startTimeoutMs?: number; proxyArgs?: readonly string[]; wave?: number; env?: NodeJS.ProcessEnv; wrap?: readonly string[]; dry?: boolean; minMemAvailableMB?: number }): Promise<{ fleet: Fleet; startMs: number; apiServerStartCpuMs: number }> {
    if (o.proxies < 1 || o.proxies > 1000) throw new Error('1..1000 proxies');
    if (o.services < 1 || o.services > 60_000) throw new Error('1..60000 services');
    const log = o.log ?? ((): void => undefined);
    const world = await World.create({});
    try {
      // Bookmarks about once a minute, as kube-apiserver (the suite's 1 s default would be 4 per second per proxy).
      const srv = await NsApiServer.start(world, { host: NODE_IP, bookmarkMs: 60_000 });
      const scraper = new Scraper(world);
      await scraper.whenReady();
      const fleet = new Fleet(world, srv, scraper, o.proxies, o.services, log);
      const ops: DriverOp[] = [];
      for (let p = 1; p <= o.proxies; p++) {
        ops.push({ t: 'create', obj: { apiVersion: 'v1', kind: 'Node', metadata: { name: `node-${p}` }, spec: {}, status: { addresses: [{ type: 'InternalIP', address: fleetIP(p) }] } } });
      }
      for (let i = 1; i <= o.services; i++) ops.push({ t: 'create', obj: svcObj(i) }, { t: 'create', obj: sliceObj(i, endpointIPs(i, o.endpoints)) });
      for (let k = 0; k < ops.length; k += 2000) {
        const r = await srv.apply(ops.slice(k, k + 2000));
        if (r.failed) throw new Error(`populating the API server: ${r.errors.join('; ')}`);
      }
      for (let p = 1; p <= o.proxies; p++) await world.addRouted(`f${p}`, fleetIP(p));
      log(`API server holds ${o.services} services x ${o.endpoints} endpoints; ${o.proxies} proxy namespaces ready`);
      await srv.resetCounts();
      const cpu0 = (await srv.usage()).cpuMicros;
      const t0 = Date.now();
      // In waves of `wave` proxies (default all at once), each wave programmed before the next starts:
      // like a DaemonSet rollout's maxUnavailable; 100 Node processes starting at once on 2 cores thrash.
      const wave = Math.max(1, o.wave ?? o.proxies);
      const deadline = Date.now() + (o.startTimeoutMs ?? 600_000);
      let nextLog = Date.now() + 15_000;
      for (let first = 1; first <= o.proxies; first += wave) {
        for (let p = first; p < first + wave && p <= o.proxies; p++) {
          fleet.proxies.push(
            startProxyIn(
              world,
              ['--kubeconfig', srv.kubeconfigPath, '--proxy-mode', 'nftables', '--hostname-override', `node-${p}`, '--metrics-bind-address', '0.0.0.0:10249', ...(o.proxyArgs ?? [])],
              o.dry ? { ...o.env, [DRY_DATAPLANE_ENV]: '1' } : o.env,
              o.wrap ?? [],
              `f${p}`,
            ),
          );
        }
        // Bounded in memory too: the machine is shared, so stop before the next wave would squeeze it.
        const avail = await memAvailableMB();
        if (avail < (o.minMemAvailableMB ?? 3000)) throw new Error(`only ${avail} MB available with ${fleet.proxies.length} proxies started: stopping`);
        // Programmed: the first IPv4 sync (it waits for the Service and EndpointSlice lists, so it is full).
        for (;;) {
          await sleep(Math.min(2000, 200 * wave));
          const v = await fleet.scrape(['kubeproxy_sync_proxy_rules_last_timestamp_seconds'], { ip_family: 'IPv4' });
          const waiting = v.map((x, i) => ((x?.kubeproxy_sync_proxy_rules_last_timestamp_seconds ?? 0) > 0 ? -1 : i)).filter((i) => i >= 0);
          if (waiting.length === 0) break;
          const dead = fleet.proxies.findIndex((p) => p.child.exitCode !== null || p.child.signalCode !== null);
          if (dead >= 0) throw new Error(`proxy ${dead + 1} exited: ${fleet.proxies[dead]!.output().slice(-2000)}`);
          if (Date.now() > deadline) {
            throw new Error(`${waiting.length}/${fleet.proxies.length} started proxies had not programmed their first sync; proxy ${waiting[0]! + 1} said:\n${fleet.proxies[waiting[0]!]!.output().slice(-3000)}`);
          }
          if (Date.now() >= nextLog) {
            log(`${fleet.proxies.length - waiting.length}/${o.proxies} proxies programmed after ${Date.now() - t0} ms`);
            nextLog += 15_000;
          }
        }
      }
      const startMs = Date.now() - t0;
      const apiServerStartCpuMs = ((await srv.usage()).cpuMicros - cpu0) / 1000;
      log(`${o.proxies} proxies programmed in ${startMs} ms`);
      return { fleet, startMs, apiServerStartCpuMs };
    } catch (e) {
      await world.destroy();
      throw e;
    }
  }

  private urls(): string[] {
    return this.proxies.map((_, i) => `http://${fleetIP(i + 1)}:10249/metrics`);
  }

  /** The named metrics of every proxy (undefined where the scrape failed). */
  async scrape(names: readonly string[], labels: Record<string, string> = {}): Promise<(Record<string, number> | undefined)[]> {
    const r = await this.scraper.scrape(this.urls(), names, labels);
    return r.map((x) => ('values' in x ? x.values : undefined));
  }

  /**
   * Write one EndpointSlice (service `svc`, a new endpoint address) and wait until every proxy has
   * observed its programming (bounded by timeoutMs); returns each proxy's write → programmed latency.
   *
   * The latency is each proxy's own histogram delta, so how often this polls changes only the load:
   * a full /metrics render per proxy per poll, which at 100 proxies on 2 cores is CPU the proxies
   * then lack for the change itself. So: settle `quietMs` (2 s) after the "before" scrape, write, look
   * first after `pollMs` and then every `pollMs` again, asking only the proxies still pending.
   */
  async change(svc: number, timeoutMs = 60_000, o: { pollMs?: number; quietMs?: number } = {}): Promise<ChangeResult> {
    const pollMs = o.pollMs ?? 1000;
    const names = [`${LATENCY_METRIC}_count`, `${LATENCY_METRIC}_sum`];
    // A busy machine can time a scrape out: ask the ones that failed again (bounded).
    const before = await this.scrape(names, { ip_family: 'IPv4' });
    for (let attempt = 0; attempt < 5 && before.some((b) => b === undefined); attempt++) {
      await sleep(1000);
      const again = await this.scrape(names, { ip_family: 'IPv4' });
      before.forEach((b, i) => (before[i] = b ?? again[i]));
    }
    if (before.some((b) => b === undefined)) throw new Error(`proxy ${before.findIndex((b) => b === undefined) + 1} did not answer /metrics`);
    await sleep(o.quietMs ?? 2000);
    const cpu0 = await this.proxiesCpuMs();
    let polled = 0;
    const c = ++this.changes;
    const { at } = await this.srv.touch('default', `fl-${svc}-a`, [ep(changedIP(c)), ...endpointIPs(svc, 2).map(ep)]);
    const deadline = Date.now() + timeoutMs;
    const latenciesMs: (number | undefined)[] = this.proxies.map(() => undefined);
    for (;;) {
      await sleep(Math.max(0, at + pollMs * Math.ceil((Date.now() - at + 1) / pollMs) - Date.now()));
      const pending = latenciesMs.flatMap((l, i) => (l === undefined ? [i] : []));
      const r = await this.scraper.scrape(pending.map((i) => this.urls()[i]!), names, { ip_family: 'IPv4' });
      polled += pending.length;
      r.forEach((x, k) => {
        if (!('values' in x)) return;
        const i = pending[k]!;
        const n = x.values[names[0]!]! - before[i]![names[0]!]!;
        if (n === 0) return;
        if (n !== 1) throw new Error(`proxy ${i + 1}: ${n} programming observations for one change`);
        latenciesMs[i] = (x.values[names[1]!]! - before[i]![names[1]!]!) * 1000;
      });
      const left = latenciesMs.filter((l) => l === undefined).length;
      if (left === 0) return { latenciesMs: latenciesMs as number[], allSeenMs: Date.now() - at, proxiesCpuMs: (await this.proxiesCpuMs()) - cpu0, scrapes: polled };
      if (Date.now() > deadline) throw new Error(`change ${c}: ${left}/${this.size} proxies had not programmed it after ${timeoutMs} ms`);
    }
  }

  /** Wait until the server holds `n` open watches (bounded); returns ms waited. */
  async waitWatches(n: number, timeoutMs: number): Promise<number> {
    const t0 = Date.now();
    for (;;) {
      const w = await this.srv.call<number>('activeWatches');
      if (w >= n) return Date.now() - t0;
      if (Date.now() - t0 > timeoutMs) throw new Error(`only ${w}/${n} watches open after ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  /**
   * Restart the API server (down for downMs; history kept or compacted while down), wait until every
   * proxy watches again plus `settleMs` (late relists would be counted), count requests, then write a
   * change and wait for it on every proxy.
   */
  async restart(o: { downMs: number; compact: boolean; settleMs: number; svc: number }): Promise<RestartResult> {
    await this.srv.resetCounts();
    const cpu0 = (await this.srv.usage()).cpuMicros;
    await this.srv.restart(o.downMs, o.compact);
    const reconnectedMs = await this.waitWatches(REFLECTORS * this.size, 120_000);
    await sleep(o.settleMs);
    const counts = await this.srv.counts();
    const apiServerCpuMs = ((await this.srv.usage()).cpuMicros - cpu0) / 1000;
    const sum = (m: Record<string, number>): number => Object.values(m).reduce((a, b) => a + b, 0);
    const changeAfter = await this.change(o.svc);
    return { lists: counts.lists, listsTotal: sum(counts.lists), listPagesTotal: sum(counts.listPages), watchesTotal: sum(counts.watches), reconnectedMs, apiServerCpuMs, changeAfter };
  }

  /** CPU time (ms) so far of every proxy process, its reaped children and its live ones (nft -i sessions). */
  async proxiesCpuMs(): Promise<number> {
    let sum = 0;
    for (const p of this.proxies) {
      sum += await cpuMs(p.child.pid!);
      for (const k of await childPids(p.child.pid!)) sum += await cpuMs(k);
    }
    return sum;
  }

  /** CPU (ms) over `ms` with nothing written: the API server's (bookmarks, idle watches) and all proxies'. */
  async idleCpu(ms: number): Promise<{ apiServerMs: number; proxiesMs: number }> {
    const c0 = (await this.srv.usage()).cpuMicros;
    const p0 = await this.proxiesCpuMs();
    await sleep(ms);
    return { apiServerMs: ((await this.srv.usage()).cpuMicros - c0) / 1000, proxiesMs: (await this.proxiesCpuMs()) - p0 };
  }

  /** CPU (ms) of all proxies for `rounds` /metrics scrapes of every proxy, per round (what the harness's polling costs them). */
  async scrapeCost(rounds: number): Promise<number> {
    const c0 = await this.proxiesCpuMs();
    for (let r = 0; r < rounds; r++) await this.scrape([`${LATENCY_METRIC}_count`]);
    return ((await this.proxiesCpuMs()) - c0) / rounds;
  }

  /** RSS (MB): every proxy process, their nft children, the API server; and the machine's MemAvailable. */
  async memory(): Promise<{ proxiesMB: Stats; proxiesTotalMB: number; nftChildrenTotalMB: number; apiServerMB: number; memAvailableMB: number }> {
    const per: number[] = [];
    let kids = 0;
    for (const p of this.proxies) {
      per.push((await rssKB(p.child.pid!)) / 1024);
      kids += await childrenRssKB(p.child.pid!);
    }
    return {
      proxiesMB: stats(per),
      proxiesTotalMB: Math.round(per.reduce((a, b) => a + b, 0)),
      nftChildrenTotalMB: Math.round(kids / 1024),
      apiServerMB: Math.round((await this.srv.usage()).rss / 1024 / 1024),
      memAvailableMB: await memAvailableMB(),
    };
  }

  /** The IPv4 nft table of proxy p (1-based), as nft lists it. */
  async table(p: number): Promise<string> {
    return this.world.exec(`f${p}`, ['nft', 'list', 'table', 'ip', 'kube-proxy'], { timeoutMs: 60_000 });
  }

  async close(): Promise<void> {
    try {
      await Promise.all(this.proxies.map((p) => p.stop(10_000)));
    } finally {
      await this.world.destroy();
    }
  }
}

export { memAvailableMB };
