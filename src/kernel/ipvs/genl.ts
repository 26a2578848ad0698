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

import { parseIPSloppy } from '../../model/ip.js';
import type { Protocol } from '../../model/types.js';
import { NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, readAttrs, Writer } from '../netlink/message.js';

export const NETLINK_GENERIC = 16;
const GENL_ID_CTRL = 0x10;
const CTRL_CMD_GETFAMILY = 3;
const CTRL_ATTR_FAMILY_ID = 1;
const CTRL_ATTR_FAMILY_NAME = 2;
const IPVS_GENL_VERSION = 1;

const CMD = { NEW_SERVICE: 1, SET_SERVICE: 2, DEL_SERVICE: 3, NEW_DEST: 5, SET_DEST: 6, DEL_DEST: 7, GET_DEST: 8 } as const;
const CMD_ATTR_SERVICE = 1;
const CMD_ATTR_DEST = 2;
const SVC = { AF: 1, PROTOCOL: 2, ADDR: 3, PORT: 4, SCHED_NAME: 6, FLAGS: 7, TIMEOUT: 8, NETMASK: 9 } as const;
const DEST = { ADDR: 1, PORT: 2, FWD_METHOD: 3, WEIGHT: 4, U_THRESH: 5, L_THRESH: 6, ACTIVE_CONNS: 7, INACT_CONNS: 8, ADDR_FAMILY: 11 } as const;
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

function parseHostPort(s: string, bad: () => never): { ip: string; port: number } {
  const c = s.lastIndexOf(':');
  let ip = s.slice(0, c);
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  else if (ip.includes(':') || ip.includes('[')) bad();
  const p = s.slice(c + 1);
  const port = Number(p);
  if (c <= 0 || p.length === 0 || p.length > 5 || !Number.isInteger(port) || port < 0 || port > 65535 || p.includes('.') || p.includes('e')) bad();
  return { ip, port };
}

function parseCount(v: string | undefined, bad: () => never): number {
  const n = Number(v);
  if (v === undefined || v.length === 0 || !Number.isInteger(n) || n < 0 || !/^\d+$/.test(v)) bad();
  return n;
}

/** The service of the previous line: a real server's line repeats its service's `-t VIP:port`. */
let lastService: { flag: string; hp: string; key: IpvsServiceKey } | null = null;

/**
 * The command of one line in the forms ipvsadm.ts writes (vsLine, rsLine, `-D`/`-d` deletions).
 * Anything else throws: lines come from the planner, so an unknown one is a bug, not input.
 * Hand-scanned (no per-line regular expressions or maps): a full sync at 10k services has 110k.
 */
export function parseRestoreLine(line: string): IpvsCommand {
  // The planner writes single spaces; anything else takes the general split.
  let w = line.split(' ');
  if (w.includes('')) w = line.trim().split(/\s+/);
  const bad = (): never => {
    throw new Error(`IPVS command: unsupported ipvsadm line "${line}"`);
  };
  const verb = w[0];
  const flag = w[1] ?? bad();
  const hp = w[2] ?? bad();
  let service: IpvsServiceKey;
  if (lastService !== null && lastService.flag === flag && lastService.hp === hp) service = lastService.key;
  else {
    const protocol = PROTO_FLAGS[flag] ?? bad();
    service = { protocol, ...parseHostPort(hp, bad) };
    lastService = { flag, hp, key: service };
  }
  let sched: string | undefined;
  let flags: string | undefined;
  let persist: string | undefined;
  let real: string | undefined;
  let weight: string | undefined;
  let masq = false;
  for (let i = 3; i < w.length; i++) {
    switch (w[i]) {
      case '-m':
        masq = true;
        break;
      case '-s':
        sched = w[++i] ?? bad();
        break;
      case '-b':
        flags = w[++i] ?? bad();
        break;
      case '-p':
        persist = w[++i] ?? bad();
        break;
      case '-r':
        real = w[++i] ?? bad();
        break;
      case '-w':
        weight = w[++i] ?? bad();
        break;
      default:
        bad();
    }
  }
  switch (verb) {
    case '-A':
    case '-E':
      return {
        op: verb === '-A' ? 'add-service' : 'edit-service',
        service,
        scheduler: sched ?? bad(),
        flags: (flags ?? '').split(',').filter((f) => f !== ''),
        persistence: persist === undefined ? 0 : parseCount(persist, bad),
      };
    case '-D':
      return { op: 'delete-service', service };
    case '-a':
    case '-e':
      if (!masq) bad(); // masquerading is the only forwarding method kube-proxy uses
      return { op: verb === '-a' ? 'add-real' : 'edit-real', service, ...parseHostPort(real ?? bad(), bad), weight: weight === undefined ? 1 : parseCount(weight, bad) };
    case '-d':
      return { op: 'delete-real', service, ...parseHostPort(real ?? bad(), bad) };
    default:
      return bad();
  }
}

// ---- encoding ----

/** The last address encoded: a service's address is written once per real server. */
let lastIP = '';
let lastBytes: Uint8Array = new Uint8Array(0);

function ipBytes(ip: string): Uint8Array {
  if (ip === lastIP) return lastBytes;
  const p = parseIPSloppy(ip);
  if (!p) throw new Error(`IPVS command: bad IP address "${ip}"`);
  lastIP = ip;
  lastBytes = p.bytes;
  return p.bytes;
}

/** union nf_inet_addr: 16 bytes, an IPv4 address in the first 4. */
export function writeInetAddr(w: Writer, type: number, ip: string): void {
  const bytes = ipBytes(ip);
  const at = w.fixed(type, 16);
  w.buffer().set(bytes, at);
}

/** union nf_inet_addr of `ip` (16 bytes). */
export function inetAddr(ip: string): Buffer {
  const b = Buffer.alloc(16);
  b.set(ipBytes(ip));
  return b;
}

function af(ip: string): number {
  return ip.includes(':') ? AF_INET6 : AF_INET;
}

function writeServiceKey(w: Writer, s: IpvsServiceKey): void {
  w.u16(SVC.AF, af(s.ip));
  w.u16(SVC.PROTOCOL, PROTOCOLS[s.protocol]);
  writeInetAddr(w, SVC.ADDR, s.ip);
  w.be16(SVC.PORT, s.port);
}

/** genlmsghdr + attributes of one command, appended to `w`. */
export function writeCommand(w: Writer, c: IpvsCommand): void {
  switch (c.op) {
    case 'add-service':
    case 'edit-service': {
      let flags = c.persistence > 0 ? IP_VS_SVC_F_PERSISTENT : 0;
      for (const f of c.flags) {
        const bit = SCHED_FLAGS[f];
        if (bit === undefined) throw new Error(`IPVS command: unknown scheduler flag "${f}"`);
        flags |= bit;
      }
      w.genl(c.op === 'add-service' ? CMD.NEW_SERVICE : CMD.SET_SERVICE, IPVS_GENL_VERSION);
      const svc = w.open(CMD_ATTR_SERVICE);
      writeServiceKey(w, c.service);
      w.cstring(SVC.SCHED_NAME, c.scheduler);
      w.u32pair(SVC.FLAGS, flags, 0xffffffff); // mask: every flag is set or cleared, as ipvsadm does
      w.u32(SVC.TIMEOUT, c.persistence);
      // Netmask: the persistence granularity; ipvsadm's defaults are /32 (all ones) and, for IPv6,
      // the prefix length 128 (the kernel reads it as a plain number there).
      w.u32(SVC.NETMASK, af(c.service.ip) === AF_INET6 ? 128 : 0xffffffff);
      w.close(svc);
      return;
    }
    case 'delete-service': {
      w.genl(CMD.DEL_SERVICE, IPVS_GENL_VERSION);
      const svc = w.open(CMD_ATTR_SERVICE);
      writeServiceKey(w, c.service);
      w.close(svc);
      return;
    }
    case 'add-real':
    case 'edit-real':
    case 'delete-real': {
      w.genl(c.op === 'add-real' ? CMD.NEW_DEST : c.op === 'edit-real' ? CMD.SET_DEST : CMD.DEL_DEST, IPVS_GENL_VERSION);
      const svc = w.open(CMD_ATTR_SERVICE);
      writeServiceKey(w, c.service);
      w.close(svc);
      const dest = w.open(CMD_ATTR_DEST);
      writeInetAddr(w, DEST.ADDR, c.ip);
      w.be16(DEST.PORT, c.port);
      if (c.op !== 'delete-real') {
        w.u32(DEST.FWD_METHOD, IP_VS_CONN_F_MASQ);
        w.u32(DEST.WEIGHT, c.weight);
        w.u32(DEST.U_THRESH, 0);
        w.u32(DEST.L_THRESH, 0);
        w.u16(DEST.ADDR_FAMILY, af(c.ip));
      }
      w.close(dest);
      return;
    }
  }
}

/** The generic netlink payload (genlmsghdr + attributes) of one command, on its own (tests, display). */
export function commandPayload(c: IpvsCommand): Buffer {
  const w = new Writer(256);
  writeCommand(w, c);
  return Buffer.from(w.bytes());
}

/** IPVS_CMD_GET_DEST as a dump: every real server of `service`, with its connection counts. */
export function writeDestDump(w: Writer, familyId: number, seq: number, service: IpvsServiceKey): void {
  const m = w.begin(familyId, NLM_F_REQUEST | NLM_F_DUMP, seq);
  w.genl(CMD.GET_DEST, IPVS_GENL_VERSION);
  const svc = w.open(CMD_ATTR_SERVICE);
  writeServiceKey(w, service);
  w.close(svc);
  w.end(m);
}

export interface DestCounts {
  readonly ip: string;
  readonly port: number;
  /** ActiveConn + InActConn, as `ipvsadm -L -n` shows them. */
  readonly connections: number;
}

/** One real server of a GET_DEST dump answer (the body after nlmsghdr), or null if it has none. */
export function parseDestReply(body: Buffer, serviceIsIPv6: boolean): DestCounts | null {
  const dest = readAttrs(body, 4).get(CMD_ATTR_DEST);
  if (!dest) return null;
  const a = readAttrs(dest, 0);
  const addr = a.get(DEST.ADDR);
  const port = a.get(DEST.PORT);
  if (!addr || addr.length < 16 || !port || port.length < 2) return null;
  const fam = a.get(DEST.ADDR_FAMILY);
  const v6 = fam && fam.length >= 2 ? fam.readUInt16LE(0) === AF_INET6 : serviceIsIPv6;
  let ip: string;
  if (v6) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(addr.readUInt16BE(i).toString(16));
    ip = parseIPSloppy(groups.join(':'))?.text ?? groups.join(':');
  } else ip = `${addr[0]}.${addr[1]}.${addr[2]}.${addr[3]}`;
  const n = (t: number): number => {
    const v = a.get(t);
    return v && v.length >= 4 ? v.readUInt32LE(0) : 0;
  };
  return { ip, port: port.readUInt16BE(0), connections: n(DEST.ACTIVE_CONNS) + n(DEST.INACT_CONNS) };
}

/** CTRL_CMD_GETFAMILY for "IPVS" (the family's id is assigned at module load). */
export function familyRequest(seq: number): Buffer {
  const w = new Writer(64);
  const m = w.begin(GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, seq);
  w.genl(CTRL_CMD_GETFAMILY, 1);
  w.cstring(CTRL_ATTR_FAMILY_NAME, 'IPVS');
  w.end(m);
  return Buffer.from(w.bytes());
}

/** CTRL_ATTR_FAMILY_ID of a CTRL_CMD_NEWFAMILY answer's body (after the genlmsghdr), or null. */
export function familyIdOf(body: Buffer): number | null {
  const id = readAttrs(body, 4).get(CTRL_ATTR_FAMILY_ID);
  return id && id.length >= 2 ? id.readUInt16LE(0) : null;
}
