import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plan, planFull } from '../../src/dataplane/nftables/index.js';
import { BlockAllocator } from '../../src/dataplane/nftables/alloc.js';
import { assignSlots } from '../../src/dataplane/nftables/service.js';
import type { ServicePort } from '../../src/model/types.js';
import { cases } from './cases.js';
import { assertGolden } from './golden.js';
import { config, ep, sp, state } from './fixtures.js';

for (const c of cases) {
  test(`golden full transaction: ${c.name}`, () => {
    assertGolden(`${c.name}.nft`, planFull(c.state, c.cfg).script);
  });
}

function manyServices(n: number): ServicePort[] {
  const out: ServicePort[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      sp('ns', `s${i}`, {
        clusterIP: `198.19.${i >> 8}.${i & 255}`,
        endpoints: [ep(`198.18.${100 + (i >> 8)}.${i & 255}`), ep(`198.18.${110 + (i >> 8)}.${i & 255}`)],
      }),
    );
  }
  return out;
}

/** Lines that are not about `needle` (a service name fragment) or the endpoints/hairpin maps. */
function foreign(script: string, allowed: RegExp): string[] {
  return script
    .trim()
    .split('\n')
    .filter((l) => l !== '' && !allowed.test(l));
}

test('no change: empty transaction', () => {
  const svcs = manyServices(20);
  const p0 = planFull(state(svcs), config());
  const p1 = plan(p0.next, state(svcs, { generation: 2 }), config());
  assert.equal(p1.full, false);
  assert.equal(p1.script, '');
  assert.equal(p1.ops, 0);
});

test('replacing one endpoint of one service: two element operations, no chain rewrite', () => {
  const svcs = manyServices(50);
  const p0 = planFull(state(svcs), config());
  const changed = sp('ns', 's7', { clusterIP: '198.19.0.7', endpoints: [ep('198.18.100.7'), ep('198.18.120.7')] });
  const next = svcs.map((s) => (s.key === changed.key ? changed : s));
  const p1 = plan(p0.next, state(next), config());
  assert.equal(p1.full, false);
  assert.deepEqual(p1.changed, ['ns/s7:p/TCP']);
  const lines = p1.script.trim().split('\n');
  // The old endpoint 198.18.110.7 sat at key base+1; the new one takes its slot.
  const base = Number(/ns\/s7\/tcp\/p meta l4proto tcp dnat ip to numgen random mod 2 offset (\d+) map @endpoints-tcp-0/.exec(p0.script)?.[1]);
  assert.equal(base, 94); // 47 services sort before ns/s7, each with a block of 2
  assert.deepEqual(lines, [
    `delete element ip kube-proxy endpoints-tcp-0 { ${base + 1} }`,
    'delete element ip kube-proxy hairpin { 198.18.110.7 . 198.18.110.7 }',
    `add element ip kube-proxy endpoints-tcp-0 { ${base + 1} : 198.18.120.7 . 8080 }`,
    'add element ip kube-proxy hairpin { 198.18.120.7 . 198.18.120.7 }',
  ]);
  assertGolden('incremental-endpoint-replace.nft', p1.script);
});

test('adding an endpoint beyond the block capacity moves only that service', () => {
  const svcs = manyServices(10);
  const p0 = planFull(state(svcs), config());
  const changed = sp('ns', 's3', {
    clusterIP: '198.19.0.3',
    endpoints: [ep('198.18.100.3'), ep('198.18.110.3'), ep('198.18.120.3')],
  });
  const p1 = plan(p0.next, state(svcs.map((s) => (s.key === changed.key ? changed : s))), config());
  const other = foreign(p1.script, /ns\/s3\/|endpoints-tcp-0 \{|hairpin \{/);
  assert.deepEqual(other, []);
  assert.match(p1.script, /flush chain ip kube-proxy service-[A-Z2-7]{8}-ns\/s3\/tcp\/p\n/);
  // A new block of capacity 4 after the 10 existing blocks of 2.
  assert.match(p1.script, /numgen random mod 3 offset 20 map @endpoints-tcp-0/);
  assert.match(p1.script, /delete element ip kube-proxy endpoints-tcp-0 \{ 6, 7 \}/);
  assert.match(p1.script, /add element ip kube-proxy endpoints-tcp-0 \{ 20 : 198.18.100.3 . 8080, 21 : 198.18.110.3 . 8080, 22 : 198.18.120.3 . 8080 \}/);
});

test('adding and removing services touches only those services', () => {
  const svcs = manyServices(10);
  const p0 = planFull(state(svcs), config());
  const added = sp('ns', 'new', { clusterIP: '198.19.9.9', nodePort: 30099, endpoints: [ep('198.18.100.200')] });
  const next = [...svcs.filter((s) => s.key !== 'ns/s4:p/TCP'), added];
  const p1 = plan(p0.next, state(next), config());
  assert.deepEqual([...p1.changed].sort(), ['ns/new:p/TCP', 'ns/s4:p/TCP']);
  assert.deepEqual(foreign(p1.script, /ns\/s4\/|ns\/new\/|198\.19\.0\.4\b|198\.19\.9\.9|endpoints-tcp-0 \{|hairpin \{/), []);
  const lines = p1.script.trim().split('\n');
  // References go before the chain deletions.
  const lastElementDelete = lines.map((l) => l.startsWith('delete element')).lastIndexOf(true);
  const firstChainDelete = lines.findIndex((l) => l.startsWith('delete chain'));
  assert.ok(firstChainDelete > lastElementDelete);
  assert.ok(lines.some((l) => l === 'delete element ip kube-proxy cluster-ips { 198.19.0.4 }'));
  assert.ok(lines.some((l) => /^add element ip kube-proxy service-nodeports \{ tcp \. 30099 : goto external-/.test(l)));
  // The freed block [8,10) is reused by the next allocation of that capacity, not in this plan.
  assert.match(p1.script, /offset 20 map @endpoints-tcp-0/);
  const p2 = plan(p1.next, state([...next, sp('ns', 'newer', { clusterIP: '198.19.9.10', endpoints: [ep('198.18.1.1'), ep('198.18.1.2')] })]), config());
  assert.match(p2.script, /offset 8 map @endpoints-tcp-0/);
});

test('shared elements survive while another owner claims them', () => {
  const a = sp('ns', 'a', { portName: 'x', endpoints: [ep('198.18.100.2')] });
  const b = sp('ns', 'a', { portName: 'y', port: 81, endpoints: [ep('198.18.100.2')] });
  const p0 = planFull(state([a, b]), config());
  assert.match(p0.script, /add element ip kube-proxy cluster-ips \{ 198\.19\.0\.1 \}/);
  const p1 = plan(p0.next, state([a]), config());
  assert.doesNotMatch(p1.script, /cluster-ips|hairpin/);
  const p2 = plan(p1.next, state([]), config());
  assert.match(p2.script, /delete element ip kube-proxy cluster-ips \{ 198\.19\.0\.1 \}/);
  assert.match(p2.script, /delete element ip kube-proxy hairpin \{ 198\.18\.100\.2 \. 198\.18\.100\.2 \}/);
});

test('hairpin is counted per IP: one element while any port reaches the IP, also from the same pod twice', () => {
  // One pod (198.18.100.2) serving two ports of one service and a port of another.
  const a = sp('ns', 'a', { portName: 'x', endpoints: [ep('198.18.100.2', { port: 80 }), ep('198.18.100.2', { port: 81 })] });
  const b = sp('ns', 'b', { clusterIP: '198.19.0.2', endpoints: [ep('198.18.100.2'), ep('198.18.100.3')] });
  const p0 = planFull(state([a, b]), config());
  assert.match(p0.script, /add element ip kube-proxy hairpin \{ 198\.18\.100\.2 \. 198\.18\.100\.2, 198\.18\.100\.3 \. 198\.18\.100\.3 \}/);
  // b drops the shared pod: a still reaches it (twice), so only .3 goes.
  const b1 = sp('ns', 'b', { clusterIP: '198.19.0.2', endpoints: [ep('198.18.100.3')] });
  const p1 = plan(p0.next, state([a, b1]), config());
  assert.doesNotMatch(p1.script, /hairpin/);
  const a2 = sp('ns', 'a', { portName: 'x', endpoints: [ep('198.18.100.2', { port: 80 })] });
  const p2 = plan(p1.next, state([a2, b1]), config());
  assert.doesNotMatch(p2.script, /hairpin/);
  const p3 = plan(p2.next, state([b1]), config());
  assert.match(p3.script, /delete element ip kube-proxy hairpin \{ 198\.18\.100\.2 \. 198\.18\.100\.2 \}/);
  assert.doesNotMatch(p3.script, /add element ip kube-proxy hairpin/);
  // Back again: re-added once.
  const p4 = plan(p3.next, state([a, b1]), config());
  assert.match(p4.script, /add element ip kube-proxy hairpin \{ 198\.18\.100\.2 \. 198\.18\.100\.2 \}/);
});

test('endpoint-map elements: a port moving to a bigger block deletes its old keys and adds the new ones', () => {
  const eps = (n: number) => Array.from({ length: n }, (_, i) => ep(`198.18.100.${10 + i}`));
  const a = sp('ns', 'a', { endpoints: eps(2) });
  const b = sp('ns', 'b', { clusterIP: '198.19.0.2', endpoints: [ep('198.18.101.1')] });
  const p0 = planFull(state([a, b]), config());
  assert.match(p0.script, /add element ip kube-proxy endpoints-tcp-0 \{ 0 : 198\.18\.100\.10 \. 8080, 1 : 198\.18\.100\.11 \. 8080, 2 : 198\.18\.101\.1 \. 8080 \}/);
  const p1 = plan(p0.next, state([sp('ns', 'a', { endpoints: eps(3) }), b]), config());
  const lines = p1.script.trim().split('\n');
  assert.ok(lines.includes('delete element ip kube-proxy endpoints-tcp-0 { 0, 1 }'), p1.script);
  // Capacity 4, aligned to 4, after b's key 2.
  assert.ok(
    lines.includes('add element ip kube-proxy endpoints-tcp-0 { 4 : 198.18.100.10 . 8080, 5 : 198.18.100.11 . 8080, 6 : 198.18.100.12 . 8080 }'),
    p1.script,
  );
  assert.match(p1.script, /numgen random mod 3 offset 4 map @endpoints-tcp-0/);
});

test('service losing all endpoints switches to reject; regaining them switches back', () => {
  const s0 = sp('ns', 'a', { nodePort: 30000, endpoints: [ep('198.18.100.2')] });
  const p0 = planFull(state([s0]), config());
  const p1 = plan(p0.next, state([sp('ns', 'a', { nodePort: 30000 })]), config());
  assert.match(p1.script, /add element ip kube-proxy no-endpoint-services \{ 198\.19\.0\.1 \. tcp \. 80 comment "ns\/a:p" : goto reject-chain \}/);
  assert.match(p1.script, /add element ip kube-proxy no-endpoint-nodeports \{ tcp \. 30000 comment "ns\/a:p" : goto reject-chain \}/);
  assert.match(p1.script, /delete element ip kube-proxy service-ips \{ 198\.19\.0\.1 \. tcp \. 80 \}/);
  assert.match(p1.script, /delete chain ip kube-proxy service-/);
  assert.match(p1.script, /delete chain ip kube-proxy external-/);
  const p2 = plan(p1.next, state([s0]), config());
  assert.match(p2.script, /delete element ip kube-proxy no-endpoint-services/);
  assert.match(p2.script, /add chain ip kube-proxy service-/);
});

test('affinity timeout change re-declares the sets and rewrites the chains referencing them', () => {
  const s0 = sp('ns', 'a', { affinityTimeoutSeconds: 100, endpoints: [ep('198.18.100.2')] });
  const p0 = planFull(state([s0]), config());
  const p1 = plan(p0.next, state([sp('ns', 'a', { affinityTimeoutSeconds: 200, endpoints: [ep('198.18.100.2')] })]), config());
  const lines = p1.script.trim().split('\n');
  const iFlush = lines.findIndex((l) => l.startsWith('flush chain ip kube-proxy service-'));
  const iDel = lines.findIndex((l) => l.startsWith('delete set ip kube-proxy affinity-'));
  const iAdd = lines.findIndex((l) => l.startsWith('add set ip kube-proxy affinity-') && l.includes('timeout 200s'));
  assert.ok(iFlush >= 0 && iDel > iFlush && iAdd > iDel, p1.script);
});

test('changes outside service rules force a full plan', () => {
  const svcs = manyServices(3);
  const p0 = planFull(state(svcs), config());
  assert.equal(plan(p0.next, state(svcs, { nodeIPs: ['198.18.0.9'] }), config()).full, true);
  const p1 = planFull(state(svcs), config());
  assert.equal(plan(p1.next, state(svcs), config({ masqueradeAll: true })).full, true);
  const p2 = planFull(state(svcs), config());
  assert.equal(plan(p2.next, state(svcs), config(), { full: true }).full, true);
});

test('slot assignment keeps surviving endpoints in place', () => {
  const alloc = new BlockAllocator();
  const b0 = assignSlots(undefined, ['a', 'b', 'c', 'd'], alloc);
  assert.deepEqual(b0, { base: 0, cap: 4, slots: ['a', 'b', 'c', 'd'] });
  const b1 = assignSlots(b0, ['a', 'c', 'd', 'e'], alloc);
  assert.deepEqual(b1.slots, ['a', 'e', 'c', 'd']);
  const b2 = assignSlots(b1, ['c', 'd'], alloc);
  // 'c' and 'd' sat beyond the new length: they move into the first slots.
  assert.deepEqual(b2.slots, ['c', 'd']);
  assert.equal(b2.base, 0);
  const b3 = assignSlots(b2, ['a', 'b', 'c', 'd', 'e'], alloc);
  // A new block of capacity 8, aligned to 8 so it never straddles an endpoint-map page.
  assert.deepEqual([b3.base, b3.cap], [8, 8]);
  // Shrinking to a quarter of the capacity moves to a smaller block.
  const b4 = assignSlots(b3, ['a', 'b'], alloc);
  assert.deepEqual([b4.cap, b4.slots], [2, ['a', 'b']]);
  assert.notEqual(b4.base, b3.base);
});

test('Dataplane.render is the full transaction; mode and family', async () => {
  const { createNftablesDataplane } = await import('../../src/dataplane/nftables/index.js');
  const c = cases[0]!;
  const dp = createNftablesDataplane(c.cfg);
  assert.equal(dp.mode, 'nftables');
  assert.equal(dp.family, 'IPv4');
  assert.equal(dp.render(c.state), planFull(c.state, c.cfg).script);
  assert.match(createNftablesDataplane(c.cfg, { tableName: 'kpx-test' }).render(c.state), /^add table ip kpx-test /);
});

test('loopback nodePortAddresses are not programmed', () => {
  const st = state([sp('ns', 'a', { nodePort: 30000, endpoints: [ep('198.18.100.2')] })], {
    nodePortAddresses: { matchAll: false, ips: ['127.0.0.1', '198.18.0.1'] },
  });
  const script = planFull(st, config()).script;
  assert.match(script, /add element ip kube-proxy nodeport-ips \{ 198\.18\.0\.1 \}/);
  assert.doesNotMatch(script, /127\.0\.0\.1/);
});

test('endpoint maps are paged: bounded rules and elements per map; big services get their own map', () => {
  const svcs: ServicePort[] = [];
  for (let i = 0; i < 3000; i++) {
    svcs.push(sp('ns', `s${i}`, { clusterIP: `198.19.${i >> 8}.${i & 255}`, endpoints: [ep(`198.18.${100 + (i >> 8)}.${i & 255}`)] }));
  }
  const bigEps = Array.from({ length: 1500 }, (_, j) => ep(`198.18.${200 + (j >> 8)}.${j & 255}`));
  svcs.push(sp('ns', 'big', { clusterIP: '198.19.99.1', protocol: 'UDP', endpoints: bigEps }));
  const script = planFull(state(svcs), config()).script;
  const rulesPerMap = new Map<string, number>();
  for (const m of script.matchAll(/map @(endpoints-[a-z]+-[x0-9]+)$/gm)) rulesPerMap.set(m[1]!, (rulesPerMap.get(m[1]!) ?? 0) + 1);
  const elementsPerMap = new Map<string, number>();
  for (const m of script.matchAll(/^add element ip kube-proxy (endpoints-[a-z]+-[x0-9]+) \{ (.*) \}$/gm)) {
    elementsPerMap.set(m[1]!, (elementsPerMap.get(m[1]!) ?? 0) + m[2]!.split(', ').length);
  }
  assert.deepEqual([...rulesPerMap.keys()].sort(), ['endpoints-tcp-0', 'endpoints-tcp-1', 'endpoints-tcp-2', 'endpoints-udp-x0']);
  for (const [map, n] of rulesPerMap) assert.ok(n <= 1024, `${map}: ${n} rules`);
  for (const [map, n] of elementsPerMap) assert.ok(map.includes('-x') || n <= 1024, `${map}: ${n} elements`);
  assert.equal(elementsPerMap.get('endpoints-udp-x0'), 1500);
  assert.equal(rulesPerMap.get('endpoints-udp-x0'), 1);
  // Every map is declared before the first rule using it.
  for (const map of rulesPerMap.keys()) {
    const decl = script.indexOf(`add map ip kube-proxy ${map} `);
    assert.ok(decl >= 0 && decl < script.indexOf(`map @${map}\n`), map);
  }
});
