// The pure explain function over a /debug/services snapshot built by the real model and the real
// snapshot builder: verdicts, endpoint exclusions, masquerade reasons, per-mode differences, and
// the rule names each dataplane's describe function reports. Plus `get` tables and CLI parsing.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { servicesSnapshot } from '../../src/debug/state.js';
import type { DebugSnapshot } from '../../src/debug/types.js';
import { servicePortChainName } from '../../src/dataplane/iptables/layout.js';
import { hashAndTruncate } from '../../src/dataplane/nftables/names.js';
import { parseAddress } from '../../src/explain/cli.js';
import { explain, ExplainError, type Packet } from '../../src/explain/explain.js';
import { renderGet } from '../../src/explain/get.js';
import { renderExplanation } from '../../src/explain/render.js';
import { ServiceModel } from '../../src/model/tracker.js';
import type { IPFamily, NodePortAddresses } from '../../src/model/types.js';
import type { DataplaneConfig, LocalDetector } from '../../src/dataplane/config.js';
import type { ProxyMode } from '../../src/config/types.js';
import type { LocalAddress } from '../../src/node/addresses.js';
import type { ProxierDebugSource } from '../../src/debug/source.js';
import { ep, node, slice, svc } from '../model/fixtures.js';

const NODE = 'node-a';
const NODE_IP = '198.18.0.1';
const CLUSTER_CIDR = '198.18.100.0/23';
const POD = (n: number): string => `198.18.100.${n}`;
const REMOTE_POD = (n: number): string => `198.18.101.${n}`;
const CLIENT = '198.18.0.2';

const local: LocalAddress[] = [
  { ip: '127.0.0.1', family: 'IPv4', iface: 'lo', loopback: true, linkLocal: false },
  { ip: NODE_IP, family: 'IPv4', iface: 'eth0', loopback: false, linkLocal: false },
  { ip: '198.18.0.11', family: 'IPv4', iface: 'eth0', loopback: false, linkLocal: false },
  { ip: '2001:db8::1', family: 'IPv6', iface: 'eth0', loopback: false, linkLocal: false },
];

function config(family: IPFamily, o: { masqueradeAll?: boolean; detector?: LocalDetector } = {}): DataplaneConfig {
  return {
    family,
    masqueradeBit: 14,
    masqueradeAll: o.masqueradeAll ?? false,
    localDetector: o.detector ?? (family === 'IPv4' ? { mode: 'cidr', cidr: CLUSTER_CIDR } : { mode: 'cidr', cidr: '2001:db8:100::/48' }),
    localhostNodePorts: false,
    ipvsScheduler: '',
    ipvsExcludeCIDRs: [],
    ipvsStrictARP: false,
    ipvsTimeouts: { tcp: 0, tcpFin: 0, udp: 0 },
  };
}

const tcp = (name: string, port: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ name, port, protocol: 'TCP', targetPort: 8080, ...extra });
const sliceTCP = (name: string, endpoints: Record<string, unknown>[], o: { addressType?: string; portName?: string } = {}): Record<string, unknown> =>
  slice(name, { ns: 'shop', addressType: o.addressType ?? 'IPv4', ports: [{ name: o.portName ?? 'http', port: 8080, protocol: 'TCP' }], endpoints });

/** The objects of the tests: one Service per situation. */
function objects(): [string, Record<string, unknown>][] {
  const s = (name: string, clusterIP: string, spec: Record<string, unknown> = {}, status?: Record<string, unknown>, ports = [tcp('http', 80)]): [string, Record<string, unknown>] => [
    'Service',
    svc(name, { ns: 'shop', clusterIP, ports, spec, ...(status ? { status } : {}) }),
  ];
  return [
    ['Node', node(NODE, { 'topology.kubernetes.io/zone': 'zone-a' })],
    s('web', '198.19.0.10'),
    ['EndpointSlice', sliceTCP('web-1', [
      ep(POD(1), { ready: true, nodeName: NODE }),
      ep(POD(2), { ready: true, nodeName: NODE }),
      ep(POD(3), { ready: false, nodeName: NODE }),
      ep(POD(4), { ready: false, serving: true, terminating: true, nodeName: NODE }),
    ])],
    // Strays: another family, another port name.
    ['EndpointSlice', sliceTCP('web-v6', [ep('2001:db8:100:1::9', { ready: true, nodeName: NODE })], { addressType: 'IPv6' })],
    ['EndpointSlice', sliceTCP('web-2', [ep(POD(7), { ready: true, nodeName: NODE })], { portName: 'metrics' })],
    s('empty', '198.19.0.11', { type: 'NodePort', ports: [tcp('http', 80, { nodePort: 30011 })] }, undefined, [tcp('http', 80, { nodePort: 30011 })]),
    s('lb', '198.19.0.12', { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32012 }, { loadBalancer: { ingress: [{ ip: '198.19.200.1' }] } }, [tcp('http', 80, { nodePort: 30012 })]),
    ['EndpointSlice', sliceTCP('lb-1', [ep(POD(1), { ready: true, nodeName: NODE }), ep(REMOTE_POD(1), { ready: true, nodeName: 'node-b' })])],
    s('lb-none', '198.19.0.13', { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32013 }, { loadBalancer: { ingress: [{ ip: '198.19.200.2' }] } }, [tcp('http', 80, { nodePort: 30013 })]),
    ['EndpointSlice', sliceTCP('lb-none-1', [ep(REMOTE_POD(2), { ready: true, nodeName: 'node-b' })])],
    s('itp', '198.19.0.14', { internalTrafficPolicy: 'Local' }),
    ['EndpointSlice', sliceTCP('itp-1', [ep(REMOTE_POD(3), { ready: true, nodeName: 'node-b' })])],
    s('ranges', '198.19.0.15', { type: 'LoadBalancer', loadBalancerSourceRanges: [`${CLIENT}/32`] }, { loadBalancer: { ingress: [{ ip: '198.19.200.3' }] } }, [tcp('http', 80, { nodePort: 30015 })]),
    ['EndpointSlice', sliceTCP('ranges-1', [ep(POD(1), { ready: true, nodeName: NODE })])],
    s('zoned', '198.19.0.16', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } }),
    ['EndpointSlice', sliceTCP('zoned-1', [
      ep(POD(1), { ready: true, nodeName: NODE, zone: 'zone-a', zones: ['zone-a'] }),
      ep(REMOTE_POD(1), { ready: true, nodeName: 'node-b', zone: 'zone-b', zones: ['zone-b'] }),
    ])],
  ];
}

function snapshot(mode: ProxyMode, o: { masqueradeAll?: boolean; detector?: LocalDetector; npa?: NodePortAddresses } = {}): DebugSnapshot {
  const model = new ServiceModel({ nodeName: NODE, onInvalid: (k, key, r) => assert.fail(`invalid ${k} ${key}: ${r}`) });
  for (const [kind, obj] of objects()) model.onEvent(kind as 'Service', 'ADDED', obj);
  const npa = o.npa ?? { matchAll: true };
  const families = (['IPv4', 'IPv6'] as const).map((family) => {
    const { state } = model.build(family, { nodeIPs: family === 'IPv4' ? [NODE_IP] : ['2001:db8::1'], nodePortAddresses: npa });
    return { family, applied: state, appliedAt: new Date(0), appliedFull: true, consecutiveFailures: 0, config: config(family, o) };
  });
  const src: ProxierDebugSource = { mode, nodeName: NODE, initialized: true, healthCheckNodePorts: [], model, families };
  // Through JSON, as the CLI receives it.
  return JSON.parse(JSON.stringify(servicesSnapshot(src, local))) as DebugSnapshot;
}

const pkt = (src: string, dst: string, port: number, from?: Packet['from']): Packet => ({ src, dst, port, protocol: 'TCP', ...(from ? { from } : {}) });
const eps = (x: ReturnType<typeof explain>): string[] => x.endpoints.map((e) => e.endpoint);
const excluded = (x: ReturnType<typeof explain>): Record<string, string> => Object.fromEntries(x.excluded.map((e) => [e.endpoint, e.reason]));

describe('explain: ClusterIP', () => {
  const snap = snapshot('nftables');
  test('pod -> ClusterIP: ready endpoints, no masquerade; every other endpoint excluded with its reason', () => {
    const x = explain(snap, pkt(POD(5), '198.19.0.10', 80));
    assert.equal(x.outcome, 'forward');
    assert.equal(x.packet.from, 'pod');
    assert.deepEqual(eps(x), [`${POD(1)}:8080`, `${POD(2)}:8080`]);
    assert.deepEqual(x.masquerade, { value: false, reason: `pod traffic (source in the cluster CIDR ${CLUSTER_CIDR})` });
    assert.deepEqual(excluded(x), {
      [`${POD(3)}:8080`]: 'not ready',
      [`${POD(4)}:8080`]: 'terminating',
      '[2001:db8:100:1::9]:8080': 'wrong family',
      [`${POD(7)}:8080`]: 'no matching port name',
    });
    assert.equal(x.service?.via, 'ClusterIP');
    assert.equal(x.policy?.value, 'Cluster');
  });
  test('off-cluster client -> ClusterIP: masqueraded; node source is "node"', () => {
    const x = explain(snap, pkt(CLIENT, '198.19.0.10', 80));
    assert.equal(x.packet.from, 'external');
    assert.equal(x.masquerade?.value, true);
    assert.match(x.masquerade!.reason, /off-cluster/);
    assert.equal(explain(snap, pkt(NODE_IP, '198.19.0.10', 80)).packet.from, 'node');
  });
  test('hairpin: the endpoint that is the source is masqueraded, the others not', () => {
    const x = explain(snap, pkt(POD(1), '198.19.0.10', 80));
    assert.deepEqual(x.endpoints.map((e) => [e.endpoint, e.masquerade]), [[`${POD(1)}:8080`, true], [`${POD(2)}:8080`, false]]);
    assert.match(x.endpoints[0]!.masqueradeReason, /hairpin/);
  });
  test('--masquerade-all masquerades pod traffic; no detector masquerades nobody', () => {
    assert.deepEqual(explain(snapshot('nftables', { masqueradeAll: true }), pkt(POD(5), '198.19.0.10', 80)).masquerade, { value: true, reason: '--masquerade-all' });
    assert.equal(explain(snapshot('iptables', { detector: { mode: 'none' } }), pkt(CLIENT, '198.19.0.10', 80)).masquerade?.value, false);
  });
  test('no endpoints: reject, in every mode', () => {
    for (const mode of ['nftables', 'iptables', 'ipvs'] as const) {
      const x = explain(snapshot(mode), pkt(CLIENT, '198.19.0.11', 80));
      assert.equal(x.outcome, 'reject', mode);
      assert.match(x.reason, /no usable endpoints/);
    }
  });
  test('iTP Local with no local endpoint: nftables/iptables drop, IPVS rejects (empty virtual server)', () => {
    const nft = explain(snapshot('nftables'), pkt(POD(5), '198.19.0.14', 80));
    assert.equal(nft.outcome, 'drop');
    assert.deepEqual(excluded(nft), { [`${REMOTE_POD(3)}:8080`]: 'other node' });
    assert.equal(explain(snapshot('ipvs'), pkt(POD(5), '198.19.0.14', 80)).outcome, 'reject');
  });
  test('topology hints: the other zone is excluded; affinity reported', () => {
    const x = explain(snap, pkt(POD(5), '198.19.0.16', 80));
    assert.deepEqual(eps(x), [`${POD(1)}:8080`]);
    assert.deepEqual(excluded(x), { [`${REMOTE_POD(1)}:8080`]: 'other zone' });
    assert.equal(x.topology?.mode, 'PreferSameZone');
    assert.deepEqual(x.sessionAffinity, { type: 'ClientIP', timeoutSeconds: 600 });
  });
  test('a ClusterIP on a port it does not serve: nftables and IPVS reject, iptables routes it', () => {
    assert.equal(explain(snapshot('nftables'), pkt(POD(5), '198.19.0.10', 81)).outcome, 'reject');
    assert.equal(explain(snapshot('ipvs'), pkt(POD(5), '198.19.0.10', 81)).outcome, 'reject');
    assert.equal(explain(snapshot('iptables'), pkt(POD(5), '198.19.0.10', 81)).outcome, 'routed');
  });
});

describe('explain: external traffic', () => {
  const snap = snapshot('nftables');
  test('eTP Local NodePort from a client: the local endpoint, source kept, the remote one excluded', () => {
    const x = explain(snap, pkt(CLIENT, NODE_IP, 30012));
    assert.equal(x.service?.via, 'NodePort');
    assert.deepEqual(eps(x), [`${POD(1)}:8080`]);
    assert.equal(x.masquerade?.value, false);
    assert.deepEqual(excluded(x), { [`${REMOTE_POD(1)}:8080`]: 'other node' });
  });
  test('eTP Local: pods short-circuit to all endpoints unmasqueraded, the node masqueraded', () => {
    const pod = explain(snap, pkt(POD(5), '198.19.200.2', 80));
    assert.equal(pod.outcome, 'forward');
    assert.deepEqual(eps(pod), [`${REMOTE_POD(2)}:8080`]);
    assert.equal(pod.masquerade?.value, false);
    const fromNode = explain(snap, pkt(NODE_IP, NODE_IP, 30013));
    assert.equal(fromNode.masquerade?.value, true);
    assert.deepEqual(eps(fromNode), [`${REMOTE_POD(2)}:8080`]);
  });
  test('eTP Local with no local endpoint: dropped (nftables, iptables); IPVS falls back to all endpoints with a warning', () => {
    assert.equal(explain(snap, pkt(CLIENT, '198.19.200.2', 80)).outcome, 'drop');
    assert.equal(explain(snapshot('iptables'), pkt(CLIENT, NODE_IP, 30013)).outcome, 'drop');
    const ipvs = explain(snapshot('ipvs'), pkt(CLIENT, NODE_IP, 30013));
    assert.equal(ipvs.outcome, 'forward');
    assert.deepEqual(eps(ipvs), [`${REMOTE_POD(2)}:8080`]);
    assert.equal(ipvs.masquerade?.value, false);
    assert.ok(ipvs.warnings.some((w) => w.startsWith('IPVS Local policy fallback')));
  });
  test('eTP Cluster NodePort is masqueraded; loadBalancerSourceRanges drop other sources', () => {
    const x = explain(snap, pkt('198.18.0.3', NODE_IP, 30015));
    assert.equal(x.masquerade?.value, true);
    assert.equal(explain(snap, pkt(CLIENT, '198.19.200.3', 80)).outcome, 'forward');
    const denied = explain(snap, pkt('198.18.0.3', '198.19.200.3', 80));
    assert.equal(denied.outcome, 'drop');
    assert.match(denied.reason, /loadBalancerSourceRanges/);
  });
  test('NodePort on an address outside nodePortAddresses: delivered to the node itself', () => {
    const s = snapshot('nftables', { npa: { matchAll: false, ips: [NODE_IP] } });
    assert.equal(explain(s, pkt(CLIENT, '198.18.0.11', 30015)).outcome, 'local');
    assert.equal(explain(s, pkt(CLIENT, NODE_IP, 30015)).outcome, 'forward');
    assert.equal(explain(s, pkt(CLIENT, '198.19.250.1', 80)).outcome, 'routed');
  });
});

describe('explain: implementation names come from each dataplane', () => {
  test('nftables: the service-ips element and the chain it jumps to', () => {
    const x = explain(snapshot('nftables'), pkt(CLIENT, '198.19.200.1', 80));
    const base = hashAndTruncate('shop/lb/tcp/http');
    const el = x.implementation!.objects.find((o) => o.kind === 'element');
    assert.deepEqual(el, { kind: 'element', name: '@service-ips', detail: `198.19.200.1 . tcp . 80 : goto external-${base}` });
    assert.deepEqual(x.implementation!.chains, ['services', `external-${base}`, `local-${base}`]);
  });
  test('iptables: KUBE-SERVICES, the hashed KUBE-SVC chain, one KUBE-SEP per endpoint', () => {
    const x = explain(snapshot('iptables'), pkt(CLIENT, '198.19.0.10', 80));
    assert.deepEqual(x.implementation!.chains, ['KUBE-SERVICES', servicePortChainName('shop/web:http', 'TCP')]);
    assert.equal(x.implementation!.endpointChains?.length, 2);
  });
  test('ipvs: the virtual server and its real servers', () => {
    const x = explain(snapshot('ipvs'), pkt(CLIENT, '198.19.0.10', 80));
    assert.equal(x.implementation!.virtualServer, 'TCP/198.19.0.10:80');
    assert.deepEqual(x.implementation!.objects.filter((o) => o.kind === 'real server').map((o) => o.name), ['TCP/198.19.0.10:80 -> 198.18.100.1:8080', 'TCP/198.19.0.10:80 -> 198.18.100.2:8080']);
  });
  test('human output names the verdict, the reasons and the objects', () => {
    const text = renderExplanation(explain(snapshot('nftables'), pkt(CLIENT, '198.19.0.11', 80)));
    assert.match(text, /^verdict: {3}REJECT: shop\/empty:http has no usable endpoints$/m);
    assert.match(text, /element @no-endpoint-services: 198\.19\.0\.11 \. tcp \. 80 : goto reject-chain/);
  });
  test('bad input is a clear error', () => {
    assert.throws(() => explain(snapshot('nftables'), pkt('nope', '198.19.0.10', 80)), ExplainError);
    assert.throws(() => explain(snapshot('nftables'), pkt('2001:db8::2', '198.19.0.10', 80)), /different IP families/);
  });
});

describe('get and argument parsing', () => {
  test('get services / endpoints tables in kubectl style', () => {
    const snap = snapshot('nftables');
    const svcs = renderGet(snap, 'services', 'table', 'shop');
    assert.match(svcs, /^NAME {6}TYPE {11}CLUSTER-IP {4}EXTERNAL-IP {4}PORT\(S\)$/m);
    assert.match(svcs, /^lb {8}LoadBalancer {3}198\.19\.0\.12 {3}198\.19\.200\.1 {3}80:30012\/TCP$/m);
    // Columns aligned: every row's TYPE starts where the header's does.
    const at = svcs.indexOf('TYPE');
    for (const line of svcs.trimEnd().split('\n').slice(1)) assert.match(line.slice(at), /^(ClusterIP|NodePort|LoadBalancer) /, line);
    const wide = renderGet(snap, 'endpoints', 'wide', null);
    assert.match(wide, /^shop\s+web\s+http\/TCP\s+198\.18\.100\.3:8080\s+node-a\s+<none>\s+false\s+true\s+false\s+no$/m);
    assert.match(wide, /^shop\s+web\s+http\/TCP\s+198\.18\.100\.4:8080\s+node-a\s+<none>\s+false\s+true\s+true\s+no$/m);
    assert.match(wide, /^shop\s+lb\s+http\/TCP\s+198\.18\.100\.1:8080\s+node-a\s+<none>\s+true\s+true\s+false\s+cluster,local$/m);
    assert.equal(renderGet(snap, 'services', 'table', 'nothing-here'), 'NAME   TYPE   CLUSTER-IP   EXTERNAL-IP   PORT(S)\n');
    const json = JSON.parse(renderGet(snap, 'endpoints', 'json', 'shop')) as { items: unknown[] };
    assert.ok(json.items.length >= 7);
  });
  test('addresses: IP, IP:PORT, [IPv6]:PORT, /proto', () => {
    assert.deepEqual(parseAddress('198.19.0.10:80/udp', true), { ip: '198.19.0.10', port: 80, protocol: 'UDP' });
    assert.deepEqual(parseAddress('[2001:db8::1]:443', true), { ip: '2001:db8::1', port: 443 });
    assert.deepEqual(parseAddress('2001:db8::2', false), { ip: '2001:db8::2' });
    assert.throws(() => parseAddress('198.19.0.10', true), /needs a port/);
    assert.throws(() => parseAddress('198.19.0.10:80/icmp', true), /unknown protocol/);
  });
});
