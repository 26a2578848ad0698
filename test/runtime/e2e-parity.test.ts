// Upstream-parity start-up and life-cycle behaviour of the real process, each in its own throwaway
// network namespace: IPv6 unusable -> single-stack with a healthy /healthz; the --config file
// changing -> exit 1; NodeCIDR podCIDRs changing -> exit 1.

import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { collect, startProxy, type RunResult } from '../support/proxy-process.js';
import { eventually, nodeObject, rmDir, serviceObject, sliceObject, tempDir, writeManifest } from './fixtures.js';

const exec = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const skip = !isRoot && 'needs root (network namespaces)';
const run = randomBytes(3).toString('hex');
const namespaces: string[] = [];
const dirs: string[] = [];

after(async () => {
  for (const ns of namespaces) await exec('ip', ['netns', 'del', ns]).catch(() => undefined);
  for (const d of dirs) await rmDir(d);
});

async function newNs(role: string): Promise<{ ns: string; inNs: (cmd: string, args: string[]) => Promise<string>; dir: string }> {
  const ns = `kpx-par-${run}-${role}`;
  await exec('ip', ['netns', 'add', ns]);
  namespaces.push(ns);
  await exec('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  const dir = await tempDir('kpx-parity-');
  dirs.push(dir);
  const inNs = async (cmd: string, args: string[]): Promise<string> => (await exec('ip', ['netns', 'exec', ns, cmd, ...args], { timeout: 20_000 })).stdout;
  return { ns, inNs, dir };
}

async function http(inNs: (c: string, a: string[]) => Promise<string>, url: string): Promise<{ status: number; body: string }> {
  const out = await inNs('curl', ['-s', '-m', '5', '-w', '\n%{http_code}', url]);
  const i = out.lastIndexOf('\n');
  return { status: Number(out.slice(i + 1)), body: out.slice(0, i) };
}

async function stop(child: ChildProcess, done: Promise<RunResult>): Promise<RunResult> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  return done;
}

test('IPv6 nftables unusable: single-stack IPv4 with one log line, /healthz stays 200 past 2 x syncPeriod', { skip, timeout: 120_000 }, async () => {
  const { ns, inNs, dir } = await newNs('v6');
  // A kernel without usable ip6 nftables (ipv6.disable=1, no ip6 NAT): every nft command naming
  // the ip6 family fails, on the command line or in a ruleset read from stdin.
  const wrapper = path.join(dir, 'nft-no-ip6');
  await fsp.writeFile(
    wrapper,
    `#!/bin/sh
fail() { echo "Error: Could not process rule: Address family not supported by protocol" >&2; exit 1; }
case " $* " in *" ip6 "*) fail ;; esac
if [ "$1" = "-f" ] && [ "$2" = "-" ]; then
  t=$(mktemp) || exit 1
  cat > "$t"
  if grep -q "table ip6 " "$t"; then rm -f "$t"; fail; fi
  nft "$@" < "$t"; rc=$?; rm -f "$t"; exit $rc
fi
exec nft "$@"
`,
    { mode: 0o755 },
  );
  const manifests = path.join(dir, 'm');
  await fsp.mkdir(manifests);
  await writeManifest(manifests, 'svc.json', [
    serviceObject({ name: 'web4', clusterIP: '198.19.0.10', port: 80 }),
    sliceObject('web4', 8080, [{ ip: '198.18.100.2' }]),
    serviceObject({ name: 'web6', clusterIP: '2001:db8:19::10', port: 80 }),
    sliceObject('web6', 8080, [{ ip: '2001:db8:100::2' }]),
  ]);
  const child = startProxy(
    ['--manifests', manifests, '--proxy-mode', 'nftables', '--hostname-override', 'node-a', '--iptables-sync-period=1s', '--iptables-min-sync-period=0s'],
    { prefix: ['ip', 'netns', 'exec', ns], env: { ...process.env, KPX_TOOL_NFT: wrapper } },
  );
  const done = collect(child, 110_000);
  try {
    await eventually(async () => (await inNs('nft', ['list', 'table', 'ip', 'kube-proxy'])).includes('198.19.0.10 . tcp . 80'), 'IPv4 rules', 45_000);
    // healthTimeout is 2 x syncPeriod = 2 s: wait well past it.
    await new Promise((r) => setTimeout(r, 4000));
    const hz = await http(inNs, 'http://127.0.0.1:10256/healthz');
    assert.equal(hz.status, 200, hz.body);
    assert.doesNotMatch(hz.body, /IPv6/, 'no IPv6 status: the family is not run');
    const state = JSON.parse((await http(inNs, 'http://127.0.0.1:10249/debug/state')).body) as { families: Record<string, unknown> };
    assert.deepEqual(Object.keys(state.families), ['IPv4']);
  } finally {
    const r = await stop(child, done);
    const log = r.stdout + r.stderr;
    assert.match(log, /No nftables support for family.*IPv6/);
    assert.match(log, /kube-proxy running in single-stack mode/);
    assert.equal(r.code, 0, log.slice(-2000));
  }
});

test('the --config file changing makes the proxy exit 1 (the DaemonSet restarts it with the new config)', { skip, timeout: 120_000 }, async () => {
  const { ns, inNs, dir } = await newNs('cfg');
  const cfg = path.join(dir, 'kube-proxy.yaml');
  const text = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: nftables\nhostnameOverride: node-a\n';
  await fsp.writeFile(cfg, text);
  const manifests = path.join(dir, 'm');
  await fsp.mkdir(manifests);
  const child = startProxy(['--config', cfg, '--manifests', manifests], { prefix: ['ip', 'netns', 'exec', ns] });
  const done = collect(child, 110_000);
  try {
    await eventually(async () => (await http(inNs, 'http://127.0.0.1:10249/proxyMode')).body === 'nftables', 'metrics server up', 45_000);
    // Rewriting identical bytes is not a change.
    await fsp.writeFile(cfg, text);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(child.exitCode, null, 'still running after a no-op write');
    await fsp.writeFile(cfg, text + 'clusterCIDR: 198.18.100.0/23\n');
    const r = await Promise.race([done, new Promise<null>((res) => setTimeout(() => res(null), 30_000))]);
    assert.ok(r, 'exited after the change');
    assert.equal(r.code, 1);
    assert.match(r.stdout + r.stderr, /content of the proxy server's configuration file was updated/);
  } finally {
    await stop(child, done);
  }
});

test('detect-local-mode NodeCIDR: waits for the podCIDR, then exits 1 when it changes', { skip, timeout: 120_000 }, async () => {
  const { ns, inNs, dir } = await newNs('cidr');
  const node = (podCIDR: string): Record<string, unknown> => {
    const n = nodeObject('node-a', ['198.18.0.1']);
    n.spec = { podCIDR, podCIDRs: [podCIDR] };
    return n;
  };
  await writeManifest(dir, 'svc.json', [serviceObject({ name: 'web', clusterIP: '198.19.0.10', port: 80 }), sliceObject('web', 8080, [{ ip: '198.18.100.2' }])]);
  await writeManifest(dir, 'node.json', [nodeObject('node-a', ['198.18.0.1'])]);
  const child = startProxy(['--manifests', dir, '--proxy-mode', 'nftables', '--hostname-override', 'node-a', '--detect-local-mode', 'NodeCIDR'], {
    prefix: ['ip', 'netns', 'exec', ns],
  });
  const done = collect(child, 110_000);
  try {
    await eventually(async () => (await http(inNs, 'http://127.0.0.1:10249/proxyMode')).body === 'nftables', 'metrics server up', 45_000);
    await new Promise((r) => setTimeout(r, 1000));
    const waiting = JSON.parse((await http(inNs, 'http://127.0.0.1:10249/debug/state')).body) as { initialized: boolean };
    assert.equal(waiting.initialized, false, 'nothing programmed before the node has a podCIDR');
    await writeManifest(dir, 'node.json', [node('198.18.100.0/24')]);
    await eventually(async () => (await inNs('nft', ['list', 'table', 'ip', 'kube-proxy'])).includes('198.18.100.0/24'), 'rules with the node podCIDR as local detector', 45_000);
    assert.equal(child.exitCode, null);
    await writeManifest(dir, 'node.json', [node('198.18.101.0/24')]);
    const r = await Promise.race([done, new Promise<null>((res) => setTimeout(() => res(null), 30_000))]);
    assert.ok(r, 'exited after the podCIDR change');
    assert.equal(r.code, 1);
    assert.match(r.stdout + r.stderr, /PodCIDRs changed for the node/);
  } finally {
    await stop(child, done);
  }
});
