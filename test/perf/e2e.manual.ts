// Manual end-to-end measurement (not part of the suite; root; namespaces only), as a cluster sees the proxy:
//   node dist/test/perf/e2e.manual.js [services=10000] [--changes=20] [--gap=1200] [--settle=2000] [--churn=0]
//        [--source=apiserver|manifests-yaml|manifests-json] [--mode=nftables] [--proxy=PATH/main.js] [--tls] [--log=FILE --v=2] [--stdout=FILE] [--node-flags=F1,F2]
// Builds the traffic topology (test/support/topology.ts: client, node, pods p1..p5, all in kpx-tr-* namespaces),
// preloads the test API server in the node namespace with N Services × 10 endpoints (one EndpointSlice each; the
// last Service's slice holds pod p1 only, the others point at addresses nothing answers) and the Node, starts the
// proxy there with --kubeconfig, and reports:
//   startMs   process spawn → the last Service's ClusterIP answers from the client namespace;
//   cpuMsAtStart  the proxy process's CPU time (user + system, not its children's) by then;
//   changes   --changes writes of that Service's EndpointSlice (p1 ↔ p2), --gap ms apart: write issued →
//             a new connection from the client lands on the new pod (p50/p99/max);
//   cpuMsPerChange  the proxy's CPU time from the first write to the last change landing, per change
//             (the --gap idle between changes included; --settle ms after the start before the first
//             write, so that the start's garbage collection is not counted here);
//   npl       the proxy's kubeproxy_network_programming_duration_seconds (bucket-based p99 upper bound);
//   rss       VmRSS/VmHWM of the proxy after start, after the changes, and after --churn further writes.
// --proxy: another build's main.js (e.g. a `git archive main` tree built with tsc), for before/after figures.
// Prints one JSON line.

import { promises as fsp, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NsApiServer, type Obj } from '../reliability/support/apiserver.js';
import type { World } from '../reliability/support/world.js';
import { bundledMain, fromDist, repoRoot } from '../support/proxy-process.js';
import { spawn } from 'node:child_process';
import { fakeEndpoint, nodeObject, perfObjects, sliceObj, svcIP } from '../support/perf-objects.js';
import { NODE_NAME, Topology } from '../support/topology.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const N = Number(args.find((a) => /^\d+$/.test(a)) ?? 10_000);
const CHANGES = Number(opt('changes', '20'));
const GAP_MS = Number(opt('gap', '1200'));
/** Wait after the start before the first change (the start's garbage collection can otherwise land among the changes). */
const SETTLE_MS = Number(opt('settle', '2000'));
const CHURN = Number(opt('churn', '0'));
const SOURCE = opt('source', 'apiserver');
const MODE = opt('mode', 'nftables');
const PROXY = opt('proxy', '');
/** --log=FILE: the proxy's stderr (with --v=2: its timed log lines). */
const LOG = opt('log', '');
const VERBOSITY = opt('v', '');
/** --stdout=FILE: the proxy's stdout (e.g. with --node-flags=--trace-gc). */
const STDOUT_LOG = opt('stdout', '');
/** --node-flags=F1,F2: node flags for the proxy (e.g. --cpu-prof,--cpu-prof-dir=/tmp/x). */
const NODE_FLAGS = opt('node-flags', '');
const EPS = 10;
if (!(N >= 1 && N <= 60_000)) throw new Error('services: 1..60000');

const nodeObj = nodeObject();
const objectsFor = (i: number): Obj[] => perfObjects(i, N, EPS);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function procStatus(pid: number): { rssMB: number; hwmMB: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
  return { rssMB: Math.round(kb('VmRSS') / 1024), hwmMB: Math.round(kb('VmHWM') / 1024) };
}

/** CPU time (user + system) the process has used, in ms: on a shared machine it tells work from waiting. */
function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 (utime, stime) in clock ticks (100 Hz on Linux); f[0] is field 3.
  return (Number(f[11]) + Number(f[12])) * 10;
}

function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
}

/** p-quantile upper bound from a Prometheus histogram's cumulative buckets. */
function histogramQuantile(text: string, metric: string, p: number): { count: number; le: number } {
  const buckets: [number, number][] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}_bucket`) || !line.includes('"IPv4"')) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    buckets.push([le === '+Inf' ? Infinity : Number(le), Number(line.split(' ').pop())]);
  }
  buckets.sort((a, b) => a[0] - b[0]);
  const count = buckets.at(-1)?.[1] ?? 0;
  const want = count * p;
  return { count, le: buckets.find(([, c]) => c >= want)?.[0] ?? NaN };
}

async function writeManifests(dir: string, json: boolean): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  for (let f = 0; f * 100 < N; f++) {
    const objs: Obj[] = [];
    for (let i = f * 100 + 1; i <= Math.min(N, f * 100 + 100); i++) objs.push(...objectsFor(i));
    // JSON: one List per file; YAML: JSON-flow documents separated by "---" (what the issue measured).
    const text = json ? JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objs }) : objs.map((o) => JSON.stringify(o)).join('\n---\n') + '\n';
    await fsp.writeFile(path.join(dir, `svc-${f}.${json ? 'json' : 'yaml'}`), text);
  }
  await fsp.writeFile(path.join(dir, `node.${json ? 'json' : 'yaml'}`), JSON.stringify(nodeObj) + '\n');
}

async function main(): Promise<void> {
  const topo = await Topology.create();
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'kpx-perf-'));
  let api: NsApiServer | null = null;
  const out: Record<string, unknown> = { services: N, endpointsPerService: EPS, source: SOURCE, mode: MODE, proxy: PROXY || 'this tree' };
  try {
    const client = topo.agent('client');
    let srcArgs: string[];
    if (SOURCE === 'apiserver') {
      const world = { ns: (r: string) => topo.ns(r), track: () => undefined } as unknown as World;
      api = await NsApiServer.start(world, { tls: args.includes('--tls') });
      await api.apply([{ t: 'create', obj: nodeObj }]);
      for (let i = 1; i <= N; i += 1000) {
        const ops = [];
        for (let j = i; j < Math.min(N + 1, i + 1000); j++) for (const obj of objectsFor(j)) ops.push({ t: 'create' as const, obj });
        const r = await api.apply(ops);
        if (r.failed) throw new Error(`preload: ${r.errors.join('; ')}`);
      }
      srcArgs = ['--kubeconfig', api.kubeconfigPath];
    } else {
      const dir = path.join(tmp, 'manifests');
      await writeManifests(dir, SOURCE === 'manifests-json');
      srcArgs = ['--manifests', dir];
    }
    const proxyArgs = [...srcArgs, '--proxy-mode', MODE, '--hostname-override', NODE_NAME.node, '--metrics-bind-address', '127.0.0.1:10249', ...(VERBOSITY ? [`--v=${VERBOSITY}`] : [])];
    const prefix = ['ip', 'netns', 'exec', topo.ns('node')];
    const t0 = Date.now();
    const main = PROXY || (fromDist ? bundledMain : path.join(repoRoot, 'src/main.ts'));
    const nodeFlags = [...(fromDist || PROXY ? [] : ['--import', 'tsx']), ...(NODE_FLAGS ? NODE_FLAGS.split(',') : [])];
    const child = spawn(prefix[0]!, [...prefix.slice(1), process.execPath, ...nodeFlags, main, ...proxyArgs], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    topo.track(child);
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
    if (LOG) child.stderr!.pipe((await import('node:fs')).createWriteStream(LOG));
    if (STDOUT_LOG) child.stdout!.pipe((await import('node:fs')).createWriteStream(STDOUT_LOG));
    else child.stdout!.resume();
    const pid = child.pid!;
    const vip = svcIP(N);
    const answeredBy = async (timeoutMs: number): Promise<string> => {
      const [a] = await client.probe({ proto: 'TCP', host: vip, port: 80, count: 1, timeoutMs });
      return a?.kind === 'answer' ? a.answeredBy : '';
    };
    const deadline = t0 + 300_000;
    while ((await answeredBy(30)) !== 'p1') {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`never served: ${stderr}`);
    }
    out.startMs = Date.now() - t0;
    out.cpuMsAtStart = procCpuMs(pid);
    out.rssAfterStart = procStatus(pid);

    const changeMs: number[] = [];
    if (SOURCE === 'apiserver') {
      await sleep(SETTLE_MS);
      const cpuBeforeChanges = procCpuMs(pid);
      for (let c = 0; c < CHANGES; c++) {
        const to = c % 2 === 0 ? 'p2' : 'p1';
        const ip = to === 'p2' ? '198.18.100.2' : '198.18.100.1';
        const w0 = Date.now();
        const obj = sliceObj(N, [ip]);
        // The trigger time the proxy's network-programming-latency metric measures from (here: the write).
        (obj.metadata as { annotations?: Record<string, string> }).annotations = { 'endpoints.kubernetes.io/last-change-trigger-time': new Date(w0).toISOString() };
        await api!.apply([{ t: 'update', obj }]);
        while ((await answeredBy(100)) !== to) {
          if (Date.now() - w0 > 30_000) throw new Error(`change ${c} never landed: ${stderr}`);
        }
        changeMs.push(Date.now() - w0);
        await sleep(GAP_MS);
      }
      out.changes = { n: changeMs.length, p50: pct(changeMs, 50), p99: pct(changeMs, 99), max: Math.max(...changeMs), all: changeMs };
      // Proxy CPU from the first write to the last change landing, per change (the --gap idle included).
      out.cpuMsPerChange = Math.round(((procCpuMs(pid) - cpuBeforeChanges) / changeMs.length) * 10) / 10;
      out.rssAfterChanges = procStatus(pid);
      if (CHURN > 0) {
        // Writes to other services' slices, in batches, then a settle period.
        for (let c = 0; c < CHURN; c += 50) {
          const ops = [];
          for (let k = c; k < Math.min(CHURN, c + 50); k++) {
            const i = 1 + (k % Math.max(1, N - 1));
            ops.push({ t: 'update' as const, obj: sliceObj(i, Array.from({ length: EPS }, (_, e) => fakeEndpoint(i + k + 1, e))) });
          }
          await api!.apply(ops);
          await sleep(100);
        }
        await sleep(5000);
        out.rssAfterChurn = { writes: CHURN, ...procStatus(pid) };
      }
      const metrics = (await topo.agent('node').http('http://127.0.0.1:10249/metrics', 5000)).body;
      out.npl = { p99: histogramQuantile(metrics, 'kubeproxy_network_programming_duration_seconds', 0.99), p50: histogramQuantile(metrics, 'kubeproxy_network_programming_duration_seconds', 0.5) };
    }
    child.kill('SIGTERM');
    // Let it exit on its own (a --cpu-prof profile is written at exit).
    await new Promise<void>((r) => {
      if (child.exitCode !== null) r();
      child.once('exit', () => r());
      setTimeout(r, 15_000).unref();
    });
    process.stdout.write(JSON.stringify(out) + '\n');
  } finally {
    api?.kill();
    await topo.destroy();
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

await main();
