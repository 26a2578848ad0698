// Parsers for the kernel tools' output (full-sync reconcile): `ipvsadm -S -n`, `ipvsadm -L -n`,
// `ip -j addr show`. Pure, so they are tested on the host. (`ipset save`: src/kernel/ipset/parse.ts;
// missing iptables jumps in `iptables-save`: src/kernel/iptables/jumps.ts.)

import type { IPFamily, Protocol } from '../../model/types.js';
import { isLoopbackIP } from '../../model/ip.js';
import { type RealServer, type VirtualServer, rsKey, vsKey } from './types.js';

function splitHostPort(s: string): { ip: string; port: number } | null {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  return m ? { ip: m[1]!.toLowerCase(), port: Number(m[2]) } : null;
}

function familyOf(ip: string): IPFamily {
  return ip.includes(':') ? 'IPv6' : 'IPv4';
}

const SVC_FLAGS: Record<string, Protocol> = { '-t': 'TCP', '--tcp-service': 'TCP', '-u': 'UDP', '--udp-service': 'UDP', '--sctp-service': 'SCTP' };

/** A virtual server being assembled from tool output (the parsers' and the fake's working form). */
export interface MutableVS {
  protocol: Protocol;
  ip: string;
  port: number;
  scheduler: string;
  persistence: number;
  flags: string[];
  reals: Map<string, RealServer>;
}

/** `ipvsadm -S -n` -> virtual servers of `family` (fwmark services and other families skipped). */
export function parseIpvsadmSave(text: string, family: IPFamily): Map<string, VirtualServer> {
  const out = new Map<string, MutableVS>();
  for (const line of text.split('\n')) {
    const t = line.trim().split(/\s+/);
    if (t.length < 3) continue;
    const op = t[0];
    const proto = SVC_FLAGS[t[1]!];
    if (!proto) continue;
    const addr = splitHostPort(t[2]!);
    if (!addr || familyOf(addr.ip) !== family) continue;
    const key = vsKey(proto, addr.ip, addr.port);
    const opt = (name: string): string | undefined => {
      const i = t.indexOf(name);
      return i >= 0 ? t[i + 1] : undefined;
    };
    if (op === '-A') {
      out.set(key, {
        protocol: proto,
        ip: addr.ip,
        port: addr.port,
        scheduler: opt('-s') ?? 'wlc',
        persistence: t.includes('-p') ? Number(opt('-p') ?? 0) || 0 : 0,
        flags: (opt('-b') ?? '').split(',').filter((f) => f !== '').sort(),
        reals: new Map(),
      });
    } else if (op === '-a') {
      const vs = out.get(key);
      const r = splitHostPort(opt('-r') ?? '');
      if (!vs || !r) continue;
      vs.reals.set(rsKey(r.ip, r.port), { ip: r.ip, port: r.port, weight: Number(opt('-w') ?? 1) });
    }
  }
  return out;
}

/** `ipvsadm -L -n` -> "vsKey/rsKey" -> ActiveConn + InActConn. */
export function parseIpvsadmConnCounts(text: string): Map<string, number> {
  const out = new Map<string, number>();
  let cur: string | null = null;
  for (const line of text.split('\n')) {
    const t = line.trim().split(/\s+/);
    if (t[0] === 'TCP' || t[0] === 'UDP' || t[0] === 'SCTP') {
      const a = splitHostPort(t[1] ?? '');
      cur = a ? vsKey(t[0] as Protocol, a.ip, a.port) : null;
    } else if (t[0] === '->' && cur) {
      const r = splitHostPort(t[1] ?? '');
      if (!r || t.length < 6) continue;
      out.set(`${cur}/${rsKey(r.ip, r.port)}`, Number(t[4]) + Number(t[5]));
    }
  }
  return out;
}

interface IpAddrJson {
  ifname?: string;
  addr_info?: { family?: string; local?: string }[];
}

/** `ip -j addr show` -> this family's addresses on every link except `except` (loopback, IPv6 link-local skipped). */
export function parseLocalAddresses(text: string, family: IPFamily, except: string): string[] {
  let data: unknown;
  try {
    data = JSON.parse(text || '[]');
  } catch {
    return [];
  }
  if (!Array.isArray(data)) return [];
  const want = family === 'IPv6' ? 'inet6' : 'inet';
  const out = new Set<string>();
  for (const link of data as IpAddrJson[]) {
    if (link.ifname === except) continue;
    for (const a of link.addr_info ?? []) {
      const ip = a.local?.toLowerCase();
      if (a.family !== want || !ip || ip.startsWith('fe80:') || isLoopbackIP(ip)) continue;
      out.add(ip);
    }
  }
  return [...out].sort();
}

/** `ip -j addr show dev kube-ipvs0` -> addresses of `family` (link-local skipped). */
export function parseIpAddrJson(text: string, family: IPFamily): Set<string> {
  const out = new Set<string>();
  let data: unknown;
  try {
    data = JSON.parse(text || '[]');
  } catch {
    return out;
  }
  if (!Array.isArray(data)) return out;
  const want = family === 'IPv6' ? 'inet6' : 'inet';
  for (const link of data as IpAddrJson[]) {
    for (const a of link.addr_info ?? []) {
      if (a.family === want && a.local && !a.local.startsWith('fe80:')) out.add(a.local.toLowerCase());
    }
  }
  return out;
}
