// Stale UDP conntrack flows (upstream pkg/proxy/conntrack/cleanup.go CleanStaleEntries), with the
// `conntrack` CLI (argument arrays, no shell).
//
// After a sync that changed UDP endpoints: list the family's UDP flows; a flow is deleted when its
// original destination is a UDP service frontend (clusterIP / LB IP / externalIP : port, or any IP
// at a NodePort) and its reply source is not a serving endpoint of that service port.
// Better than upstream (#139628): a UDP service port with zero serving endpoints is not skipped —
// its DNATed flows would otherwise keep blackholing senders (statsd-style clients that reuse the
// source port) until they time out. The flows of UDP service ports that were removed are cleared too.

import type { IPFamily, ProxyState, ServicePort } from '../model/types.js';
import { joinHostPort, parseIPSloppy } from '../model/ip.js';
import { metrics } from '../metrics/metrics.js';
import { createLogger } from '../log/logger.js';
import { run, type ExecResult } from '../util/exec.js';

const log = createLogger('conntrack');

export interface Flow {
  readonly origDst: string;
  readonly origDport: number;
  readonly replySrc: string;
}

/** A deletion filter, turned into one `conntrack -D` call. */
export interface FlowFilter {
  /** Original destination IP; absent for NodePort filters (any destination). */
  readonly origDst?: string;
  readonly origDport: number;
  readonly replySrc: string;
}

/** Parse `conntrack -L -p udp` text output: the first src/dst/sport/dport are the original tuple, the second the reply. */
export function parseConntrackList(text: string): Flow[] {
  const flows: Flow[] = [];
  for (const line of text.split('\n')) {
    if (!/^\s*(ipv[46]\s+\d+\s+)?udp\s/.test(line)) continue;
    const seen: Record<string, string[]> = {};
    for (const m of line.matchAll(/\b(src|dst|sport|dport)=(\S+)/g)) (seen[m[1]!] ??= []).push(m[2]!);
    const dst = seen.dst?.[0];
    const dport = seen.dport?.[0];
    const rsrc = seen.src?.[1];
    if (dst === undefined || dport === undefined || rsrc === undefined) continue;
    const d = parseIPSloppy(dst);
    const r = parseIPSloppy(rsrc);
    if (!d || !r) continue;
    flows.push({ origDst: d.text, origDport: Number(dport), replySrc: r.text });
  }
  return flows;
}

interface Frontends {
  /** "ip:port" -> serving endpoint IPs (may be empty: zero endpoints). */
  readonly ipPort: Map<string, Set<string>>;
  /** nodePort -> serving endpoint IPs. */
  readonly nodePort: Map<number, Set<string>>;
}

function addFrontends(f: Frontends, sp: ServicePort, serving: Set<string>): void {
  for (const ip of [sp.clusterIP, ...sp.loadBalancerIPs, ...sp.externalIPs]) {
    if (ip) f.ipPort.set(joinHostPort(ip, sp.port), serving);
  }
  if (sp.nodePort !== 0) f.nodePort.set(sp.nodePort, serving);
}

/** The frontends to reconcile: every UDP port of `state`, plus UDP ports present only in `previous`. */
export function udpFrontends(state: ProxyState, previous: ProxyState | null): Frontends {
  const f: Frontends = { ipPort: new Map(), nodePort: new Map() };
  if (previous) {
    // Removed ports first, so a frontend reused by a current port is overwritten below.
    for (const [key, sp] of previous.services) {
      if (sp.protocol === 'UDP' && !state.services.has(key)) addFrontends(f, sp, new Set());
    }
  }
  for (const sp of state.services.values()) {
    if (sp.protocol !== 'UDP') continue;
    addFrontends(f, sp, new Set(sp.endpoints.filter((e) => e.serving).map((e) => e.ip)));
  }
  return f;
}

/** Which flows to delete (pure). */
export function staleFlowFilters(flows: readonly Flow[], f: Frontends): FlowFilter[] {
  const out = new Map<string, FlowFilter>();
  for (const fl of flows) {
    const eps = f.ipPort.get(joinHostPort(fl.origDst, fl.origDport));
    if (eps && !eps.has(fl.replySrc)) {
      const k = `${fl.origDst}|${fl.origDport}|${fl.replySrc}`;
      out.set(k, { origDst: fl.origDst, origDport: fl.origDport, replySrc: fl.replySrc });
    }
    const npEps = f.nodePort.get(fl.origDport);
    // With zero endpoints, only flows that were DNATed (reply source differs from the original
    // destination) belong to the NodePort; a host-local listener's flows are left alone.
    if (npEps && !npEps.has(fl.replySrc) && (npEps.size > 0 || fl.replySrc !== fl.origDst)) {
      const k = `*|${fl.origDport}|${fl.replySrc}`;
      out.set(k, { origDport: fl.origDport, replySrc: fl.replySrc });
    }
  }
  return [...out.values()];
}

function familyArg(family: IPFamily): string {
  return family === 'IPv4' ? 'ipv4' : 'ipv6';
}

function deletedCount(r: ExecResult): number {
  const m = /(\d+) flow entries have been deleted/.exec(r.stderr + r.stdout);
  return m ? Number(m[1]) : 0;
}

/** Reconcile UDP flows of one family against `state`. Errors are logged, never thrown. */
export async function cleanStaleUDPFlows(state: ProxyState, previous: ProxyState | null): Promise<number> {
  const start = process.hrtime.bigint();
  const family = state.family;
  let deleted = 0;
  try {
    const f = udpFrontends(state, previous);
    if (f.ipPort.size === 0 && f.nodePort.size === 0) return 0;
    const list = await run('conntrack', ['-L', '-f', familyArg(family), '-p', 'udp'], { allowFailure: true, timeoutMs: 30_000 });
    if (list.code !== 0) {
      log.error('Failed to list conntrack entries', { ipFamily: family, err: list.stderr.trim() });
      return 0;
    }
    for (const flt of staleFlowFilters(parseConntrackList(list.stdout), f)) {
      const args = ['-D', '-f', familyArg(family), '-p', 'udp'];
      if (flt.origDst !== undefined) args.push('--orig-dst', flt.origDst);
      args.push('--orig-port-dst', String(flt.origDport), '--reply-src', flt.replySrc);
      // conntrack exits 1 when nothing matched (the flow may have expired meanwhile): not an error.
      const r = await run('conntrack', args, { allowFailure: true, timeoutMs: 30_000 });
      deleted += deletedCount(r);
    }
    metrics.conntrackReconcilerDeletedEntriesTotal.inc({ ip_family: family }, deleted);
    log.v(4).info('Finished reconciling conntrack entries', { ipFamily: family, entriesDeleted: deleted });
  } catch (e) {
    log.error('Conntrack reconciliation failed', { ipFamily: family, err: e });
  } finally {
    metrics.conntrackReconcilerSyncDuration.observe({ ip_family: family }, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return deleted;
}
