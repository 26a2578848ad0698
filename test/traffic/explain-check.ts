// The explain hook of the traffic suite: for a check of the scenario table, what `explain` says
// about the check's packet (from the proxy's own /debug/services) must match what real traffic did
// — endpoint set, masquerade, reject/drop — and `explain --trace` must agree with the kernel.

import { parseSnapshot } from '../../src/explain/snapshot.js';
import { explain, type Explanation, type From as ExplainFrom } from '../../src/explain/explain.js';
import { appendFileSync } from 'node:fs';
import { renderExplanation } from '../../src/explain/render.js';
import { renderTrace, type TraceReport } from '../../src/explain/trace.js';
import { run } from '../../src/util/exec.js';
import { proxyCommand } from '../support/proxy-process.js';
import { PODS, type NodeName } from '../support/topology.js';
import { originAddress, resolveTarget, type Check, type Expect, type Mode } from './scenarios.js';

/** The node whose proxy handles the check's packet. */
export function handlingNode(check: Check): NodeName {
  const t = check.target;
  if (t.via === 'nodePort' && t.on.startsWith('node2')) return 'node2';
  if (check.from === 'node2' || PODS.find((p) => p.name === check.from)?.node === 'node2') return 'node2';
  return 'node';
}

export function explainFrom(from: string): ExplainFrom {
  if (from === 'node' || from === 'node2') return 'node';
  if (from === 'client' || from === 'client2') return 'external';
  return 'pod';
}

function podOf(endpoint: string): string {
  const ip = endpoint.startsWith('[') ? endpoint.slice(1, endpoint.indexOf(']')) : endpoint.slice(0, endpoint.lastIndexOf(':'));
  return PODS.find((p) => p.ipv4 === ip || p.ipv6 === ip)?.name ?? endpoint;
}

/** Whether checks of this expectation can be explained (health-check ports are not Service traffic). */
export function explainable(e: Expect): boolean {
  return !(typeof e === 'object' && 'health' in e);
}

/**
 * null when the explanation matches the expected traffic outcome, else why not. `targetIsService`
 * false: the target is an address no Service of the scenario holds (routedToPod), which explain must
 * call routed unless it is dropped (nftables, ServiceCIDR).
 */
export function compareExplanation(x: Explanation, e: Expect, from: string, targetIsService = true): string | null {
  const fallback = x.warnings.some((w) => w.startsWith('IPVS Local policy fallback'));
  const got = `${x.outcome} (${x.reason})${x.endpoints.length ? ` to ${x.endpoints.map((p) => podOf(p.endpoint)).join(',')}` : ''}`;
  if (e === 'rejected') return x.outcome === 'reject' || x.outcome === 'local' ? null : `expected rejected, explain says ${got}`;
  if (e === 'dropped') {
    // An IPVS fallback to a remote endpoint without SNAT is forwarded, but its reply bypasses the node.
    if (x.outcome === 'drop' || x.outcome === 'routed' || (x.outcome === 'forward' && fallback)) return null;
    return `expected dropped, explain says ${got}`;
  }
  if (typeof e !== 'object' || 'health' in e) return null;
  if (!targetIsService) return x.outcome === 'routed' ? null : `expected no Service at the target (routed), explain says ${got}`;
  if (x.outcome !== 'forward') return `expected answers, explain says ${got}`;
  const want = [...('sticky' in e ? e.sticky : 'affinityExpires' in e ? e.affinityExpires : e.answeredBy)].sort();
  const pods = [...new Set(x.endpoints.map((p) => podOf(p.endpoint)))].sort();
  if (want.join() !== pods.join()) return `expected endpoints ${want.join(',')}, explain says ${pods.join(',')}`;
  if (('sticky' in e || 'affinityExpires' in e) && x.sessionAffinity?.type !== 'ClientIP') return 'expected session affinity ClientIP';
  const source = 'source' in e ? e.source : undefined;
  // Node-originated packets carry the node's address whether masqueraded or not.
  if (source && !(source !== 'origin' && (from === 'node' || from === 'node2'))) {
    const masq = source !== 'origin';
    const wrong = x.endpoints.filter((p) => p.masquerade !== masq);
    if (wrong.length) return `expected masquerade ${masq ? 'yes' : 'no'} (source ${source}); explain says ${wrong.map((p) => `${podOf(p.endpoint)}: ${p.masquerade ? 'yes' : 'no'} (${p.masqueradeReason})`).join('; ')}`;
  }
  return null;
}

export interface ExplainHarness {
  readonly mode: Mode;
  /** GET a URL from inside a namespace role ('node' / 'node2'). */
  readonly http: (node: NodeName, url: string) => Promise<{ status: number; body: string }>;
  readonly netns: (role: string) => string;
  readonly metricsAddress: string;
}

/** Explain the check's packet in-process from the handling proxy's /debug/services. */
export async function explainCheck(h: ExplainHarness, check: Check, e: Expect, targetIsService = true): Promise<string | null> {
  const t = resolveTarget(check.target);
  const node = handlingNode(check);
  const r = await h.http(node, `http://${h.metricsAddress}/debug/services`);
  if (r.status !== 200) return `/debug/services answered ${r.status}`;
  const snap = parseSnapshot(r.body);
  const x = explain(snap, { src: originAddress(check.from, t.family), dst: t.host, port: t.port, protocol: t.proto, from: explainFrom(check.from) });
  return compareExplanation(x, e, check.from, targetIsService);
}

/** Run `kube-proxy-ts explain --trace -o json` in the handling node's namespace, the probe from the check's. */
export async function traceCheck(h: ExplainHarness, check: Check): Promise<{ failure: string | null; report: TraceReport | null }> {
  const t = resolveTarget(check.target);
  const node = handlingNode(check);
  const fromNs = check.from === node ? [] : ['--probe-netns', h.netns(check.from)];
  const dst = t.family === 'IPv6' ? `[${t.host}]:${t.port}/${t.proto.toLowerCase()}` : `${t.host}:${t.port}/${t.proto.toLowerCase()}`;
  const args = ['explain', '--trace', '-o', 'json', '--src', originAddress(check.from, t.family), '--dst', dst, '--from', explainFrom(check.from), `--metrics-address=${h.metricsAddress}`, ...fromNs];
  const { command, args: a } = proxyCommand(args);
  // Generous: in the emulated IPVS guest starting two node processes alone can take 10-20 s.
  const r = await run('ip', ['netns', 'exec', h.netns(node), command, ...a], { allowFailure: true, timeoutMs: 180_000 });
  if (r.code !== 0 && r.code !== 3) return { failure: `explain --trace exited ${r.code}: ${r.stderr.trim().slice(0, 2000)}`, report: null };
  let report: TraceReport;
  try {
    report = (JSON.parse(r.stdout) as { trace: TraceReport }).trace;
  } catch {
    return { failure: `explain --trace printed no JSON: ${r.stdout.slice(0, 500)} ${r.stderr.slice(0, 500)}`, report: null };
  }
  // KPX_TRACE_LOG=<file>: append every trace as the CLI prints it (explanation + trace), e.g. for docs.
  if (process.env.KPX_TRACE_LOG) {
    const x = JSON.parse(r.stdout) as Explanation & { trace: TraceReport };
    appendFileSync(process.env.KPX_TRACE_LOG, `### ${check.from} -> ${dst} (${check.name})\n${renderExplanation(x)}${renderTrace(report)}\n`);
  }
  // The trace lines and notes first: CI output keeps only the start of a long failure.
  if (report.agrees === false) return { failure: `the kernel disagreed: ${report.disagreements.join('; ')}\nprobe: ${JSON.stringify(report.probe)}\nnotes: ${report.notes.join(' | ')}\ntrace:\n${report.traceLines.join('\n').slice(0, 3000)}\n${JSON.stringify(report, null, 1).slice(0, 3000)}`, report };
  if (h.mode === 'ipvs' && report.expected.outcome === 'forward') {
    // IPVS evidence proper, not only conntrack: the probe's own connection entry, and the virtual
    // server read back from the kernel.
    if (!report.ipvsConnection) return { failure: `no IPVS connection entry for the probe: ${JSON.stringify(report.ipvs)}`, report };
    if (report.ipvs?.virtualServer && report.ipvs.kernelReals === undefined) return { failure: `the virtual server ${report.ipvs.virtualServer} was not read back: ${report.notes.join('; ')}`, report };
  }
  if (report.agrees === null && report.expected.outcome === 'forward') return { failure: `no kernel evidence for a forwarded probe: ${JSON.stringify(report.observed)}; probe ${JSON.stringify(report.probe)}; notes: ${report.notes.join(' | ')}`, report };
  return { failure: null, report };
}
