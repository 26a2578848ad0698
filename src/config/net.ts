// Address parsing with the leniency of the Go helpers kube-proxy uses (k8s.io/utils/net
// ParseIPSloppy / ParseCIDRSloppy accept IPv4 octets with leading zeros; net.SplitHostPort).

import { isIPv6 } from 'node:net';

function parseIPv4Sloppy(s: string): number[] | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out.push(n);
  }
  return out;
}

export function isIPv4Literal(s: string): boolean {
  return parseIPv4Sloppy(s) !== null;
}

/** An IP literal as Go's ParseIPSloppy accepts it (no zones, no brackets). */
export function isIPLiteral(s: string): boolean {
  if (isIPv4Literal(s)) return true;
  return !s.includes('%') && isIPv6(s);
}

export function ipFamily(s: string): 4 | 6 | null {
  if (isIPv4Literal(s)) return 4;
  if (isIPLiteral(s)) return 6;
  return null;
}

/** "10.0.0.0/8" or "fd00::/64"; returns the family, or null if not a CIDR. */
export function cidrFamily(s: string): 4 | 6 | null {
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const fam = ipFamily(s.slice(0, slash));
  const bits = s.slice(slash + 1);
  if (fam === null || !/^[0-9]+$/.test(bits)) return null;
  const n = Number(bits);
  if (n > (fam === 4 ? 32 : 128)) return null;
  return fam;
}

export function isCIDR(s: string): boolean {
  return cidrFamily(s) !== null;
}

/** Go net.SplitHostPort: returns [host, port] or an error message. */
export function splitHostPort(hostport: string): [string, string] | { error: string } {
  const missingPort = { error: `address ${hostport}: missing port in address` };
  const tooMany = { error: `address ${hostport}: too many colons in address` };
  const i = hostport.lastIndexOf(':');
  if (i < 0) return missingPort;
  let host: string;
  if (hostport.startsWith('[')) {
    const end = hostport.indexOf(']');
    if (end < 0) return { error: `address ${hostport}: missing ']' in address` };
    if (end + 1 === hostport.length) return missingPort;
    if (end + 1 !== i) {
      return hostport[end + 1] === ':' ? tooMany : missingPort;
    }
    host = hostport.slice(1, end);
    if (hostport.slice(1).includes('[')) return { error: `address ${hostport}: unexpected '[' in address` };
  } else {
    host = hostport.slice(0, i);
    if (host.includes(':')) return tooMany;
    if (host.includes('[') || host.includes(']')) return { error: `address ${hostport}: unexpected '[' in address` };
  }
  const rest = hostport.slice(i + 1);
  if (hostport.slice(0, i).includes(']') && !hostport.startsWith('[')) return { error: `address ${hostport}: unexpected ']' in address` };
  return [host, rest];
}

/** proxyutil.AppendPortIfNeeded: add ":port" to a bare IP; leave host:port and junk alone. */
export function appendPortIfNeeded(addr: string, port: number): string {
  if (Array.isArray(splitHostPort(addr))) return addr;
  const fam = ipFamily(addr);
  if (fam === null) return addr;
  return fam === 4 ? `${addr}:${port}` : `[${addr}]:${port}`;
}
