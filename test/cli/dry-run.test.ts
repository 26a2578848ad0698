// --dry-run against a real kernel (nftables, iptables) in a throwaway namespace: after a sync it
// reports no difference (exit 0); after one manual change (a deleted rule, a deleted map element)
// it reports exactly that change (exit 2). IPVS: test/guest/dry-run.test.ts (guest).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DryRunWorld, PODS, VIP, diffLines } from './dry-run-world.js';

const isRoot = process.getuid?.() === 0;

describe('--dry-run, nftables', { skip: !isRoot && 'needs root (network namespaces)' }, () => {
  let w: DryRunWorld;
  let proxyLog = '';
  before(async () => {
    w = await DryRunWorld.create('nftables');
    proxyLog = await w.programOnce(async () => (await w.sh('nft', ['list', 'map', 'ip', 'kube-proxy', 'service-ips'])).includes(VIP));
  });

  test('the proxy logged its first sync per family at the default verbosity, with duration and counts', () => {
    const first = proxyLog.split('\n').filter((l) => l.includes('"First sync of rules done"'));
    assert.equal(first.length, 2, proxyLog);
    assert.ok(first.every((l) => l.startsWith('I') && /durationMs=\d+ /.test(l)), first.join('\n'));
    assert.ok(first.some((l) => /ipFamily="IPv4".*servicePorts=1 endpoints=2/.test(l)), first.join('\n'));
    // The per-sync line is -v=2 detail, as upstream's "SyncProxyRules complete": absent at the default.
    assert.doesNotMatch(proxyLog, /"Synced rules"/);
  });
  after(async () => {
    if (w) await w.close();
  });

  test('after a sync: no difference, exit 0', async () => {
    const r = await w.dryRun();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^# nftables IPv4: no difference$/m);
    assert.match(r.stdout, /^# nftables IPv6: no difference$/m);
  });

  test('one map element deleted: exactly that element, exit 2', async () => {
    await w.sh('nft', ['delete', 'element', 'ip', 'kube-proxy', 'service-ips', `{ ${VIP} . tcp . 80 }`]);
    const r = await w.dryRun();
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.deepEqual(diffLines(r.stdout), [`@@ map service-ips|+ ${VIP} . tcp . 80 comment "default/web:http" : goto dnat-tcp-2`]);
    assert.match(r.stdout, /^# nftables IPv4: 1 difference\(s\)$/m);
  });

  test('one rule deleted too: both changes, nothing else', async () => {
    const listing = await w.sh('nft', ['-a', 'list', 'chain', 'ip', 'kube-proxy', 'np-dnat-tcp-2']);
    const handle = /jump mark-for-masquerade # handle (\d+)/.exec(listing)?.[1];
    assert.ok(handle, listing);
    await w.sh('nft', ['delete', 'rule', 'ip', 'kube-proxy', 'np-dnat-tcp-2', 'handle', handle]);
    const r = await w.dryRun();
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.deepEqual(diffLines(r.stdout), ['@@ chain np-dnat-tcp-2|+ jump mark-for-masquerade', `@@ map service-ips|+ ${VIP} . tcp . 80 comment "default/web:http" : goto dnat-tcp-2`]);
  });

  test('changes nothing: the kernel still lacks what was deleted', async () => {
    assert.doesNotMatch(await w.sh('nft', ['list', 'map', 'ip', 'kube-proxy', 'service-ips']), new RegExp(VIP.replace(/\./g, '\\.')));
  });
});

describe('--dry-run, iptables', { skip: !isRoot && 'needs root (network namespaces)' }, () => {
  let w: DryRunWorld;
  before(async () => {
    w = await DryRunWorld.create('iptables');
    await w.programOnce(async () => (await w.sh('iptables-save', ['-t', 'nat'])).includes(`${PODS[1]}:8080`));
  });
  after(async () => {
    if (w) await w.close();
  });

  test('after a sync: no difference, exit 0', async () => {
    const r = await w.dryRun();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^# iptables IPv4: no difference$/m);
    assert.match(r.stdout, /^# iptables IPv6: no difference$/m);
  });

  test('one rule deleted: exactly that rule, exit 2', async () => {
    const rules = (await w.sh('iptables', ['-t', 'nat', '-S'])).split('\n');
    const rule = rules.find((l) => l.startsWith('-A KUBE-SVC-') && l.includes(`-> ${PODS[1]}:8080`));
    assert.ok(rule, rules.join('\n'));
    const chain = rule.split(' ')[1]!;
    // The last rule of the service chain (no probability match): delete it by number.
    const n = rules.filter((l) => l.startsWith(`-A ${chain} `)).length;
    await w.sh('iptables', ['-t', 'nat', '-D', chain, String(n)]);
    const r = await w.dryRun();
    assert.equal(r.code, 2, r.stdout + r.stderr);
    const lines = diffLines(r.stdout);
    assert.equal(lines.length, 1, r.stdout);
    assert.match(lines[0]!, new RegExp(`^@@ nat chain ${chain}\\|\\+ .*-> ${PODS[1].replace(/\./g, '\\.')}:8080.* -j KUBE-SEP-`));
  });

  test('a deleted jump from a built-in chain is reported', async () => {
    await w.sh('iptables', ['-t', 'nat', '-D', 'PREROUTING', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES']);
    const r = await w.dryRun();
    assert.equal(r.code, 2, r.stdout + r.stderr);
    // Our only rule in PREROUTING: the group as a whole is missing.
    assert.ok(diffLines(r.stdout).includes('@@ nat chain PREROUTING (added)|+ -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'), r.stdout);
    assert.equal(diffLines(r.stdout).length, 2, 'the earlier deleted rule and this jump');
  });
});
