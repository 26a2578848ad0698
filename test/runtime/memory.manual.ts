// Manual memory measurement (not part of the suite; root; namespaces only):
//   node --import tsx test/runtime/memory.manual.ts [services=10000] [endpoints=10] [sources=manifests,apiserver]
//        [modes=nftables,iptables] [--compiled [--tree=DIR]] [--snapshot] [--node-flags=F1,F2]
// For each source x mode: a fresh namespace kpx-mem-<hex> (198.18.0.1 on lo), N Services x E endpoints
// (one EndpointSlice each) either as YAML files in a --manifests directory or in the test API server
// (tools/test-apiserver, run inside the same namespace), then the real proxy. Waits for the first sync
// (metrics: kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} > 0), then reports VmRSS / VmHWM of the
// proxy process right after it and after a settle period, and the heap figures from /debug/state.
// --compiled: run the proxy from a tsc build in a temporary directory (what production runs; without it
// the proxy runs through tsx, whose loader adds its own memory). --snapshot: after settling, SIGUSR2 the
// proxy (started with --heapsnapshot-signal) and leave the .heapsnapshot in the temporary directory.
// Prints one JSON line per run; docs/operations.md ("Memory") quotes the figures.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundledMain, fromDist, repoRoot } from '../support/proxy-process.js';
import { NsApiServer, type Obj } from '../reliability/support/apiserver.js';
import type { World } from '../reliability/support/world.js';
import { svcIP } from '../support/perf-objects.js';

const flags = new Set(process.argv.slice(2).filter((a) => a.startsWith('--')));
const pos = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const SERVICES = Number(pos[0] ?? 10000);
const ENDPOINTS = Number(pos[1] ?? 10);
const SOURCES = (pos[2] ?? 'manifests,apiserver').split(',');
const MODES = (pos[3] ?? 'nftables,iptables').split(',');
const SETTLE_MS = 20_000;
const NODE_IP = '198.18.0.1';

if (SERVICES > 60000 || ENDPOINTS > 200) throw new Error('at most 60000 services x 200 endpoints');

function epIP(i: number, k: number): string {
  const x = (i * ENDPOINTS + k) % 65000;
  return `198.18.${1 + (x >> 8)}.${x & 255}`;
}

function svcObj(i: number): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: `mem-${i}`,
      namespace: 'default',
      uid: randomBytes(16).toString('hex'),
      resourceVersion: String(i),
      creationTimestamp: '2026-01-01T00:00:00Z',
      labels: { app: `mem-${i}`, tier: 'backend' },
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"name":"x"}}' },
      managedFields: [{ manager: 'kubectl', operation: 'Update', apiVersion: 'v1', time: '2026-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:ports': {}, 'f:selector': {} } } }],
    },
    spec: {
      type: 'ClusterIP',
      clusterIP: svcIP(i),
      clusterIPs: [svcIP(i)],
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      selector: { app: `mem-${i}` },
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
      ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }],
    },
    status: { loadBalancer: {} },
  };
}

function sliceObj(i: number): Obj {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `mem-${i}-abcde`,
      namespace: 'default',
      uid: randomBytes(16).toString('hex'),
      resourceVersion: String(i),
      generateName: `mem-${i}-`,
      labels: { 'kubernetes.io/service-name': `mem-${i}`, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: `mem-${i}`, uid: 'x', controller: true, blockOwnerDeletion: true }],
      managedFields: [{ manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'discovery.k8s.io/v1', time: '2026-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:endpoints': {}, 'f:ports': {} } }],
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: ENDPOINTS }, (_, k) => ({
      addresses: [epIP(i, k)],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: k % 3 === 0 ? 'node-a' : `node-${k % 7}`,
      targetRef: { kind: 'Pod', namespace: 'default', name: `mem-${i}-pod-${k}`, uid: randomBytes(8).toString('hex') },
      zone: 'zone-a',
    })),
  };
}

const nodeObj: Obj = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, spec: {}, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } };

function sh(cmd: string, args: readonly string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, timeout: 60_000, maxBuffer: 256 << 20 });
}

function status(pid: number): { rssMB: number; hwmMB: number } {
  const s = execFileSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' });
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? 0);
  return { rssMB: Math.round(kb('VmRSS') / 1024), hwmMB: Math.round(kb('VmHWM') / 1024) };
}

function curl(ns: string, url: string): string {
  return execFileSync('ip', ['netns', 'exec', ns, 'curl', '-s', '-m', '30', url], { encoding: 'utf8', timeout: 40_000, maxBuffer: 512 << 20 });
}

function lastSyncTimestamp(ns: string): number {
  try {
    const text = curl(ns, 'http://127.0.0.1:10249/metrics');
    let max = 0;
    for (const line of text.split('\n')) {
      // The IPv4 family (the services' family): IPv6 has nothing to program and syncs first.
      if (!line.startsWith('kubeproxy_sync_proxy_rules_last_timestamp_seconds') || !line.includes('"IPv4"')) continue;
      max = Math.max(max, Number(line.split(/\s+/).pop()));
    }
    return max;
  } catch {
    return 0;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function writeManifests(dir: string): Promise<void> {
  // 100 services per file, multi-document YAML (JSON documents are valid YAML and quick to produce).
  await fsp.mkdir(dir, { recursive: true });
  for (let f = 0; f * 100 < SERVICES; f++) {
    const docs: string[] = [];
    for (let i = f * 100 + 1; i <= Math.min(SERVICES, f * 100 + 100); i++) docs.push(JSON.stringify(svcObj(i)), JSON.stringify(sliceObj(i)));
    await fsp.writeFile(path.join(dir, `svc-${f}.yaml`), docs.join('\n---\n') + '\n');
  }
  await fsp.writeFile(path.join(dir, 'node.yaml'), JSON.stringify(nodeObj) + '\n');
}

async function runOne(source: string, mode: string, tmp: string, proxyEntry: string[]): Promise<Record<string, unknown>> {
  const ns = `kpx-mem-${randomBytes(3).toString('hex')}`;
  const procs: ChildProcess[] = [];
  let api: NsApiServer | null = null;
  sh('ip', ['netns', 'add', ns]);
  try {
    sh('ip', ['-n', ns, '-batch', '-'], `link set lo up\naddr add ${NODE_IP}/32 dev lo\n`);
    let srcArgs: string[];
    if (source === 'manifests') {
      const dir = path.join(tmp, 'manifests');
      await fsp.rm(dir, { recursive: true, force: true });
      await writeManifests(dir);
      srcArgs = ['--manifests', dir];
    } else {
      const fakeWorld = { ns: () => ns, track: (p: { pid?: number }) => void p } as unknown as World;
      api = await NsApiServer.start(fakeWorld);
      await api.apply([{ t: 'create', obj: nodeObj }]);
      for (let i = 1; i <= SERVICES; i += 1000) {
        const ops = [];
        for (let j = i; j < Math.min(SERVICES + 1, i + 1000); j++) ops.push({ t: 'create' as const, obj: svcObj(j) }, { t: 'create' as const, obj: sliceObj(j) });
        await api.apply(ops);
      }
      srcArgs = ['--kubeconfig', api.kubeconfigPath];
    }
    const snap = flags.has('--snapshot') ? [`--heapsnapshot-signal=SIGUSR2`, `--diagnostic-dir=${tmp}`] : [];
    // --node-flags=F1,F2: extra node/V8 flags for the proxy (e.g. --max-semi-space-size=2), to measure them.
    snap.push(...([...flags].find((f) => f.startsWith('--node-flags='))?.slice('--node-flags='.length).split(',') ?? []));
    const t0 = Date.now();
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...snap, ...proxyEntry, ...srcArgs, '--proxy-mode', mode, '--hostname-override', 'node-a', '--metrics-bind-address', '127.0.0.1:10249'], {
      cwd: repoRoot,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    procs.push(child);
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
    const pid = child.pid!;
    // Bounded wait for the first sync.
    const deadline = Date.now() + 600_000;
    while (lastSyncTimestamp(ns) <= 0) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no first sync (${source}/${mode}): ${stderr}`);
      await sleep(500);
    }
    const firstSyncMs = Date.now() - t0;
    const atSync = status(pid);
    await sleep(SETTLE_MS);
    const settled = status(pid);
    let snapshot: string | null = null;
    if (flags.has('--snapshot')) {
      const before = new Set(await fsp.readdir(tmp));
      process.kill(pid, 'SIGUSR2');
      for (let k = 0; k < 240 && !snapshot; k++) {
        await sleep(500);
        const added = (await fsp.readdir(tmp)).filter((f) => f.endsWith('.heapsnapshot') && !before.has(f));
        // Written when the size stops changing.
        if (added.length) {
          const f = path.join(tmp, added[0]!);
          const s1 = (await fsp.stat(f)).size;
          await sleep(1000);
          if ((await fsp.stat(f)).size === s1 && s1 > 0) snapshot = f;
        }
      }
    }
    const state = JSON.parse(curl(ns, 'http://127.0.0.1:10249/debug/state')) as { memory?: Record<string, number>; families: Record<string, { services: Record<string, unknown> }> };
    const services = Object.keys(state.families.IPv4?.services ?? {}).length;
    child.kill('SIGTERM');
    return { source, mode, services, endpoints: SERVICES * ENDPOINTS, firstSyncMs, atSync, settled, memory: state.memory ?? null, snapshot };
  } finally {
    for (const p of procs) if (p.pid && p.exitCode === null) p.kill('SIGKILL');
    if (api?.pid) {
      try {
        process.kill(api.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await sleep(300);
    try {
      sh('ip', ['netns', 'del', ns]);
    } catch {
      /* already gone */
    }
  }
}

const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'kpx-mem-'));
let entry = ['--import', 'tsx', path.join(repoRoot, 'src/main.ts')];
let build: string | null = null;
const treeFlag = [...flags].some((f) => f.startsWith('--tree='));
if (flags.has('--compiled') && fromDist && !treeFlag) {
  // Run from dist/: the proxy beside this script already is the tsc build.
  entry = [bundledMain];
} else if (flags.has('--compiled')) {
  // Under node_modules/.cache so the build resolves the repository's node_modules (and git ignores it).
  const out = path.join(repoRoot, 'node_modules/.cache', path.basename(tmp));
  // --tree=DIR: build another checkout instead (e.g. `git archive HEAD~1` extracted under node_modules/.cache,
  // for before/after figures with this same script).
  const tree = [...flags].find((f) => f.startsWith('--tree='))?.slice('--tree='.length) ?? repoRoot;
  sh(path.join(repoRoot, 'node_modules/.bin/tsc'), ['-p', path.join(tree, 'tsconfig.json'), '--outDir', out, '--sourceMap', 'false']);
  entry = [path.join(out, 'src/main.js')];
  build = out;
}
process.stderr.write(`[mem] tmp ${tmp}; ${SERVICES} x ${ENDPOINTS}; proxy: node ${entry.join(' ')}\n`);
try {
  for (const source of SOURCES) {
    for (const mode of MODES) {
      const r = await runOne(source, mode, tmp, entry);
      process.stdout.write(JSON.stringify(r) + '\n');
    }
  }
} finally {
  if (build) await fsp.rm(build, { recursive: true, force: true });
  // Heap snapshots are the point of --snapshot: left for the caller (their paths are in the output).
  if (!flags.has('--snapshot')) await fsp.rm(tmp, { recursive: true, force: true });
  else await fsp.rm(path.join(tmp, 'manifests'), { recursive: true, force: true });
}
