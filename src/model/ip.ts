// IP and CIDR parsing with upstream's "sloppy" rules (k8s.io/utils/net ParseIPSloppy /
// ParseCIDRSloppy): IPv4 octets may carry leading zeros and are read as decimal
// ("172.30.0.041" is 172.30.0.41, not octal). Output is Go's net.IP.String() form:
// dotted quad for IPv4 (including IPv4-mapped IPv6), RFC 5952 compressed lower case for IPv6.
// Written by hand because ipaddr.js reads leading-zero octets as octal and formats
// some embedded-IPv4 forms differently from Go.

import type { IPFamily } from './types.js';

export interface ParsedIP {
  /** 16 bytes for IPv6, 4 bytes for IPv4. */
  readonly bytes: Uint8Array;
  readonly family: IPFamily;
  /** Normalised text. */
  readonly text: string;
}

const MAX_IP_TEXT = 64;

/**
 * Decimal dotted quad with optional leading zeros. Hand-scanned (no split/regex): this runs
 * once per endpoint address, hundreds of thousands of times on a large cluster's initial list.
 */
function parseIPv4Bytes(s: string): Uint8Array | null {
  const out = new Uint8Array(4);
  return scanIPv4(s, out) ? out : null;
}

function scanIPv4(s: string, out: Uint8Array | null): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
      // Go's sloppy parser reads any number of digits; cap so garbage stays cheap.
      if (++digits > 10 || value > 255) return false;
    } else if (c === 46 && digits > 0 && part < 3) {
      if (out) out[part] = value;
      part++;
      value = 0;
      digits = 0;
    } else {
      return false;
    }
  }
  if (part !== 3 || digits === 0) return false;
  if (out) out[3] = value;
  return true;
}

/** True when `s` is already canonical dotted-quad text (no leading zeros). */
function isCanonicalIPv4(s: string): boolean {
  for (let i = 0; i < s.length - 1; i++) {
    if (s.charCodeAt(i) === 48 && (i === 0 || s.charCodeAt(i - 1) === 46) && s.charCodeAt(i + 1) !== 46) return false;
  }
  return true;
}

function parseIPv6Bytes(s: string): Uint8Array | null {
  if (s.includes('%')) return null; // zones are not IPs for the API
  const out = new Uint8Array(16);
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (part: string, allowV4Tail: boolean): number[] | null => {
    if (part === '') return [];
    const groups = part.split(':');
    const bytes: number[] = [];
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      if (allowV4Tail && i === groups.length - 1 && g.includes('.')) {
        const v4 = parseIPv4Bytes(g);
        if (!v4) return null;
        bytes.push(...v4);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      const n = parseInt(g, 16);
      bytes.push(n >> 8, n & 0xff);
    }
    return bytes;
  };
  if (halves.length === 1) {
    const b = parseGroups(halves[0]!, true);
    if (!b || b.length !== 16) return null;
    out.set(b);
    return out;
  }
  const head = parseGroups(halves[0]!, false);
  const tail = parseGroups(halves[1]!, true);
  if (!head || !tail) return null;
  // "::" must stand for at least one zero group.
  if (head.length + tail.length > 14) return null;
  out.set(head, 0);
  out.set(tail, 16 - tail.length);
  return out;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function formatIPv4(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** Go net.IP.String() for a 16-byte non-mapped address: longest run (>= 2) of zero groups becomes "::". */
function formatIPv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out !== '' && !out.endsWith(':')) out += ':';
    out += groups[i]!.toString(16);
  }
  return out;
}

/**
 * Normalised text of an IP, or null. Same result as parseIPSloppy(s)?.text, but the common
 * canonical IPv4 case allocates nothing (it returns `s` itself).
 */
export function normalizeIP(s: string): string | null {
  if (s.length > 0 && s.length <= 15 && !s.includes(':')) {
    if (!scanIPv4(s, null)) return null;
    if (isCanonicalIPv4(s)) return s;
  }
  return parseIPSloppy(s)?.text ?? null;
}

/** Family of a normalised IP text. */
export function familyOf(text: string): IPFamily {
  return text.includes(':') ? 'IPv6' : 'IPv4';
}

/** Parse an IP like upstream ParseIPSloppy; null when it is not an IP. */
export function parseIPSloppy(s: string): ParsedIP | null {
  if (s.length === 0 || s.length > MAX_IP_TEXT) return null;
  if (s.includes(':')) {
    const b = parseIPv6Bytes(s);
    if (!b) return null;
    if (isV4Mapped(b)) {
      const v4 = b.slice(12);
      return { bytes: v4, family: 'IPv4', text: formatIPv4(v4) };
    }
    return { bytes: b, family: 'IPv6', text: formatIPv6(b) };
  }
  const b = parseIPv4Bytes(s);
  if (!b) return null;
  // Reuse the input string when it is canonical: saves one string per endpoint.
  return { bytes: b, family: 'IPv4', text: isCanonicalIPv4(s) ? s : formatIPv4(b) };
}

export interface ParsedCIDR {
  readonly family: IPFamily;
  readonly prefix: number;
  /** Network address with host bits cleared, "/prefix" appended (Go IPNet.String()). */
  readonly text: string;
}

/** Parse a CIDR like upstream ParseCIDRSloppy; the result is the masked network. */
export function parseCIDRSloppy(s: string): ParsedCIDR | null {
  const slash = s.indexOf('/');
  if (slash < 0 || s.length > MAX_IP_TEXT + 4) return null;
  const ip = parseIPSloppy(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (!ip || !/^[0-9]{1,3}$/.test(p)) return null;
  const prefix = Number(p);
  // Go keeps an IPv4-mapped address in 16 bytes for CIDRs, so its prefix counts 128 bits.
  const mappedV4 = ip.family === 'IPv4' && s.slice(0, slash).includes(':');
  const bits = mappedV4 ? 128 : ip.bytes.length * 8;
  if (prefix > bits) return null;
  const v4Prefix = mappedV4 ? prefix - 96 : prefix;
  if (v4Prefix < 0) return null; // a mask shorter than the mapping prefix is not an IPv4 network
  const masked = ip.bytes.slice();
  for (let i = 0; i < masked.length; i++) {
    const keep = Math.max(0, Math.min(8, v4Prefix - i * 8));
    masked[i] = masked[i]! & (keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff);
  }
  const text = ip.family === 'IPv4' ? formatIPv4(masked) : formatIPv6(masked);
  return { family: ip.family, prefix: v4Prefix, text: `${text}/${v4Prefix}` };
}

/** Upstream Endpoint.String(): "ip:port", "[ip]:port" for IPv6. */
export function joinHostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Whether `ip` lies in `cidr` (sloppy parsing as upstream; false across families or on bad input). */
export function cidrContains(cidr: string, ip: string): boolean {
  const c = parseCIDRSloppy(cidr);
  const p = parseIPSloppy(ip);
  if (!c || !p || c.family !== p.family) return false;
  const net = parseIPSloppy(c.text.slice(0, c.text.lastIndexOf('/')));
  if (!net) return false;
  for (let i = 0; i < c.prefix; i++) {
    const mask = 0x80 >> (i & 7);
    if ((net.bytes[i >> 3]! & mask) !== (p.bytes[i >> 3]! & mask)) return false;
  }
  return true;
}

/**
 * A normalised loopback address (127.0.0.0/8 or ::1): node address discovery skips these, and
 * no dataplane programs NodePorts or IPVS services on them (iptables' route_localnet aside).
 */
export function isLoopbackIP(ip: string): boolean {
  return ip === '::1' || isIPv4Loopback(ip);
}

export function isIPv4Loopback(ip: string): boolean {
  return ip.startsWith('127.');
}
