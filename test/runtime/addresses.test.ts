// Node addresses: `ip -j addr` parsing, Node object IPs, NodePort address resolution, eligibility,
// local traffic detection per family.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCommandLine } from '../../src/config/options.js';
import { nodeEligible, nodeObjectIPs, nodePortAddressesNeedLocal, parseIpAddrJson, primaryFamily, resolveNodeIPs, resolveNodePortAddresses } from '../../src/node/addresses.js';
import { resolveLocalDetector } from '../../src/proxy/local-detector.js';
import { nodeObject } from './fixtures.js';

const IP_J = JSON.stringify([
  { ifname: 'lo', flags: ['LOOPBACK', 'UP'], addr_info: [{ family: 'inet', local: '127.0.0.1', scope: 'host' }, { family: 'inet6', local: '::1', scope: 'host' }] },
  {
    ifname: 'eth0',
    flags: ['BROADCAST', 'UP'],
    addr_info: [
      { family: 'inet', local: '198.18.0.1', scope: 'global' },
      { family: 'inet', local: '198.18.5.1', scope: 'global' },
      { family: 'inet6', local: '2001:db8:0:0::1', scope: 'global' },
      { family: 'inet6', local: 'fe80::1', scope: 'link' },
    ],
  },
]);
const local = parseIpAddrJson(IP_J);

test('parses ip -j addr with loopback and link-local marked', () => {
  assert.deepEqual(
    local.map((a) => `${a.iface} ${a.ip} ${a.family} ${a.loopback ? 'lo' : ''}${a.linkLocal ? 'll' : ''}`),
    ['lo 127.0.0.1 IPv4 lo', 'lo ::1 IPv6 lo', 'eth0 198.18.0.1 IPv4 ', 'eth0 198.18.5.1 IPv4 ', 'eth0 2001:db8::1 IPv6 ', 'eth0 fe80::1 IPv6 ll'],
  );
});

test('node IPs as upstream detectNodeIPs: --bind-address, else the Node object, else loopback (never interface addresses)', () => {
  const node = nodeObject('n', ['198.18.9.9', '198.18.9.10', '2001:db8::9']);
  assert.deepEqual(nodeObjectIPs(node, 'IPv4'), ['198.18.9.9', '198.18.9.10']);
  assert.deepEqual(resolveNodeIPs(node, 'IPv4'), ['198.18.9.9'], 'one IP per family, as GetNodeHostIPs');
  assert.deepEqual(resolveNodeIPs(node, 'IPv6', '0.0.0.0'), ['2001:db8::9']);
  // A non-zero bind address overrides the node IP of its family only.
  assert.deepEqual(resolveNodeIPs(node, 'IPv4', '198.18.0.7'), ['198.18.0.7']);
  assert.deepEqual(resolveNodeIPs(node, 'IPv6', '198.18.0.7'), ['2001:db8::9']);
  assert.deepEqual(resolveNodeIPs(node, 'IPv4', '::'), ['198.18.9.9'], 'unspecified bind address does not override');
  // No Node object: loopback, whatever the interfaces hold.
  assert.deepEqual(resolveNodeIPs(null, 'IPv4', '0.0.0.0'), ['127.0.0.1']);
  assert.deepEqual(resolveNodeIPs(null, 'IPv6', '0.0.0.0'), ['::1']);
  assert.deepEqual(resolveNodeIPs(null, 'IPv6', '2001:db8::7'), ['2001:db8::7']);
  // Loopback makes `primary` match all (upstream adds no CIDR for a loopback node IP).
  assert.deepEqual(resolveNodePortAddresses(['primary'], 'IPv4', ['127.0.0.1'], local), { matchAll: true });
  assert.equal(primaryFamily(null, '0.0.0.0'), 'IPv4');
  assert.equal(primaryFamily(nodeObject('n', ['2001:db8::9', '198.18.9.9']), '0.0.0.0'), 'IPv6');
  assert.equal(primaryFamily(nodeObject('n', ['2001:db8::9', '198.18.9.9']), '198.18.0.7'), 'IPv4');
});

test('nodePortAddresses: CIDRs -> matching local IPs per family; none of a family or a zero CIDR -> all; primary', () => {
  assert.deepEqual(resolveNodePortAddresses(['198.18.5.0/24'], 'IPv4', ['198.18.0.1'], local), { matchAll: false, ips: ['198.18.5.1'] });
  assert.deepEqual(resolveNodePortAddresses(['198.18.5.0/24'], 'IPv6', [], local), { matchAll: true });
  assert.deepEqual(resolveNodePortAddresses([], 'IPv4', [], local), { matchAll: true });
  assert.deepEqual(resolveNodePortAddresses(['0.0.0.0/0', '198.18.5.0/24'], 'IPv4', [], local), { matchAll: true });
  assert.deepEqual(resolveNodePortAddresses(['127.0.0.0/8'], 'IPv4', [], local), { matchAll: false, ips: ['127.0.0.1'] });
  assert.deepEqual(resolveNodePortAddresses(['primary'], 'IPv4', ['198.18.0.1', '198.18.5.1'], local), { matchAll: false, ips: ['198.18.0.1'] });
  assert.deepEqual(resolveNodePortAddresses(['primary'], 'IPv6', ['2001:db8::1'], local), { matchAll: false, ips: ['2001:db8::1'] });
  assert.deepEqual(resolveNodePortAddresses(['primary'], 'IPv4', ['127.0.0.1'], local), { matchAll: true }, 'loopback is never primary');
});

test('nodePortAddresses need the local addresses only for a CIDR of the family (primary and none do not)', () => {
  const cases: [string[], string[]][] = [
    [['primary'], ['198.18.0.1']],
    [['primary'], ['127.0.0.1']],
    [[], []],
    [['2001:db8::/64'], ['198.18.0.1']],
    [['primary', '2001:db8::/64'], ['198.18.0.1']],
  ];
  for (const [configured, nodeIPs] of cases) {
    assert.equal(nodePortAddressesNeedLocal(configured, 'IPv4'), false, JSON.stringify(configured));
    // Not needed means: the same answer whatever the interfaces hold.
    assert.deepEqual(resolveNodePortAddresses(configured, 'IPv4', nodeIPs, []), resolveNodePortAddresses(configured, 'IPv4', nodeIPs, local), JSON.stringify(configured));
  }
  assert.equal(nodePortAddressesNeedLocal(['198.18.5.0/24'], 'IPv4'), true);
  assert.equal(nodePortAddressesNeedLocal(['primary', '198.18.5.0/24'], 'IPv4'), true);
  assert.equal(nodePortAddressesNeedLocal(['primary', '2001:db8::/64'], 'IPv6'), true);
});

test('node eligibility', () => {
  assert.equal(nodeEligible(nodeObject('n', [])), true);
  assert.equal(nodeEligible(nodeObject('n', [], { deleting: true })), false);
  assert.equal(nodeEligible(nodeObject('n', [], { taint: true })), false);
  assert.equal(nodeEligible(null), false);
});

test('local detector per family and mode', async () => {
  const opts = async (args: string[]) => {
    const r = await parseCommandLine(['--hostname-override=n', ...args]);
    if (r.kind !== 'run') throw new Error(JSON.stringify(r));
    return r.options;
  };
  const cc = await opts(['--cluster-cidr=198.18.128.0/17,2001:db8:1::/64']);
  assert.deepEqual(resolveLocalDetector(cc, 'IPv4', null), { mode: 'cidr', cidr: '198.18.128.0/17' });
  assert.deepEqual(resolveLocalDetector(cc, 'IPv6', null), { mode: 'cidr', cidr: '2001:db8:1::/64' });
  const v4only = await opts(['--cluster-cidr=198.18.128.0/17']);
  assert.deepEqual(resolveLocalDetector(v4only, 'IPv6', null), { mode: 'none' });
  const nc = await opts(['--detect-local-mode=NodeCIDR']);
  const node = { ...nodeObject('n', []), spec: { podCIDRs: ['198.18.100.0/24', '2001:db8:100::/64'] } };
  assert.deepEqual(resolveLocalDetector(nc, 'IPv4', node), { mode: 'cidr', cidr: '198.18.100.0/24' });
  assert.deepEqual(resolveLocalDetector(nc, 'IPv4', null), { mode: 'none' });
  const br = await opts(['--detect-local-mode=BridgeInterface', '--pod-bridge-interface=cbr0']);
  assert.deepEqual(resolveLocalDetector(br, 'IPv4', null), { mode: 'bridge', iface: 'cbr0' });
  const pf = await opts(['--detect-local-mode=InterfaceNamePrefix', '--pod-interface-name-prefix=veth']);
  assert.deepEqual(resolveLocalDetector(pf, 'IPv6', null), { mode: 'prefix', prefix: 'veth' });
});
