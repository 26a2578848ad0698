// The rule pieces every mode shares (src/dataplane/shared): one value or match, spelled per writer.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isIPv4Loopback, isLoopbackIP } from '../../src/model/ip.js';
import { iptablesLocalArgs, localTrafficMatch, nftLocalExprs } from '../../src/dataplane/shared/local-traffic.js';
import { iptablesLoopback, nftLoopback } from '../../src/dataplane/shared/loopback.js';
import { masqueradeMark, masqueradeMarkValue } from '../../src/dataplane/shared/masquerade.js';

test('masquerade mark: one value, two spellings (nft; upstream %#08x for both iptables-writing modes)', () => {
  assert.equal(masqueradeMarkValue(14), 0x4000);
  assert.deepEqual(
    (['nft', 'iptables'] as const).map((s) => masqueradeMark(14, s)),
    ['0x4000', '0x00004000'],
  );
  // Bit 31 stays positive (a 32-bit shift would give a negative number).
  assert.deepEqual((['nft', 'iptables'] as const).map((s) => masqueradeMark(31, s)), ['0x80000000', '0x80000000']);
  assert.deepEqual((['nft', 'iptables'] as const).map((s) => masqueradeMark(0, s)), ['0x1', '0x00000001']);
});

test('local-traffic detector: resolved once, rendered for iptables and nft', () => {
  const cidr = localTrafficMatch({ mode: 'cidr', cidr: '198.18.0.0/16' });
  assert.deepEqual(iptablesLocalArgs(cidr, false), ['-s', '198.18.0.0/16']);
  assert.deepEqual(iptablesLocalArgs(cidr, true), ['!', '-s', '198.18.0.0/16']);
  assert.deepEqual(nftLocalExprs(cidr, 'IPv4'), { ifLocal: 'ip saddr 198.18.0.0/16', ifNotLocal: 'ip saddr != 198.18.0.0/16' });
  assert.deepEqual(nftLocalExprs(localTrafficMatch({ mode: 'cidr', cidr: '2001:db8::/48' }), 'IPv6').ifNotLocal, 'ip6 saddr != 2001:db8::/48');

  const bridge = localTrafficMatch({ mode: 'bridge', iface: 'cbr0' });
  assert.deepEqual(iptablesLocalArgs(bridge, true), ['!', '-i', 'cbr0']);
  assert.deepEqual(nftLocalExprs(bridge, 'IPv4'), { ifLocal: 'iifname "cbr0"', ifNotLocal: 'iifname != "cbr0"' });

  const prefix = localTrafficMatch({ mode: 'prefix', prefix: 'veth' });
  assert.deepEqual(iptablesLocalArgs(prefix, false), ['-i', 'veth+']);
  assert.deepEqual(nftLocalExprs(prefix, 'IPv6'), { ifLocal: 'iifname "veth*"', ifNotLocal: 'iifname != "veth*"' });

  const none = localTrafficMatch({ mode: 'none' });
  assert.equal(none, null);
  assert.deepEqual(iptablesLocalArgs(none, true), []);
  assert.deepEqual(nftLocalExprs(none, 'IPv4'), { ifLocal: null, ifNotLocal: null });
});

test('loopback: one predicate, the network spelled per writer', () => {
  assert.deepEqual(['127.0.0.1', '127.9.9.9', '::1', '198.18.0.1', '2001:db8::1'].map(isLoopbackIP), [true, true, true, false, false]);
  assert.deepEqual(['127.0.0.1', '::1'].map(isIPv4Loopback), [true, false]);
  assert.deepEqual([iptablesLoopback('IPv4'), iptablesLoopback('IPv6')], ['127.0.0.0/8', '::1/128']);
  assert.deepEqual([nftLoopback('IPv4'), nftLoopback('IPv6')], ['127.0.0.0/8', '::1']);
});
