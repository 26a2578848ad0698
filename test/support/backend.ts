// One long-lived "agent" process per network namespace: it serves the backend ports of a pod
// (answering with its pod name and the client address it saw) and runs client probes on request.
// One process per namespace, not one per connection or check: in the IPVS guest (emulated CPU)
// starting `node` costs ~1.7 s, so the suite must not start processes per check.
//
// The agent is plain JavaScript passed with `node -e`, so it runs the same from src (tsx) and dist
// without resolving file paths, and without tsx's start-up cost. It speaks JSON lines on
// stdin/stdout: {id, op, ...} -> {id, ok, result | error}.

import { RpcChild } from './rpc-child.js';

export type Proto = 'TCP' | 'UDP' | 'SCTP';

/** One attempt's outcome. */
export type Attempt =
  | { readonly kind: 'answer'; readonly answeredBy: string; readonly seenSource: string }
  | { readonly kind: 'refused'; readonly code: string; readonly ms: number }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'error'; readonly code: string };

export interface ProbeRequest {
  readonly proto: Proto;
  readonly host: string;
  readonly port: number;
  readonly count: number;
  /** Attempts in flight at once (drop checks run in parallel so they cost one timeout). */
  readonly concurrency?: number;
  readonly timeoutMs: number;
}

export interface HttpResult {
  readonly status: number;
  readonly body: string;
  readonly headers: Record<string, string>;
}

/** One attempt of a client loop. */
export interface LoopAttempt {
  /** Wall clock (epoch ms) of the attempt's start. */
  readonly at: number;
  readonly target: number;
  readonly ok: boolean;
  readonly by?: string;
  readonly err?: string;
  readonly ms: number;
}

export interface UdpSessionReply {
  readonly t: number;
  readonly answeredBy: string;
}

const AGENT_JS = String.raw`
'use strict';
const net = require('node:net');
const dgram = require('node:dgram');
const http = require('node:http');
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const readline = require('node:readline');

const servers = [];
const sessions = new Map();
let podName = '';

function norm(a) { return typeof a === 'string' && a.startsWith('::ffff:') ? a.slice(7) : a; }
function reply(id, ok, v) { process.stdout.write(JSON.stringify(ok ? { id, ok, result: v } : { id, ok, error: String(v) }) + '\n'); }
function answerFor(src, dst) { return JSON.stringify({ pod: podName, src: norm(src), dst: norm(dst) }); }

function serve(req) {
  podName = req.name;
  const tasks = [];
  for (const port of req.tcp || []) {
    for (const host of ['0.0.0.0', '::']) {
      // echo: answer, then keep the connection and echo lines (held connections, lifecycle tests).
      const s = req.echo
        ? net.createServer((c) => { c.on('error', () => {}); c.setNoDelay(true); c.write(answerFor(c.remoteAddress, c.localAddress) + '\n'); c.on('data', (d) => c.write(d)); })
        : net.createServer((c) => { c.on('error', () => {}); c.end(answerFor(c.remoteAddress, c.localAddress) + '\n'); });
      servers.push(s);
      tasks.push(new Promise((res, rej) => { s.once('error', rej); s.listen({ port, host, ipv6Only: host === '::' }, res); }));
    }
  }
  for (const port of req.udp || []) {
    for (const type of ['udp4', 'udp6']) {
      const s = dgram.createSocket({ type, ipv6Only: type === 'udp6', reuseAddr: true });
      s.on('message', (msg, rinfo) => { s.send(answerFor(rinfo.address, ''), rinfo.port, rinfo.address); });
      servers.push(s);
      tasks.push(new Promise((res, rej) => { s.once('error', rej); s.bind({ port, address: type === 'udp4' ? '0.0.0.0' : '::' }, res); }));
    }
  }
  for (const port of req.sctp || []) {
    // socat forks a child per association; SOCAT_PEERADDR is the source the pod saw. The answer
    // comes from a script file because socat's address syntax would split an inline command at ':' and ','.
    const script = require('node:os').tmpdir() + '/kpx-sctp-' + process.pid + '-' + port + '.sh';
    fs.writeFileSync(script, '#!/bin/sh\nprintf \'{"pod":"' + req.name + '","src":"%s"}\\n\' "$SOCAT_PEERADDR"\n', { mode: 0o755 });
    const p = spawn('socat', ['SCTP-LISTEN:' + port + ',fork,reuseaddr', 'EXEC:' + script], { stdio: 'ignore' });
    servers.push({ close() { p.kill('SIGKILL'); try { fs.unlinkSync(script); } catch {} } });
  }
  return Promise.all(tasks).then(() => 'serving');
}

function classify(err, t0) {
  const code = err && err.code ? err.code : String(err);
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ECONNRESET')
    return { kind: 'refused', code, ms: Date.now() - t0 };
  return { kind: 'error', code };
}

function parseAnswer(text) {
  try { const o = JSON.parse(text.trim()); return { kind: 'answer', answeredBy: o.pod, seenSource: norm(o.src) }; }
  catch { return { kind: 'error', code: 'bad answer: ' + text.slice(0, 80) }; }
}

function tcpOnce(host, port, timeoutMs) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let buf = '';
    let done = false;
    const finish = (r) => { if (!done) { done = true; clearTimeout(timer); sock.destroy(); resolve(r); } };
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => finish(buf ? parseAnswer(buf) : { kind: 'timeout' }), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (d) => { buf += d; if (buf.includes('\n')) finish(parseAnswer(buf)); });
    sock.on('end', () => finish(buf ? parseAnswer(buf) : { kind: 'error', code: 'closed without answer' }));
    sock.on('error', (e) => finish(buf ? parseAnswer(buf) : classify(e, t0)));
  });
}

function udpOnce(host, port, timeoutMs) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    let done = false;
    const finish = (r) => { if (!done) { done = true; clearTimeout(timer); try { s.close(); } catch {} resolve(r); } };
    const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
    s.on('message', (m) => finish(parseAnswer(m.toString())));
    s.on('error', (e) => finish(classify(e, t0)));
    // A connected socket reports ICMP unreachable as ECONNREFUSED/EHOSTUNREACH on the next operation.
    s.connect(port, host, () => { s.send('probe', (e) => { if (e) finish(classify(e, t0)); }); });
  });
}

function sctpOnce(host, port, timeoutMs) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const addr = net.isIPv6(host) ? '[' + host + ']' : host;
    // -u: only read from the association and write to stdout (no stdin half to close early).
    const p = spawn('socat', ['-u', '-T', String(timeoutMs / 1000), 'SCTP-CONNECT:' + addr + ':' + port, 'STDOUT'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', () => {
      clearTimeout(timer);
      if (out) resolve(parseAnswer(out));
      else if (/refused|unreachable/i.test(err)) resolve({ kind: 'refused', code: 'SCTP ' + (err.trim().split('\n').pop() || '').replace(/^.* E /, '').slice(-60), ms: Date.now() - t0 });
      else if (Date.now() - t0 >= timeoutMs - 50 || /timed out|timeout/i.test(err)) resolve({ kind: 'timeout' });
      else resolve({ kind: 'error', code: err.trim().slice(-120) });
    });
  });
}

async function probe(req) {
  const once = req.proto === 'UDP' ? udpOnce : req.proto === 'SCTP' ? sctpOnce : tcpOnce;
  const results = new Array(req.count);
  let next = 0;
  const worker = async () => { while (next < req.count) { const i = next++; results[i] = await once(req.host, req.port, req.timeoutMs); } };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(req.concurrency || 1, req.count)) }, worker));
  return results;
}

function httpGet(req) {
  return new Promise((resolve, reject) => {
    const r = http.get(req.url, { timeout: req.timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body, headers: res.headers }));
    });
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', (e) => reject(e.code || e.message));
  });
}

// A UDP "long flow": the same source port keeps sending; replies are recorded with their time.
function udpSessionStart(req) {
  const s = dgram.createSocket(net.isIPv6(req.host) ? 'udp6' : 'udp4');
  const sess = { sock: s, replies: [], timer: null };
  sessions.set(req.session, sess);
  s.on('message', (m) => { const a = parseAnswer(m.toString()); sess.replies.push({ t: Date.now(), answeredBy: a.answeredBy || '?' }); });
  s.on('error', () => {});
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(req.srcPort || 0, () => {
      sess.timer = setInterval(() => s.send('probe', req.port, req.host, () => {}), req.intervalMs || 100);
      resolve(s.address().port);
    });
  });
}
function udpSessionRead(req) { const s = sessions.get(req.session); return s ? s.replies : []; }
function udpSessionStop(req) {
  const s = sessions.get(req.session);
  if (s) { clearInterval(s.timer); try { s.sock.close(); } catch {} sessions.delete(req.session); }
  return 'stopped';
}

// A bounded client loop: one independent loop per target (a slow target does not delay the
// others), a new TCP connection every periodMs; each attempt is recorded with its wall-clock start.
let loop = null;
function loopStart(req) {
  if (loop) throw new Error('loop already running');
  const l = { results: [], stop: false, t0: Date.now(), done: null };
  const max = req.maxAttempts || 200000;
  l.done = Promise.all(req.targets.map(async (tg, i) => {
    while (!l.stop && Date.now() - l.t0 < req.maxMs && l.results.length < max) {
      const at = Date.now();
      const r = await tcpOnce(tg.host, tg.port, req.timeoutMs);
      l.results.push({ at, target: i, ok: r.kind === 'answer', by: r.answeredBy, err: r.kind === 'answer' ? undefined : (r.code || r.kind), ms: Date.now() - at });
      const wait = req.periodMs - (Date.now() - at);
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    }
  }));
  loop = l;
  return 'started';
}
async function loopStop() {
  if (!loop) throw new Error('no loop');
  loop.stop = true;
  await loop.done;
  const r = loop.results;
  loop = null;
  return r;
}

// Held connections: opened once (to an echo port), then pinged with a line that must come back.
const holds = new Map();
function hold(req) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: req.host, port: req.port });
    const h = { sock, buf: '', waiters: [], closed: false };
    sock.setEncoding('utf8');
    sock.setNoDelay(true);
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('hold: no greeting')); }, req.timeoutMs || 3000);
    let greeted = false;
    sock.on('data', (d) => {
      h.buf += d;
      let i;
      while ((i = h.buf.indexOf('\n')) >= 0) {
        const line = h.buf.slice(0, i);
        h.buf = h.buf.slice(i + 1);
        if (!greeted) { greeted = true; clearTimeout(timer); holds.set(req.name, h); resolve(parseAnswer(line).answeredBy); continue; }
        const w = h.waiters.shift();
        if (w) w(line);
      }
    });
    sock.on('error', (e) => { h.closed = e.code || String(e); if (!greeted) { clearTimeout(timer); reject(e); } });
    sock.on('close', () => { if (!h.closed) h.closed = 'closed'; for (const w of h.waiters.splice(0)) w(null); });
  });
}
function holdPing(req) {
  const h = holds.get(req.name);
  if (!h) throw new Error('no such held connection');
  if (h.closed) return { ok: false, err: h.closed };
  return new Promise((resolve) => {
    const msg = 'ping-' + Date.now();
    const timer = setTimeout(() => resolve({ ok: false, err: 'timeout' }), req.timeoutMs || 3000);
    h.waiters.push((line) => { clearTimeout(timer); resolve(line === msg ? { ok: true } : { ok: false, err: line === null ? (h.closed || 'closed') : 'bad echo ' + line }); });
    h.sock.write(msg + '\n');
  });
}

function unhold(req) {
  const h = holds.get(req.name);
  if (h) { h.sock.destroy(); holds.delete(req.name); }
  return 'closed';
}

function sysctl(req) {
  for (const [k, v] of Object.entries(req.values)) fs.writeFileSync('/proc/sys/' + k.replace(/\./g, '/'), String(v));
  return 'ok';
}

const ops = { serve, probe, http: httpGet, udpSessionStart, udpSessionRead, udpSessionStop, sysctl, loopStart, loopStop, hold, holdPing, unhold, ping: () => 'pong' };

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let req;
  try { req = JSON.parse(line); } catch { return; }
  const op = ops[req.op];
  if (!op) return reply(req.id, false, 'unknown op ' + req.op);
  Promise.resolve().then(() => op(req)).then((v) => reply(req.id, true, v), (e) => reply(req.id, false, e && e.message ? e.message : e));
});
process.stdin.on('end', () => { for (const s of servers) { try { s.close(); } catch {} } process.exit(0); });
process.stdout.write(JSON.stringify({ id: 0, ok: true, result: 'ready' }) + '\n');
`;

/** A running agent in one namespace (JSON-lines RPC, see rpc-child.ts). */
export class Agent extends RpcChild {
  constructor(readonly netns: string) {
    super(`agent ${netns}`, ['ip', 'netns', 'exec', netns, process.execPath, '-e', AGENT_JS]);
  }

  /** Generous: in the emulated IPVS guest a node process takes seconds to start. */
  override whenReady<T = unknown>(timeoutMs = 120_000): Promise<T> {
    return super.whenReady<T>(timeoutMs);
  }

  /** Serve TCP/UDP(/SCTP) ports as pod `name`; `echo`: TCP connections stay open and echo lines. */
  serve(name: string, ports: { tcp?: number[]; udp?: number[]; sctp?: number[]; echo?: boolean }): Promise<string> {
    return this.call('serve', { name, ...ports });
  }

  /** Start a client loop: a new TCP connection to each target every periodMs (bounded by maxMs). */
  loopStart(targets: readonly { host: string; port: number }[], o: { periodMs: number; timeoutMs: number; maxMs: number }): Promise<string> {
    return this.call('loopStart', { targets, ...o });
  }

  /** Stop the loop; every attempt, in completion order. */
  loopStop(): Promise<LoopAttempt[]> {
    return this.call('loopStop', {}, 120_000);
  }

  /** Open a connection to an echo port and keep it; resolves with the pod that answered. */
  hold(name: string, host: string, port: number): Promise<string> {
    return this.call('hold', { name, host, port });
  }

  /** Close a held connection. */
  unhold(name: string): Promise<string> {
    return this.call('unhold', { name });
  }

  /** One line through the held connection; ok when it came back. */
  holdPing(name: string, timeoutMs = 3000): Promise<{ ok: boolean; err?: string }> {
    return this.call('holdPing', { name, timeoutMs }, timeoutMs + 5000);
  }

  /** N attempts from this namespace; one result per attempt, in order. */
  probe(req: ProbeRequest): Promise<Attempt[]> {
    const budget = req.timeoutMs * Math.ceil(req.count / Math.max(1, req.concurrency ?? 1)) + 10_000;
    return this.call('probe', { ...req }, budget);
  }

  http(url: string, timeoutMs = 2000): Promise<HttpResult> {
    return this.call('http', { url, timeoutMs }, timeoutMs + 5000);
  }

  udpSessionStart(session: string, host: string, port: number, intervalMs = 100): Promise<number> {
    return this.call('udpSessionStart', { session, host, port, intervalMs });
  }

  udpSessionRead(session: string): Promise<UdpSessionReply[]> {
    return this.call('udpSessionRead', { session });
  }

  udpSessionStop(session: string): Promise<string> {
    return this.call('udpSessionStop', { session });
  }

  /** Write sysctls of this agent's namespace (/proc/sys/net is per network namespace). */
  sysctl(values: Record<string, string | number>): Promise<string> {
    return this.call('sysctl', { values });
  }

  /** Stop: close stdin (graceful), then SIGKILL by PID if it lingers. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.stdin!.end();
    const t = setTimeout(() => {
      if (!this.exited && this.child.pid) process.kill(this.child.pid, 'SIGKILL');
    }, 2000);
    await done;
    clearTimeout(t);
  }

  /** Synchronous kill by PID, for exit handlers. */
  killNow(): void {
    this.kill();
  }
}

/** Summarise attempts for assertion messages: "p1×20 p2×19 timeout×1". */
export function summarize(attempts: readonly Attempt[]): string {
  const counts = new Map<string, number>();
  for (const a of attempts) {
    const k = a.kind === 'answer' ? `${a.answeredBy}(from ${a.seenSource})` : a.kind === 'refused' ? `refused:${a.code}` : a.kind === 'error' ? `error:${a.code}` : 'timeout';
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${k}×${n}`).join(' ');
}
