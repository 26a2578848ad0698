// IPVS planner: desired kernel state for small inputs, checked against upstream's behaviour
// (pkg/proxy/ipvs/proxier.go syncProxyRules / writeIptablesRules) and against reviewed golden files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { planIpvs } from '../../src/dataplane/ipvs/planner.js';
import { renderIpvsText } from '../../src/dataplane/ipvs/render.js';
import type { IpvsPlan } from '../../src/kernel/ipvs/types.js';
import { repoRoot } from '../support/repo-root.js';
import { config, ep, sp, state } from './helpers.js';

function golden(name: string, text: string): void {
  const file = join(repoRoot(), 'test/ipvs-plan/golden', name);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, text);
  assert.equal(text, readFileSync(file, 'utf8'), `golden ${name} differs (UPDATE_GOLDEN=1 rewrites it; review the diff)`);
}

function reals(plan: IpvsPlan, key: string): string[] {
  const vs = plan.virtualServers.get(key);
  assert.ok(vs, `virtual server ${key} missing; have ${[...plan.virtualServers.keys()].join(' ')}`);
  return [...vs.reals.values()].map((r) => `${r.ip}:${r.port}/${r.weight}`).sort();
}

function entries(plan: IpvsPlan, set: string): string[] {
  return [...(plan.sets.get(set) ?? [])].sort();
}

function iptLines(plan: IpvsPlan, chain: string): string[] {
  return plan.iptables.split('\n').filter((l) => l.startsWith(`-A ${chain} `));
}

const web = sp({ name: 'web', clusterIP: '198.19.0.10', port: 80, endpoints: [ep('198.18.1.2', 8080), ep('198.18.1.3', 8080, { isLocal: true, nodeName: 'node1' })] });

test('ClusterIP: virtual server, real servers weight 1, kube-ipvs0 address, KUBE-CLUSTER-IP (golden)', () => {
  const plan = planIpvs(state([web]), config());
  assert.deepEqual(reals(plan, 'TCP/198.19.0.10:80'), ['198.18.1.2:8080/1', '198.18.1.3:8080/1']);
  assert.equal(plan.virtualServers.get('TCP/198.19.0.10:80')!.scheduler, 'rr');
  assert.deepEqual([...plan.addresses], ['198.19.0.10']);
  assert.deepEqual(entries(plan, 'KUBE-CLUSTER-IP'), ['198.19.0.10,tcp:80']);
  assert.deepEqual(entries(plan, 'KUBE-IPVS-IPS'), ['198.19.0.10']);
  // Hairpin only for the local endpoint.
  assert.deepEqual(entries(plan, 'KUBE-LOOP-BACK'), ['198.18.1.3,tcp:8080,198.18.1.3']);
  assert.deepEqual(iptLines(plan, 'KUBE-SERVICES'), [
    '-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN',
    '-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 198.18.128.0/17 -j KUBE-MARK-MASQ',
    '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT',
    '-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT',
  ]);
  assert.deepEqual(iptLines(plan, 'KUBE-POSTROUTING'), [
    '-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000',
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
  ]);
  assert.ok(plan.iptables.includes('-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT'));
  golden('clusterip.txt', renderIpvsText(plan));
});

test('ClusterIP masquerade: masqueradeAll marks everything; no detector matches VIP-sourced traffic (src,dst)', () => {
  const all = planIpvs(state([web]), config({ masqueradeAll: true }));
  assert.ok(iptLines(all, 'KUBE-SERVICES').some((l) => l.endsWith('KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ')));
  const none = planIpvs(state([web]), config({ localDetector: { mode: 'none' } }));
  assert.ok(iptLines(none, 'KUBE-SERVICES').some((l) => l.endsWith('KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ')));
  const br = planIpvs(state([web]), config({ localDetector: { mode: 'prefix', prefix: 'veth' } }));
  assert.ok(iptLines(br, 'KUBE-SERVICES').some((l) => l.endsWith('dst,dst ! -i veth+ -j KUBE-MARK-MASQ')));
});

test('NodePort: one virtual server per node IP (nodePortAddresses, loopback excluded), bitmap set and KUBE-NODE-PORT rules', () => {
  const np = sp({ name: 'np', clusterIP: '198.19.0.11', port: 80, nodePort: 30080, endpoints: [ep('198.18.1.2', 8080)] });
  const plan = planIpvs(state([np], { nodeIPs: ['198.18.0.1', '198.18.0.2'], nodePortIPs: ['198.18.0.2', '127.0.0.1'] }), config());
  assert.deepEqual(
    [...plan.virtualServers.keys()].sort(),
    ['TCP/198.18.0.2:30080', 'TCP/198.19.0.11:80'],
  );
  assert.deepEqual(reals(plan, 'TCP/198.18.0.2:30080'), ['198.18.1.2:8080/1']);
  // Node IPs are never bound to kube-ipvs0.
  assert.deepEqual([...plan.addresses], ['198.19.0.11']);
  assert.deepEqual(entries(plan, 'KUBE-NODE-PORT-TCP'), ['30080']);
  assert.deepEqual(entries(plan, 'KUBE-NODE-PORT-LOCAL-TCP'), []);
  assert.deepEqual(iptLines(plan, 'KUBE-NODE-PORT').filter((l) => l.includes('nat') || l.includes('KUBE-NODE-PORT-TCP')), [
    '-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ',
  ]);
  const all = planIpvs(state([np], { nodeIPs: ['198.18.0.1', '198.18.0.2'] }), config());
  assert.ok(all.virtualServers.has('TCP/198.18.0.1:30080') && all.virtualServers.has('TCP/198.18.0.2:30080'));
  golden('nodeport.txt', renderIpvsText(plan));
});

test('UDP and SCTP NodePorts: UDP bitmap set; SCTP hash:ip,port entries per node IP', () => {
  const u = sp({ name: 'dns', clusterIP: '198.19.0.12', port: 53, protocol: 'UDP', nodePort: 30053, endpoints: [ep('198.18.1.2', 5353)] });
  const s = sp({ name: 'sc', clusterIP: '198.19.0.13', port: 99, protocol: 'SCTP', nodePort: 30099, externalPolicyLocal: true, endpoints: [ep('198.18.1.2', 9999)] });
  const plan = planIpvs(state([u, s]), config());
  assert.deepEqual(entries(plan, 'KUBE-NODE-PORT-UDP'), ['30053']);
  assert.deepEqual(entries(plan, 'KUBE-NODE-PORT-SCTP-HASH'), ['198.18.0.1,sctp:30099']);
  assert.deepEqual(entries(plan, 'KUBE-NODE-PORT-LOCAL-SCTP-HASH'), ['198.18.0.1,sctp:30099']);
  assert.deepEqual(entries(plan, 'KUBE-CLUSTER-IP'), ['198.19.0.12,udp:53', '198.19.0.13,sctp:99']);
  assert.ok(plan.virtualServers.has('UDP/198.18.0.1:30053') && plan.virtualServers.has('SCTP/198.18.0.1:30099'));
  const np = iptLines(plan, 'KUBE-NODE-PORT');
  const iLocal = np.findIndex((l) => l.includes('KUBE-NODE-PORT-LOCAL-SCTP-HASH dst,dst -j RETURN'));
  const iMasq = np.findIndex((l) => l.includes('KUBE-NODE-PORT-SCTP-HASH dst,dst -j KUBE-MARK-MASQ'));
  assert.ok(iLocal >= 0 && iMasq > iLocal, 'local RETURN must precede the masquerade jump');
});

test('LoadBalancer with source ranges: FW/CIDR sets; node in range -> SOURCE-IP entry, else KUBE-IPVS-OUT-FILTER DROP', () => {
  const lbIn = sp({ name: 'lb1', clusterIP: '198.19.0.20', port: 80, loadBalancerIPs: ['198.18.200.1'], loadBalancerSourceRanges: ['198.18.0.0/24', '198.18.99.7/32'], endpoints: [ep('198.18.1.2', 8080)] });
  const lbOut = sp({ name: 'lb2', clusterIP: '198.19.0.21', port: 443, loadBalancerIPs: ['198.18.200.2', '198.18.0.1'], loadBalancerSourceRanges: ['198.18.50.0/24'], endpoints: [ep('198.18.1.2', 8443)] });
  const plan = planIpvs(state([lbIn, lbOut]), config());
  assert.deepEqual(entries(plan, 'KUBE-LOAD-BALANCER'), ['198.18.0.1,tcp:443', '198.18.200.1,tcp:80', '198.18.200.2,tcp:443']);
  assert.deepEqual(entries(plan, 'KUBE-LOAD-BALANCER-FW'), entries(plan, 'KUBE-LOAD-BALANCER'));
  assert.deepEqual(entries(plan, 'KUBE-LOAD-BALANCER-SOURCE-CIDR'), [
    '198.18.0.1,tcp:443,198.18.50.0/24',
    '198.18.200.1,tcp:80,198.18.0.0/24',
    '198.18.200.1,tcp:80,198.18.99.7',
    '198.18.200.2,tcp:443,198.18.50.0/24',
  ]);
  assert.deepEqual(entries(plan, 'KUBE-LOAD-BALANCER-SOURCE-IP'), ['198.18.200.1,tcp:80,198.18.200.1']);
  assert.deepEqual(iptLines(plan, 'KUBE-IPVS-OUT-FILTER'), [
    '-A KUBE-IPVS-OUT-FILTER -s 198.18.0.1 -m ipvs --vaddr 198.18.0.1 --vproto tcp --vport 443 -j DROP',
    '-A KUBE-IPVS-OUT-FILTER -s 198.18.200.2 -m ipvs --vaddr 198.18.200.2 --vproto tcp --vport 443 -j DROP',
  ]);
  // An LB IP that is a node IP is not bound to kube-ipvs0, but still gets a virtual server.
  assert.deepEqual([...plan.addresses].sort(), ['198.18.200.1', '198.18.200.2', '198.19.0.20', '198.19.0.21']);
  assert.ok(plan.virtualServers.has('TCP/198.18.0.1:443'));
  assert.deepEqual(iptLines(plan, 'KUBE-SOURCE-RANGES-FIREWALL').map((l) => l.replace(/ -m comment --comment "[^"]*"/, '')), [
    '-A KUBE-SOURCE-RANGES-FIREWALL -m set --match-set KUBE-LOAD-BALANCER-SOURCE-CIDR dst,dst,src -j RETURN',
    '-A KUBE-SOURCE-RANGES-FIREWALL -m set --match-set KUBE-LOAD-BALANCER-SOURCE-IP dst,dst,src -j RETURN',
    '-A KUBE-SOURCE-RANGES-FIREWALL -j DROP',
  ]);
  assert.ok(iptLines(plan, 'KUBE-SERVICES').some((l) => l.endsWith('KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER')));
  golden('loadbalancer.txt', renderIpvsText(plan));
});

test('externalIPs: eTP Cluster -> KUBE-EXTERNAL-IP with MARK-MASQ + ACCEPTs; eTP Local -> KUBE-EXTERNAL-IP-LOCAL, ACCEPTs only', () => {
  const c = sp({ name: 'ext', clusterIP: '198.19.0.30', port: 80, externalIPs: ['198.18.77.1', '198.18.0.1'], endpoints: [ep('198.18.1.2', 8080)] });
  const l = sp({ name: 'extl', clusterIP: '198.19.0.31', port: 81, externalIPs: ['198.18.77.2'], externalPolicyLocal: true, endpoints: [ep('198.18.1.2', 8080), ep('198.18.1.3', 8080, { isLocal: true })] });
  const plan = planIpvs(state([c, l]), config());
  assert.deepEqual(entries(plan, 'KUBE-EXTERNAL-IP'), ['198.18.0.1,tcp:80', '198.18.77.1,tcp:80']);
  assert.deepEqual(entries(plan, 'KUBE-EXTERNAL-IP-LOCAL'), ['198.18.77.2,tcp:81']);
  assert.ok(!plan.addresses.has('198.18.0.1') && plan.addresses.has('198.18.77.1'));
  assert.deepEqual(reals(plan, 'TCP/198.18.77.2:81'), ['198.18.1.3:8080/1']);
  const svcs = iptLines(plan, 'KUBE-SERVICES').map((l2) => l2.replace(/ -m comment --comment "[^"]*"/, ''));
  assert.deepEqual(svcs.filter((x) => x.includes('EXTERNAL')), [
    '-A KUBE-SERVICES -m set --match-set KUBE-EXTERNAL-IP dst,dst -j KUBE-MARK-MASQ',
    '-A KUBE-SERVICES -m set --match-set KUBE-EXTERNAL-IP dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT',
    '-A KUBE-SERVICES -m set --match-set KUBE-EXTERNAL-IP dst,dst -m addrtype --dst-type LOCAL -j ACCEPT',
    '-A KUBE-SERVICES -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT',
    '-A KUBE-SERVICES -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -m addrtype --dst-type LOCAL -j ACCEPT',
  ]);
});

test('eTP Local: external VS use local endpoints, ClusterIP VS cluster ones; no local endpoints -> cluster endpoints (PR #97081)', () => {
  const remote = ep('198.18.1.2', 8080);
  const local = ep('198.18.1.3', 8080, { isLocal: true, nodeName: 'node1' });
  const withLocal = sp({ name: 'a', clusterIP: '198.19.0.40', port: 80, nodePort: 30040, externalPolicyLocal: true, healthCheckNodePort: 32000, endpoints: [remote, local] });
  const noLocal = sp({ name: 'b', clusterIP: '198.19.0.41', port: 80, nodePort: 30041, externalPolicyLocal: true, endpoints: [remote] });
  const plan = planIpvs(state([withLocal, noLocal]), config());
  assert.deepEqual(reals(plan, 'TCP/198.19.0.40:80'), ['198.18.1.2:8080/1', '198.18.1.3:8080/1']);
  assert.deepEqual(reals(plan, 'TCP/198.18.0.1:30040'), ['198.18.1.3:8080/1']);
  assert.deepEqual(reals(plan, 'TCP/198.18.0.1:30041'), ['198.18.1.2:8080/1']);
  assert.deepEqual(entries(plan, 'KUBE-NODE-PORT-LOCAL-TCP'), ['30040', '30041']);
  assert.deepEqual(entries(plan, 'KUBE-HEALTH-CHECK-NODE-PORT'), ['32000']);
  // iTP Local with no local endpoints on a ClusterIP-only service: upstream's fallback list is empty.
  const itp = sp({ name: 'c', clusterIP: '198.19.0.42', port: 80, internalPolicyLocal: true, endpoints: [remote], clusterEndpoints: [] });
  assert.deepEqual(reals(planIpvs(state([itp]), config()), 'TCP/198.19.0.42:80'), []);
});

test('ClientIP affinity -> persistent with the timeout; mh scheduler -> mh-port flag; scheduler flag passes through', () => {
  const a = sp({ name: 'aff', clusterIP: '198.19.0.50', port: 80, affinityTimeoutSeconds: 10800, nodePort: 30050, endpoints: [ep('198.18.1.2', 8080)] });
  const plan = planIpvs(state([a]), config({ ipvsScheduler: 'lc' }));
  for (const vs of plan.virtualServers.values()) {
    assert.equal(vs.persistence, 10800);
    assert.equal(vs.scheduler, 'lc');
  }
  assert.match(renderIpvsText(plan), /^-A -t 198\.19\.0\.50:80 -s lc -p 10800$/m);
  const mh = planIpvs(state([a]), config({ ipvsScheduler: 'mh' }));
  assert.match(renderIpvsText(mh), /^-A -t 198\.19\.0\.50:80 -s mh -b mh-port -p 10800$/m);
});

test('IPv6: KUBE-6- sets, [addr]:port virtual servers, /128 addresses, ::1 RETURN (golden)', () => {
  const s6 = sp({ name: 'web6', clusterIP: '2001:db8:ff::10', port: 80, nodePort: 30080, loadBalancerIPs: ['2001:db8:aa::1'], loadBalancerSourceRanges: ['2001:db8:1::/64'], endpoints: [ep('2001:db8:2::2', 8080), ep('2001:db8:2::3', 8080, { isLocal: true })] });
  const plan = planIpvs(state([s6], { family: 'IPv6' }), config({ family: 'IPv6', localDetector: { mode: 'cidr', cidr: '2001:db8:2::/64' } }));
  assert.deepEqual(reals(plan, 'TCP/[2001:db8:ff::10]:80'), ['2001:db8:2::2:8080/1', '2001:db8:2::3:8080/1']);
  assert.ok(plan.virtualServers.has('TCP/[2001:db8:1::1]:30080'));
  assert.deepEqual(entries(plan, 'KUBE-6-CLUSTER-IP'), ['2001:db8:ff::10,tcp:80']);
  assert.deepEqual(entries(plan, 'KUBE-6-LOAD-BALANCER-SOURCE-IP'), ['2001:db8:aa::1,tcp:80,2001:db8:aa::1']);
  assert.ok(!plan.sets.has('KUBE-CLUSTER-IP'));
  // ipset names are at most 31 characters: upstream truncates the IPv6 name.
  assert.deepEqual(entries(plan, 'KUBE-6-LOAD-BALANCER-SOURCE-CID'), ['2001:db8:aa::1,tcp:80,2001:db8:1::/64']);
  for (const name of plan.sets.keys()) assert.ok(name.length <= 31, name);
  assert.ok(plan.iptables.includes('-A KUBE-SERVICES -s ::1/128 -j RETURN'));
  const text = renderIpvsText(plan);
  assert.match(text, /^2001:db8:ff::10\/128$/m);
  assert.match(text, /^-a -t \[2001:db8:ff::10\]:80 -r \[2001:db8:2::2\]:8080 -m -w 1$/m);
  assert.match(text, /^create KUBE-6-CLUSTER-IP hash:ip,port family inet6 hashsize 1024 maxelem 65536 comment$/m);
  golden('ipv6.txt', text);
});

test('no services: every set still planned (empty), iptables keeps the fixed rules only', () => {
  const plan = planIpvs(state([]), config());
  assert.equal(plan.virtualServers.size, 0);
  assert.equal(plan.sets.size, 17);
  assert.deepEqual(iptLines(plan, 'KUBE-SERVICES'), ['-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN', '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT']);
});

test('match-all NodePorts use every local address (except kube-ipvs0, loopback, link-local), as upstream', async () => {
  const { parseLocalAddresses } = await import('../../src/kernel/ipvs/parse.js');
  const json = JSON.stringify([
    { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1' }, { family: 'inet6', local: '::1' }] },
    { ifname: 'eth0', addr_info: [{ family: 'inet', local: '198.18.0.1' }, { family: 'inet', local: '198.18.0.11' }, { family: 'inet6', local: 'fe80::1' }, { family: 'inet6', local: '2001:db8::1' }] },
    { ifname: 'kube-ipvs0', addr_info: [{ family: 'inet', local: '198.19.0.10' }] },
  ]);
  const local = parseLocalAddresses(json, 'IPv4', 'kube-ipvs0');
  assert.deepEqual(local, ['198.18.0.1', '198.18.0.11']);
  assert.deepEqual(parseLocalAddresses(json, 'IPv6', 'kube-ipvs0'), ['2001:db8::1']);
  const np = sp({ name: 'np', clusterIP: '198.19.0.11', port: 80, nodePort: 30080, loadBalancerIPs: ['198.18.0.11'], endpoints: [ep('198.18.1.2', 8080)] });
  const plan = planIpvs(state([np], { nodeIPs: ['198.18.0.1'] }), config(), local);
  assert.ok(plan.virtualServers.has('TCP/198.18.0.1:30080') && plan.virtualServers.has('TCP/198.18.0.11:30080'));
  // A local address is not bound to kube-ipvs0 even when it is an LB IP.
  assert.ok(!plan.addresses.has('198.18.0.11'));
  // Explicit nodePortAddresses ignore the local list.
  const explicit = planIpvs(state([np], { nodeIPs: ['198.18.0.1'], nodePortIPs: ['198.18.0.1'] }), config(), local);
  assert.ok(!explicit.virtualServers.has('TCP/198.18.0.11:30080'));
});
