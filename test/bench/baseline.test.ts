// The benchmark's upstream-nftables baseline generator (golden-ish, no kernel) and the
// benchmark's command line (parsing only; `--help` and a bad flag through the real entry point).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from '../../bench/args.js';
import { renderUpstreamNftFull, renderUpstreamNftPartial, upstreamServiceChain } from '../../bench/baselines/upstream-nft.js';
import type { ProxyState, ServicePort } from '../../src/model/types.js';
import { ep, sp } from '../nftables/fixtures.js';

function twoServices(): ProxyState {
  const s1 = sp('ns1', 'svc1', { portName: 'p80', clusterIP: '198.19.0.41', port: 80, endpoints: [ep('198.18.180.1', { port: 80 }), ep('198.18.180.2', { port: 80 })] });
  const s2 = sp('ns2', 'svc2', { portName: 'p80', clusterIP: '198.19.0.42', port: 80, endpoints: [] });
  const services = new Map<string, ServicePort>([[s1.key, s1], [s2.key, s2]]);
  return {
    family: 'IPv4',
    services,
    node: { name: 'node', ips: ['198.18.0.2'], labels: {} },
    nodePortAddresses: { matchAll: true },
    serviceCIDRs: [],
    generation: 1,
  };
}

test('upstream nftables baseline: chain names per upstream hashAndTruncate, numgen vmap per service', () => {
  const st = twoServices();
  const script = renderUpstreamNftFull(st, { podCIDR: '198.18.128.0/17' });
  const s1 = st.services.get('ns1/svc1:p80/TCP')!;
  assert.equal(upstreamServiceChain(s1), 'service-ULMVA6XW-ns1/svc1/tcp/p80');
  assert.match(script, /^add table ip kube-proxy \{ comment "rules for kube-proxy" ; \}$/m);
  assert.match(script, /^add chain ip kube-proxy service-ULMVA6XW-ns1\/svc1\/tcp\/p80$/m);
  assert.match(script, /^add chain ip kube-proxy endpoint-H6C3XLIP-ns1\/svc1\/tcp\/p80__198\.18\.180\.1\/80$/m);
  assert.match(
    script,
    /^add rule ip kube-proxy service-ULMVA6XW-ns1\/svc1\/tcp\/p80 numgen random mod 2 vmap \{ 0 : goto endpoint-H6C3XLIP-ns1\/svc1\/tcp\/p80__198\.18\.180\.1\/80 , 1 : goto endpoint-\S+__198\.18\.180\.2\/80 \}$/m,
  );
  assert.match(script, /^add rule ip kube-proxy service-ULMVA6XW-ns1\/svc1\/tcp\/p80 ip daddr 198\.19\.0\.41 tcp dport 80 ip saddr != 198\.18\.128\.0\/17 jump mark-for-masquerade$/m);
  assert.match(script, /^add rule ip kube-proxy endpoint-H6C3XLIP-ns1\/svc1\/tcp\/p80__198\.18\.180\.1\/80 meta l4proto tcp dnat to 198\.18\.180\.1:80$/m);
  assert.match(script, /^add element ip kube-proxy service-ips \{ 198\.19\.0\.41 \. tcp \. 80 : goto service-ULMVA6XW-ns1\/svc1\/tcp\/p80 \}$/m);
  // No endpoints: no chains, a reject verdict instead.
  assert.match(script, /^add element ip kube-proxy no-endpoint-services \{ 198\.19\.0\.42 \. tcp \. 80 : goto reject-chain \}$/m);
  assert.doesNotMatch(script, /ns2\/svc2\/tcp\/p80 numgen/);
  assert.equal(script.match(/numgen random/g)?.length, 1);
});

test('upstream nftables baseline: partial sync rewrites only the changed service and flushes stale chains', () => {
  const st = twoServices();
  const s1 = st.services.get('ns1/svc1:p80/TCP')!;
  const changed = sp('ns1', 'svc1', { portName: 'p80', clusterIP: '198.19.0.41', port: 80, endpoints: [ep('198.18.180.2', { port: 80 })] });
  const next: ProxyState = { ...st, services: new Map([...st.services, [s1.key, changed]]), generation: 2 };
  const p = renderUpstreamNftPartial(st, next, { podCIDR: '198.18.128.0/17' });
  assert.match(p.script, /^flush chain ip kube-proxy service-ULMVA6XW-ns1\/svc1\/tcp\/p80$/m);
  assert.match(p.script, /numgen random mod 1 vmap/);
  assert.deepEqual(p.stale, ['endpoint-H6C3XLIP-ns1/svc1/tcp/p80__198.18.180.1/80']);
  assert.match(p.script, /^flush chain ip kube-proxy endpoint-H6C3XLIP-ns1\/svc1\/tcp\/p80__198\.18\.180\.1\/80$/m);
  assert.doesNotMatch(p.script, /svc2/);
  assert.equal(renderUpstreamNftPartial(next, next, { podCIDR: '' }).script, '');
});

test('bench arguments: --quick, --only, --out, errors', () => {
  const q = parseArgs(['--quick']);
  assert.equal(q.quick, true);
  assert.deepEqual(q.sizes, [100, 1000]);
  assert.ok(q.changes >= 10);
  assert.equal(q.docs, false);
  assert.ok(q.budgetMs <= 2 * 60_000); // + the build: make bench-quick within 3 minutes
  assert.deepEqual(q.e2e.sizes, [1000]);
  assert.ok(q.e2e.samples >= 3);
  const full = parseArgs([]);
  assert.deepEqual(full.sizes, [1000, 5000, 10000]);
  assert.ok(full.changes >= 30);
  assert.equal(full.docs, true);
  assert.deepEqual(full.e2e.sizes, [1000, 10000, 50000]);
  assert.ok(full.e2e.changes >= 20 && full.e2e.samples >= 3 && full.e2e.churnChanges === 1000);
  // A p99 of fewer than 100 changes would be their slowest.
  assert.ok(full.e2e.changesAt10k >= 100);
  assert.deepEqual(full.e2e.manifestsSizes, [10000]);
  assert.deepEqual(parseArgs(['--e2e-sizes', '2000', '--samples', '5']).e2e.sizes, [2000]);
  assert.equal(parseArgs(['--samples', '5']).e2e.samples, 5);
  const o = parseArgs(['--only', 'nftables,upstream-nft,sync', '--out=/tmp/x', '--sizes', '100,20000', '--limit', '5']);
  assert.deepEqual(o.modes, ['nftables', 'upstream-nft']);
  assert.deepEqual(o.sections, ['sync']);
  assert.equal(o.out, '/tmp/x');
  assert.deepEqual(o.sizes, [100, 20000]);
  assert.equal(o.limitMs, 5000);
  assert.throws(() => parseArgs(['--only', 'ipvs-magic']), /unknown name/);
  assert.throws(() => parseArgs(['--bogus']), /unknown argument/);
  assert.throws(() => parseArgs(['--sizes', '0']), /positive integers/);
  assert.throws(() => parseArgs(['--out']), /needs a value/);
});

test('bench entry point: --help exits 0, a bad flag exits 2 (no kernel touched)', () => {
  const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
  const entry = fileURLToPath(new URL(`../../bench/run.${ext}`, import.meta.url));
  const help = spawnSync(process.execPath, [...process.execArgv, entry, '--help'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /--quick/);
  const bad = spawnSync(process.execPath, [...process.execArgv, entry, '--quick', '--nope'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown argument "--nope"/);
});
