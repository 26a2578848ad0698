import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plan, planFull, PRESHARED_MAX, withTableStart } from '../../src/dataplane/nftables/planner.js';
import { BlockAllocator, assignSlots } from '../../src/dataplane/nftables/alloc.js';
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

test('withTableStart: a plan made for create, restarted as replace or any, equals the plan made for it', () => {
  const svcs = manyServices(30);
  for (const start of ['replace', 'any', 'create'] as const) {
    const made = withTableStart(planFull(state(svcs), config(), { tableStart: 'create' }), start);
    const direct = planFull(state(svcs), config(), { tableStart: start });
    assert.equal(made.script, direct.script, start);
    assert.equal(made.ops, direct.ops, start);
  }
  assert.match(withTableStart(planFull(state(svcs), config(), { tableStart: 'create' }), 'replace').script, /^delete table ip kube-proxy\nadd table ip kube-proxy/);
  // Only a full plan made for create can be restarted.
  assert.throws(() => withTableStart(planFull(state(svcs), config(), { tableStart: 'replace' }), 'create'), /not a full plan made with tableStart create/);
});

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
  // The old endpoint 198.18.110.7 sat at index 1 of 198.19.0.7 . 80; the new one takes its index.
  assert.deepEqual(lines, [
    'delete element ip kube-proxy cluster-endpoints-tcp { 198.19.0.7 . 80 . 1 }',
    'delete element ip kube-proxy hairpin { 198.18.110.7 . 198.18.110.7 }',
    'add element ip kube-proxy cluster-endpoints-tcp { 198.19.0.7 . 80 . 1 : 198.18.120.7 . 8080 }',
    'add element ip kube-proxy hairpin { 198.18.120.7 . 198.18.120.7 }',
  ]);
  assertGolden('incremental-endpoint-replace.nft', p1.script);
});

test('adding or removing an endpoint changes elements only (the vmap element picks the shared chain for n)', () => {
  const svcs = manyServices(10);
  const p0 = planFull(state(svcs), config());
  const changed = sp('ns', 's3', {
    clusterIP: '198.19.0.3',
    endpoints: [ep('198.18.100.3'), ep('198.18.110.3'), ep('198.18.120.3')],
  });
  const p1 = plan(p0.next, state(svcs.map((s) => (s.key === changed.key ? changed : s))), config());
  // n = 3: its shared chain was made with the full plan (every n up to PRESHARED_MAX is).
  assert.deepEqual(p1.script.trim().split('\n'), [
    'delete element ip kube-proxy service-ips { 198.19.0.3 . tcp . 80 }',
    'add element ip kube-proxy cluster-endpoints-tcp { 198.19.0.3 . 80 . 2 : 198.18.120.3 . 8080 }',
    'add element ip kube-proxy hairpin { 198.18.120.3 . 198.18.120.3 }',
    'add element ip kube-proxy service-ips { 198.19.0.3 . tcp . 80 comment "ns/s3:p" : goto dnat-tcp-3 }',
  ]);
  // A count beyond those: its shared chain is created once (the only chain write).
  const big = PRESHARED_MAX + 1;
  const grown = sp('ns', 's5', { clusterIP: '198.19.0.5', endpoints: Array.from({ length: big }, (_, j) => ep(`198.18.${100 + j}.5`)) });
  const pBig = plan(p1.next, state(svcs.map((s) => (s.key === changed.key ? changed : s.key === grown.key ? grown : s))), config());
  assert.deepEqual(
    pBig.script.split('\n').filter((l) => /chain|add rule|service-ips/.test(l)),
    [
      'delete element ip kube-proxy service-ips { 198.19.0.5 . tcp . 80 }',
      `add chain ip kube-proxy dnat-tcp-${big}`,
      `add rule ip kube-proxy dnat-tcp-${big} meta l4proto tcp dnat ip to ip daddr . tcp dport . numgen random mod ${big} map @cluster-endpoints-tcp`,
      `add element ip kube-proxy service-ips { 198.19.0.5 . tcp . 80 comment "ns/s5:p" : goto dnat-tcp-${big} }`,
    ],
  );
  assert.doesNotMatch(plan(pBig.next, state(svcs.map((s) => (s.key === changed.key ? changed : s.key === grown.key ? grown : s))), config()).script, /chain/, 'unchanged: nothing');
  // Another service growing to 3 now touches elements only; shrinking back too.
  const changed4 = sp('ns', 's4', { clusterIP: '198.19.0.4', endpoints: [ep('198.18.100.4'), ep('198.18.110.4'), ep('198.18.120.4')] });
  const next2 = svcs.map((s) => (s.key === changed.key ? changed : s.key === changed4.key ? changed4 : s));
  const p2 = plan(p1.next, state(next2), config());
  assert.doesNotMatch(p2.script, /(add|flush|delete) chain|add rule/);
  const p3 = plan(p2.next, state(svcs.map((s) => (s.key === changed.key ? changed : s))), config());
  assert.deepEqual(p3.script.trim().split('\n'), [
    'delete element ip kube-proxy cluster-endpoints-tcp { 198.19.0.4 . 80 . 2 }',
    'delete element ip kube-proxy hairpin { 198.18.120.4 . 198.18.120.4 }',
    'delete element ip kube-proxy service-ips { 198.19.0.4 . tcp . 80 }',
    'add element ip kube-proxy service-ips { 198.19.0.4 . tcp . 80 comment "ns/s4:p" : goto dnat-tcp-2 }',
  ]);
});

test('adding and removing services touches only those services', () => {
  const svcs = manyServices(10);
  const p0 = planFull(state(svcs), config());
  const added = sp('ns', 'new', { clusterIP: '198.19.9.9', nodePort: 30099, endpoints: [ep('198.18.100.200')] });
  const next = [...svcs.filter((s) => s.key !== 'ns/s4:p/TCP'), added];
  const p1 = plan(p0.next, state(next), config());
  assert.deepEqual([...p1.changed].sort(), ['ns/new:p/TCP', 'ns/s4:p/TCP']);
  assert.deepEqual(foreign(p1.script, /198\.19\.0\.4\b|198\.19\.9\.9|30099|hairpin \{|(np-)?dnat-tcp-1|nodeport-endpoints-tcp/), []);
  const lines = p1.script.trim().split('\n');
  assert.ok(lines.some((l) => l === 'delete element ip kube-proxy cluster-ips { 198.19.0.4 }'));
  assert.ok(lines.some((l) => l === 'delete element ip kube-proxy cluster-endpoints-tcp { 198.19.0.4 . 80 . 0, 198.19.0.4 . 80 . 1 }'), p1.script);
  assert.ok(lines.some((l) => l === 'add element ip kube-proxy service-nodeports { tcp . 30099 comment "ns/new:p" : goto np-dnat-tcp-1 }'), p1.script);
  assert.ok(lines.some((l) => l === 'add element ip kube-proxy nodeport-endpoints-tcp { 30099 . 0 : 198.18.100.200 . 8080 }'), p1.script);
  assert.doesNotMatch(p1.script, /flush chain|delete chain/);
  // The shared map and chains are declared before the elements that use them.
  assert.ok(lines.findIndex((l) => l.startsWith('add map ip kube-proxy nodeport-endpoints-tcp')) < lines.findIndex((l) => l.startsWith('add rule ip kube-proxy np-dnat-tcp-1')));
  assert.ok(lines.findIndex((l) => l.startsWith('add chain ip kube-proxy np-dnat-tcp-1')) < lines.findIndex((l) => l.includes('goto np-dnat-tcp-1')));
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

test('endpoint-map pages: an affinity port moving to a bigger block deletes its old keys and adds the new ones', () => {
  // Per-service chains (and their paged endpoint blocks) remain for eTP=Local external chains.
  const eps = (n: number) => Array.from({ length: n }, (_, i) => ep(`198.18.100.${10 + i}`, { isLocal: true }));
  const a = sp('ns', 'a', { nodePort: 30000, externalPolicyLocal: true, endpoints: eps(2) });
  const b = sp('ns', 'b', { clusterIP: '198.19.0.2', nodePort: 30001, externalPolicyLocal: true, endpoints: [ep('198.18.101.1', { isLocal: true })] });
  const p0 = planFull(state([a, b]), config());
  assert.match(p0.script, /add element ip kube-proxy endpoints-tcp-0 \{ 0 : 198\.18\.100\.10 \. 8080, 1 : 198\.18\.100\.11 \. 8080, 2 : 198\.18\.100\.10 \. 8080, 3 : 198\.18\.100\.11 \. 8080, 4 : 198\.18\.101\.1 \. 8080, 5 : 198\.18\.101\.1 \. 8080 \}/);
  const p1 = plan(p0.next, state([sp('ns', 'a', { nodePort: 30000, externalPolicyLocal: true, endpoints: eps(3) }), b]), config());
  const lines = p1.script.trim().split('\n');
  assert.ok(lines.includes('delete element ip kube-proxy endpoints-tcp-0 { 0, 1, 2, 3 }'), p1.script);
  assert.match(p1.script, /numgen random mod 3 offset 8 map @endpoints-tcp-0/);
});

test('service losing all endpoints switches to reject; regaining them switches back', () => {
  const s0 = sp('ns', 'a', { nodePort: 30000, endpoints: [ep('198.18.100.2')] });
  const p0 = planFull(state([s0]), config());
  const p1 = plan(p0.next, state([sp('ns', 'a', { nodePort: 30000 })]), config());
  assert.match(p1.script, /add element ip kube-proxy no-endpoint-services \{ 198\.19\.0\.1 \. tcp \. 80 comment "ns\/a:p" : goto reject-chain \}/);
  assert.match(p1.script, /add element ip kube-proxy no-endpoint-nodeports \{ tcp \. 30000 comment "ns\/a:p" : goto reject-chain \}/);
  assert.match(p1.script, /delete element ip kube-proxy service-ips \{ 198\.19\.0\.1 \. tcp \. 80 \}/);
  assert.match(p1.script, /delete element ip kube-proxy service-nodeports \{ tcp \. 30000 \}/);
  assert.match(p1.script, /delete element ip kube-proxy cluster-endpoints-tcp \{ 198\.19\.0\.1 \. 80 \. 0 \}/);
  assert.match(p1.script, /delete element ip kube-proxy nodeport-endpoints-tcp \{ 30000 \. 0 \}/);
  assert.doesNotMatch(p1.script, /(add|flush|delete) chain|add rule/);
  const p2 = plan(p1.next, state([s0]), config());
  assert.match(p2.script, /delete element ip kube-proxy no-endpoint-services/);
  assert.match(p2.script, /add element ip kube-proxy service-ips \{ 198\.19\.0\.1 \. tcp \. 80 comment "ns\/a:p" : goto dnat-tcp-1 \}/);
  assert.match(p2.script, /add element ip kube-proxy service-nodeports \{ tcp \. 30000 comment "ns\/a:p" : goto np-dnat-tcp-1 \}/);
  assert.doesNotMatch(p2.script, /(add|flush|delete) chain|add rule/);
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

test('shared endpoint maps: one rule per distinct endpoint count (and per small count) binds each map', () => {
  const svcs: ServicePort[] = [];
  for (let i = 0; i < 3000; i++) {
    const n = 1 + (i % 4);
    svcs.push(
      sp('ns', `s${i}`, {
        clusterIP: `198.19.${i >> 8}.${i & 255}`,
        endpoints: Array.from({ length: n }, (_, j) => ep(`198.18.${100 + j}.${i & 255}`)),
      }),
    );
  }
  const bigEps = Array.from({ length: 1500 }, (_, j) => ep(`198.18.${200 + (j >> 8)}.${j & 255}`));
  svcs.push(sp('ns', 'big', { clusterIP: '198.19.99.1', protocol: 'UDP', endpoints: bigEps }));
  const script = planFull(state(svcs), config()).script;
  const rulesPerMap = new Map<string, number>();
  for (const m of script.matchAll(/map @((?:cluster|nodeport)-endpoints-[a-z]+)$/gm)) rulesPerMap.set(m[1]!, (rulesPerMap.get(m[1]!) ?? 0) + 1);
  // The counts in use (1-4 and 1500) and the small ones made with every full plan.
  assert.deepEqual(Object.fromEntries(rulesPerMap), { 'cluster-endpoints-tcp': PRESHARED_MAX, 'cluster-endpoints-udp': PRESHARED_MAX + 1 });
  assert.match(script, /^add rule ip kube-proxy dnat-udp-1500 meta l4proto udp dnat ip to ip daddr \. udp dport \. numgen random mod 1500 map @cluster-endpoints-udp$/m);
  assert.doesNotMatch(script, /add chain ip kube-proxy service-[A-Z2-7]{8}-/);
  // Every map is declared before the first rule using it.
  for (const map of rulesPerMap.keys()) {
    const decl = script.indexOf(`add map ip kube-proxy ${map} `);
    assert.ok(decl >= 0 && decl < script.indexOf(`map @${map}\n`), map);
  }
});
