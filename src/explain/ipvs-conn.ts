// `explain --trace` in IPVS mode: the IPVS connection table (`ipvsadm -L -n -c`) and the exact
// lookup of the probe's own connection in it. Pure, so it is tested on the host with real output.
//
//   IPVS connection entries
//   pro expire state       source             virtual            destination
//   TCP 00:06  CLOSE       198.18.0.2:40000   198.19.0.10:80     198.18.100.2:8080
//   TCP 09:56  NONE        198.18.0.2:0       198.19.0.16:80     198.18.100.2:8080   <- persistence template
//   TCP 00:06  CLOSE       [2001:db8::2]:40000 [2001:db8:19::10]:80 [2001:db8:100::1]:8080
//
// A substring search for "198.18.0.2:4000" also hits "198.18.0.2:40000", and a search by address
// alone hits other clients' connections and the persistence templates (client port 0): the probe's
// connection is the line whose protocol, client address:port and virtual address:port are all equal.

import { joinHostPort, parseIPSloppy } from '../model/ip.js';

export interface HostPort {
  readonly ip: string;
  readonly port: number;
}

export interface IpvsConnection {
  readonly protocol: string;
  readonly expire: string;
  readonly state: string;
  readonly client: HostPort;
  readonly virtual: HostPort;
  readonly real: HostPort;
  readonly line: string;
}

/** "198.18.0.2:40000" or "[2001:db8::2]:40000" -> address (canonical text) and port; null otherwise. */
export function parseHostPort(s: string): HostPort | null {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(s) ?? /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(s);
  if (!m) return null;
  const ip = parseIPSloppy(m[1]!);
  const port = Number(m[2]);
  if (!ip || port > 65535) return null;
  return { ip: ip.text, port };
}

/** Every connection line of `ipvsadm -L -n -c` (headers and malformed lines skipped). */
export function parseIpvsConnections(text: string): IpvsConnection[] {
  const out: IpvsConnection[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const cols = line.split(/\s+/);
    if (cols.length !== 6 || !/^(TCP|UDP|SCTP)$/.test(cols[0]!)) continue;
    const client = parseHostPort(cols[3]!);
    const virtual = parseHostPort(cols[4]!);
    const real = parseHostPort(cols[5]!);
    if (!client || !virtual || !real) continue;
    out.push({ protocol: cols[0]!, expire: cols[1]!, state: cols[2]!, client, virtual, real, line });
  }
  return out;
}

export interface ProbeTuple {
  readonly protocol: string;
  readonly src: string;
  readonly sport: number;
  readonly dst: string;
  readonly port: number;
}

function sameAddr(a: HostPort, ip: string, port: number): boolean {
  return a.port === port && a.ip === (parseIPSloppy(ip)?.text ?? ip);
}

/** The probe's own connections: protocol, client address:port and virtual address:port all equal. */
export function findProbeConnections(conns: readonly IpvsConnection[], p: ProbeTuple): IpvsConnection[] {
  return conns.filter((c) => c.protocol === p.protocol.toUpperCase() && sameAddr(c.client, p.src, p.sport) && sameAddr(c.virtual, p.dst, p.port));
}

/** Connections to the probe's virtual service that are not the probe's (for the report's notes). */
export function nearMisses(conns: readonly IpvsConnection[], p: ProbeTuple): IpvsConnection[] {
  const mine = new Set(findProbeConnections(conns, p));
  return conns.filter((c) => !mine.has(c) && c.protocol === p.protocol.toUpperCase() && sameAddr(c.virtual, p.dst, p.port));
}

export function hostPortText(h: HostPort): string {
  return joinHostPort(h.ip, h.port);
}

/** What the trace read from the kernel in IPVS mode, besides conntrack. */
export interface IpvsEvidence {
  /** The probe's own connection entries (exact match; normally one). */
  readonly connections: readonly IpvsConnection[];
  /** Entries of the same virtual service from other clients or ports (not the probe's). */
  readonly nearMisses: number;
  /** The probe's virtual server as `ipvsadm -S -n` lists it: real servers with weight > 0; null when absent; undefined when explain names none. */
  readonly kernelReals?: readonly string[] | null;
  /** The ipset entries explain names for the path that `ipset save` does not list ("SET entry"). */
  readonly missingSetEntries: readonly string[];
}

export interface IpvsExpectation {
  readonly outcome: string;
  /** Eligible endpoints ("ip:port"). */
  readonly endpoints: readonly string[];
  /** Explain's virtual server key ("TCP/198.19.0.10:80"), if the path has one. */
  readonly virtualServer?: string;
}

export interface IpvsJudgement {
  /** The real server of the probe's connection, or null when IPVS made none. */
  readonly endpoint: string | null;
  readonly disagreements: string[];
  readonly notes: string[];
}

function canonicalEndpoint(e: string): string {
  const h = parseHostPort(e);
  return h ? hostPortText(h) : e;
}

/**
 * IPVS-specific findings: the real server of the probe's own connection (the kernel's choice), the
 * kernel's virtual server against explain's eligible set, the ipset entries explain relies on, and
 * conntrack's view against IPVS's. Whether the probe was forwarded at all, and whether the real
 * server is one of the eligible endpoints, is judged by the caller with the other modes' rules.
 */
export function judgeIpvs(x: IpvsExpectation, ev: IpvsEvidence, conntrackEndpoint: string | null): IpvsJudgement {
  const dis: string[] = [];
  const notes: string[] = [];
  const reals = [...new Set(ev.connections.map((c) => hostPortText(c.real)))];
  const endpoint = reals[0] ?? null;
  if (reals.length > 1) dis.push(`the IPVS connection table lists the probe's connection ${reals.length} times with different real servers: ${reals.join(', ')}`);
  if (endpoint && conntrackEndpoint && canonicalEndpoint(conntrackEndpoint) !== endpoint) {
    dis.push(`conntrack's reply comes from ${conntrackEndpoint}, but IPVS connected the probe to ${endpoint}`);
  }
  if (!endpoint && ev.nearMisses > 0) notes.push(`the IPVS connection table has ${ev.nearMisses} other connection(s) to the virtual service, none from the probe's address and port`);
  if (x.outcome === 'forward' && x.virtualServer && ev.kernelReals !== undefined) {
    if (ev.kernelReals === null) dis.push(`the kernel has no IPVS virtual server ${x.virtualServer}`);
    else {
      const want = [...new Set(x.endpoints.map(canonicalEndpoint))].sort();
      const have = [...new Set(ev.kernelReals.map(canonicalEndpoint))].sort();
      if (want.join() !== have.join()) dis.push(`the kernel's virtual server ${x.virtualServer} has real servers ${have.join(', ') || '(none)'} with weight > 0, explain expects ${want.join(', ')}`);
    }
  }
  for (const m of ev.missingSetEntries) dis.push(`ipset ${m} is missing from the kernel`);
  return { endpoint, disagreements: dis, notes };
}
