// Start-up rules, in a throwaway namespace: a restarted proxy that cannot reach its source yet keeps
// serving with the rules it left — neither its own table nor another mode's leftovers are removed
// before its first sync (no window without rules); the leftovers go once it has programmed.
// Also: dual-stack rules.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { collect, startProxy } from '../support/proxy-process.js';
import { eventually, rmDir, serviceObject, sliceObject, tempDir, writeManifest } from './fixtures.js';

const exec = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const ns = `kpx-rt-${randomBytes(4).toString('hex')}`;
let dir = '';

async function inNs(cmd: string, args: string[]): Promise<string> {
  return (await exec('ip', ['netns', 'exec', ns, cmd, ...args], { timeout: 20_000 })).stdout;
}

before(async () => {
  if (!isRoot) return;
  await exec('ip', ['netns', 'add', ns]);
  await exec('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  dir = await tempDir('kpx-rt-startup-');
});
after(async () => {
  if (!isRoot) return;
  await exec('ip', ['netns', 'del', ns]).catch(() => undefined);
  if (dir) await rmDir(dir);
});

test('programs both families; a restart without a reachable source keeps every rule; the first sync removes iptables leftovers', { skip: !isRoot && 'needs root', timeout: 90_000 }, async () => {
  await writeManifest(dir, 'svc.json', [
    serviceObject({ name: 'web4', clusterIP: '198.19.0.10', port: 80 }),
    sliceObject('web4', 8080, [{ ip: '198.18.100.2' }]),
    serviceObject({ name: 'web6', clusterIP: '2001:db8:ffff::10', port: 80 }),
    sliceObject('web6', 8080, [{ ip: '2001:db8:100::2' }]),
  ]);
  const first = startProxy(['--manifests', dir, '--proxy-mode', 'nftables', '--hostname-override', 'node-a'], { prefix: ['ip', 'netns', 'exec', ns] });
  const firstDone = collect(first, 60_000);
  try {
    await eventually(async () => (await inNs('nft', ['list', 'table', 'ip6', 'kube-proxy'])).includes('2001:db8:ffff::10 . tcp . 80'), 'IPv6 service');
    const v4 = await inNs('nft', ['list', 'table', 'ip', 'kube-proxy']);
    assert.match(v4, /198\.19\.0\.10 \. tcp \. 80/);
    assert.doesNotMatch(v4, /2001:db8/, 'IPv6 service only in the ip6 table');
    first.kill('SIGTERM');
    assert.equal((await firstDone).code, 0);
  } finally {
    if (first.exitCode === null && first.signalCode === null) first.kill('SIGKILL');
    await firstDone;
  }

  // Leftovers of another mode, then a restart whose API server never answers.
  await inNs('iptables', ['-t', 'nat', '-N', 'KUBE-SERVICES']);
  await inNs('iptables', ['-t', 'nat', '-A', 'OUTPUT', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES']);
  const second = startProxy(['--master', 'http://127.0.0.1:9', '--proxy-mode', 'nftables', '--hostname-override', 'node-a'], {
    prefix: ['ip', 'netns', 'exec', ns],
  });
  const secondDone = collect(second, 60_000);
  try {
    // Well past start-up: the servers are up, so every start-up step has run.
    await eventually(async () => (await inNs('curl', ['-s', '-m', '2', 'http://127.0.0.1:10249/proxyMode'])) === 'nftables', 'metrics server up');
    await new Promise((r) => setTimeout(r, 1500));
    assert.match(await inNs('nft', ['list', 'table', 'ip', 'kube-proxy']), /198\.19\.0\.10 \. tcp \. 80/, 'own rules kept until the first sync');
    assert.match(await inNs('nft', ['list', 'table', 'ip6', 'kube-proxy']), /2001:db8:ffff::10 \. tcp \. 80/);
    const state = JSON.parse(await inNs('curl', ['-s', '-m', '2', 'http://127.0.0.1:10249/debug/state'])) as { initialized: boolean };
    assert.equal(state.initialized, false);
    assert.match(await inNs('iptables-save', ['-t', 'nat']), /KUBE-SERVICES/, 'other mode kept until our first sync');
    second.kill('SIGTERM');
    const r = await secondDone;
    assert.equal(r.code, 0, r.stderr);
  } finally {
    if (second.exitCode === null && second.signalCode === null) second.kill('SIGKILL');
    await secondDone;
  }

  const third = startProxy(['--manifests', dir, '--proxy-mode', 'nftables', '--hostname-override', 'node-a'], { prefix: ['ip', 'netns', 'exec', ns] });
  const thirdDone = collect(third, 60_000);
  try {
    await eventually(async () => !(await inNs('iptables-save', ['-t', 'nat'])).includes('KUBE-SERVICES'), 'iptables leftovers removed after the first sync');
    assert.match(await inNs('nft', ['list', 'table', 'ip', 'kube-proxy']), /198\.19\.0\.10 \. tcp \. 80/);
    third.kill('SIGTERM');
    assert.equal((await thirdDone).code, 0);
  } finally {
    if (third.exitCode === null && third.signalCode === null) third.kill('SIGKILL');
    await thirdDone;
  }
});
