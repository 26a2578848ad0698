// Golden tests against upstream proxier_test.go expected dumps (fixtures/README.md).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plan, probability, needsRouteLocalnet } from '../../src/dataplane/iptables/planner.js';
import { masqueradeMark } from '../../src/dataplane/shared/masquerade.js';
import { config, fixture as rawFixture, sortRules, state, svc } from './helpers.js';

// Upstream's NewFakeProxier sets masqueradeMark to the literal "0x4000"; the real NewProxier
// formats 1<<14 with %#08x, which is "0x00004000" (same mark; iptables-save prints 0x4000).
const fixture = (name: string): string => rawFixture(name).replaceAll('0x4000', '0x00004000');

export function overallState() {
  return state([
    svc({ ns: 'ns1', name: 'svc1', clusterIP: '198.19.0.41', endpoints: [{ ip: '198.18.180.1' }] }),
    svc({
      ns: 'ns2', name: 'svc2', clusterIP: '198.19.0.42', nodePort: 3001, lbIPs: ['198.18.50.4'],
      externalIPs: ['198.18.99.22'], eTPLocal: true, healthCheckNodePort: 30000,
      endpoints: [{ ip: '198.18.180.2' }],
    }),
    svc({ ns: 'ns3', name: 'svc3', clusterIP: '198.19.0.43', nodePort: 3003, endpoints: [{ ip: '198.18.180.3' }] }),
    svc({
      ns: 'ns4', name: 'svc4', clusterIP: '198.19.0.44', externalIPs: ['198.18.99.33'],
      endpoints: [{ ip: '198.18.180.4' }, { ip: '198.18.180.5', local: true }],
    }),
    svc({
      ns: 'ns5', name: 'svc5', clusterIP: '198.19.0.45', nodePort: 3002, lbIPs: ['198.18.50.8'],
      sourceRanges: ['198.18.113.0/25'], affinity: 10800, endpoints: [{ ip: '198.18.180.3' }],
    }),
    svc({ ns: 'ns6', name: 'svc6', clusterIP: '198.19.0.46' }),
  ]);
}

test('TestOverallIPTablesRules: ClusterIP, NodePort, externalIPs, LB + source ranges + affinity, eTP Local, no endpoints', () => {
  const p = plan(null, overallState(), config(), { full: true, randomFully: false, nfacct: true });
  assert.equal(sortRules(p.restoreInput), sortRules(fixture('overall.txt')));
  // Upstream checks the rules-total metric against the rules in the dump.
  const natRules = p.restoreInput.split('*nat')[1]!.split('\n').filter((l) => l.startsWith('-A ')).length;
  assert.equal(p.counts.natRulesTotal, natRules);
  assert.equal(p.counts.natRulesWritten, natRules);
  assert.equal(p.counts.filterRules, 10);
  assert.equal(p.counts.noLocalEndpointsExternal, 1);
});

test('TestEnableLocalhostNodePortsIPv6: IPv6, eTP Local, no local detector', () => {
  const st = state(
    [
      svc({
        ns: 'ns1', name: 'svc1', clusterIP: '2001:db8:ab34::20', nodePort: 30001, eTPLocal: true,
        endpoints: [{ ip: '2001:db8:1::c1' }, { ip: '2001:db8:1::c2', local: true }],
      }),
    ],
    { family: 'IPv6' },
  );
  const cfg = config({ family: 'IPv6', detector: { mode: 'none' }, localhostNodePorts: true });
  const p = plan(null, st, cfg, { full: true, randomFully: false });
  assert.equal(sortRules(p.restoreInput), sortRules(fixture('ipv6-localhost-nodeports.txt')));
  assert.equal(needsRouteLocalnet(cfg, st), false);
});

test('TestOnlyLocalNodePortsNoClusterCIDR: explicit nodePortAddresses, localhost NodePorts off', () => {
  const st = state(
    [
      svc({
        ns: 'ns1', name: 'svc1', clusterIP: '198.19.0.41', nodePort: 3001, eTPLocal: true,
        endpoints: [{ ip: '198.18.180.1' }, { ip: '198.18.182.1', local: true }],
      }),
    ],
    { nodePortAddresses: { matchAll: false, ips: ['198.18.0.2'] } },
  );
  const cfg = config({ detector: { mode: 'none' }, localhostNodePorts: false });
  const p = plan(null, st, cfg, { full: true, randomFully: false });
  assert.equal(sortRules(p.restoreInput), sortRules(fixture('only-local-nodeports-no-cluster-cidr.txt')));
});

test('session affinity with several endpoints: rcheck rules first, then statistic, SEP --set', () => {
  const st = state([
    svc({ ns: 'ns1', name: 'svc1', clusterIP: '198.19.0.41', affinity: 300, endpoints: [{ ip: '198.18.180.1' }, { ip: '198.18.180.2' }, { ip: '198.18.180.3' }] }),
  ]);
  const p = plan(null, st, config(), { full: true });
  const svcRules = p.restoreInput.split('\n').filter((l) => l.startsWith('-A KUBE-SVC-XPGD46QRK7WJZT7O'));
  assert.equal(svcRules.length, 1 + 3 + 3);
  assert.match(svcRules[0]!, /! -s 198\.18\.128\.0\/17 -j KUBE-MARK-MASQ$/);
  for (const r of svcRules.slice(1, 4)) assert.match(r, /-m recent --name (KUBE-SEP-\w+) --rcheck --seconds 300 --reap -j \1$/);
  assert.match(svcRules[4]!, /"ns1\/svc1:p80 -> 198\.18\.180\.1:80" -m statistic --mode random --probability 0\.3333333333 -j KUBE-SEP-/);
  assert.match(svcRules[5]!, /--probability 0\.5000000000 -j KUBE-SEP-/);
  assert.doesNotMatch(svcRules[6]!, /statistic/);
  const dnat = p.restoreInput.split('\n').filter((l) => l.includes('-j DNAT'));
  assert.equal(dnat.length, 3);
  for (const r of dnat) assert.match(r, /-m recent --name (KUBE-SEP-\w+) --set -m tcp -p tcp -j DNAT/);
  assert.match(p.restoreInput, /-j MASQUERADE --random-fully\n/);
});

test('large-cluster mode drops SEP and -> comments above 1000 endpoints', () => {
  const eps = Array.from({ length: 1001 }, (_, i) => ({ ip: `198.18.${180 + (i >> 8)}.${i & 255}` }));
  const p = plan(null, state([svc({ ns: 'ns1', name: 'svc1', clusterIP: '198.19.0.41', endpoints: eps })]), config(), { full: true });
  assert.equal(p.counts.largeClusterMode, true);
  const lines = p.restoreInput.split('\n');
  const sep = lines.filter((l) => l.startsWith('-A KUBE-SEP-'));
  assert.equal(sep.length, 2002);
  assert.ok(sep.every((l) => !l.includes('--comment')));
  const lb = lines.filter((l) => l.startsWith('-A KUBE-SVC-') && l.includes('KUBE-SEP-'));
  assert.equal(lb.length, 1001);
  assert.ok(lb.every((l) => !l.includes('--comment')));
  // The cluster IP masquerade rule keeps its comment, as upstream.
  assert.ok(lines.some((l) => l.startsWith('-A KUBE-SVC-') && l.includes('cluster IP')));
});

test('probability matches Go %0.10f, including exact ties (round half to even)', () => {
  assert.equal(probability(1), '1.0000000000');
  assert.equal(probability(2), '0.5000000000');
  assert.equal(probability(3), '0.3333333333');
  assert.equal(probability(7), '0.1428571429');
  assert.equal(probability(1024), '0.0009765625');
  assert.equal(probability(2048), '0.0004882812'); // 0.00048828125 exactly: half-even
  assert.equal(probability(4096), '0.0002441406'); // 0.000244140625
  assert.equal(probability(3000), '0.0003333333');
});

test('masquerade mark is Go %#08x of 1<<bit', () => {
  assert.equal(masqueradeMark(14, 'iptables'), '0x00004000');
  assert.equal(masqueradeMark(0, 'iptables'), '0x00000001');
  assert.equal(masqueradeMark(31, 'iptables'), '0x80000000');
});

test('IPv4 localhost NodePorts: KUBE-FIREWALL anti-martian rule and tail variants', () => {
  const st = state([svc({ ns: 'a', name: 'b', clusterIP: '198.19.0.1', nodePort: 30000, endpoints: [{ ip: '198.18.181.1' }] })]);
  const on = plan(null, st, config({ localhostNodePorts: true }), { full: true });
  assert.match(on.restoreInput, /:KUBE-FIREWALL - \[0:0\]/);
  assert.match(on.restoreInput, /-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n/);
  assert.equal(needsRouteLocalnet(config({ localhostNodePorts: true }), st), true);
  const off = plan(null, st, config({ localhostNodePorts: false }), { full: true });
  assert.doesNotMatch(off.restoreInput, /KUBE-FIREWALL/);
  assert.match(off.restoreInput, /-m addrtype --dst-type LOCAL ! -d 127\.0\.0\.0\/8 -j KUBE-NODEPORTS\n/);
  // explicit addresses: loopback skipped with a warning when localhost NodePorts are off
  const st2 = state([...st.services.values()], {
    nodePortAddresses: { matchAll: false, ips: ['127.0.0.1', '198.18.0.1'] },
  });
  const ips = plan(null, st2, config({ localhostNodePorts: false }), { full: true });
  assert.match(ips.restoreInput, /-d 198\.18\.0\.1 -j KUBE-NODEPORTS/);
  assert.doesNotMatch(ips.restoreInput, /-d 127\.0\.0\.1 -j KUBE-NODEPORTS/);
  assert.equal(ips.warnings.length, 1);
  // masqueradeAll: unconditional masquerade in SVC
  const all = plan(null, st, config({ masqueradeAll: true }), { full: true });
  assert.match(all.restoreInput, /--dport 80 -j KUBE-MARK-MASQ\n/);
  // tcp_be_liberal: no INVALID drop
  const lib = plan(null, st, config(), { full: true, conntrackTCPLiberal: true });
  assert.doesNotMatch(lib.restoreInput, /INVALID/);
});

test('internalTrafficPolicy Local: SVL target, DROP without local endpoints', () => {
  const withLocal = plan(
    null,
    state([svc({ ns: 'a', name: 'b', clusterIP: '198.19.0.1', iTPLocal: true, endpoints: [{ ip: '198.18.181.1', local: true }, { ip: '198.18.181.2' }] })]),
    config(),
    { full: true },
  );
  assert.match(withLocal.restoreInput, /"a\/b:p80 cluster IP" -m tcp -p tcp -d 198\.19\.0\.1 --dport 80 -j KUBE-SVL-/);
  assert.doesNotMatch(withLocal.restoreInput, /:KUBE-SVC-/);
  const none = plan(
    null,
    state([svc({ ns: 'a', name: 'b', clusterIP: '198.19.0.1', iTPLocal: true, endpoints: [{ ip: '198.18.181.2' }] })]),
    config(),
    { full: true },
  );
  assert.match(none.restoreInput, /-A KUBE-SERVICES -m comment --comment "a\/b:p80 has no local endpoints" -m tcp -p tcp -d 198\.19\.0\.1 --dport 80 -j DROP/);
  assert.equal(none.counts.noLocalEndpointsInternal, 1);
});
