// `explain --trace`: send one real probe (TCP SYN or UDP datagram) and read what the kernel did
// with it, then compare with the explanation of that very probe.
//
// Evidence, per mode:
//   - nftables and iptables-nft: `meta nftrace set 1` from a temporary table `inet kpx-trace-<id>`
//     hooked before everything else (priority -350) and matching only the probe's 5-tuple, read
//     with `nft monitor trace` (iptables-nft rules are nft rules, so their chains show up too).
//   - iptables-legacy: no nftrace; the TRACE target logs through nf_log, which the kernel disables
//     in non-initial network namespaces by default (nf_log_all_netns=0): conntrack only.
//   - IPVS: the probe's own entry in the IPVS connection table (`ipvsadm -L -n -c`, exact match of
//     protocol, client address:port and virtual address:port; see ipvs-conn.ts), whose real server
//     is the kernel's choice; the virtual server's real servers (`ipvsadm -S -n`) and the ipset
//     entries explain names (`ipset save`), checked against the explanation; plus conntrack.
//   - every mode: the conntrack entry of the probe's 5-tuple (its reply tuple names the DNAT target,
//     and whether the source was rewritten), and how the probe itself ended (answered, refused,
//     timed out).
// The temporary table and the monitor are removed on every path out, signals included.

import { randomBytes } from 'node:crypto';
import { run, spawnTool, type ToolProcess } from '../util/exec.js';
import { joinHostPort, parseIPSloppy } from '../model/ip.js';
import type { Protocol } from '../model/types.js';
import type { Explanation } from './explain.js';
import { parseIpvsadmSave } from '../kernel/ipvs/parse.js';
import { normaliseSetEntry, parseIpsetSave } from '../kernel/ipset/parse.js';
import { findProbeConnections, judgeIpvs, nearMisses, parseIpvsConnections, type IpvsEvidence } from './ipvs-conn.js';

export type ProbeResult = 'answered' | 'connected' | 'refused' | 'unreachable' | 'timeout' | 'error';

export interface ConntrackEntry {
  readonly origSrc: string;
  readonly origDst: string;
  readonly replySrc: string;
  readonly replySport: number;
  readonly replyDst: string;
}

export interface TraceReport {
  /** Where the probe was sent from, and with what 5-tuple. */
  readonly probe: { readonly netns: string | null; readonly src: string; readonly sport: number; readonly dst: string; readonly port: number; readonly protocol: Protocol; readonly result: ProbeResult };
  /** The explanation of the probe packet itself (it may differ from the asked-for packet's source). */
  readonly expected: { readonly outcome: Explanation['outcome']; readonly endpoints: readonly string[]; readonly masquerade: Record<string, boolean> };
  /** How the kernel was asked. */
  readonly method: readonly string[];
  /** nftrace: chains in order, and the last verdict seen. */
  readonly chains: readonly string[];
  readonly traceLines: readonly string[];
  readonly conntrack: ConntrackEntry | null;
  /** IPVS: the probe's own line of `ipvsadm -L -n -c` (null: none, or not IPVS mode). */
  readonly ipvsConnection: string | null;
  /** IPVS: what was read besides the connection line. */
  readonly ipvs: (IpvsEvidence & { readonly virtualServer: string | null }) | null;
  /** What the kernel did, as far as the evidence shows. */
  readonly observed: { readonly outcome: 'forward' | 'reject' | 'drop' | 'not-forwarded' | 'unknown'; readonly endpoint: string | null; readonly masqueraded: boolean | null };
  /** null: the evidence cannot decide. */
  readonly agrees: boolean | null;
  readonly disagreements: readonly string[];
  readonly notes: readonly string[];
}

export interface TraceOptions {
  /** Send the probe from this named network namespace (`ip netns exec`); default: this one. */
  readonly netns?: string;
  readonly timeoutMs: number;
  /** Re-explains the probe packet (src/from as the probe really carries them). */
  readonly explainProbe: (src: string, from: 'node' | null) => Explanation;
  /** iptables backend in use (iptables mode); decides whether nftrace can see the rules. */
  readonly iptablesBackend?: 'nft' | 'legacy';
}

function inNetns(netns: string | undefined, argv: string[]): [string, string[]] {
  return netns ? ['ip', ['netns', 'exec', netns, ...argv]] : [argv[0]!, argv.slice(1)];
}

/** The source address the kernel picks for `dst` in the probe's namespace. */
async function sourceFor(dst: string, netns?: string): Promise<string> {
  const [cmd, args] = inNetns(netns, ['ip', '-j', 'route', 'get', dst]);
  const r = await run(cmd, args, { timeoutMs: 5000, allowFailure: true });
  if (r.code !== 0) throw new Error(`no route to ${dst}${netns ? ` in ${netns}` : ''}: ${r.stderr.trim()}`);
  const routes = JSON.parse(r.stdout) as { prefsrc?: string }[];
  const src = routes[0]?.prefsrc;
  if (!src) throw new Error(`cannot tell the source address for ${dst}${netns ? ` in ${netns}` : ''}`);
  return parseIPSloppy(src)?.text ?? src;
}

// The sender runs as its own node process (possibly in another namespace): argv only, no shell.
const SENDER = `
const [proto, host, port, sport, ms] = process.argv.slice(1);
const done = (r) => { process.stdout.write(r); process.exit(0); };
setTimeout(() => done('timeout'), Number(ms)).unref?.();
const err = (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : /UNREACH/.test(e.code || '') ? 'unreachable' : 'error:' + (e.code || e.message));
if (proto === 'TCP') {
  const s = require('net').connect({ host, port: Number(port), localPort: Number(sport) });
  s.on('connect', () => { s.destroy(); done('connected'); });
  s.on('error', err);
} else {
  const s = require('dgram').createSocket(host.includes(':') ? 'udp6' : 'udp4');
  s.on('error', err);
  s.on('message', () => done('answered'));
  s.bind(Number(sport), () => s.connect(Number(port), host, () => s.send('kube-proxy-ts explain probe\\n')));
}
`;

/** The probe's result; `why` says what the sender printed when it could not send ('error'). */
async function sendProbe(proto: Protocol, dst: string, port: number, sport: number, timeoutMs: number, netns?: string): Promise<{ result: ProbeResult; why: string }> {
  const [cmd, args] = inNetns(netns, [process.execPath, '-e', SENDER, proto, dst, String(port), String(sport), String(timeoutMs)]);
  // The sender bounds the probe itself; this only guards against a hung process (slow starts under emulation).
  const r = await run(cmd, args, { timeoutMs: timeoutMs + 30_000, allowFailure: true });
  const out = r.stdout.trim();
  if (out === 'connected' || out === 'answered' || out === 'refused' || out === 'unreachable' || out === 'timeout') return { result: out, why: '' };
  return { result: 'error', why: out || r.stderr.trim().split('\n').pop() || `exit ${r.code}` };
}

function parseConntrack(text: string): ConntrackEntry | null {
  for (const line of text.split('\n')) {
    const src = [...line.matchAll(/\bsrc=(\S+)/g)].map((m) => m[1]!);
    const dst = [...line.matchAll(/\bdst=(\S+)/g)].map((m) => m[1]!);
    const sport = [...line.matchAll(/\bsport=(\d+)/g)].map((m) => Number(m[1]));
    if (src.length < 2 || dst.length < 2) continue;
    return { origSrc: src[0]!, origDst: dst[0]!, replySrc: src[1]!, replySport: sport[1] ?? 0, replyDst: dst[1]! };
  }
  return null;
}

interface TraceSession {
  readonly lines: string[];
  stop(): Promise<void>;
}

/** Temporary trace table + `nft monitor trace`; stop() removes both (idempotent). */
async function startNftrace(family: 'ip' | 'ip6', proto: Protocol, src: string, sport: number, dst: string, port: number): Promise<TraceSession> {
  const table = `kpx-trace-${randomBytes(4).toString('hex')}`;
  const match = `${family} saddr ${src} ${family} daddr ${dst} meta l4proto ${proto.toLowerCase()} th sport ${sport} th dport ${port} meta nftrace set 1`;
  const script = `table inet ${table} {\n chain pre { type filter hook prerouting priority -350; ${match}; }\n chain out { type filter hook output priority -350; ${match}; }\n}\n`;
  const lines: string[] = [];
  let mon: ToolProcess | null = null;
  let stopped = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    void stop().finally(() => process.kill(process.pid, sig));
  };
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (mon && mon.exitCode === null) {
      const gone = new Promise<void>((r) => mon!.once('close', () => r()));
      mon.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
    }
    await run('nft', ['delete', 'table', 'inet', table], { allowFailure: true, timeoutMs: 10_000 });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await run('nft', ['-f', '-'], { input: script, timeoutMs: 10_000 });
    mon = spawnTool('nft', ['monitor', 'trace']);
    let buf = '';
    mon.stdout.on('data', (b: Buffer) => {
      buf += b.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    mon.on('error', () => undefined);
    // The monitor subscribes asynchronously and prints nothing when ready: give it a moment.
    await new Promise((r) => setTimeout(r, 300));
  } catch (e) {
    await stop();
    throw e;
  }
  return { lines, stop };
}

/** One line of `nft monitor trace`: id, family, table, chain, the rest. */
const TRACE_LINE = /^trace id (\S+) (\S+) (\S+) (\S+) (.*)$/;

/** Chains of our rules the first traced packet went through, in order, its final verdict and DNAT target. */
export function summariseTrace(lines: readonly string[]): { chains: string[]; verdict: 'drop' | 'reject' | 'accept' | null; dnat: string | null; dnatRule: boolean; dropLine: string | null; laterReject: boolean } {
  const chains: string[] = [];
  let verdict: 'drop' | 'reject' | 'accept' | null = null;
  let dnat: string | null = null;
  let firstId: string | null = null;
  let left = false;
  let dnatRule = false;
  let dropLine: string | null = null;
  let laterReject = false;
  const isReject = (rest: string): boolean => /^rule .*\breject\b/.test(rest) || /^rule .*REJECT/.test(rest);
  let i = 0;
  for (; i < lines.length; i++) {
    const m = TRACE_LINE.exec(lines[i]!);
    if (!m) continue;
    const [, id, , table, chain, rest] = m;
    // Only the first traced packet: a retransmitted SYN or the handshake's ACK is traced again
    // (sometimes under the same id); it re-enters through the trace table.
    firstId ??= id!;
    if (id !== firstId) break;
    if (table!.startsWith('kpx-trace-')) {
      if (left) break;
      continue;
    }
    left = true;
    if (chains[chains.length - 1] !== chain) chains.push(chain!);
    if (isReject(rest!)) verdict = 'reject';
    else if (/\(verdict drop\)|^policy drop/.test(rest!) && verdict !== 'reject') {
      verdict = 'drop';
      dropLine ??= lines[i]!;
    }
    // Only a literal target ("dnat to 198.18.100.1:8080"); map lookups do not show theirs.
    const d = /\bdnat (?:ip6? )?to ((?:\d+\.){3}\d+:\d+|\[[0-9a-f:]+\]:\d+)/.exec(rest!);
    if (d) dnat = d[1]!;
    if (/^rule .*\bdnat\b/.test(rest!) || /^rule .*DNAT/.test(rest!)) dnatRule = true;
  }
  // A first packet that was dropped, then a retransmission that was rejected (what the client saw).
  if (verdict === 'drop') {
    for (; i < lines.length; i++) {
      const m = TRACE_LINE.exec(lines[i]!);
      if (m && !m[3]!.startsWith('kpx-trace-') && isReject(m[5]!)) laterReject = true;
    }
  }
  return { chains, verdict, dnat, dnatRule, dropLine, laterReject };
}

/** IPVS evidence: the connection table, the probe's virtual server and the ipset entries explain names (three reads at once). */
async function readIpvs(probeX: Explanation, tuple: { protocol: Protocol; src: string; sport: number; dst: string; port: number }, family: 'ip' | 'ip6', method: string[], notes: string[]): Promise<IpvsEvidence> {
  const impl = probeX.implementation;
  const setObjects = (impl?.objects ?? []).filter((o) => o.kind === 'ipset entry' && o.detail);
  const [conns, save, sets] = await Promise.all([
    run('ipvsadm', ['-L', '-n', '-c'], { allowFailure: true, timeoutMs: 10_000 }),
    impl?.virtualServer ? run('ipvsadm', ['-S', '-n'], { allowFailure: true, timeoutMs: 10_000 }) : null,
    setObjects.length > 0 ? run('ipset', ['save'], { allowFailure: true, timeoutMs: 10_000 }) : null,
  ]);
  method.push('ipvsadm -L -n -c (the probe\'s connection: protocol, client and virtual address:port equal)');
  if (conns.code !== 0) notes.push(`ipvsadm -L -n -c failed: ${conns.stderr.trim()}`);
  const all = parseIpvsConnections(conns.stdout);
  let kernelReals: readonly string[] | null | undefined;
  if (save && impl?.virtualServer) {
    method.push(`ipvsadm -S -n (virtual server ${impl.virtualServer})`);
    if (save.code === 0) {
      const vs = parseIpvsadmSave(save.stdout, family === 'ip6' ? 'IPv6' : 'IPv4').get(impl.virtualServer);
      kernelReals = vs ? [...vs.reals.values()].filter((r) => r.weight > 0).map((r) => joinHostPort(r.ip, r.port)) : null;
    } else notes.push(`ipvsadm -S -n failed: ${save.stderr.trim()}`);
  }
  const missingSetEntries: string[] = [];
  if (sets) {
    method.push(`ipset save (${[...new Set(setObjects.map((o) => o.name))].join(', ')})`);
    if (sets.code === 0) {
      const have = parseIpsetSave(sets.stdout, new Set(setObjects.map((o) => o.name)));
      for (const o of setObjects) {
        if (!have.get(o.name)?.has(normaliseSetEntry(o.detail!.toLowerCase()))) missingSetEntries.push(`${o.name} entry ${o.detail}`);
      }
    } else notes.push(`ipset save failed: ${sets.stderr.trim()}`);
  }
  return {
    connections: findProbeConnections(all, tuple),
    nearMisses: nearMisses(all, tuple).length,
    ...(kernelReals !== undefined ? { kernelReals } : {}),
    missingSetEntries,
  };
}

/** The chain every masqueraded packet passes (nftables, iptables). */
const MARK_MASQ_CHAINS = ['mark-for-masquerade', 'KUBE-MARK-MASQ'];

export async function traceProbe(x: Explanation, opts: TraceOptions): Promise<TraceReport> {
  const p = x.packet;
  const notes: string[] = [];
  const method: string[] = [];
  if (p.protocol === 'SCTP') throw new Error('--trace sends TCP or UDP probes only (Node.js has no SCTP sockets)');
  const src = await sourceFor(p.dst, opts.netns);
  if (src !== p.src) notes.push(`the probe carries source ${src} (the kernel's choice${opts.netns ? ` in ${opts.netns}` : ' on this node'}), not ${p.src}: the explanation below is for the probe`);
  const probeX = opts.explainProbe(src, opts.netns ? null : 'node');
  const family = parseIPSloppy(p.dst)?.family === 'IPv6' ? 'ip6' : 'ip';

  const useNftrace = x.mode === 'nftables' || (x.mode === 'iptables' && opts.iptablesBackend !== 'legacy');
  if (x.mode === 'iptables' && !useNftrace) notes.push('iptables-legacy: no kernel rule trace (TRACE logs through nf_log, disabled in non-initial network namespaces); conntrack and the probe result only');
  let session: TraceSession | null = null;
  let result: ProbeResult = 'error';
  let ct: ConntrackEntry | null = null;
  let ipvsEv: IpvsEvidence | null = null;
  let sport = 0;
  let sendError = '';
  // A probe that could not be sent at all (its random source port in use, a sender that failed to
  // start on a loaded node) says nothing about the rules: try again with another port, up to 3 times.
  for (let attempt = 1; attempt <= 3 && result === 'error'; attempt++) {
    if (attempt > 1) notes.push(`probe from source port ${sport} could not be sent (${sendError}); sent again from another port`);
    await session?.stop();
    session = null;
    sport = 20000 + (randomBytes(2).readUInt16BE(0) % 30000);
    const tries: string[] = [];
    try {
      if (useNftrace) {
        session = await startNftrace(family, p.protocol, src, sport, p.dst, p.port);
        tries.push(`nft monitor trace (temporary table inet kpx-trace-*, meta nftrace set 1 for ${joinHostPort(src, sport)} -> ${joinHostPort(p.dst, p.port)})`);
      }
      ({ result, why: sendError } = await sendProbe(p.protocol, p.dst, p.port, sport, opts.timeoutMs, opts.netns));
      if (result === 'error' && attempt < 3) continue;
      // Let the monitor print the last events.
      if (session) await new Promise((r) => setTimeout(r, 300));
      const ctArgs = ['-L', '-f', family === 'ip6' ? 'ipv6' : 'ipv4', '-p', p.protocol.toLowerCase(), '--orig-src', src, '--orig-dst', p.dst, '--sport', String(sport), '--dport', String(p.port)];
      const c = await run('conntrack', ctArgs, { allowFailure: true, timeoutMs: 5000 });
      tries.push(`conntrack ${ctArgs.join(' ')}`);
      ct = parseConntrack(c.stdout);
      if (x.mode === 'ipvs') ipvsEv = await readIpvs(probeX, { protocol: p.protocol, src, sport, dst: p.dst, port: p.port }, family, tries, notes);
      method.push(...tries);
    } catch (e) {
      await session?.stop();
      throw e;
    }
    await session?.stop();
  }
  if (result === 'error') notes.push(`the probe could not be sent (${sendError})`);

  const j = judgeProbe({ probeX, traced: session !== null, traceLines: session?.lines ?? [], conntrack: ct, ipvs: ipvsEv, result, src, dst: p.dst, port: p.port });
  notes.push(...j.notes);
  const { expected, observed, agrees, disagreements: dis } = j;
  return {
    probe: { netns: opts.netns ?? null, src, sport, dst: p.dst, port: p.port, protocol: p.protocol, result },
    expected,
    method,
    chains: j.chains,
    traceLines: session?.lines ?? [],
    conntrack: ct,
    ipvsConnection: ipvsEv?.connections[0]?.line ?? null,
    ipvs: ipvsEv ? { ...ipvsEv, virtualServer: probeX.implementation?.virtualServer ?? null } : null,
    observed,
    agrees,
    disagreements: dis,
    notes,
  };
}

export interface JudgeInput {
  /** The explanation of the probe packet itself. */
  readonly probeX: Pick<Explanation, 'outcome' | 'endpoints' | 'implementation' | 'packet'>;
  /** Whether a rule trace (nftrace) was recorded; `traceLines` holds it. */
  readonly traced: boolean;
  readonly traceLines: readonly string[];
  readonly conntrack: ConntrackEntry | null;
  /** IPVS mode: what the connection table, the virtual server and the ipsets showed. */
  readonly ipvs: IpvsEvidence | null;
  readonly result: ProbeResult;
  /** The probe's source address and destination. */
  readonly src: string;
  readonly dst: string;
  readonly port: number;
}

export interface Judgement {
  readonly chains: string[];
  readonly expected: TraceReport['expected'];
  readonly observed: TraceReport['observed'];
  readonly agrees: boolean | null;
  readonly disagreements: string[];
  readonly notes: string[];
}

/** What the kernel did with the probe, from the evidence, against what the explanation says (pure). */
export function judgeProbe(i: JudgeInput): Judgement {
  const t = summariseTrace(i.traceLines);
  const { probeX, conntrack: ct, ipvs: ipvsEv, result, src } = i;
  const p = { dst: i.dst, port: i.port };
  const session = i.traced;
  const notes: string[] = [];
  // What the kernel did.
  let endpoint: string | null = null;
  let masqueraded: boolean | null = null;
  if (ct && (ct.replySrc !== p.dst || ct.replySport !== p.port)) {
    endpoint = joinHostPort(ct.replySrc, ct.replySport);
    masqueraded = ct.replyDst !== src;
  }
  if (session && t.chains.length > 0) {
    // The rule trace shows the masquerade decision itself; conntrack cannot when the node's own
    // address is both the probe's source and what it would be masqueraded to.
    masqueraded = t.chains.some((c) => MARK_MASQ_CHAINS.includes(c));
  } else if (masqueraded === false && probeX.packet.from === 'node') {
    masqueraded = null;
    notes.push('the probe comes from the node itself: masquerading would keep its address, so conntrack cannot tell whether it happened');
  }
  let ipvsDis: string[] = [];
  if (ipvsEv) {
    // The real server of the probe's own IPVS connection is the kernel's choice; conntrack must agree.
    const j = judgeIpvs({ outcome: probeX.outcome, endpoints: probeX.endpoints.map((e) => e.endpoint), ...(probeX.implementation?.virtualServer ? { virtualServer: probeX.implementation.virtualServer } : {}) }, ipvsEv, endpoint);
    if (j.endpoint) endpoint = j.endpoint;
    ipvsDis = j.disagreements;
    notes.push(...j.notes);
    if (j.endpoint && result !== 'connected' && result !== 'answered') notes.push(`IPVS forwarded the probe to ${j.endpoint}, but the probe was ${result} (the endpoint, or the path to it, did not answer)`);
  }
  if (!endpoint && t.dnat) endpoint = t.dnat;
  let outcome: TraceReport['observed']['outcome'];
  if (endpoint) outcome = 'forward';
  else if (t.dnatRule) {
    // The rule trace shows the DNAT, but the packet died before conntrack confirmed it (e.g. no
    // route to the endpoint), so which endpoint the map picked is not visible.
    outcome = 'forward';
    notes.push(`the trace shows the DNAT rule but not its target (no conntrack entry: the packet was not delivered, probe ${result})`);
  }
  else if (t.verdict === 'reject' || (!session && result === 'refused' && !ct)) outcome = 'reject';
  else if (t.verdict === 'drop' && result === 'refused') {
    // The client was refused, so something rejected a packet of the probe even though the first
    // traced one was dropped (e.g. a SYN conntrack judged INVALID, then its retransmission).
    if (t.laterReject) {
      outcome = 'reject';
      notes.push(`the probe's first packet was dropped (${t.dropLine}); a retransmission was rejected, which is what the client saw`);
    } else {
      outcome = 'unknown';
      notes.push(`the trace shows a drop (${t.dropLine}) but the probe was refused, and no reject was traced: the evidence contradicts itself`);
    }
  }
  else if (t.verdict === 'drop') outcome = 'drop';
  else if (result === 'timeout' && !ct) outcome = 'drop';
  else if (result === 'refused' || result === 'connected' || result === 'answered' || ct) outcome = 'not-forwarded';
  else outcome = 'unknown';

  const expected = {
    outcome: probeX.outcome,
    endpoints: probeX.endpoints.map((e) => e.endpoint),
    masquerade: Object.fromEntries(probeX.endpoints.map((e) => [e.endpoint, e.masquerade])),
  };
  const dis: string[] = [];
  let agrees: boolean | null = true;
  if (outcome === 'unknown') agrees = null;
  else if (probeX.outcome === 'forward') {
    if (outcome !== 'forward') dis.push(`expected DNAT to one of ${expected.endpoints.join(', ')}; the kernel did not forward (${outcome}, probe ${result})`);
    else if (endpoint !== null && !expected.endpoints.includes(endpoint)) dis.push(`the kernel picked ${endpoint}, not one of ${expected.endpoints.join(', ')}`);
    else if (masqueraded !== null) {
      // Without a known endpoint, every candidate must agree (they differ only through hairpin).
      const want = endpoint !== null ? [expected.masquerade[endpoint]] : [...new Set(Object.values(expected.masquerade))];
      if (want.length === 1 && want[0] !== masqueraded) dis.push(`masquerade: expected ${want[0] ? 'yes' : 'no'}, the kernel ${masqueraded ? 'masqueraded' : 'kept'} the source`);
    }
  } else if (probeX.outcome === 'reject' || probeX.outcome === 'drop') {
    if (outcome === 'forward') dis.push(`expected ${probeX.outcome}; the kernel forwarded to ${endpoint}`);
    else if (outcome !== probeX.outcome) {
      // A dropped TCP SYN and an unanswered one look alike without a rule trace: only flag what the evidence shows.
      if (session || outcome === 'reject') dis.push(`expected ${probeX.outcome}; the kernel's verdict was ${outcome} (probe ${result})`);
    }
  } else if (outcome === 'forward') {
    dis.push(`expected no service translation (${probeX.outcome}); the kernel forwarded to ${endpoint}`);
  }
  if (session && probeX.implementation && probeX.implementation.chains.length > 0 && outcome !== 'unknown') {
    const missing = probeX.implementation.chains.filter((c) => !t.chains.includes(c));
    if (missing.length > 0) dis.push(`the trace did not pass chain(s) ${missing.join(', ')}`);
    const eps = probeX.implementation.endpointChains ?? [];
    if (outcome === 'forward' && eps.length > 0 && !eps.some((c) => t.chains.includes(c))) dis.push(`the trace passed none of the endpoint chains ${eps.join(', ')}`);
  }
  dis.push(...ipvsDis);
  if (dis.length > 0) agrees = false;
  return { chains: t.chains, expected, observed: { outcome, endpoint, masqueraded }, agrees, disagreements: dis, notes };
}

export function renderTrace(t: TraceReport): string {
  const out: string[] = [];
  const p = t.probe;
  out.push(`trace:     probe ${joinHostPort(p.src, p.sport)} -> ${joinHostPort(p.dst, p.port)}/${p.protocol.toLowerCase()}${p.netns ? ` from netns ${p.netns}` : ''}: ${p.result}`);
  for (const m of t.method) out.push(`  via ${m}`);
  if (t.chains.length > 0) out.push(`  chains: ${t.chains.join(' -> ')}`);
  if (t.conntrack) out.push(`  conntrack: ${t.conntrack.origSrc} -> ${t.conntrack.origDst}, reply from ${joinHostPort(t.conntrack.replySrc, t.conntrack.replySport)} to ${t.conntrack.replyDst}`);
  else out.push('  conntrack: no entry for the probe');
  if (t.ipvs) {
    out.push(`  ipvs connection: ${t.ipvsConnection ?? 'none for the probe'}`);
    if (t.ipvs.virtualServer && t.ipvs.kernelReals !== undefined) {
      out.push(`  ipvs virtual server ${t.ipvs.virtualServer}: ${t.ipvs.kernelReals === null ? 'not in the kernel' : `real servers ${t.ipvs.kernelReals.join(', ') || '(none)'} (weight > 0)`}`);
    }
  }
  const o = t.observed;
  out.push(`  kernel:  ${o.outcome}${o.endpoint ? ` to ${o.endpoint}` : ''}${o.masqueraded === null ? '' : o.masqueraded ? ', source masqueraded' : ', source kept'}`);
  out.push(`  expected: ${t.expected.outcome}${t.expected.endpoints.length ? ` to one of ${t.expected.endpoints.join(', ')}` : ''}`);
  for (const n of t.notes) out.push(`  note: ${n}`);
  out.push(`agreement: ${t.agrees === null ? 'UNDECIDED (not enough evidence)' : t.agrees ? 'YES, the kernel did what the explanation says' : 'NO'}`);
  for (const d of t.disagreements) out.push(`  - ${d}`);
  return out.join('\n') + '\n';
}
