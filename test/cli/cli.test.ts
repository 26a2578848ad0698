// The command line as users see it: --version, --help, errors (one line, exit 1), --write-config-to,
// --print-rules (no kernel access), --cleanup (inside a throwaway namespace).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { parse as parseYAML } from 'yaml';
import { rmDir, serviceObject, sliceObject, tempDir, writeManifest } from '../runtime/fixtures.js';
import { runProxy } from '../support/proxy-process.js';

const exec = promisify(execFile);
const isRoot = process.getuid?.() === 0;
let dir = '';

before(async () => {
  dir = await tempDir('kpx-cli-');
});
after(async () => {
  await rmDir(dir);
});

test('--version prints the version and exits 0', async () => {
  const r = await runProxy(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^kube-proxy-ts v\d+\.\d+\.\d+/);
});

test('--help prints usage with upstream flags and exits 0', async () => {
  const r = await runProxy(['--help']);
  assert.equal(r.code, 0);
  for (const f of ['--proxy-mode', '--hostname-override', '--kubeconfig', '--manifests', '--cleanup']) assert.ok(r.stdout.includes(f), f);
});

test('an unknown flag: exit 1 with one line naming it', async () => {
  const r = await runProxy(['--no-such-flag=1', '--proxy-mode=nftables']);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^Error: .*--no-such-flag/);
});

test('an invalid flag value: exit 1 with one line naming the flag and value', async () => {
  const r = await runProxy(['--proxy-mode=userspace']);
  assert.equal(r.code, 1);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^Error: .*"userspace".*--proxy-mode/);
});

test('an unknown or locked feature gate: exit 1 with upstream\'s message', async () => {
  const unknown = await runProxy(['--feature-gates=NoSuchGate=true', '--proxy-mode=nftables']);
  assert.equal(unknown.code, 1);
  assert.deepEqual(unknown.stderr.split('\n').filter(Boolean), ['Error: failed complete: unrecognized feature gate: NoSuchGate']);
  const locked = await runProxy(['--feature-gates=PreferSameTrafficDistribution=false']);
  assert.equal(locked.code, 1);
  assert.deepEqual(locked.stderr.split('\n').filter(Boolean), [
    'Error: failed complete: cannot set feature gate PreferSameTrafficDistribution to false, feature is locked to true',
  ]);
});

test('a bad config file: exit 1 with one line', async () => {
  const file = path.join(dir, 'bad.yaml');
  await fsp.writeFile(file, 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: bogus\n');
  const r = await runProxy(['--config', file]);
  assert.equal(r.code, 1);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^Error: .*bogus/);
});

test('--write-config-to writes the effective configuration and exits 0', async () => {
  const file = path.join(dir, 'out.yaml');
  const r = await runProxy(['--proxy-mode=nftables', '--cluster-cidr=198.18.128.0/17', '--write-config-to', file]);
  assert.equal(r.code, 0, r.stderr);
  const cfg = parseYAML(await fsp.readFile(file, 'utf8')) as Record<string, unknown>;
  assert.equal(cfg.apiVersion, 'kubeproxy.config.k8s.io/v1alpha1');
  assert.equal(cfg.kind, 'KubeProxyConfiguration');
  assert.equal(cfg.mode, 'nftables');
  assert.equal(cfg.clusterCIDR, '198.18.128.0/17');
});

test('--print-rules --manifests prints the nftables ruleset for the services, touching nothing', async () => {
  const m = path.join(dir, 'manifests');
  await fsp.mkdir(m);
  await writeManifest(m, 'web.yaml.json', [
    serviceObject({ name: 'web', clusterIP: '198.19.0.10', port: 80, portName: 'http', type: 'NodePort', nodePort: 30080 }),
    sliceObject('web', 8080, [{ ip: '198.18.100.2' }, { ip: '198.18.100.3' }], { portName: 'http' }),
  ]);
  const r = await runProxy(['--print-rules', '--manifests', m, '--proxy-mode', 'nftables', '--hostname-override', 'node-a']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^# nftables IPv4$/m);
  assert.match(r.stdout, /^# nftables IPv6$/m);
  assert.match(r.stdout, /add table ip kube-proxy/);
  assert.match(r.stdout, /198\.19\.0\.10 \. tcp \. 80/);
  assert.match(r.stdout, /198\.18\.100\.3 \. 8080/);
});

test('--cleanup removes what our modes created and exits 0', { skip: !isRoot && 'needs root (network namespaces)' }, async () => {
  const ns = `kpx-rt-${randomBytes(4).toString('hex')}`;
  await exec('ip', ['netns', 'add', ns]);
  try {
    const inNs = (cmd: string, args: string[]) => exec('ip', ['netns', 'exec', ns, cmd, ...args], { timeout: 20_000 });
    await inNs('nft', ['add', 'table', 'ip', 'kube-proxy']);
    await inNs('nft', ['add', 'table', 'ip', 'unrelated']);
    await inNs('iptables', ['-t', 'nat', '-N', 'KUBE-SERVICES']);
    await inNs('iptables', ['-t', 'nat', '-A', 'PREROUTING', '-j', 'KUBE-SERVICES', '-m', 'comment', '--comment', 'kubernetes service portals']);
    const r = await runProxy(['--cleanup'], { prefix: ['ip', 'netns', 'exec', ns] });
    assert.equal(r.code, 0, r.stderr);
    const tables = (await inNs('nft', ['list', 'tables'])).stdout;
    assert.doesNotMatch(tables, /table ip kube-proxy/);
    assert.match(tables, /table ip unrelated/, 'other tables are left alone');
    const nat = (await inNs('iptables-save', ['-t', 'nat'])).stdout;
    assert.doesNotMatch(nat, /KUBE-SERVICES/);
  } finally {
    await exec('ip', ['netns', 'del', ns]).catch(() => undefined);
  }
});
