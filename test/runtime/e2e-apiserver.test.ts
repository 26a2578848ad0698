// End to end with the API server source: the project's test API server and the proxy both run
// inside one throwaway namespace; objects are changed with the real kubectl. Covers the kubeconfig
// path of main.ts, Node-derived node IPs, /healthz node eligibility from the Node object, and the
// Events the proxy records (kubectl get events).

import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { collect, fromDist, repoRoot, startProxy, type RunResult } from '../support/proxy-process.js';
import { eventually, nodeObject, rmDir, serviceObject, sliceObject, tempDir, writeManifest } from './fixtures.js';

const exec = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const hasKubectl = existsSync('/usr/bin/kubectl');
const ns = `kpx-rt-${randomBytes(4).toString('hex')}`;
let dir = '';
let apiserver: ChildProcess | null = null;

async function inNs(cmd: string, args: string[]): Promise<string> {
  return (await exec('ip', ['netns', 'exec', ns, cmd, ...args], { timeout: 30_000 })).stdout;
}

async function http(path: string, port: number): Promise<{ status: number; body: string }> {
  const out = await inNs('curl', ['-s', '-m', '5', '-w', '\n%{http_code}', `http://127.0.0.1:${port}${path}`]);
  const i = out.lastIndexOf('\n');
  return { status: Number(out.slice(i + 1)), body: out.slice(0, i) };
}

/** Start the test API server inside the namespace, loaded from `load`; resolves to its kubeconfig path. */
function startApiServer(load: string): Promise<string> {
  const tool = fromDist
    ? [path.join(repoRoot, 'dist/tools/test-apiserver/main.js')]
    : ['--import', 'tsx', path.join(repoRoot, 'tools/test-apiserver/main.ts')];
  apiserver = spawn('ip', ['netns', 'exec', ns, process.execPath, ...tool, '--load', load], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  apiserver.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`test API server did not start: ${err}`)), 30_000);
    apiserver!.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(t);
        resolve(out.slice(0, nl).trim());
      }
    });
    apiserver!.on('exit', () => reject(new Error(`test API server exited: ${err}`)));
  });
}

before(async () => {
  if (!isRoot || !hasKubectl) return;
  await exec('ip', ['netns', 'add', ns]);
  await exec('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  dir = await tempDir('kpx-rt-api-');
});

after(async () => {
  if (apiserver && apiserver.exitCode === null) apiserver.kill('SIGTERM');
  if (!isRoot || !hasKubectl) return;
  await exec('ip', ['netns', 'del', ns]).catch(() => undefined);
  if (dir) await rmDir(dir);
});

test('API server source: rules, Node IPs, kubectl edits, node eligibility', { skip: (!isRoot && 'needs root') || (!hasKubectl && 'needs kubectl'), timeout: 120_000 }, async () => {
  const load = path.join(dir, 'load');
  await fsp.mkdir(load);
  await writeManifest(load, 'objects.json', [
    serviceObject({ name: 'web', clusterIP: '198.19.0.10', port: 80, portName: 'http' }),
    sliceObject('web', 8080, [{ ip: '198.18.100.2' }], { portName: 'http' }),
    // Its health check port cannot open: the node IP (nodePortAddresses "primary") is not in this namespace.
    serviceObject({ name: 'lb', type: 'LoadBalancer', clusterIP: '198.19.0.11', port: 80, nodePort: 30080, externalTrafficPolicy: 'Local', healthCheckNodePort: 32080, lbIP: '198.19.200.1' }),
    nodeObject('node-a', ['198.18.0.1']),
  ]);
  const kubeconfig = await startApiServer(load);
  const kubectl = (args: string[]) => inNs('kubectl', ['--kubeconfig', kubeconfig, ...args]);

  const proxy = startProxy(['--kubeconfig', kubeconfig, '--proxy-mode', 'nftables', '--hostname-override', 'node-a', '--v=2'], {
    prefix: ['ip', 'netns', 'exec', ns],
  });
  const done: Promise<RunResult> = collect(proxy, 110_000);
  try {
    await eventually(async () => (await inNs('nft', ['list', 'table', 'ip', 'kube-proxy'])).includes('198.19.0.10 . tcp . 80'), 'service programmed', 30_000);
    const state = JSON.parse((await http('/debug/state', 10249)).body) as { families: Record<string, { nodeIPs: string[] }> };
    assert.deepEqual(state.families.IPv4!.nodeIPs, ['198.18.0.1'], 'node IP from the Node object');
    const hz = await http('/healthz', 10256);
    assert.equal(hz.status, 200, hz.body);

    // Events, as upstream records them (events.k8s.io/v1), listed by the real kubectl.
    const events = await eventually(async () => {
      const out = await kubectl(['get', 'events', '-A']);
      return /Starting/.test(out) && /FailedToStartServiceHealthcheck/.test(out) ? out : null;
    }, 'Starting and FailedToStartServiceHealthcheck events', 30_000);
    assert.match(events, /default\s+\S+\s+Normal\s+Starting\s+node\/node-a\s*\n/);
    assert.match(events, /default\s+\S+\s+Warning\s+FailedToStartServiceHealthcheck\s+service\/lb\s+node node-a failed to start healthcheck "default\/lb" on port 32080: /);
    const evJson = JSON.parse(await kubectl(['get', 'events', '-A', '-o', 'json'])) as { items: Record<string, unknown>[] };
    const starting = evJson.items.filter((e) => e.reason === 'Starting');
    assert.equal(starting.length, 1, 'one Starting event per start');
    assert.equal(starting[0]!.reportingController, 'kube-proxy');
    assert.equal(starting[0]!.action, 'StartKubeProxy');
    assert.deepEqual(starting[0]!.regarding, { kind: 'Node', name: 'node-a', uid: 'node-a' });
    assert.equal((JSON.parse(hz.body) as { nodeEligible: boolean }).nodeEligible, true);

    // A new endpoint through kubectl.
    const slice = sliceObject('web', 8080, [{ ip: '198.18.100.7' }], { portName: 'http' });
    delete (slice.metadata as Record<string, unknown>).resourceVersion;
    await fsp.writeFile(path.join(dir, 'slice.json'), JSON.stringify(slice));
    await kubectl(['apply', '-f', path.join(dir, 'slice.json')]);
    await eventually(async () => (await inNs('nft', ['list', 'table', 'ip', 'kube-proxy'])).includes('198.18.100.7 . 8080'), 'endpoint from kubectl', 30_000);

    // The cluster autoscaler marks the node for deletion: /healthz 503, /livez still 200.
    await kubectl(['taint', 'nodes', 'node-a', 'ToBeDeletedByClusterAutoscaler=1:NoSchedule']);
    const bad = await eventually(async () => {
      const r = await http('/healthz', 10256);
      return r.status === 503 ? r : null;
    }, '/healthz 503 after the taint', 30_000);
    const body = JSON.parse(bad.body) as { nodeEligible: boolean; healthy: boolean };
    assert.equal(body.nodeEligible, false);
    assert.equal(body.healthy, true);
    assert.equal((await http('/livez', 10256)).status, 200);

    proxy.kill('SIGTERM');
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
  } finally {
    if (proxy.exitCode === null && proxy.signalCode === null) proxy.kill('SIGKILL');
    await done;
  }
});
