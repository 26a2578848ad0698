// End to end: the real proxy process, --manifests, nftables mode, inside a throwaway network
// namespace. Rules appear, follow a manifest edit, health/metrics/debug endpoints answer, and SIGTERM
// exits 0 leaving the rules in place.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { collect, startProxy, type RunResult } from '../support/proxy-process.js';
import { eventually, rmDir, serviceObject, sliceObject, tempDir, writeManifest } from './fixtures.js';

const exec = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const ns = `kpx-rt-${randomBytes(4).toString('hex')}`;
let dir = '';

async function inNs(cmd: string, args: string[]): Promise<string> {
  const r = await exec('ip', ['netns', 'exec', ns, cmd, ...args], { timeout: 20_000 });
  return r.stdout;
}

async function http(path: string, port = 10249): Promise<{ status: number; body: string }> {
  // curl inside the namespace: the servers listen there, unreachable from this process.
  const out = await inNs('curl', ['-s', '-m', '5', '-w', '\n%{http_code}', `http://127.0.0.1:${port}${path}`]);
  const i = out.lastIndexOf('\n');
  return { status: Number(out.slice(i + 1)), body: out.slice(0, i) };
}

async function table(): Promise<string> {
  return inNs('nft', ['list', 'table', 'ip', 'kube-proxy']);
}

before(async () => {
  if (!isRoot) return;
  await exec('ip', ['netns', 'add', ns]);
  await exec('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  dir = await tempDir('kpx-rt-manifests-');
});

after(async () => {
  if (!isRoot) return;
  await exec('ip', ['netns', 'del', ns]).catch(() => undefined);
  if (dir) await rmDir(dir);
});

test('manifests -> nftables rules in a namespace, live edits, endpoints, SIGTERM', { skip: !isRoot && 'needs root (network namespaces)', timeout: 90_000 }, async () => {
  await writeManifest(dir, 'web.json', [
    serviceObject({ name: 'web', clusterIP: '198.19.0.10', port: 80, portName: 'http' }),
    sliceObject('web', 8080, [{ ip: '198.18.100.2' }], { portName: 'http' }),
  ]);
  const child = startProxy(['--manifests', dir, '--proxy-mode', 'nftables', '--hostname-override', 'node-a', '--v=2'], {
    prefix: ['ip', 'netns', 'exec', ns],
  });
  const done: Promise<RunResult> = collect(child, 80_000);
  try {
    await eventually(async () => (await table()).includes('198.19.0.10 . tcp . 80'), 'ClusterIP in the service-ips map');
    assert.match(await table(), /198\.18\.100\.2 \. 8080/, 'endpoint programmed');

    const state = await eventually(async () => {
      const r = await http('/debug/state');
      return r.status === 200 ? (JSON.parse(r.body) as { families: Record<string, { services: Record<string, { clusterEndpoints: string[] }> }> }) : null;
    }, '/debug/state');
    assert.deepEqual(state.families.IPv4!.services['default/web:http/TCP']!.clusterEndpoints, ['198.18.100.2:8080']);

    const hz = await http('/healthz', 10256);
    assert.equal(hz.status, 200);
    const body = JSON.parse(hz.body) as { healthy: boolean; nodeEligible: boolean; status: Record<string, { healthy: boolean }> };
    assert.equal(body.healthy, true);
    assert.equal(body.nodeEligible, true, 'no Node object in manifests mode: eligible');
    assert.deepEqual(Object.keys(body.status), ['IPv4', 'IPv6']);
    assert.equal((await http('/proxyMode')).body, 'nftables');
    const m = await http('/metrics');
    assert.match(m.body, /^kubeproxy_sync_proxy_rules_last_timestamp_seconds\{ip_family="IPv4"\} [1-9]/m);
    assert.match(m.body, /^kubeproxy_sync_full_proxy_rules_duration_seconds_count\{ip_family="IPv4"\} [1-9]/m);

    // Edit: new endpoint for web, and a second (UDP) service in another file.
    await writeManifest(dir, 'web.json', [
      serviceObject({ name: 'web', clusterIP: '198.19.0.10', port: 80, portName: 'http' }),
      sliceObject('web', 8080, [{ ip: '198.18.100.3' }], { portName: 'http' }),
    ]);
    await writeManifest(dir, 'dns.json', [
      serviceObject({ name: 'dns', clusterIP: '198.19.0.53', port: 53, protocol: 'UDP', portName: 'dns' }),
      sliceObject('dns', 5353, [{ ip: '198.18.100.4' }], { portName: 'dns', protocol: 'UDP' }),
    ]);
    await eventually(async () => {
      const t = await table();
      return t.includes('198.19.0.53 . udp . 53') && t.includes('198.18.100.3 . 8080') && !t.includes('198.18.100.2 . 8080');
    }, 'rules follow the manifest edit');
    const after = JSON.parse((await http('/debug/state')).body) as typeof state;
    assert.deepEqual(after.families.IPv4!.services['default/web:http/TCP']!.clusterEndpoints, ['198.18.100.3:8080']);
    assert.deepEqual(after.families.IPv4!.services['default/dns:dns/UDP']!.clusterEndpoints, ['198.18.100.4:5353']);

    child.kill('SIGTERM');
    const r = await done;
    assert.equal(r.code, 0, `exit code after SIGTERM; stderr:\n${r.stderr}`);
    assert.match(r.stderr, /Received signal, shutting down/);
    assert.match(await table(), /198\.19\.0\.53 \. udp \. 53/, 'rules are left in place after exit');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await done;
  }
});
