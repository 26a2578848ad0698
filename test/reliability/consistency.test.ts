// The sample checker of the combined-fault test (support/consistency.ts) on hand-made listings: it
// accepts a consistent table and names each kind of half-applied or stale one.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkIptablesSample, checkNftSample, sampleProblems, WriteHistory, type SampleView } from './support/consistency.js';
import type { DriverOp } from './support/apiserver.js';

interface Svc {
  readonly ip: string;
  readonly port: number;
  readonly eps: readonly string[];
}

const FIXED = ['services', 'nat-prerouting', 'nat-output', 'nat-postrouting', 'masquerading', 'mark-for-masquerade', 'service-endpoints-check', 'cluster-ips-check', 'canary'];

function rule(chain: string, expr: unknown[]): unknown {
  return { rule: { family: 'ip', table: 'kube-proxy', chain, expr } };
}

function dnatRule(n: number): unknown {
  return rule(`dnat-tcp-${n}`, [{ dnat: { family: 'ip', addr: { map: { key: { concat: [{ payload: { protocol: 'ip', field: 'daddr' } }, { payload: { protocol: 'tcp', field: 'dport' } }, { numgen: { mode: 'random', mod: n, offset: 0 } }] }, data: '@cluster-endpoints-tcp' } } } }]);
}

/** A listing in the shape `nft -j list table ip kube-proxy` prints; `edit` may break it. */
function listing(svcs: readonly Svc[], edit: (items: Record<string, Record<string, unknown>>[]) => void = () => undefined): string {
  const withEps = svcs.filter((s) => s.eps.length);
  const ns = [...new Set(withEps.map((s) => s.eps.length))];
  const items: Record<string, Record<string, unknown>>[] = [{ table: { family: 'ip', name: 'kube-proxy' } }];
  const set = (name: string, elem: unknown[], map?: string): void => {
    items.push({ [map ? 'map' : 'set']: { family: 'ip', name, table: 'kube-proxy', ...(map ? { map } : {}), ...(elem.length ? { elem } : {}) } });
  };
  set('cluster-ips', svcs.map((s) => s.ip));
  set('sync-marker', []);
  set('service-ips', withEps.map((s) => [{ elem: { val: { concat: [s.ip, 'tcp', s.port] }, comment: `default/x:p` } }, { goto: { target: `dnat-tcp-${s.eps.length}` } }]), 'verdict');
  set('no-endpoint-services', svcs.filter((s) => !s.eps.length).map((s) => [{ elem: { val: { concat: [s.ip, 'tcp', s.port] } } }, { goto: { target: 'reject-chain' } }]), 'verdict');
  const epIPs = [...new Set(withEps.flatMap((s) => s.eps.map((e) => e.split(':')[0]!)))];
  set('hairpin', epIPs.map((ip) => ({ concat: [ip, ip] })));
  set('cluster-endpoints-tcp', withEps.flatMap((s) => s.eps.map((e, i) => [{ concat: [s.ip, s.port, i] }, { concat: [e.split(':')[0], Number(e.split(':')[1])] }])), 'ipv4_addr . inet_service');
  const hooks: Record<string, string> = { 'nat-prerouting': 'prerouting', 'nat-output': 'output', 'nat-postrouting': 'postrouting' };
  for (const c of [...FIXED, 'reject-chain', ...ns.map((n) => `dnat-tcp-${n}`)]) {
    items.push({ chain: { family: 'ip', table: 'kube-proxy', name: c, ...(hooks[c] ? { type: 'nat', hook: hooks[c] } : {}) } });
  }
  for (const c of FIXED) if (c !== 'canary') items.push(rule(c, [{ jump: { target: 'x' } }]) as Record<string, Record<string, unknown>>);
  for (const n of ns) items.push(dnatRule(n) as Record<string, Record<string, unknown>>);
  edit(items);
  return JSON.stringify({ nftables: items });
}

const A: Svc = { ip: '198.19.0.1', port: 80, eps: ['198.18.128.1:8080', '198.18.128.2:8080'] };
const B: Svc = { ip: '198.19.0.2', port: 81, eps: [] };

function find(items: Record<string, Record<string, unknown>>[], kind: string, name: string): Record<string, unknown> {
  return items.find((i) => i[kind]?.name === name)![kind]!;
}

test('a consistent listing: no problem, the services read back', () => {
  const v = checkNftSample(listing([A, B]));
  assert.deepEqual(v.problems, []);
  assert.deepEqual([...v.services], [
    ['198.19.0.1', { port: 80, endpoints: ['198.18.128.1:8080', '198.18.128.2:8080'] }],
    ['198.19.0.2', { port: 81, endpoints: [] }],
  ]);
});

test('half-applied listings are named', () => {
  const cases: [string, (items: Record<string, Record<string, unknown>>[]) => void, RegExp][] = [
    ['an endpoint element missing', (it) => (find(it, 'map', 'cluster-endpoints-tcp').elem as unknown[]).pop(), /endpoint 1 of 2 missing/],
    ['a dispatch element to a missing chain', (it) => it.splice(it.findIndex((i) => i.chain?.name === 'dnat-tcp-2'), 1), /dnat-tcp-2: no such chain/],
    ['an orphan endpoint element', (it) => (find(it, 'map', 'cluster-endpoints-tcp').elem as unknown[]).push([{ concat: ['198.19.0.9', 80, 0] }, { concat: ['198.18.128.9', 8080] }]), /198\.19\.0\.9 \. 80: endpoint elements without/],
    ['a shared chain with the wrong count', (it) => {
      const i = it.findIndex((x) => x.rule?.chain === 'dnat-tcp-2');
      it[i] = { rule: { ...(dnatRule(3) as { rule: Record<string, unknown> }).rule, chain: 'dnat-tcp-2' } };
    }, /chain dnat-tcp-2: 1 rules, not one DNAT with mod 2/],
    ['a base chain empty', (it) => it.splice(it.findIndex((i) => i.rule?.chain === 'services'), 1), /chain services has no rule/],
    ['a fixed map missing', (it) => it.splice(it.findIndex((i) => i.map?.name === 'service-ips'), 1), /set\/map service-ips missing/],
    ['cluster-ips behind', (it) => (find(it, 'set', 'cluster-ips').elem as unknown[]).pop(), /cluster-ips lacks 198\.19\.0\.2/],
    ['hairpin behind', (it) => (find(it, 'set', 'hairpin').elem as unknown[]).pop(), /hairpin lacks 198\.18\.128\.2/],
  ];
  for (const [what, edit, re] of cases) {
    const v = checkNftSample(listing([A, B], edit));
    assert.ok(v.problems.some((p) => re.test(p)), `${what}: ${JSON.stringify(v.problems)}`);
  }
});

function svcOp(t: 'create' | 'update', name: string, ip: string, port: number): DriverOp {
  return { t, obj: { kind: 'Service', metadata: { name }, spec: { clusterIP: ip, ports: [{ port }] } } };
}
function sliceOp(t: 'create' | 'update', svc: string, eps: [string, boolean][]): DriverOp {
  return { t, obj: { kind: 'EndpointSlice', metadata: { name: `${svc}-a`, labels: { 'kubernetes.io/service-name': svc } }, ports: [{ port: 8080 }], endpoints: eps.map(([ip, ready]) => ({ addresses: [ip], conditions: { ready } })) } };
}
const view = (svcs: [string, number, string[]][]): SampleView => ({ present: true, problems: [], services: new Map(svcs.map(([ip, port, endpoints]) => [ip, { port, endpoints }])) });

test('write history: states that were written pass, unwritten or older ones do not', () => {
  const h = new WriteHistory();
  h.record([svcOp('create', 's1', '198.19.0.1', 80), sliceOp('create', 's1', [['198.18.128.1', true], ['198.18.128.2', false]])]);
  h.record([sliceOp('update', 's1', [['198.18.128.1', true], ['198.18.128.2', true]]), svcOp('update', 's1', '198.19.0.1', 81)]);
  assert.deepEqual(h.check(view([])), [], 'not programmed yet');
  assert.deepEqual(h.check(view([['198.19.0.1', 80, []]])), [], 'the Service before its slice');
  // Service and slice are watched apart: the new port with the old endpoints is a state the proxy may see.
  assert.deepEqual(h.check(view([['198.19.0.1', 81, ['198.18.128.1:8080']]])), []);
  assert.deepEqual(h.check(view([['198.19.0.1', 81, ['198.18.128.1:8080', '198.18.128.2:8080']]])), []);
  assert.match(h.check(view([['198.19.0.1', 81, ['198.18.128.1:8080']]])).join(), /endpoints 198\.18\.128\.1:8080 is older than an earlier sample showed/);
  assert.match(h.check(view([['198.19.0.1', 81, ['198.18.128.2:8080']]])).join(), /never written/, 'the unready endpoint alone was never a state');
  assert.match(h.check(view([])).join(), /port absent is older/, 'programmed, then gone without a delete');
  assert.match(h.check(view([['198.19.0.7', 80, []]])).join(), /198\.19\.0\.7: programmed but never written/);
  assert.deepEqual(h.check({ present: false, problems: [], services: new Map() }), [], 'a flushed table is not half-applied');
  h.record([{ t: 'delete', kind: 'EndpointSlice', ns: 'default', name: 's1-a' }, { t: 'delete', kind: 'Service', ns: 'default', name: 's1' }]);
  assert.deepEqual(h.check(view([['198.19.0.1', 81, []]])), [], 'slice deleted first');
  assert.deepEqual(h.check(view([])), [], 'then the Service');
  assert.deepEqual(h.diffFinal(view([])), []);
  assert.match(h.diffFinal(view([['198.19.0.1', 81, []]])).join(), /want absent/);
});

test('a table without any hooked chain (a staged creation under way) is counted as absent; one hook missing is a problem', () => {
  const unhooked = checkNftSample(listing([A], (items) => items.forEach((it) => it.chain && delete it.chain.hook)));
  assert.deepEqual([unhooked.present, unhooked.problems], [false, []]);
  const h = new WriteHistory();
  h.record([svcOp('create', 's1', '198.19.0.1', 80), sliceOp('create', 's1', [['198.18.128.1', true], ['198.18.128.2', true]])]);
  assert.deepEqual(h.check(unhooked), [], 'not half-applied: no packet passes through it');
  const oneGone = checkNftSample(listing([A], (items) => items.splice(items.findIndex((it) => it.chain?.name === 'nat-output'), 1)));
  assert.equal(oneGone.present, true);
  assert.match(oneGone.problems.join('; '), /chain nat-output missing/);
});

test('an empty table (what the kernel showed while a repair that created and deleted it ran) is one inconsistent sample, not a cascade', () => {
  const h = new WriteHistory();
  h.record([svcOp('create', 's1', '198.19.0.1', 80), sliceOp('create', 's1', [['198.18.128.1', true], ['198.18.128.2', true]])]);
  const good = checkNftSample(listing([A]));
  assert.deepEqual(sampleProblems(good, h), []);
  // `nft -j list table ip kube-proxy` of the table created and deleted in one transaction: the table, nothing in it.
  const empty = checkNftSample(JSON.stringify({ nftables: [{ table: { family: 'ip', name: 'kube-proxy', handle: 3, comment: 'rules for kube-proxy' } }] }));
  assert.equal(empty.present, true);
  const p = sampleProblems(empty, h);
  assert.match(p.join('; '), /chain services missing; chain nat-prerouting missing/);
  assert.doesNotMatch(p.join('; '), /older than/, 'structural problems only');
  assert.deepEqual(sampleProblems(good, h), [], 'the next whole sample is not flagged as going back');
});

const IPT = `*filter
:KUBE-SERVICES - [0:0]
-A KUBE-SERVICES -d 198.19.0.2/32 -p tcp -m comment --comment "default/b:p has no endpoints" -m tcp --dport 81 -j REJECT --reject-with icmp-port-unreachable
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-AAAA - [0:0]
:KUBE-SEP-1111 - [0:0]
:KUBE-SEP-2222 - [0:0]
-A KUBE-SERVICES -d 198.19.0.1/32 -p tcp -m comment --comment "default/a:p cluster IP" -m tcp --dport 80 -j KUBE-SVC-AAAA
-A KUBE-SVC-AAAA -m comment --comment "default/a:p -> 198.18.128.1:8080" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-1111
-A KUBE-SVC-AAAA -m comment --comment "default/a:p -> 198.18.128.2:8080" -j KUBE-SEP-2222
-A KUBE-SEP-1111 -s 198.18.128.1/32 -m comment --comment default/a:p -j KUBE-MARK-MASQ
-A KUBE-SEP-1111 -p tcp -m comment --comment default/a:p -m tcp -j DNAT --to-destination 198.18.128.1:8080
-A KUBE-SEP-2222 -p tcp -m comment --comment default/a:p -m tcp -j DNAT --to-destination 198.18.128.2:8080
COMMIT
`;

test('iptables-save samples: consistent, and each kind of hole named', () => {
  const v = checkIptablesSample(IPT);
  assert.deepEqual(v.problems, []);
  assert.deepEqual([...v.services], [
    ['198.19.0.1', { port: 80, endpoints: ['198.18.128.1:8080', '198.18.128.2:8080'] }],
    ['198.19.0.2', { port: 81, endpoints: [] }],
  ]);
  assert.equal(checkIptablesSample('*filter\nCOMMIT\n').present, false, 'no nat KUBE-SERVICES: nothing programmed (flushed)');
  const broken: [string, string, RegExp][] = [
    ['a missing endpoint chain', IPT.replace(':KUBE-SEP-2222 - [0:0]\n', '').replace(/-A KUBE-SEP-2222 .*\n/, ''), /KUBE-SEP-2222: no such chain/],
    ['an endpoint chain without its DNAT', IPT.replace(/-A KUBE-SEP-2222 .*\n/, ''), /KUBE-SEP-2222: 0 DNAT rules/],
    ['a stale probability', IPT.replace('0.50000000000', '0.33333333333'), /rule 1 of 2: probability 0\.333/],
    ['a service chain without endpoints', IPT.replace(/-A KUBE-SVC-AAAA .*\n/g, ''), /no endpoint rule/],
    ['DNATed and rejected at once', IPT.replace('198.19.0.2/32', '198.19.0.1/32'), /both DNATed and rejected/],
  ];
  for (const [what, text, re] of broken) {
    const p = checkIptablesSample(text).problems;
    assert.ok(p.some((x) => re.test(x)), `${what}: ${JSON.stringify(p)}`);
  }
});
