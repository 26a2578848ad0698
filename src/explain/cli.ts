// The one-shot subcommands `kube-proxy-ts explain …` and `kube-proxy-ts get …`: read the running
// proxy's /debug/services over its metrics address (bounded in time), then explain a packet
// (optionally checked against a kernel trace) or print tables.

import { parseArgs } from 'node:util';
import { parseIPSloppy } from '../model/ip.js';
import type { Protocol } from '../model/types.js';
import { DEFAULT_METRICS_ADDRESS, DEFAULT_TIMEOUT_MS, fetchDebug, type Endpoint } from './client.js';
import { explain, type From, type Packet } from './explain.js';
import { renderGet, type GetKind, type GetOutput } from './get.js';
import { renderExplanation } from './render.js';
import { parseSnapshot } from './snapshot.js';

export const SUBCOMMANDS = ['explain', 'get'] as const;

const USAGE_EXPLAIN = `Usage: kube-proxy-ts explain --src IP[:PORT] --dst IP:PORT[/tcp|udp|sctp] [--from pod|node|external]
                           [-o json] [--trace [--probe-netns NAME]] [--metrics-address HOST:PORT] [--timeout 5s]
Explains what the running proxy's programmed rules do with one packet, and why.
  --trace   also send one real probe packet from this network namespace and check the kernel's own
            trace (nftables, iptables-nft: nftrace; ipvs: the probe's IPVS connection, the virtual
            server and ipset entries; all: conntrack) against the
            explanation; exit 3 when they disagree. --probe-netns sends the probe from that named
            network namespace (e.g. a pod's) instead of this one.
`;
const USAGE_GET = `Usage: kube-proxy-ts get services|endpoints [-o wide|json] [-n NAMESPACE] [--metrics-address HOST:PORT] [--timeout 5s]
Lists what the running proxy has programmed, like kubectl get.
`;

class UsageError extends Error {}

/** "IP", "IP:PORT", "[IPv6]:PORT", bare IPv6; with optional "/proto". */
export function parseAddress(s: string, needPort: boolean): { ip: string; port?: number; protocol?: Protocol } {
  let rest = s.trim();
  let protocol: Protocol | undefined;
  const slash = rest.lastIndexOf('/');
  if (slash > 0 && /^[a-zA-Z]+$/.test(rest.slice(slash + 1))) {
    const p = rest.slice(slash + 1).toUpperCase();
    if (p !== 'TCP' && p !== 'UDP' && p !== 'SCTP') throw new UsageError(`unknown protocol ${JSON.stringify(rest.slice(slash + 1))} (tcp, udp or sctp)`);
    protocol = p;
    rest = rest.slice(0, slash);
  }
  let ip = rest;
  let port: number | undefined;
  const br = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (br) {
    ip = br[1]!;
    if (br[2] !== undefined) port = Number(br[2]);
  } else if ((rest.match(/:/g) ?? []).length === 1) {
    const i = rest.indexOf(':');
    ip = rest.slice(0, i);
    if (!/^\d+$/.test(rest.slice(i + 1))) throw new UsageError(`bad port in ${JSON.stringify(s)}`);
    port = Number(rest.slice(i + 1));
  }
  if (!parseIPSloppy(ip)) throw new UsageError(`${JSON.stringify(s)} is not IP[:PORT] (IPv6 with a port: [IP]:PORT)`);
  if (port !== undefined && (port < 1 || port > 65535)) throw new UsageError(`port out of range in ${JSON.stringify(s)}`);
  if (needPort && port === undefined) throw new UsageError(`${JSON.stringify(s)} needs a port: IP:PORT`);
  return { ip, ...(port !== undefined ? { port } : {}), ...(protocol ? { protocol } : {}) };
}

function parseTimeout(s: string | undefined): number {
  if (s === undefined) return DEFAULT_TIMEOUT_MS;
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(s);
  if (!m) throw new UsageError(`--timeout ${JSON.stringify(s)}: use e.g. 5s or 500ms`);
  const ms = Number(m[1]) * (m[2] === 'ms' ? 1 : 1000);
  if (ms <= 0 || ms > 600_000) throw new UsageError('--timeout must be between 1ms and 600s');
  return ms;
}

const COMMON = {
  'metrics-address': { type: 'string' },
  timeout: { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

function endpointOf(v: { 'metrics-address'?: string; timeout?: string }): Endpoint {
  return { address: v['metrics-address'] ?? DEFAULT_METRICS_ADDRESS, timeoutMs: parseTimeout(v.timeout) };
}

async function runExplain(args: string[], out: (s: string) => void): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: { ...COMMON, src: { type: 'string' }, dst: { type: 'string' }, from: { type: 'string' }, trace: { type: 'boolean' }, 'probe-netns': { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  if (v.help) {
    out(USAGE_EXPLAIN);
    return 0;
  }
  if (!v.src || !v.dst) throw new UsageError('--src and --dst are required');
  if (v.output !== undefined && v.output !== 'json') throw new UsageError(`-o ${v.output}: only json is supported`);
  if (v.from !== undefined && !['pod', 'node', 'external'].includes(v.from)) throw new UsageError(`--from ${v.from}: pod, node or external`);
  const src = parseAddress(v.src, false);
  const dst = parseAddress(v.dst, true);
  const packet: Packet = {
    src: src.ip,
    ...(src.port !== undefined ? { srcPort: src.port } : {}),
    dst: dst.ip,
    port: dst.port!,
    protocol: dst.protocol ?? 'TCP',
    ...(v.from ? { from: v.from as From } : {}),
  };
  const ep = endpointOf(v);
  const snap = parseSnapshot(await fetchDebug(ep, '/debug/services'));
  const x = explain(snap, packet);
  if (!v.trace) {
    out(v.output === 'json' ? JSON.stringify(x, null, 2) + '\n' : renderExplanation(x));
    return 0;
  }
  const { traceProbe, renderTrace } = await import('./trace.js');
  const netns = v['probe-netns'];
  const backend = snap.mode === 'iptables' ? await (await import('../kernel/iptables/tools.js')).detectBackend() : undefined;
  const t = await traceProbe(x, {
    ...(netns ? { netns } : {}),
    timeoutMs: Math.min(ep.timeoutMs, 3000),
    ...(backend ? { iptablesBackend: backend } : {}),
    explainProbe: (probeSrc, from) => explain(snap, { ...packet, src: probeSrc, ...(from ? { from } : {}) }),
  });
  out(v.output === 'json' ? JSON.stringify({ ...x, trace: t }, null, 2) + '\n' : renderExplanation(x) + renderTrace(t));
  // Disagreement is a finding, not a usage error: exit 3 so scripts can tell.
  return t.agrees === false ? 3 : 0;
}

async function runGet(args: string[], out: (s: string) => void): Promise<number> {
  const { values: v, positionals } = parseArgs({ args, options: { ...COMMON, namespace: { type: 'string', short: 'n' } }, strict: true, allowPositionals: true });
  if (v.help) {
    out(USAGE_GET);
    return 0;
  }
  const what = positionals[0];
  const kinds: Record<string, GetKind> = { services: 'services', service: 'services', svc: 'services', endpoints: 'endpoints', endpoint: 'endpoints', ep: 'endpoints' };
  const kind = what === undefined ? undefined : kinds[what];
  if (!kind || positionals.length > 1) throw new UsageError('get services|endpoints');
  const output: GetOutput = v.output === undefined ? 'table' : v.output === 'wide' || v.output === 'json' ? v.output : 'table';
  if (v.output !== undefined && output === 'table') throw new UsageError(`-o ${v.output}: wide or json`);
  const ns = v.namespace ?? null;
  const q = ns !== null ? `?namespace=${encodeURIComponent(ns)}` : '';
  const snap = parseSnapshot(await fetchDebug(endpointOf(v), `/debug/services${q}`));
  const text = renderGet(snap, kind, output, ns);
  out(output !== 'json' && headerOnly(text) ? `No resources found${ns ? ` in ${ns} namespace` : ''}.\n` : text);
  return 0;
}

/** Only the header line: nothing to list. */
function headerOnly(text: string): boolean {
  return text.trimEnd().split('\n').length === 1;
}

/** Entry from main.ts: argv starts with the subcommand. Exit codes: 0 ok, 1 error, 2 usage, 3 trace disagrees. */
export async function runSubcommand(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    return cmd === 'explain' ? await runExplain(rest, out) : await runGet(rest, out);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      err(`Error: ${msg}\n${cmd === 'explain' ? USAGE_EXPLAIN : USAGE_GET}`);
      return 2;
    }
    err(`Error: ${msg}\n`);
    return 1;
  }
}
