// IPVS over generic netlink, as bytes: the `ipvsadm -R` lines the IPVS dataplane plans (ipvsadm.ts
// spells them) encoded as the IPVS family's netlink messages, and the kernel's answers decoded.
// Pure: no socket here (netlink.ts sends them).
//
// Why not `ipvsadm -R`: libipvs opens a new netlink socket and resolves the IPVS family again for
// every line (socket, bind, two request/answer round trips, close). At 10k services × 10 endpoints
// that is 110k × ~10 system calls; in the emulated IPVS guest ipvsadm -R took ~86 s where the
// same 110k messages sent in batches over one socket take ~5 s.
//
// Layout (include/uapi/linux/ip_vs.h, kernel ip_vs_ctl.c): nlmsghdr, genlmsghdr {cmd, version 1},
// then IPVS_CMD_ATTR_SERVICE (nested) and, for real servers, IPVS_CMD_ATTR_DEST (nested). A service
// that is added or edited carries every "full entry" attribute the kernel requires (scheduler,
// flags, timeout, netmask); one that only names the service for a real server or a delete carries
// its key (family, protocol, address, port); likewise a real server's full entry (forwarding
// method, weight, thresholds) or only its key (address, port).

import { isIPv6 } from 'node:net';
import { parseIPSloppy } from '../../model/ip.js';
import type { Protocol } from '../../model/types.js';

export const NETLINK_GENERIC = 16;
const GENL_ID_CTRL = 0x10;
const CTRL_CMD_GETFAMILY = 3;
const CTRL_ATTR_FAMILY_ID = 1;
const CTRL_ATTR_FAMILY_NAME = 2;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
const NLA_F_NESTED = 0x8000;
const IPVS_GENL_VERSION = 1;

const CMD = { NEW_SERVICE: 1, SET_SERVICE: 2, DEL_SERVICE: 3, NEW_DEST: 5, SET_DEST: 6, DEL_DEST: 7 } as const;
const CMD_ATTR_SERVICE = 1;
const CMD_ATTR_DEST = 2;
const SVC = { AF: 1, PROTOCOL: 2, ADDR: 3, PORT: 4, SCHED_NAME: 6, FLAGS: 7, TIMEOUT: 8, NETMASK: 9 } as const;
const DEST = { ADDR: 1, PORT: 2, FWD_METHOD: 3, WEIGHT: 4, U_THRESH: 5, L_THRESH: 6, ADDR_FAMILY: 11 } as const;
const AF_INET = 2;
const AF_INET6 = 10;
const IP_VS_CONN_F_MASQ = 0;
const IP_VS_SVC_F_PERSISTENT = 0x1;
/** ipvsadm -b names → IP_VS_SVC_F_SCHED1..3 (ipvsadm's own table: the sh/mh names are aliases). */
const SCHED_FLAGS: Readonly<Record<string, number>> = {
  'flag-1': 0x8,
  'sh-fallback': 0x8,
  'mh-fallback': 0x8,
  'flag-2': 0x10,
  'sh-port': 0x10,
  'mh-port': 0x10,
  'flag-3': 0x20,
};
const PROTOCOLS: Readonly<Record<Protocol, number>> = { TCP: 6, UDP: 17, SCTP: 132 };

export interface IpvsServiceKey {
  readonly protocol: Protocol;
  readonly ip: string;
  readonly port: number;
}

/** One `ipvsadm -R` line, as data. */
export type IpvsCommand =
  | { readonly op: 'add-service' | 'edit-service'; readonly service: IpvsServiceKey; readonly scheduler: string; readonly flags: readonly string[]; readonly persistence: number }
  | { readonly op: 'delete-service'; readonly service: IpvsServiceKey }
  | { readonly op: 'add-real' | 'edit-real'; readonly service: IpvsServiceKey; readonly ip: string; readonly port: number; readonly weight: number }
  | { readonly op: 'delete-real'; readonly service: IpvsServiceKey; readonly ip: string; readonly port: number };

const PROTO_FLAGS: Readonly<Record<string, Protocol>> = { '-t': 'TCP', '-u': 'UDP', '--sctp-service': 'SCTP' };

function parseHostPort(s: string): { ip: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(s);
  const port = Number(m?.[3]);
  if (!m || !(port >= 0 && port <= 65535)) throw new Error(`IPVS command: bad address "${s}"`);
  return { ip: m[1] ?? m[2]!, port };
}

/**
 * The command of one line in the forms ipvsadm.ts writes (vsLine, rsLine, `-D`/`-d` deletions).
 * Anything else throws: lines come from the planner, so an unknown one is a bug, not input.
 */
export function parseRestoreLine(line: string): IpvsCommand {
  const w = line.trim().split(/\s+/);
  const bad = (): never => {
    throw new Error(`IPVS command: unsupported ipvsadm line "${line}"`);
  };
  const verb = w[0];
  const protocol = PROTO_FLAGS[w[1] ?? ''] ?? bad();
  const service = { protocol, ...parseHostPort(w[2] ?? bad()) };
  const opts = new Map<string, string>();
  for (let i = 3; i < w.length; i++) {
    const k = w[i]!;
    if (k === '-m') opts.set(k, '');
    else if (k === '-s' || k === '-b' || k === '-p' || k === '-r' || k === '-w') opts.set(k, w[++i] ?? bad());
    else bad();
  }
  const num = (k: string, dflt: number): number => {
    const v = opts.get(k);
    if (v === undefined) return dflt;
    if (!/^\d+$/.test(v)) bad();
    return Number(v);
  };
  switch (verb) {
    case '-A':
    case '-E':
      return {
        op: verb === '-A' ? 'add-service' : 'edit-service',
        service,
        scheduler: opts.get('-s') ?? bad(),
        flags: (opts.get('-b') ?? '').split(',').filter((f) => f !== ''),
        persistence: num('-p', 0),
      };
    case '-D':
      return { op: 'delete-service', service };
    case '-a':
    case '-e': {
      if (!opts.has('-m')) bad(); // masquerading is the only forwarding method kube-proxy uses
      return { op: verb === '-a' ? 'add-real' : 'edit-real', service, ...parseHostPort(opts.get('-r') ?? bad()), weight: num('-w', 1) };
    }
    case '-d':
      return { op: 'delete-real', service, ...parseHostPort(opts.get('-r') ?? bad()) };
    default:
      return bad();
  }
}

// ---- encoding ----

function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  payload.copy(b, 4);
  return b;
}
function nested(type: number, parts: readonly Buffer[]): Buffer {
  return attr(type | NLA_F_NESTED, Buffer.concat(parts));
}
function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
}
function be16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}
function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}
function cstring(s: string): Buffer {
  return Buffer.from(s + '\0', 'latin1');
}

/** union nf_inet_addr: 16 bytes, an IPv4 address in the first 4. */
export function inetAddr(ip: string): Buffer {
  const p = parseIPSloppy(ip);
  if (!p) throw new Error(`IPVS command: bad IP address "${ip}"`);
  const b = Buffer.alloc(16);
  b.set(p.bytes);
  return b;
}

function af(ip: string): number {
  return isIPv6(ip) ? AF_INET6 : AF_INET;
}

function serviceKeyAttrs(s: IpvsServiceKey): Buffer[] {
  return [attr(SVC.AF, u16(af(s.ip))), attr(SVC.PROTOCOL, u16(PROTOCOLS[s.protocol])), attr(SVC.ADDR, inetAddr(s.ip)), attr(SVC.PORT, be16(s.port))];
}

/** The generic netlink payload (genlmsghdr + attributes) of one command. */
export function commandPayload(c: IpvsCommand): Buffer {
  let cmd: number;
  const attrs: Buffer[] = [];
  switch (c.op) {
    case 'add-service':
    case 'edit-service': {
      cmd = c.op === 'add-service' ? CMD.NEW_SERVICE : CMD.SET_SERVICE;
      let flags = c.persistence > 0 ? IP_VS_SVC_F_PERSISTENT : 0;
      for (const f of c.flags) {
        const bit = SCHED_FLAGS[f];
        if (bit === undefined) throw new Error(`IPVS command: unknown scheduler flag "${f}"`);
        flags |= bit;
      }
      const fl = Buffer.alloc(8);
      fl.writeUInt32LE(flags, 0);
      fl.writeUInt32LE(0xffffffff, 4); // mask: every flag is set or cleared, as ipvsadm does
      // Netmask: the persistence granularity; ipvsadm's defaults are /32 (all ones) and, for IPv6,
      // the prefix length 128 (the kernel reads it as a plain number there).
      const netmask = af(c.service.ip) === AF_INET6 ? 128 : 0xffffffff;
      attrs.push(
        nested(CMD_ATTR_SERVICE, [
          ...serviceKeyAttrs(c.service),
          attr(SVC.SCHED_NAME, cstring(c.scheduler)),
          attr(SVC.FLAGS, fl),
          attr(SVC.TIMEOUT, u32(c.persistence)),
          attr(SVC.NETMASK, u32(netmask)),
        ]),
      );
      break;
    }
    case 'delete-service':
      cmd = CMD.DEL_SERVICE;
      attrs.push(nested(CMD_ATTR_SERVICE, serviceKeyAttrs(c.service)));
      break;
    case 'add-real':
    case 'edit-real':
      cmd = c.op === 'add-real' ? CMD.NEW_DEST : CMD.SET_DEST;
      attrs.push(
        nested(CMD_ATTR_SERVICE, serviceKeyAttrs(c.service)),
        nested(CMD_ATTR_DEST, [
          attr(DEST.ADDR, inetAddr(c.ip)),
          attr(DEST.PORT, be16(c.port)),
          attr(DEST.FWD_METHOD, u32(IP_VS_CONN_F_MASQ)),
          attr(DEST.WEIGHT, u32(c.weight)),
          attr(DEST.U_THRESH, u32(0)),
          attr(DEST.L_THRESH, u32(0)),
          attr(DEST.ADDR_FAMILY, u16(af(c.ip))),
        ]),
      );
      break;
    case 'delete-real':
      cmd = CMD.DEL_DEST;
      attrs.push(nested(CMD_ATTR_SERVICE, serviceKeyAttrs(c.service)), nested(CMD_ATTR_DEST, [attr(DEST.ADDR, inetAddr(c.ip)), attr(DEST.PORT, be16(c.port))]));
      break;
  }
  return Buffer.concat([Buffer.from([cmd, IPVS_GENL_VERSION, 0, 0]), ...attrs]);
}

/** A netlink message: nlmsghdr (length, type, flags, sequence, port 0: the kernel fills ours in) + payload. */
export function netlinkMessage(type: number, flags: number, seq: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + payload.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(seq >>> 0, 8);
  return Buffer.concat([h, payload]);
}

/** CTRL_CMD_GETFAMILY for "IPVS" (the family's id is assigned at module load). */
export function familyRequest(seq: number): Buffer {
  return netlinkMessage(GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, seq, Buffer.concat([Buffer.from([CTRL_CMD_GETFAMILY, 1, 0, 0]), attr(CTRL_ATTR_FAMILY_NAME, cstring('IPVS'))]));
}

// ---- decoding ----

export type NetlinkReply =
  | { readonly kind: 'ack'; readonly seq: number; readonly errno: number }
  | { readonly kind: 'done'; readonly seq: number }
  | { readonly kind: 'data'; readonly seq: number; readonly type: number; readonly body: Buffer };

/** The messages of one datagram (several may share it). */
export function splitReplies(buf: Buffer): NetlinkReply[] {
  const out: NetlinkReply[] = [];
  let o = 0;
  while (o + 16 <= buf.length) {
    const len = buf.readUInt32LE(o);
    if (len < 16 || o + len > buf.length) break;
    const type = buf.readUInt16LE(o + 4);
    const seq = buf.readUInt32LE(o + 8);
    // NLMSG_ERROR: int error (0 = an acknowledgement), then the request's header.
    if (type === NLMSG_ERROR && len >= 20) out.push({ kind: 'ack', seq, errno: 0 - buf.readInt32LE(o + 16) });
    else if (type === NLMSG_DONE) out.push({ kind: 'done', seq });
    else out.push({ kind: 'data', seq, type, body: buf.subarray(o + 16, o + len) });
    o += (len + 3) & ~3;
  }
  return out;
}

/** CTRL_ATTR_FAMILY_ID of a CTRL_CMD_NEWFAMILY answer's body (after the genlmsghdr), or null. */
export function familyIdOf(body: Buffer): number | null {
  let o = 4;
  while (o + 4 <= body.length) {
    const len = body.readUInt16LE(o);
    const type = body.readUInt16LE(o + 2) & ~NLA_F_NESTED;
    if (len < 4) break;
    if (type === CTRL_ATTR_FAMILY_ID && len >= 6) return body.readUInt16LE(o + 4);
    o += (len + 3) & ~3;
  }
  return null;
}
