// nftables set and map elements as nfnetlink messages: the `add element` / `delete element`
// commands a plan renders (objects.ts), read back and encoded as NFT_MSG_NEWSETELEM /
// NFT_MSG_DELSETELEM in a batch, the bytes `nft` itself would send for them. Pure: no socket here
// (elements-socket.ts sends them).
//
// Why: `nft` parses and evaluates every element of its input in one thread before the kernel sees
// any (at 10k services, 150k elements: ~0.6 s on both cores of this machine, most of the start);
// and for the few elements of one change, a long-lived `nft -i` still pays a cache check, a pipe
// round trip and a process wake-up (2-3 ms, up to 10 on a busy node). Written here, the same
// elements cost the encoding in JS and the kernel's own work.
//
// Only what the planners use is encoded, and anything else makes the caller use `nft`: element keys
// and values of the types below (concatenations included), verdicts, and comments; no intervals, no
// timeouts. Layout (include/uapi/linux/netfilter/nf_tables.h, net/netfilter/nf_tables_api.c): each
// message carries NFTA_SET_ELEM_LIST_TABLE, _SET and _ELEMENTS, a list of NFTA_LIST_ELEM, each with
// NFTA_SET_ELEM_KEY (and _DATA for maps) holding NFTA_DATA_VALUE bytes or an NFTA_DATA_VERDICT. In a
// concatenation every field takes a multiple of 4 bytes (a register), zero-padded.

import { endianness } from 'node:os';
import { parseIPSloppy } from '../../model/ip.js';
import { NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST, Writer } from '../netlink/message.js';
import type { SetSpec } from './objects.js';

export const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NFT_MSG_GETGEN = 16;
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_DATA = 2;
const NFTA_SET_ELEM_USERDATA = 6;
const NFTA_DATA_VALUE = 1;
const NFTA_DATA_VERDICT = 2;
const NFTA_VERDICT_CODE = 1;
const NFTA_VERDICT_CHAIN = 2;
/** libnftnl's NFTNL_UDATA_SET_ELEM_COMMENT: the type of the comment in an element's user data. */
const UDATA_SET_ELEM_COMMENT = 0;
const NFPROTO: Readonly<Record<string, number>> = { inet: 1, ip: 2, ip6: 10 };
const VERDICTS: Readonly<Record<string, number>> = { accept: 1, drop: 0, continue: -1, return: -5 };
const CHAIN_VERDICTS: Readonly<Record<string, number>> = { jump: -3, goto: -4 };
const PROTOCOLS: Readonly<Record<string, number>> = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58, sctp: 132 };
/** An element list's nest length is 16 bits: a message's elements stay below it. */
const MAX_ELEMENTS_BYTES = 60_000;
const LITTLE_ENDIAN = endianness() === 'LE';

/** One field of a key or value: its length in bytes and how its text is written. */
type FieldType = 'ipv4' | 'ipv6' | 'proto' | 'port' | 'host32';
const FIELD_LEN: Readonly<Record<FieldType, number>> = { ipv4: 4, ipv6: 16, proto: 1, port: 2, host32: 4 };

/** How the elements of one set or map are written. */
export interface SetLayout {
  readonly key: readonly FieldType[];
  /** Map values: fields, or verdicts; null for a set. */
  readonly data: readonly FieldType[] | 'verdict' | null;
}

const TYPE_FIELDS: Readonly<Record<string, FieldType>> = { ipv4_addr: 'ipv4', ipv6_addr: 'ipv6', inet_proto: 'proto', inet_service: 'port' };

function typeOfField(expr: string): FieldType | null {
  if (/^ip (s|d)addr$/.test(expr)) return 'ipv4';
  if (/^ip6 (s|d)addr$/.test(expr)) return 'ipv6';
  if (/^(tcp|udp|sctp|th) (s|d)port$/.test(expr)) return 'port';
  if (expr === 'meta l4proto' || expr === 'ip protocol' || expr === 'ip6 nexthdr') return 'proto';
  // numgen's value is a 32-bit integer in host byte order.
  if (/^numgen (random|inc) mod \d+$/.test(expr)) return 'host32';
  return null;
}

/** The layout of a set declared with `spec`, or null when its elements are left to `nft`. */
export function setLayout(spec: SetSpec): SetLayout | null {
  if (spec.timeout !== undefined || (spec.flags ?? []).some((f) => f !== 'constant' && f !== 'dynamic')) return null;
  const decl = spec.type ?? spec.typeOf;
  if (decl === undefined) return null;
  const [keyText, dataText, extra] = decl.split(' : ');
  if (keyText === undefined || extra !== undefined) return null;
  const fields = (text: string): FieldType[] | null => {
    const out: FieldType[] = [];
    for (const part of text.trim().split(' . ')) {
      const f = spec.type !== undefined ? TYPE_FIELDS[part.trim()] : typeOfField(part.trim());
      if (f === undefined || f === null) return null;
      out.push(f);
    }
    return out;
  };
  const key = fields(keyText);
  if (!key) return null;
  if (dataText === undefined) return { key, data: null };
  if (dataText.trim() === 'verdict') return { key, data: 'verdict' };
  const data = fields(dataText);
  return data ? { key, data } : null;
}

/** The bytes of a key or value: each field padded to 4 bytes in a concatenation. */
function valueLength(fields: readonly FieldType[]): number {
  if (fields.length === 1) return FIELD_LEN[fields[0]!];
  let n = 0;
  for (const f of fields) n += (FIELD_LEN[f] + 3) & ~3;
  return n;
}

/**
 * The end of the element starting at `from` in `list` (the next ", " outside quotes, or `to`);
 * `quote` is the first '"' at or after `from` (-1: none), so that lists without comments are
 * never searched for one.
 */
function elementEnd(list: string, from: number, to: number, quote: number): number {
  let c = list.indexOf(', ', from);
  if (c < 0 || c > to) c = to;
  // A comma inside a quoted comment is not a separator: the quotes before it must be balanced.
  let q = quote;
  while (q >= 0 && q < c) {
    const close = list.indexOf('"', q + 1);
    if (close < 0 || close >= to) return -1;
    if (close > c) {
      c = list.indexOf(', ', close);
      if (c < 0 || c > to) c = to;
    }
    q = list.indexOf('"', close + 1);
  }
  return c;
}

/** The last address parsed: endpoint addresses repeat across maps. */
let lastIP = '';
let lastIPBytes: Uint8Array = new Uint8Array(0);

/** Decimal digits of s[from, to) as a number, or -1 (empty, not digits, or more than 10 of them). */
function digits(s: string, from: number, to: number): number {
  if (to <= from || to - from > 10) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** Dotted-quad s[from, to) written at b[at]; false when it is not one (callers then parse the slice). */
function ipv4At(b: Buffer, at: number, s: string, from: number, to: number): boolean {
  let part = 0;
  let n = 0;
  let len = 0;
  for (let i = from; i <= to; i++) {
    const c = i < to ? s.charCodeAt(i) : 46;
    if (c === 46 /* . */) {
      if (len === 0 || n > 255 || part > 3) return false;
      b[at + part++] = n;
      n = 0;
      len = 0;
    } else {
      const d = c - 48;
      if (d < 0 || d > 9 || ++len > 3) return false;
      n = n * 10 + d;
    }
  }
  return part === 4;
}

/** Writes the fields of s[from, to) (joined by " . ") at `at` of `b`. */
function writeFields(b: Buffer, at: number, fields: readonly FieldType[], s: string, from: number, to: number, bad: () => never): void {
  const concat = fields.length > 1;
  let pos = from;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    let end = to;
    if (i < fields.length - 1) {
      end = s.indexOf(' . ', pos);
      if (end < 0 || end >= to) bad();
    }
    switch (f) {
      case 'ipv4':
      case 'ipv6': {
        if (f === 'ipv4' && ipv4At(b, at, s, pos, end)) break;
        const t = s.slice(pos, end).trim();
        if (t !== lastIP) {
          const p = parseIPSloppy(t);
          if (!p || (p.family === 'IPv4') !== (f === 'ipv4')) bad();
          lastIP = t;
          lastIPBytes = p.bytes;
        }
        b.set(lastIPBytes, at);
        break;
      }
      case 'proto': {
        const t = s.slice(pos, end).trim();
        const n = PROTOCOLS[t] ?? (/^\d{1,3}$/.test(t) ? Number(t) : NaN);
        if (!(n >= 0 && n <= 255)) bad();
        b[at] = n;
        break;
      }
      case 'port': {
        const n = digits(s, pos, end);
        if (n < 0 || n > 65535) bad();
        b[at] = n >>> 8;
        b[at + 1] = n & 0xff;
        break;
      }
      case 'host32': {
        const n = digits(s, pos, end);
        if (n < 0 || n > 0xffffffff) bad();
        if (LITTLE_ENDIAN) b.writeUInt32LE(n, at);
        else b.writeUInt32BE(n, at);
        break;
      }
    }
    at += concat ? (FIELD_LEN[f] + 3) & ~3 : FIELD_LEN[f];
    pos = end + 3;
  }
}

function writeValue(w: Writer, type: number, fields: readonly FieldType[], s: string, from: number, to: number, bad: () => never): void {
  const nest = w.open(type);
  const at = w.fixed(NFTA_DATA_VALUE, valueLength(fields));
  writeFields(w.buffer(), at, fields, s, from, to, bad);
  w.close(nest);
}

function writeVerdict(w: Writer, text: string, bad: () => never): void {
  const [word, chain, extra] = text.split(' ');
  if (word === undefined || extra !== undefined) bad();
  const nest = w.open(NFTA_SET_ELEM_DATA);
  const v = w.open(NFTA_DATA_VERDICT);
  const code = chain === undefined ? VERDICTS[word] : CHAIN_VERDICTS[word];
  if (code === undefined) bad();
  const at = w.fixed(NFTA_VERDICT_CODE, 4);
  w.buffer().writeInt32BE(code, at);
  if (chain !== undefined) w.cstring(NFTA_VERDICT_CHAIN, chain.startsWith('"') && chain.endsWith('"') ? chain.slice(1, -1) : chain);
  w.close(v);
  w.close(nest);
}

/** One `add element` / `delete element` command as data. */
export interface ElementCommand {
  readonly verb: 'add' | 'delete';
  readonly family: string;
  readonly table: string;
  readonly set: string;
  /** The text between the braces. */
  readonly list: string;
}

/** `add element ip kube-proxy cluster-ips { … }` as data, or null for any other command. */
export function parseElementCommand(line: string): ElementCommand | null {
  // The head only: a lazy match up to the closing brace backtracks over lines of 60 KB.
  const m = /^(add|delete) element (ip|ip6|inet) (\S+) (\S+) \{/.exec(line);
  if (!m || !line.endsWith('}')) return null;
  return { verb: m[1] as 'add' | 'delete', family: m[2]!, table: m[3]!, set: m[4]!, list: line.slice(m[0].length, -1).trim() };
}

/**
 * Appends the messages of `cmd` (one or more, each below the element list's 64 KiB limit) to `w`,
 * with sequence numbers from `seq()`. Throws on an element it cannot encode (a planner bug, or a
 * layout this does not know: callers check setLayout first).
 */
export function writeElementCommand(w: Writer, cmd: ElementCommand, layout: SetLayout, seq: () => number): void {
  const bad = (): never => {
    throw new Error(`nftables element: cannot encode "${cmd.verb} element ${cmd.family} ${cmd.table} ${cmd.set} { ${cmd.list.slice(0, 200)} }"`);
  };
  const family = NFPROTO[cmd.family] ?? bad();
  const list = cmd.list;
  let end = list.length;
  while (end > 0 && list.charCodeAt(end - 1) === 32) end--;
  let pos = 0;
  while (pos < end && list.charCodeAt(pos) === 32) pos++;
  let quote = list.indexOf('"');
  while (pos < end) {
    const type = (NFNL_SUBSYS_NFTABLES << 8) | (cmd.verb === 'add' ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM);
    // As nft: additions create (no NLM_F_EXCL: an identical element is not an error).
    const m = w.begin(type, NLM_F_REQUEST | (cmd.verb === 'add' ? NLM_F_CREATE : 0), seq());
    w.nfgen(family, 0);
    w.cstring(NFTA_SET_ELEM_LIST_TABLE, cmd.table);
    w.cstring(NFTA_SET_ELEM_LIST_SET, cmd.set);
    const nest = w.open(NFTA_SET_ELEM_LIST_ELEMENTS);
    while (pos < end && w.length - nest < MAX_ELEMENTS_BYTES) {
      // One element: key [comment "…"] [: value].
      if (quote >= 0 && quote < pos) quote = list.indexOf('"', pos);
      const e = elementEnd(list, pos, end, quote);
      if (e < 0) bad();
      const commentAt = quote >= 0 && quote < e ? list.indexOf(' comment "', pos) : -1;
      if (commentAt >= e) bad();
      const closeAt = commentAt >= 0 ? list.indexOf('"', commentAt + 10) : -1;
      let valueAt = -1;
      if (cmd.verb === 'add' && layout.data !== null) {
        valueAt = list.indexOf(' : ', closeAt >= 0 ? closeAt : pos);
        if (valueAt < 0 || valueAt >= e) bad();
      }
      const keyEnd = commentAt >= 0 ? commentAt : valueAt >= 0 ? valueAt : e;
      const el = w.open(NFTA_LIST_ELEM);
      writeValue(w, NFTA_SET_ELEM_KEY, layout.key, list, pos, keyEnd, bad);
      if (cmd.verb === 'add') {
        if (layout.data === 'verdict') writeVerdict(w, list.slice(valueAt + 3, e).trim(), bad);
        else if (layout.data !== null) writeValue(w, NFTA_SET_ELEM_DATA, layout.data, list, valueAt + 3, e, bad);
        if (commentAt >= 0) {
          if (closeAt < 0 || (valueAt >= 0 ? list.slice(closeAt + 1, valueAt) : list.slice(closeAt + 1, e)).trim() !== '') bad();
          const comment = list.slice(commentAt + 10, closeAt);
          // A TLV as libnftnl writes it: type, length, the string with its NUL.
          const len = Buffer.byteLength(comment) + 1;
          if (len > 255) bad();
          const at = w.fixed(NFTA_SET_ELEM_USERDATA, len + 2);
          const b = w.buffer();
          b[at] = UDATA_SET_ELEM_COMMENT;
          b[at + 1] = len;
          b.write(comment, at + 2, 'utf8');
        }
      }
      w.close(el);
      pos = e + 2;
    }
    w.close(nest);
    w.end(m);
  }
}

/** NFNL_MSG_BATCH_BEGIN / _END around the messages of one transaction. */
export function writeBatchMark(w: Writer, end: boolean, seq: number): void {
  const m = w.begin(end ? NFNL_MSG_BATCH_END : NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq);
  w.nfgen(0, NFNL_SUBSYS_NFTABLES);
  w.end(m);
}

/**
 * NFT_MSG_GETGEN with an acknowledgement: sent after a batch, its answer says the kernel has
 * answered everything before it (a batch's errors come first).
 */
export function writeGenRequest(w: Writer, seq: number): void {
  const m = w.begin((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN, NLM_F_REQUEST | NLM_F_ACK, seq);
  w.nfgen(0, 0);
  w.end(m);
}
