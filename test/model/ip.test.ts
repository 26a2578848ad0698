// Sloppy IP/CIDR parsing with Go net.IP.String() output.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isIP } from 'node:net';
import { cidrContains, joinHostPort, normalizeIP, parseCIDRSloppy, parseIPSloppy } from '../../src/model/ip.js';

test('IPv4: leading zeros are decimal and normalised; garbage rejected', () => {
  const cases: [string, string | null][] = [
    ['1.2.3.4', '1.2.3.4'],
    ['172.30.0.041', '172.30.0.41'],
    ['010.000.000.001', '10.0.0.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['256.0.0.1', null],
    ['1.2.3', null],
    ['1.2.3.4.5', null],
    ['1..2.3', null],
    ['1.2.3.', null],
    [' 1.2.3.4', null],
    ['1.2.3.4/32', null],
    ['', null],
    ['a.b.c.d', null],
    ['1.2.3.-4', null],
  ];
  for (const [input, want] of cases) {
    assert.equal(parseIPSloppy(input)?.text ?? null, want, input);
    assert.equal(normalizeIP(input), want, input);
  }
  assert.equal(parseIPSloppy('1.2.3.4')!.family, 'IPv4');
});

test('IPv6: Go formatting (lower case, longest zero run compressed, single zero group kept)', () => {
  const cases: [string, string | null][] = [
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
    ['2001:db8:0:0:1:0:0:0', '2001:db8:0:0:1::'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // ties: the first run
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fd00::0a', 'fd00::a'],
    ['::ffff:1.2.3.4', '1.2.3.4'], // IPv4-mapped is IPv4, as in Go
    ['64:ff9b::1.2.3.4', '64:ff9b::102:304'],
    ['fe80::1%eth0', null],
    ['1:2:3:4:5:6:7:8:9', null],
    ['1::2::3', null],
    [':::', null],
    ['12345::1', null],
    ['1:2:3:4:5:6:7:8::', null], // "::" must stand for at least one group
  ];
  for (const [input, want] of cases) assert.equal(parseIPSloppy(input)?.text ?? null, want, input);
  assert.equal(parseIPSloppy('::ffff:1.2.3.4')!.family, 'IPv4');
  assert.equal(parseIPSloppy('fd00::1')!.family, 'IPv6');
});

test('property: canonical IPs round-trip and agree with node:net', () => {
  fc.assert(
    fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (ip) => {
      const p = parseIPSloppy(ip);
      assert.ok(p, ip);
      assert.equal(isIP(p.text) !== 0, true);
      assert.equal(parseIPSloppy(p.text)!.text, p.text, 'normal form is a fixed point');
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 20 }), (s) => {
      const p = parseIPSloppy(s);
      // Anything we accept must be an IP once leading zeros are dropped.
      if (p) assert.notEqual(isIP(p.text), 0, s);
    }),
    { numRuns: 2000 },
  );
});

test('CIDRs: masked to the network, sloppy address, prefix range checked', () => {
  const cases: [string, string | null][] = [
    ['203.0.113.0/25', '203.0.113.0/25'],
    ['10.1.2.3/8', '10.0.0.0/8'],
    ['010.1.2.3/16', '10.1.0.0/16'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['1.2.3.4/32', '1.2.3.4/32'],
    ['1.2.3.4/33', null],
    ['2001:db8::1/32', '2001:db8::/32'],
    ['2001:DB8:ffff::/47', '2001:db8:fffe::/47'],
    ['::/0', '::/0'],
    ['fd00::/129', null],
    ['1.2.3.4', null],
    ['1.2.3.4/', null],
    ['1.2.3.4/x', null],
  ];
  for (const [input, want] of cases) assert.equal(parseCIDRSloppy(input)?.text ?? null, want, input);
});

test('joinHostPort brackets IPv6', () => {
  assert.equal(joinHostPort('10.0.0.1', 80), '10.0.0.1:80');
  assert.equal(joinHostPort('fd00::1', 80), '[fd00::1]:80');
});

test('cidrContains: prefixes, families, sloppy input', () => {
  assert.equal(cidrContains('198.18.0.0/15', '198.19.255.255'), true);
  assert.equal(cidrContains('198.18.0.0/16', '198.19.0.1'), false);
  assert.equal(cidrContains('198.18.100.7/24', '198.18.100.200'), true); // host bits in the CIDR ignored
  assert.equal(cidrContains('0.0.0.0/0', '198.18.0.1'), true);
  assert.equal(cidrContains('198.18.0.1/32', '198.18.0.1'), true);
  assert.equal(cidrContains('198.18.0.1/32', '198.18.0.2'), false);
  assert.equal(cidrContains('2001:db8::/32', '2001:db8:ffff::1'), true);
  assert.equal(cidrContains('2001:db8::/33', '2001:db8:8000::1'), false);
  assert.equal(cidrContains('198.18.0.0/15', '2001:db8::1'), false);
  assert.equal(cidrContains('198.018.0.0/15', '198.18.0.1'), true); // leading zeros, as upstream ParseCIDRSloppy
  assert.equal(cidrContains('bogus', '198.18.0.1'), false);
  assert.equal(cidrContains('198.18.0.0/15', 'bogus'), false);
});
