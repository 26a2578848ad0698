// IPVS generic netlink encoding (src/kernel/ipvs/genl.ts): the ipvsadm -R lines the planner writes,
// read back as commands and encoded byte for byte as the kernel's ip_vs_ctl.c expects them. The
// guest's traffic tests send these messages to a real IPVS; here the bytes themselves are checked.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commandPayload, familyIdOf, familyRequest, inetAddr, parseDestReply, parseRestoreLine, writeCommand, writeDestDump, writeInetAddr } from '../../../src/kernel/ipvs/genl.js';
import { splitReplies, Writer } from '../../../src/kernel/netlink/message.js';
import { rsLine, vsLine } from '../../../src/kernel/ipvs/ipvsadm.js';
import type { VirtualServer } from '../../../src/kernel/ipvs/types.js';

const vs = (o: Partial<VirtualServer>): VirtualServer => ({ protocol: 'TCP', ip: '198.19.0.1', port: 80, scheduler: 'rr', persistence: 0, flags: [], reals: new Map(), ...o });

test('every line form the planner writes parses to its command', () => {
  const v6 = vs({ protocol: 'UDP', ip: '2001:db8::a', port: 53, scheduler: 'mh', flags: ['mh-port'], persistence: 10800 });
  assert.deepEqual(parseRestoreLine(vsLine('-A', v6)), {
    op: 'add-service',
    service: { protocol: 'UDP', ip: '2001:db8::a', port: 53 },
    scheduler: 'mh',
    flags: ['mh-port'],
    persistence: 10800,
  });
  assert.deepEqual(parseRestoreLine(vsLine('-E', vs({ protocol: 'SCTP' }))), { op: 'edit-service', service: { protocol: 'SCTP', ip: '198.19.0.1', port: 80 }, scheduler: 'rr', flags: [], persistence: 0 });
  assert.deepEqual(parseRestoreLine(rsLine('-a', vs({}), { ip: '198.18.1.2', port: 8080, weight: 1 })), { op: 'add-real', service: { protocol: 'TCP', ip: '198.19.0.1', port: 80 }, ip: '198.18.1.2', port: 8080, weight: 1 });
  assert.deepEqual(parseRestoreLine(rsLine('-e', v6, { ip: '2001:db8::1:2', port: 5353, weight: 0 })), { op: 'edit-real', service: { protocol: 'UDP', ip: '2001:db8::a', port: 53 }, ip: '2001:db8::1:2', port: 5353, weight: 0 });
  assert.deepEqual(parseRestoreLine('-D -t 198.19.0.1:80'), { op: 'delete-service', service: { protocol: 'TCP', ip: '198.19.0.1', port: 80 } });
  assert.deepEqual(parseRestoreLine('-d -u [2001:db8::a]:53 -r [2001:db8::1:2]:5353'), { op: 'delete-real', service: { protocol: 'UDP', ip: '2001:db8::a', port: 53 }, ip: '2001:db8::1:2', port: 5353 });
});

test('lines it cannot encode throw instead of sending something else', () => {
  for (const l of ['-X -t 198.19.0.1:80', '-A -t 198.19.0.1:80', '-A -x 198.19.0.1:80 -s rr', '-a -t 198.19.0.1:80 -r 198.18.1.1:80 -g -w 1', '-A -t 198.19.0.1:99999 -s rr', '-A -t 198.19.0.1:80 -s rr -q', '-a -t 198.19.0.1:80 -r 198.18.1.1:80 -m -w x']) {
    assert.throws(() => parseRestoreLine(l), /IPVS command/, l);
  }
  assert.throws(() => commandPayload({ op: 'add-service', service: { protocol: 'TCP', ip: '198.19.0.1', port: 80 }, scheduler: 'rr', flags: ['no-such-flag'], persistence: 0 }), /unknown scheduler flag/);
  assert.throws(() => inetAddr('198.19.0.256'), /bad IP address/);
});

test('add-service: genlmsghdr then the full service entry, byte for byte', () => {
  const b = commandPayload(parseRestoreLine('-A -t 198.19.0.1:80 -s rr -p 30'));
  const hex = b.toString('hex');
  assert.equal(
    hex,
    [
      '01010000', // IPVS_CMD_NEW_SERVICE, version 1
      '54000180', // IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED, 84 bytes (ipvsadm's own service nest is 84 bytes too)
      '060001000200' + '0000', // AF = AF_INET, padded
      '060002000600' + '0000', // PROTOCOL = IPPROTO_TCP
      '14000300' + 'c6130001' + '00'.repeat(12), // ADDR: 198.19.0.1 in a 16-byte nf_inet_addr
      '060004000050' + '0000', // PORT 80, network order
      '07000600' + '727200' + '00', // SCHED_NAME "rr\0", padded
      '0c000700' + '01000000' + 'ffffffff', // FLAGS {flags: PERSISTENT, mask: all}
      '08000800' + '1e000000', // TIMEOUT 30 s
      '08000900' + 'ffffffff', // NETMASK /32
    ].join(''),
  );
});

/** Attributes of a payload after the 4-byte genlmsghdr (or of a nest), by type (nested flag dropped). */
function attrs(b: Buffer, from = 4): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (let o = from; o + 4 <= b.length; ) {
    const len = b.readUInt16LE(o);
    m.set(b.readUInt16LE(o + 2) & 0x7fff, b.subarray(o + 4, o + len));
    o += (len + 3) & ~3;
  }
  return m;
}

test('real servers carry the service key and the full destination; IPv6 and scheduler flags', () => {
  const add = commandPayload(parseRestoreLine('-a -u [2001:db8::a]:53 -r [2001:db8::1:2]:5353 -m -w 3'));
  assert.equal(add[0], 5); // IPVS_CMD_NEW_DEST
  const top = attrs(add);
  const svc = attrs(top.get(1)!, 0);
  assert.deepEqual([...svc.keys()], [1, 2, 3, 4], 'the service key only: AF, PROTOCOL, ADDR, PORT');
  assert.equal(svc.get(1)!.readUInt16LE(0), 10); // AF_INET6
  assert.equal(svc.get(2)!.readUInt16LE(0), 17); // IPPROTO_UDP
  assert.equal(svc.get(3)!.toString('hex'), '20010db800000000000000000000000a');
  assert.equal(svc.get(4)!.readUInt16BE(0), 53);
  const dest = attrs(top.get(2)!, 0);
  assert.equal(dest.get(1)!.toString('hex'), '20010db8000000000000000000010002');
  assert.equal(dest.get(2)!.readUInt16BE(0), 5353);
  assert.equal(dest.get(3)!.readUInt32LE(0), 0); // IP_VS_CONN_F_MASQ
  assert.equal(dest.get(4)!.readUInt32LE(0), 3); // weight
  assert.equal(dest.get(5)!.readUInt32LE(0), 0);
  assert.equal(dest.get(6)!.readUInt32LE(0), 0);
  assert.equal(dest.get(11)!.readUInt16LE(0), 10); // ADDR_FAMILY

  const mh = attrs(attrs(commandPayload(parseRestoreLine('-A -t 198.19.0.1:80 -s mh -b mh-port'))).get(1)!, 0);
  assert.equal(mh.get(7)!.readUInt32LE(0), 0x10, 'mh-port is IP_VS_SVC_F_SCHED2');
  assert.equal(mh.get(6)!.toString('latin1'), 'mh\0');
  const v6 = attrs(attrs(commandPayload(parseRestoreLine('-E -t [2001:db8::a]:80 -s rr'))).get(1)!, 0);
  assert.equal(v6.get(9)!.readUInt32LE(0), 128, 'IPv6 netmask: prefix length 128');

  const del = commandPayload(parseRestoreLine('-d -t 198.19.0.1:80 -r 198.18.1.2:8080'));
  assert.equal(del[0], 7); // IPVS_CMD_DEL_DEST
  assert.deepEqual([...attrs(attrs(del).get(2)!, 0).keys()], [1, 2], 'a delete names the real server only');
  const delSvc = commandPayload(parseRestoreLine('-D -t 198.19.0.1:80'));
  assert.equal(delSvc[0], 3); // IPVS_CMD_DEL_SERVICE
  assert.deepEqual([...attrs(attrs(delSvc).get(1)!, 0).keys()], [1, 2, 3, 4]);
});

test('replies: acknowledgements, errors and the family id are read from one datagram', () => {
  const ack = (seq: number, err: number): Buffer => {
    const b = Buffer.alloc(36);
    b.writeUInt32LE(36, 0);
    b.writeUInt16LE(2, 4); // NLMSG_ERROR
    b.writeUInt32LE(seq, 8);
    b.writeInt32LE(err, 16);
    return b;
  };
  // CTRL_CMD_NEWFAMILY: FAMILY_NAME "IPVS", FAMILY_ID 0x20.
  const body = Buffer.from('01020000' + '0900020049505653000000' + '00' + '06000100' + '2000' + '0000', 'hex');
  const fam = Buffer.concat([Buffer.alloc(16), body]);
  fam.writeUInt32LE(fam.length, 0);
  fam.writeUInt16LE(0x10, 4);
  fam.writeUInt32LE(7, 8);
  const r = splitReplies(Buffer.concat([fam, ack(7, 0), ack(9, -17)]));
  assert.equal(r.length, 3);
  assert.equal(r[0]!.kind, 'data');
  assert.equal(r[0]!.kind === 'data' ? familyIdOf(r[0]!.body) : null, 0x20);
  assert.deepEqual(r[1], { kind: 'ack', seq: 7, errno: 0 });
  assert.deepEqual(r[2], { kind: 'ack', seq: 9, errno: 17 });
  const req = familyRequest(5);
  assert.equal(req.readUInt16LE(4), 0x10); // GENL_ID_CTRL
  assert.equal(req.readUInt16LE(6), 0x5); // REQUEST | ACK
  assert.ok(req.includes(Buffer.from('IPVS\0')));
});

test('a batch: messages back to back, each with its length, flags and sequence; payloads as on their own', () => {
  const lines = ['-A -t 198.19.0.1:80 -s rr', '-a -t 198.19.0.1:80 -r 198.18.1.2:8080 -m -w 1', '-D -t [2001:db8::a]:443'];
  const w = new Writer(8); // grows as needed
  lines.forEach((l, i) => {
    const m = w.begin(0x20, i === lines.length - 1 ? 0x5 : 0x1, 100 + i);
    writeCommand(w, parseRestoreLine(l));
    w.end(m);
  });
  const b = w.bytes();
  let o = 0;
  lines.forEach((l, i) => {
    const len = b.readUInt32LE(o);
    assert.equal(b.readUInt16LE(o + 4), 0x20);
    assert.equal(b.readUInt16LE(o + 6), i === lines.length - 1 ? 0x5 : 0x1, 'only the last asks for an acknowledgement');
    assert.equal(b.readUInt32LE(o + 8), 100 + i);
    assert.deepEqual(b.subarray(o + 16, o + len), commandPayload(parseRestoreLine(l)));
    assert.equal(len % 4, 0);
    o += len;
  });
  assert.equal(o, b.length);
});

test('drain counts: a GET_DEST dump request for one service; its answers read as address, port and connections', () => {
  const req = new Writer(64);
  writeDestDump(req, 0x20, 9, { protocol: 'TCP', ip: '198.19.0.40', port: 80 });
  const b = req.bytes();
  assert.equal(b.readUInt16LE(6), 0x301, 'REQUEST | DUMP');
  assert.equal(b[16], 8, 'IPVS_CMD_GET_DEST');
  assert.deepEqual([...attrs(attrs(Buffer.from(b.subarray(16))).get(1)!, 0).keys()], [1, 2, 3, 4], 'the service key');

  // An answer as the kernel writes it (ip_vs_genl_fill_dest): genlmsghdr, then the dest nest.
  const answer = (ip: string, port: number, active: number, inactive: number, withFamily: boolean): Buffer => {
    const w = new Writer(64);
    w.genl(5, 1);
    const d = w.open(2);
    writeInetAddr(w, 1, ip);
    w.be16(2, port);
    w.u32(3, 0);
    w.u32(4, 0);
    w.u32(7, active);
    w.u32(8, inactive);
    w.u32(9, 0);
    if (withFamily) w.u16(11, ip.includes(':') ? 10 : 2);
    w.close(d);
    return Buffer.from(w.bytes());
  };
  assert.deepEqual(parseDestReply(answer('198.18.1.2', 8080, 1, 2, true), false), { ip: '198.18.1.2', port: 8080, connections: 3 });
  // Older kernels send no address family: the service's is used. IPv6 comes back in canonical form.
  assert.deepEqual(parseDestReply(answer('2001:db8:0:0::1:2', 8443, 0, 0, false), true), { ip: '2001:db8::1:2', port: 8443, connections: 0 });
  const noDest = new Writer(16);
  noDest.genl(5, 1);
  assert.equal(parseDestReply(Buffer.from(noDest.bytes()), false), null);
});
