// The nftables element encoder (pure): layouts of the declared set types, the bytes of keys,
// values, verdicts and comments, message splitting, and refusal of what it cannot encode.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import { parseElementCommand, setLayout, writeBatchMark, writeElementCommand, type SetLayout } from '../../../src/kernel/nftables/elements-netlink.js';
import { readAttrs, Writer } from '../../../src/kernel/netlink/message.js';

/** The messages of `w` as [type, flags, body] (body after the 16-byte header). */
function messages(b: Buffer): { type: number; flags: number; body: Buffer }[] {
  const out: { type: number; flags: number; body: Buffer }[] = [];
  for (let o = 0; o < b.length; ) {
    const len = b.readUInt32LE(o);
    out.push({ type: b.readUInt16LE(o + 4), flags: b.readUInt16LE(o + 6), body: b.subarray(o + 16, o + len) });
    o += (len + 3) & ~3;
  }
  return out;
}

function encode(line: string, layout: SetLayout): Buffer {
  const cmd = parseElementCommand(line);
  assert.ok(cmd, line);
  const w = new Writer(256);
  let seq = 0;
  writeElementCommand(w, cmd, layout, () => ++seq);
  return Buffer.from(w.bytes());
}

/** Elements of one message: [key bytes, data nest] per element. */
function elementsOf(body: Buffer): { key: Buffer; data: Map<number, Buffer> | null; udata: Buffer | null }[] {
  const top = readAttrs(body, 4); // after struct nfgenmsg
  const list = top.get(3)!;
  const out: { key: Buffer; data: Map<number, Buffer> | null; udata: Buffer | null }[] = [];
  for (let o = 0; o < list.length; ) {
    const len = list.readUInt16LE(o);
    const el = readAttrs(list.subarray(o + 4, o + len), 0);
    const data = el.get(2);
    out.push({ key: readAttrs(el.get(1)!, 0).get(1)!, data: data ? readAttrs(data, 0) : null, udata: el.get(6) ?? null });
    o += (len + 3) & ~3;
  }
  return out;
}

test('layouts: every set and map the nftables layout declares; intervals, timeouts and unknown types are left to nft', () => {
  assert.deepEqual(setLayout({ type: 'ipv4_addr' }), { key: ['ipv4'], data: null });
  assert.deepEqual(setLayout({ type: 'inet_proto' }), { key: ['proto'], data: null });
  assert.deepEqual(setLayout({ type: 'ipv6_addr . inet_proto . inet_service : verdict' }), { key: ['ipv6', 'proto', 'port'], data: 'verdict' });
  assert.deepEqual(setLayout({ type: 'ipv4_addr . ipv4_addr' }), { key: ['ipv4', 'ipv4'], data: null });
  assert.deepEqual(setLayout({ typeOf: 'ip daddr . tcp dport . numgen random mod 1 : ip daddr . tcp dport' }), { key: ['ipv4', 'port', 'host32'], data: ['ipv4', 'port'] });
  assert.deepEqual(setLayout({ typeOf: 'sctp dport . numgen random mod 1 : ip6 daddr . sctp dport' }), { key: ['port', 'host32'], data: ['ipv6', 'port'] });
  assert.equal(setLayout({ type: 'ipv4_addr', flags: ['interval'] }), null);
  assert.equal(setLayout({ type: 'ipv4_addr . inet_service', timeout: 10800 }), null);
  assert.equal(setLayout({ type: 'ether_addr' }), null);
  assert.equal(setLayout({ typeOf: 'ip daddr . meta mark' }), null);
});

test('a concatenated key and value: each field in a 4-byte register, numgen in host byte order', () => {
  const layout = setLayout({ typeOf: 'ip daddr . tcp dport . numgen random mod 1 : ip daddr . tcp dport' })!;
  const [m] = messages(encode('add element ip kube-proxy cluster-endpoints-tcp { 198.19.0.20 . 80 . 3 : 198.18.100.1 . 8080 }', layout));
  assert.equal(m!.type, (10 << 8) | 12, 'NFT_MSG_NEWSETELEM');
  assert.equal(m!.flags, 0x401, 'REQUEST | CREATE, as nft sends an addition');
  assert.deepEqual([...m!.body.subarray(0, 4)], [2, 0, 0, 0], 'nfgenmsg: NFPROTO_IPV4');
  const top = readAttrs(m!.body, 4);
  assert.equal(top.get(1)!.toString('latin1'), 'kube-proxy\0');
  assert.equal(top.get(2)!.toString('latin1'), 'cluster-endpoints-tcp\0');
  const [e] = elementsOf(m!.body);
  const idx = endianness() === 'LE' ? [3, 0, 0, 0] : [0, 0, 0, 3];
  assert.deepEqual([...e!.key], [198, 19, 0, 20, 0, 80, 0, 0, ...idx]);
  assert.deepEqual([...e!.data!.get(1)!], [198, 18, 100, 1, 0x1f, 0x90, 0, 0]);
  assert.equal(e!.udata, null);
});

test('a verdict map element with a comment: goto code, chain name, the comment as libnftnl writes it', () => {
  const layout = setLayout({ type: 'ipv4_addr . inet_proto . inet_service : verdict' })!;
  const [m] = messages(encode('add element ip kube-proxy service-ips { 198.19.0.10 . udp . 53 comment "demo/web:dns" : goto dnat-udp-3, 198.19.0.11 . 6 . 443 : drop }', layout));
  const [a, b] = elementsOf(m!.body);
  assert.deepEqual([...a!.key], [198, 19, 0, 10, 17, 0, 0, 0, 0, 53, 0, 0]);
  const verdict = readAttrs(a!.data!.get(2)!, 0);
  assert.equal(verdict.get(1)!.readInt32BE(0), -4, 'NFT_GOTO');
  assert.equal(verdict.get(2)!.toString('latin1'), 'dnat-udp-3\0');
  assert.deepEqual([...a!.udata!], [0, 13, ...Buffer.from('demo/web:dns\0')]);
  assert.deepEqual([...b!.key], [198, 19, 0, 11, 6, 0, 0, 0, 1, 0xbb, 0, 0]);
  assert.equal(readAttrs(b!.data!.get(2)!, 0).get(1)!.readInt32BE(0), 0, 'NF_DROP');
  assert.equal(readAttrs(b!.data!.get(2)!, 0).get(2), undefined);
});

test('single-field keys keep their own length; IPv6 is 16 bytes; deletions carry keys only', () => {
  const [m] = messages(encode('delete element ip6 kube-proxy cluster-ips { 2001:db8::1, 2001:db8::2 }', setLayout({ type: 'ipv6_addr' })!));
  assert.equal(m!.type, (10 << 8) | 14, 'NFT_MSG_DELSETELEM');
  assert.equal(m!.flags, 0x1);
  assert.equal(m!.body[0], 10, 'NFPROTO_IPV6');
  const els = elementsOf(m!.body);
  assert.equal(els.length, 2);
  assert.equal(els[1]!.key.length, 16);
  assert.equal(els[1]!.key[15], 2);
  const [p] = messages(encode('add element ip kube-proxy sync-marker { tcp }', setLayout({ type: 'inet_proto' })!));
  assert.deepEqual([...elementsOf(p!.body)[0]!.key], [6]);
});

test('a comma inside a comment does not split the element; big lists are cut into messages below 64 KiB', () => {
  const layout = setLayout({ type: 'inet_proto . inet_service : verdict' })!;
  const els = elementsOf(messages(encode('add element ip t m { tcp . 1 comment "a, b" : goto c1, tcp . 2 : goto c2 }', layout))[0]!.body);
  assert.equal(els.length, 2);
  assert.equal(els[0]!.udata!.subarray(2).toString(), 'a, b\0');
  const many: string[] = [];
  for (let i = 0; i < 3000; i++) many.push(`tcp . ${i} comment "ns/service-${i}:port" : goto dnat-tcp-${i % 7}`);
  const ms = messages(encode(`add element ip t m { ${many.join(', ')} }`, layout));
  assert.ok(ms.length >= 2, `${ms.length} messages`);
  let total = 0;
  for (const m of ms) {
    assert.ok(readAttrs(m.body, 4).get(3)!.length < 65_535);
    total += elementsOf(m.body).length;
  }
  assert.equal(total, 3000);
});

test('what it cannot encode throws (the caller then sends nothing)', () => {
  const l = setLayout({ type: 'ipv4_addr . inet_service' })!;
  for (const bad of [
    'add element ip t s { 198.18.0.1 }', // one field of two
    'add element ip t s { 198.18.0.1 . 70000 }',
    'add element ip t s { 198.18.0.256 . 80 }',
    'add element ip t s { 2001:db8::1 . 80 }', // IPv6 in an IPv4 field
    'add element ip t s { 198.18.0.1 . http }',
    'add element ip t s { 198.18.0.1 . 80 comment "open }',
  ]) {
    assert.throws(() => encode(bad, l), /cannot encode/, bad);
  }
  assert.throws(() => encode('add element ip t m { 198.18.0.1 . 80 }', setLayout({ type: 'ipv4_addr . inet_service : verdict' })!), /cannot encode/, 'a map element without its value');
  assert.equal(parseElementCommand('flush set ip t s'), null);
  assert.equal(parseElementCommand('add rule ip t c { 1 }'), null);
});

test('batch marks: BEGIN and END of the nftables subsystem', () => {
  const w = new Writer(64);
  writeBatchMark(w, false, 1);
  writeBatchMark(w, true, 2);
  const [b, e] = messages(Buffer.from(w.bytes()));
  assert.equal(b!.type, 0x10);
  assert.equal(e!.type, 0x11);
  assert.deepEqual([...b!.body.subarray(0, 4)], [0, 0, 0, 10], 'AF_UNSPEC, res_id NFNL_SUBSYS_NFTABLES (big-endian)');
});
