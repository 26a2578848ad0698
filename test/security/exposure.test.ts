// What the proxy exposes, with default bind flags, inside a namespace: the health server listens on
// 0.0.0.0:10256 (reachable from another host), the metrics server on 127.0.0.1:10249 only (not reachable
// from another host). No endpoint of either server — /metrics, /configz, /debug/*, /healthz, /livez,
// /proxyMode, ... — nor the proxy's log reveals the kubeconfig's secrets (bearer token, CA data) when the
// proxy talks to the test API server over TLS with a token.

import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { test } from 'node:test';
import { NsApiServer } from '../reliability/support/apiserver.js';
import { eventually, startProxyIn } from '../reliability/support/proxy.js';
import { NODE_IP, World } from '../reliability/support/world.js';

const isRoot = process.getuid?.() === 0;

const METRICS_PATHS = ['/metrics', '/metrics/slis', '/configz', '/debug/state', '/debug/services', '/debug/rules', '/healthz', '/healthz/ping', '/livez', '/proxyMode', '/flagz', '/statusz', '/debug/pprof/', '/', '/nonexistent'];
const HEALTH_PATHS = ['/healthz', '/livez', '/', '/metrics', '/configz', '/debug/state', '/debug/services', '/debug/rules'];

test('default bind addresses: healthz 0.0.0.0:10256, metrics 127.0.0.1:10249; no endpoint or log line leaks the kubeconfig secrets', { skip: !isRoot && 'needs root', timeout: 90_000 }, async (t) => {
  const world = await World.create({ client: true });
  try {
    const srv = await NsApiServer.start(world, { tls: true });
    const kubeconfig = await fsp.readFile(srv.kubeconfigPath, 'utf8');
    const kc = JSON.parse(kubeconfig) as { clusters: { cluster: Record<string, string> }[] };
    const caData = kc.clusters[0]!.cluster['certificate-authority-data']!;
    assert.ok(srv.token.length >= 16 && caData.length > 100 && kubeconfig.includes(srv.token), 'the kubeconfig carries a token and CA data');
    await srv.apply([
      { t: 'create', obj: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, spec: {}, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } } },
      { t: 'create', obj: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { clusterIP: '198.19.0.10', clusterIPs: ['198.19.0.10'], ports: [{ name: 'p', port: 80, protocol: 'TCP', targetPort: 8080 }] } } },
    ]);
    const proxy = startProxyIn(world, ['--kubeconfig', srv.kubeconfigPath, '--proxy-mode', 'nftables', '--hostname-override', 'node-a', '--v=4']);
    await eventually(async () => (await world.exec('node', ['nft', 'list', 'table', 'ip', 'kube-proxy'], { allowFailure: true })).includes('198.19.0.10'), 'rules programmed over TLS with the token', 30_000);

    // Listening sockets in the node namespace.
    const ss = await world.exec('node', ['ss', '-ltnH']);
    const local = ss.split('\n').map((l) => l.trim().split(/\s+/)[3] ?? '').filter(Boolean);
    const health = local.filter((a) => a.endsWith(':10256'));
    const metrics = local.filter((a) => a.endsWith(':10249'));
    t.diagnostic(`listeners: healthz ${health.join(' ')}; metrics ${metrics.join(' ')}`);
    assert.ok(health.length > 0 && health.every((a) => ['0.0.0.0:10256', '*:10256', '[::]:10256'].includes(a)), `healthz on every address: ${health}`);
    assert.deepEqual(metrics, ['127.0.0.1:10249'], 'metrics on loopback only');

    // From another host (the client namespace): health reachable, metrics not.
    const fromClient = async (url: string): Promise<string> =>
      (await world.exec('client', ['curl', '-s', '-m', '3', '-o', '/dev/null', '-w', '%{http_code}', url], { allowFailure: true })).trim();
    assert.equal(await fromClient(`http://${NODE_IP}:10256/healthz`), '200');
    assert.equal(await fromClient(`http://${NODE_IP}:10249/metrics`), '000', 'metrics not reachable from another host');

    // Every endpoint, with headers: no secret.
    const secrets = { token: srv.token, caData, caChunk: caData.slice(40, 100), bearer: 'Bearer ' };
    const leaks: string[] = [];
    const seen: string[] = [];
    const scan = async (port: number, paths: readonly string[]): Promise<void> => {
      for (const p of paths) {
        const text = await world.exec('node', ['curl', '-s', '-i', '-m', '5', `http://127.0.0.1:${port}${p}`], { allowFailure: true });
        const status = /^HTTP\/\S+ (\d+)/.exec(text)?.[1] ?? '---';
        seen.push(`${port}${p}=${status}`);
        for (const [name, s] of Object.entries(secrets)) if (text.includes(s)) leaks.push(`${port}${p} contains the ${name}`);
      }
    };
    await scan(10249, METRICS_PATHS);
    await scan(10256, HEALTH_PATHS);
    t.diagnostic(`responses checked: ${seen.join(' ')}`);
    const configz = await world.exec('node', ['curl', '-s', '-m', '5', 'http://127.0.0.1:10249/configz']);
    t.diagnostic(`/configz names the kubeconfig path (as upstream) but not its contents: ${configz.includes(srv.kubeconfigPath)}`);
    const log = proxy.output();
    for (const [name, s] of Object.entries(secrets)) if (log.includes(s)) leaks.push(`the log (--v=4) contains the ${name}`);
    assert.deepEqual(leaks, [], 'no secret in any response or log line');
    const r = await proxy.stop();
    assert.equal(r.code, 0);
  } finally {
    await world.destroy();
  }
});
