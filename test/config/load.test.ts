import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadConfigFile, loadConfigText, type LoadResult } from '../../src/config/load.js';
import { defaultConfiguration } from '../../src/config/defaults.js';
import { fixture } from './helpers.js';

const HEADER = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n';

function ok(r: LoadResult) {
  if (!r.ok) assert.fail(`expected success, got:\n${r.message}`);
  return r.config;
}

function fail(r: LoadResult): string {
  if (r.ok) assert.fail('expected a load error');
  return r.message;
}

// Upstream cmd/kube-proxy/app/options_test.go TestLoadConfig template.
function upstreamTemplate(bindAddress: string, clusterCIDR: string, healthz: string, metrics: string, mode: string): string {
  return `apiVersion: kubeproxy.config.k8s.io/v1alpha1
bindAddress: ${bindAddress}
clientConnection:
  acceptContentTypes: "abc"
  burst: 100
  contentType: content-type
  kubeconfig: "/path/to/kubeconfig"
  qps: 7
clusterCIDR: "${clusterCIDR}"
configSyncPeriod: 15s
conntrack:
  maxPerCore: 2
  min: 1
  tcpCloseWaitTimeout: 10s
  tcpEstablishedTimeout: 20s
healthzBindAddress: "${healthz}"
hostnameOverride: "foo"
iptables:
  masqueradeAll: true
  masqueradeBit: 17
  minSyncPeriod: 10s
  syncPeriod: 60s
  localhostNodePorts: true
ipvs:
  minSyncPeriod: 10s
  syncPeriod: 60s
  excludeCIDRs:
    - "198.18.30.40/16"
    - "2001:db8:1::0/64"
nftables:
  masqueradeAll: true
  masqueradeBit: 18
  minSyncPeriod: 10s
  syncPeriod: 60s
kind: KubeProxyConfiguration
metricsBindAddress: "${metrics}"
mode: "${mode}"
oomScoreAdj: 17
portRange: "2-7"
detectLocalMode: "ClusterCIDR"
detectLocal:
  bridgeInterface: "cbr0"
  interfaceNamePrefix: "veth"
nodePortAddresses:
  - "198.18.30.40/16"
  - "2001:db8:1::0/64"
`;
}

test('upstream TestLoadConfig cases decode to the same values', () => {
  const cases: [string, string, string, string, string, string][] = [
    ['iptables', '0.0.0.0', '0.0.0.0', '198.18.3.0/24', '198.18.3.4:12345', '198.18.4.5:23456'],
    ['iptables', '198.18.7.6', '198.18.7.6', '198.18.3.0/24', '198.18.3.4:12345', '198.18.4.5:23456'],
    ['iptables', '"::"', '::', '2001:db8:1::0/64', '[2001:db8:1::5]:12345', '[2001:db8:2::5]:23456'],
    ['iptables', '"[::]"', '[::]', '2001:db8:1::0/64', '[2001:db8:1::5]:12345', '[2001:db8:2::5]:23456'],
    ['iptables', '::0', '::0', '2001:db8:1::0/64', '[2001:db8:1::5]:12345', '[2001:db8:2::5]:23456'],
    ['ipvs', '2001:db8::1', '2001:db8::1', '2001:db8:1::0/64', '[2001:db8:1::5]:12345', '[2001:db8:2::5]:23456'],
  ];
  for (const [mode, bindYaml, bind, cidr, hz, mt] of cases) {
    const c = ok(loadConfigText(upstreamTemplate(bindYaml, cidr, hz, mt, mode), 'kp.yaml'));
    assert.equal(c.bindAddress, bind);
    assert.equal(c.mode, mode);
    assert.equal(c.clusterCIDR, cidr);
    assert.equal(c.healthzBindAddress, hz);
    assert.equal(c.metricsBindAddress, mt);
    assert.deepEqual(c.clientConnection, { acceptContentTypes: 'abc', burst: 100, contentType: 'content-type', kubeconfig: '/path/to/kubeconfig', qps: 7 });
    assert.equal(c.configSyncPeriod, '15s');
    assert.deepEqual(c.conntrack, { maxPerCore: 2, min: 1, tcpCloseWaitTimeout: '10s', tcpEstablishedTimeout: '20s', tcpBeLiberal: false, udpTimeout: '0s', udpStreamTimeout: '0s' });
    assert.deepEqual(c.iptables, { masqueradeAll: true, masqueradeBit: 17, minSyncPeriod: '10s', syncPeriod: '1m0s', localhostNodePorts: true });
    assert.deepEqual(c.ipvs.excludeCIDRs, ['198.18.30.40/16', '2001:db8:1::0/64']);
    assert.deepEqual(c.nftables, { masqueradeAll: true, masqueradeBit: 18, minSyncPeriod: '10s', syncPeriod: '1m0s' });
    assert.equal(c.oomScoreAdj, 17);
    assert.equal(c.portRange, '2-7');
    assert.equal(c.hostnameOverride, 'foo');
    assert.deepEqual(c.detectLocal, { bridgeInterface: 'cbr0', interfaceNamePrefix: 'veth' });
    assert.deepEqual(c.nodePortAddresses, ['198.18.30.40/16', '2001:db8:1::0/64']);
    assert.equal(c.logging.format, 'text');
    assert.equal(c.logging.flushFrequency, '5s');
  }
});

test('upstream TestLoadConfigFailures', () => {
  // upstream: "could not find expected ':'"
  assert.match(fail(loadConfigText(HEADER.split('\n')[0] + '\nTwas bryllyg, and ye slythy toves', 'kp.yaml')), /^kp\.yaml:2:1: invalid YAML: /);
  assert.equal(fail(loadConfigText('just a string', 'kp.yaml')), 'kp.yaml:1:1: expected a KubeProxyConfiguration mapping, got string "just a string"');
  assert.equal(
    fail(loadConfigText('apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeSchedulerConfiguration', 'kp.yaml')),
    'kp.yaml:2:7: kind: unsupported value "KubeSchedulerConfiguration" (expected "KubeProxyConfiguration")',
  );
  // `bindAddress: ::` is not valid YAML (needs quotes), as upstream's test says.
  assert.match(fail(loadConfigText(HEADER + 'bindAddress: ::\n', 'kp.yaml')), /^kp\.yaml:3:\d+: invalid YAML: /);
});

test('apiVersion and kind are required and checked', () => {
  assert.equal(fail(loadConfigText('kind: KubeProxyConfiguration\n', 'a.yaml')), 'a.yaml:1:1: apiVersion: missing (expected "kubeproxy.config.k8s.io/v1alpha1")');
  assert.equal(
    fail(loadConfigText('apiVersion: kubeproxy.config.k8s.io/v1alpha2\nkind: KubeProxyConfiguration\n', 'a.yaml')),
    'a.yaml:1:13: apiVersion: unsupported value "kubeproxy.config.k8s.io/v1alpha2" (expected "kubeproxy.config.k8s.io/v1alpha1")',
  );
  assert.equal(fail(loadConfigText('apiVersion: kubeproxy.config.k8s.io/v1alpha1\n', 'a.yaml')), 'a.yaml:1:1: kind: missing (expected "KubeProxyConfiguration")');
  assert.match(fail(loadConfigText('', 'a.yaml')), /^a\.yaml:1:1: empty file/);
});

test('unknown and duplicate fields: lenient as upstream, each a warning with file:line:col and a suggestion', async () => {
  // A type error is still fatal; the strict-only problems are listed with it.
  const msg = fail(await loadConfigFile(fixture('typos.yaml')));
  const f = fixture('typos.yaml');
  assert.deepEqual(msg.split('\n'), [
    `${f}:4:1: iptabels: unknown field (did you mean "iptables"?)`,
    `${f}:7:3: nftables.minSyncPeriodd: unknown field (did you mean "minSyncPeriod"?)`,
    `${f}:8:18: nftables.masqueradeBit: expected an integer, got string "14"`,
  ]);
  // Only strict-decoding errors: the file loads, unknown fields ignored, the last duplicate wins.
  const tpl = upstreamTemplate('198.18.7.6', '198.18.3.0/24', '198.18.3.4:12345', '198.18.4.5:23456', 'iptables');
  const unknown = loadConfigText(tpl + '\nfoo: bar', 'kp.yaml');
  assert.ok(unknown.ok);
  assert.deepEqual(unknown.warnings, ['Using lenient decoding as strict decoding failed: kp.yaml:48:1: foo: unknown field']);
  const dup = loadConfigText(tpl + '\nbindAddress: 198.18.7.7', 'kp.yaml');
  assert.ok(dup.ok);
  assert.equal(dup.config.bindAddress, '198.18.7.7', 'last value wins');
  assert.deepEqual(dup.warnings, ['Using lenient decoding as strict decoding failed: kp.yaml:48:1: bindAddress: duplicate field (first set on line 2)']);
});

test('an older kubeadm ConfigMap with obsolete fields still loads (udpIdleTimeout, resourceContainer)', () => {
  const r = loadConfigText(HEADER + 'udpIdleTimeout: 250ms\nresourceContainer: /kube-proxy\nconntrack:\n  max: null\n  maxPerCore: 32768\nmode: ipvs\n', 'kube-proxy.conf');
  assert.ok(r.ok, r.ok ? '' : r.message);
  assert.equal(r.config.mode, 'ipvs');
  assert.deepEqual(r.warnings.filter((w) => w.startsWith('Using lenient')), [
    'Using lenient decoding as strict decoding failed: kube-proxy.conf:3:1: udpIdleTimeout: unknown field',
    'Using lenient decoding as strict decoding failed: kube-proxy.conf:4:1: resourceContainer: unknown field',
    'Using lenient decoding as strict decoding failed: kube-proxy.conf:6:3: conntrack.max: unknown field (did you mean "min"?)',
  ]);
});

test('wrong types name the path, the line and the received value', () => {
  const cases: [string, string][] = [
    ['iptables:\n  masqueradeBit: "14"\n', 'k.yaml:4:18: iptables.masqueradeBit: expected an integer, got string "14"'],
    ['iptables:\n  syncPeriod: 30\n', 'k.yaml:4:15: iptables.syncPeriod: expected a duration string such as "30s", got number 30'],
    ['iptables:\n  syncPeriod: 1x\n', 'k.yaml:4:15: iptables.syncPeriod: time: unknown unit "x" in duration "1x"'],
    ['conntrack: 5\n', 'k.yaml:3:12: conntrack: expected a mapping, got number 5'],
    ['nodePortAddresses: 198.18.0.0/16\n', 'k.yaml:3:20: nodePortAddresses: expected a sequence, got string "198.18.0.0/16"'],
    ['nodePortAddresses:\n- [a]\n', 'k.yaml:4:3: nodePortAddresses[0]: expected a string, got a sequence'],
    ['oomScoreAdj: 3000000000\n', 'k.yaml:3:14: oomScoreAdj: number 3000000000 does not fit in a 32-bit integer'],
    ['oomScoreAdj: 1.5\n', 'k.yaml:3:14: oomScoreAdj: expected an integer, got number 1.5'],
    ['iptables:\n  masqueradeAll: "true"\n', 'k.yaml:4:18: iptables.masqueradeAll: expected a boolean, got string "true"'],
    ['featureGates:\n  Foo: maybe\n', 'k.yaml:4:8: featureGates.Foo: expected a boolean, got string "maybe"'],
    ['logging:\n  verbosity: -1\n', 'k.yaml:4:14: logging.verbosity: number -1 does not fit in an unsigned 32-bit integer'],
    ];
  for (const [body, want] of cases) assert.equal(fail(loadConfigText(HEADER + body, 'k.yaml')), want, body);
});

test('several problems are all reported, one per line (strict ones too when something is fatal)', () => {
  const msg = fail(loadConfigText(HEADER + 'mode: ipvs\nmode: nftables\nclusterCIDRs: x\nipvs:\n  tcpTimeout: soon\n', 'k.yaml'));
  assert.deepEqual(msg.split('\n'), [
    'k.yaml:4:1: mode: duplicate field (first set on line 3)',
    'k.yaml:5:1: clusterCIDRs: unknown field (did you mean "clusterCIDR"?)',
    'k.yaml:7:15: ipvs.tcpTimeout: time: invalid duration "soon"',
  ]);
});

test('decoding follows upstream: nulls leave defaults, YAML 1.1 booleans, scalars into string fields', () => {
  const c = ok(loadConfigText(HEADER + 'hostnameOverride: 123\nenableProfiling: yes\nbindAddressHardFail: off\nnodePortAddresses: null\niptables:\n  masqueradeBit: ~\nconntrack:\n', 'k.yaml'));
  assert.equal(c.hostnameOverride, '123');
  assert.equal(c.enableProfiling, true);
  assert.equal(c.bindAddressHardFail, false);
  assert.equal(c.nodePortAddresses, null);
  assert.equal(c.iptables.masqueradeBit, 14);
  assert.equal(c.conntrack.maxPerCore, 32768);
});

test('JSON files are read too', () => {
  const c = ok(loadConfigText('{"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration", "mode": "nftables",\n "nftables": {"masqueradeBit": 3}}', 'k.json'));
  assert.equal(c.mode, 'nftables');
  assert.equal(c.nftables.masqueradeBit, 3);
  const j = loadConfigText('{"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",\n  "nftable": {}}', 'k.json');
  assert.ok(j.ok);
  assert.deepEqual(j.warnings, ['Using lenient decoding as strict decoding failed: k.json:2:3: nftable: unknown field (did you mean "nftables"?)']);
});

test('a file with only apiVersion and kind equals the defaults', () => {
  assert.deepEqual(ok(loadConfigText(HEADER, 'k.yaml')), defaultConfiguration());
});

test('a kubeadm-written file (all zero values) defaults like upstream, and zeros are reported', () => {
  const r = loadConfigText(readFileSync(fixture('kubeadm-style.yaml'), 'utf8'), 'kubeadm.yaml');
  const c = ok(r);
  const want = defaultConfiguration();
  want.clientConnection.kubeconfig = '/var/lib/kube-proxy/kubeconfig.conf';
  want.clusterCIDR = '198.18.0.0/16';
  assert.deepEqual(c, want);
  assert.ok(r.ok && r.warnings.some((w) => w.includes('iptables.minSyncPeriod is zero or empty')), 'explicit 0s is called out');
  assert.ok(r.ok && !r.warnings.some((w) => w.includes('oomScoreAdj')), 'null is not an explicit zero');
});

test('IPv6 bindAddress gives IPv6 default listen addresses; port-less addresses get the default port', () => {
  const c = ok(loadConfigText(HEADER + 'bindAddress: "::"\n', 'k.yaml'));
  assert.equal(c.healthzBindAddress, '[::]:10256');
  assert.equal(c.metricsBindAddress, '[::1]:10249');
  const d = ok(loadConfigText(HEADER + 'healthzBindAddress: 198.18.0.1\nmetricsBindAddress: "2001:db8::1"\n', 'k.yaml'));
  assert.equal(d.healthzBindAddress, '198.18.0.1:10256');
  assert.equal(d.metricsBindAddress, '[2001:db8::1]:10249');
});

test('multiple documents and missing files are errors', async () => {
  assert.match(fail(loadConfigText(HEADER + '---\n' + HEADER, 'k.yaml')), /^k\.yaml:3:1: more than one YAML document/);
  assert.match(fail(await loadConfigFile('/nonexistent/kp.yaml')), /^\/nonexistent\/kp\.yaml: no such file/);
});

test('YAML anchors and aliases are followed like goyaml does', () => {
  const c = ok(loadConfigText(HEADER + 'iptables: &sync\n  syncPeriod: 10s\nnftables: *sync\nmode: &m nftables\n', 'k.yaml'));
  assert.equal(c.nftables.syncPeriod, '10s');
  assert.equal(c.mode, 'nftables');
  // The alias target is checked against the field it lands in.
  const alias = loadConfigText(HEADER + 'iptables: &x\n  localhostNodePorts: true\nnftables: *x\n', 'k.yaml');
  assert.ok(alias.ok);
  assert.deepEqual(alias.warnings, ['Using lenient decoding as strict decoding failed: k.yaml:4:3: nftables.localhostNodePorts: unknown field']);
});
