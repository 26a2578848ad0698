// The debug endpoints and the one-shot commands against a real proxy (nftables, --manifests) in a
// namespace: /debug/services and /debug/rules shape, binding (loopback only by default, reachable
// from another host only when the metrics address is widened), `get` and `explain` output, and the
// bounded failure when the debug endpoint is unreachable or silent.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { DebugSnapshot } from '../../src/debug/types.js';
import type { Explanation } from '../../src/explain/explain.js';
import { runProxy } from '../support/proxy-process.js';
import { tempDir, rmDir, writeManifest } from '../runtime/fixtures.js';
import { eventually, startProxyIn, type RunningProxy } from '../reliability/support/proxy.js';
import { CLIENT_IP, NODE_IP, World, podIP } from '../reliability/support/world.js';

const isRoot = process.getuid?.() === 0;

const objects = [
  { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } },
  {
    apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' },
    spec: { type: 'NodePort', clusterIP: '198.19.0.10', clusterIPs: ['198.19.0.10'], ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080, nodePort: 30080 }] },
  },
  {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'web-1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: [
      { addresses: [podIP(1)], conditions: { ready: true }, nodeName: 'node-a' },
      { addresses: [podIP(2)], conditions: { ready: false }, nodeName: 'node-a' },
    ],
  },
];

describe('debug endpoints and explain/get against a running proxy', { skip: !isRoot && 'needs root' }, () => {
  let world: World;
  let dir = '';
  let proxy: RunningProxy | undefined;
  const kpx = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    runProxy(args, { prefix: ['ip', 'netns', 'exec', world.ns('node')], timeoutMs: 30_000 });

  before(async () => {
    world = await World.create({ client: true, pods: 2 });
    dir = await tempDir('kpx-explain-');
    await writeManifest(dir, 'objects.json', objects);
    // Widened metrics address: the exposure docs/security.md describes.
    proxy = startProxyIn(world, [`--manifests=${dir}`, '--proxy-mode=nftables', '--hostname-override=node-a', '--cluster-cidr=198.18.100.0/24', '--metrics-bind-address=0.0.0.0:10249']);
    await eventually(async () => (await world.exec('node', ['nft', 'list', 'table', 'ip', 'kube-proxy'], { allowFailure: true })).includes('198.19.0.10'), 'rules programmed', 30_000);
  });
  after(async () => {
    await proxy?.stop();
    await world?.destroy();
    if (dir) await rmDir(dir);
  });

  test('/debug/services: every port with its endpoints and conditions, node facts, settings', async () => {
    const body = await world.exec('node', ['curl', '-s', '-m', '5', 'http://127.0.0.1:10249/debug/services?namespace=shop']);
    const snap = JSON.parse(body) as DebugSnapshot;
    assert.equal(snap.kind, 'kube-proxy-ts/debug-services');
    assert.equal(snap.mode, 'nftables');
    const v4 = snap.families.find((f) => f.family === 'IPv4')!;
    assert.ok(v4.lastSync && v4.generation > 0);
    assert.deepEqual(v4.config.localDetector, { mode: 'cidr', cidr: '198.18.100.0/24' });
    assert.ok(v4.localAddresses.some((a) => a.ip === NODE_IP));
    const web = v4.services.find((s) => s.key === 'shop/web:http/TCP')!;
    assert.equal(web.nodePort, 30080);
    assert.deepEqual(web.endpoints.map((e) => [e.ip, e.ready]), [[podIP(1), true], [podIP(2), false]]);
    assert.deepEqual(web.clusterEndpoints, [`${podIP(1)}:8080`]);
    const none = JSON.parse(await world.exec('node', ['curl', '-s', '-m', '5', 'http://127.0.0.1:10249/debug/services?namespace=other'])) as DebugSnapshot;
    assert.deepEqual(none.families.map((f) => f.services.length), [0, 0]);
  });

  test('/debug/rules: our table as the kernel lists it, per family', async () => {
    const text = await world.exec('node', ['curl', '-s', '-m', '10', 'http://127.0.0.1:10249/debug/rules?family=IPv4']);
    assert.match(text, /^# nftables IPv4: nft list table ip kube-proxy$/m);
    assert.match(text, /198\.19\.0\.10 \. tcp \. 80 (comment "shop\/web:http" )?: goto dnat-tcp-1/);
    assert.doesNotMatch(text, /table ip6/);
    const bad = await world.exec('node', ['curl', '-s', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:10249/debug/rules?family=x']);
    assert.equal(bad.trim(), '400');
  });

  test('binding: widened to 0.0.0.0, /debug/services answers another host (the documented exposure); the health port never serves it', async () => {
    const code = (url: string): Promise<string> => world.exec('client', ['curl', '-s', '-m', '3', '-o', '/dev/null', '-w', '%{http_code}', url]).then((s) => s.trim());
    assert.equal(await code(`http://${NODE_IP}:10249/debug/services`), '200');
    assert.equal(await code(`http://${NODE_IP}:10256/debug/services`), '404');
  });

  test('get services / endpoints -o wide from the node namespace', async () => {
    const s = await kpx(['get', 'services', '-n', 'shop']);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(s.stdout, 'NAME   TYPE       CLUSTER-IP    EXTERNAL-IP   PORT(S)\nweb    NodePort   198.19.0.10   <none>        80:30080/TCP\n');
    const e = await kpx(['get', 'endpoints', '-o', 'wide']);
    assert.match(e.stdout, /^shop\s+web\s+http\/TCP\s+198\.18\.100\.2:8080\s+node-a\s+<none>\s+false\s+true\s+false\s+no$/m);
  });

  test('explain: human text and -o json; --trace from another namespace agrees with the kernel', async () => {
    const h = await kpx(['explain', '--src', CLIENT_IP, '--dst', `${NODE_IP}:30080`]);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /^verdict: {3}FORWARD: DNAT to one of 1 endpoint\(s\)/m);
    assert.match(h.stdout, /^masquerade: yes: NodePort traffic with externalTrafficPolicy=Cluster is masqueraded$/m);
    assert.match(h.stdout, /198\.18\.100\.2:8080 +not ready: ready=false/);
    const j = await kpx(['explain', '-o', 'json', '--src', CLIENT_IP, '--dst', '198.19.0.10:81']);
    assert.equal((JSON.parse(j.stdout) as Explanation).outcome, 'reject');
    const t = await kpx(['explain', '-o', 'json', '--trace', '--src', CLIENT_IP, '--dst', `${NODE_IP}:30080`, '--probe-netns', world.ns('client')]);
    const x = JSON.parse(t.stdout) as Explanation & { trace: { agrees: boolean; observed: { endpoint: string; masqueraded: boolean } } };
    assert.equal(t.code, 0, t.stdout.slice(-3000) + t.stderr);
    assert.equal(x.trace.agrees, true);
    assert.deepEqual(x.trace.observed, { outcome: 'forward', endpoint: `${podIP(1)}:8080`, masqueraded: true });
    // The scaffolding is gone.
    assert.doesNotMatch(await world.exec('node', ['nft', 'list', 'tables']), /kpx-trace/);
  });

  test('usage errors exit 2 with the usage text', async () => {
    const r = await kpx(['explain', '--src', CLIENT_IP]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--src and --dst are required/);
  });
});

describe('bounded time when the debug endpoint is unreachable', () => {
  test('connection refused: a clear error naming the address, exit 1', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise((r) => srv.close(r)); // nothing listens there now
    const t0 = Date.now();
    const r = await runProxy(['get', 'services', `--metrics-address=127.0.0.1:${port}`, '--timeout=2s'], { timeoutMs: 20_000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`cannot read http://127\\.0\\.0\\.1:${port}/debug/services within 2s: ECONNREFUSED`));
    assert.ok(Date.now() - t0 < 15_000);
  });
  test('a server that accepts but never answers: gives up after --timeout', async () => {
    const held: net.Socket[] = [];
    const srv = net.createServer((s) => held.push(s));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    try {
      const t0 = Date.now();
      const r = await runProxy(['explain', '--src', '198.18.0.2', '--dst', '198.19.0.10:80', `--metrics-address=127.0.0.1:${port}`, '--timeout=1s'], { timeoutMs: 20_000 });
      const ms = Date.now() - t0;
      assert.equal(r.code, 1);
      assert.match(r.stderr, /within 1s: timed out/);
      // Process start (~0.1-0.5 s) plus the 1 s limit; far from the 20 s kill.
      assert.ok(ms < 8000, `took ${ms} ms`);
    } finally {
      for (const s of held) s.destroy();
      srv.close();
    }
  });
});
