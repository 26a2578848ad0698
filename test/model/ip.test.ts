// Sloppy IP/CIDR parsing with Go net.IP.String() output.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isIP } from 'node:net';
import { cidrContains, joinHostPort, normalizeIP, parseCIDRSloppy, parseIPSloppy } from '../../src/model/ip.js';

test('IPv4: leading zeros are decimal and normalised; garbage rejected', () => {
  const cases: [string, string | null][] = [
    ['198.18.0.4', '198.18.0.4'],
    ['198.19.0.041', '198.19.0.41'],
    ['198.018.000.001', '198.18.0.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'], // octet bounds, as in Go's parser tests
    ['198.256.0.1', null],
    ['198.18.0', null],
    ['198.18.0.4.5', null],
    ['198..18.0', null],
    ['198.18.0.', null],
    [' 198.18.0.4', null],
    ['198.18.0.4/32', null],
    ['', null],
    ['a.b.c.d', null],
    ['198.18.0.-4', null],
  ];
  for (const [input, want] of cases) {
    assert.equal(parseIPSloppy(input)?.text ?? null, want, input);
    assert.equal(normalizeIP(input), want, input);
  }
  assert.equal(parseIPSloppy('198.18.0.4')!.family, 'IPv4');
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
    ['2001:db8::0a', '2001:db8::a'],
    ['::ffff:198.18.0.4', '198.18.0.4'], // IPv4-mapped is IPv4, as in Go
    ['2001:db8::198.18.1.2', '2001:db8::c612:102'], // embedded dotted quad, not mapped: stays IPv6
    ['fe80::1%eth0', null], // zones (link-local) are not IPs here
    ['2001:db8:3:4:5:6:7:8:9', null],
    ['2001:db8::2::3', null],
    [':::', null],
    ['12345:db8::1', null],
    ['2001:db8:3:4:5:6:7:8::', null], // "::" must stand for at least one group
  ];
  for (const [input, want] of cases) assert.equal(parseIPSloppy(input)?.text ?? null, want, input);
  assert.equal(parseIPSloppy('::ffff:198.18.0.4')!.family, 'IPv4');
  assert.equal(parseIPSloppy('2001:db8::1')!.family, 'IPv6');
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
    ['198.18.113.0/25', '198.18.113.0/25'],
    ['198.19.2.3/15', '198.18.0.0/15'],
    ['198.018.1.3/16', '198.18.0.0/16'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['198.18.0.4/32', '198.18.0.4/32'],
    ['198.18.0.4/33', null],
    ['2001:db8::1/32', '2001:db8::/32'],
    ['2001:DB8:ffff::/47', '2001:db8:fffe::/47'],
    ['::/0', '::/0'],
    ['2001:db8::/129', null],
    ['198.18.0.4', null],
    ['198.18.0.4/', null],
    ['198.18.0.4/x', null],
  ];
  for (const [input, want] of cases) assert.equal(parseCIDRSloppy(input)?.text ?? null, want, input);
});

test('joinHostPort brackets IPv6', () => {
  assert.equal(joinHostPort('198.18.0.1', 80), '198.18.0.1:80');
  assert.equal(joinHostPort('2001:db8::1', 80), '[2001:db8::1]:80');
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
