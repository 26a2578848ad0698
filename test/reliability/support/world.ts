// A small topology for fault tests, built only inside namespaces this run creates
// (kpx-rel-<random4>-<role>); nothing is added to the root namespace.
//
//   client 198.18.0.2 --veth-- node 198.18.0.1 (runs the proxy, the test API server)
//                              | routed veths, /32 per pod
//                       p1..pN 198.18.100.1..N  (TCP servers answering their name, then echoing lines)
//
// Service VIPs are 198.19.0.0/16 (and 2001:db8:19::/64 with dualStack): the client routes everything via the node. Every process started
// in a namespace is tracked and killed by PID before the namespaces are deleted.

import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { run } from '../../../src/util/exec.js';
import { RpcChild } from '../../support/rpc-child.js';

export const NODE_IP = '198.18.0.1';
export const CLIENT_IP = '198.18.0.2';
export const podIP = (n: number): string => `198.18.100.${n}`;
export const POD_PORT = 8080;
/** IPv6 addresses of a dual-stack world (WorldOptions.dualStack); the same roles as the IPv4 ones. */
export const NODE_IP6 = '2001:db8::1';
export const CLIENT_IP6 = '2001:db8::2';
export const podIP6 = (n: number): string => `2001:db8:100:1::${n.toString(16)}`;

/** One attempt of a client loop. */
export interface LoopAttempt {
  /** ms since the loop started. */
  readonly t: number;
  /** Wall clock (epoch ms) of the attempt start. */
  readonly at: number;
  readonly target: number;
  readonly ok: boolean;
  readonly by?: string;
  readonly err?: string;
  readonly ms: number;
}

export interface Target {
  readonly host: string;
  readonly port: number;
}

const AGENT_JS = String.raw`
'use strict';
const net = require('node:net');
const rl = require('node:readline');
const servers = [];
const holds = new Map();
let loop = null;
function reply(id, ok, v) { process.stdout.write(JSON.stringify(ok ? { id, ok, result: v } : { id, ok, error: String(v && v.stack || v) }) + '\n'); }
function serve(a) {
  return new Promise((res, rej) => {
    const s = net.createServer((c) => {
      c.on('error', () => {});
      c.setNoDelay(true);
      c.write(a.name + '\n');
      c.on('data', (d) => c.write(d));
    });
    servers.push(s);
    s.once('error', rej);
    s.listen({ port: a.port, host: a.host || '0.0.0.0' }, () => res('serving'));
  });
}
function once(host, port, timeoutMs) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let buf = '', done = false;
    const sock = net.connect({ host, port });
    const finish = (r) => { if (done) return; done = true; clearTimeout(timer); sock.destroy(); resolve(Object.assign(r, { ms: Date.now() - t0 })); };
    const timer = setTimeout(() => finish({ ok: false, err: 'timeout' }), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (d) => { buf += d; const i = buf.indexOf('\n'); if (i >= 0) finish({ ok: true, by: buf.slice(0, i) }); });
    sock.on('end', () => finish({ ok: false, err: 'closed' }));
    sock.on('error', (e) => finish({ ok: false, err: e.code || String(e) }));
  });
}
function startLoop(a) {
  if (loop) throw new Error('loop already running');
  const l = { results: [], stop: false, t0: Date.now(), done: null };
  const maxAttempts = a.maxAttempts || 100000;
  // One independent loop per target: a slow (timing-out) target does not delay the others' attempts.
  l.done = Promise.all(a.targets.map(async (tg, i) => {
    while (!l.stop && Date.now() - l.t0 < a.maxMs && l.results.length < maxAttempts) {
      const at = Date.now();
      const r = await once(tg.host, tg.port, a.timeoutMs);
      l.results.push(Object.assign({ t: at - l.t0, at, target: i }, r));
      const wait = a.periodMs - (Date.now() - at);
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    }
  }));
  loop = l;
  return 'started';
}
async function stopLoop() {
  if (!loop) throw new Error('no loop');
  loop.stop = true;
  await loop.done;
  const r = loop.results;
  loop = null;
  return r;
}
function hold(a) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: a.host, port: a.port });
    const h = { sock, buf: '', waiters: [], closed: false };
    sock.setEncoding('utf8');
    sock.setNoDelay(true);
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('hold: no greeting')); }, a.timeoutMs || 3000);
    let greeted = false;
    sock.on('data', (d) => {
      h.buf += d;
      let i;
      while ((i = h.buf.indexOf('\n')) >= 0) {
        const line = h.buf.slice(0, i);
        h.buf = h.buf.slice(i + 1);
        if (!greeted) { greeted = true; clearTimeout(timer); holds.set(a.name, h); resolve(line); continue; }
        const w = h.waiters.shift();
        if (w) w(line);
      }
    });
    sock.on('error', (e) => { h.closed = e.code || String(e); if (!greeted) { clearTimeout(timer); reject(e); } });
    sock.on('close', () => { if (!h.closed) h.closed = 'closed'; for (const w of h.waiters.splice(0)) w(null); });
  });
}
function ping(a) {
  const h = holds.get(a.name);
  if (!h) throw new Error('no such held connection');
  if (h.closed) return Promise.resolve({ ok: false, err: h.closed });
  return new Promise((resolve) => {
    const msg = 'ping-' + Date.now();
    const timer = setTimeout(() => resolve({ ok: false, err: 'timeout' }), a.timeoutMs || 3000);
    h.waiters.push((line) => { clearTimeout(timer); resolve(line === msg ? { ok: true } : { ok: false, err: line === null ? (h.closed || 'closed') : 'bad echo ' + line }); });
    h.sock.write(msg + '\n');
  });
}
const ops = {
  serve,
  probe: (a) => once(a.host, a.port, a.timeoutMs || 2000),
  loop: startLoop,
  loopStop: stopLoop,
  hold,
  ping,
};
rl.createInterface({ input: process.stdin }).on('line', (line) => {
  let m; try { m = JSON.parse(line); } catch { return; }
  const f = ops[m.op];
  if (!f) return reply(m.id, false, 'unknown op ' + m.op);
  Promise.resolve().then(() => f(m)).then((v) => reply(m.id, true, v), (e) => reply(m.id, false, e));
});
process.stdin.on('end', () => process.exit(0));
reply(0, true, 'ready');
`;

/** An agent process inside one namespace. */
export class Agent extends RpcChild {
  constructor(readonly netns: string) {
    super(`agent ${netns}`, ['ip', 'netns', 'exec', netns, process.execPath, '-e', AGENT_JS]);
  }

  probe(t: Target, timeoutMs = 2000): Promise<{ ok: boolean; by?: string; err?: string; ms: number }> {
    return this.call('probe', { host: t.host, port: t.port, timeoutMs }, timeoutMs + 5000);
  }

  startLoop(targets: readonly Target[], o: { periodMs: number; timeoutMs: number; maxMs: number; maxAttempts?: number }): Promise<void> {
    return this.call('loop', { targets, ...o });
  }

  stopLoop(): Promise<LoopAttempt[]> {
    return this.call('loopStop', {}, 120_000);
  }
}

const live = new Set<World>();
let handlersInstalled = false;
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // Last resort on exit and signals: no namespace or process outlives the run.
  process.on('exit', () => {
    for (const w of live) w.destroySync();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const w of live) w.destroySync();
      process.exit(130);
    });
  }
}

export interface WorldOptions {
  /** Pod namespaces (backends), 0..20. */
  readonly pods?: number;
  /** A client namespace beside the node. */
  readonly client?: boolean;
  /**
   * IPv6 beside IPv4: node 2001:db8::1, client 2001:db8::2, pods 2001:db8:100:1::N (routed /128 per pod,
   * the node's address on each pod veth so it answers neighbour solicitations), forwarding on, DAD off.
   */
  readonly dualStack?: boolean;
}

export class World {
  readonly prefix = `kpx-rel-${randomBytes(2).toString('hex')}`;
  private readonly created: string[] = [];
  private readonly tracked = new Set<{ pid?: number | undefined; running?: boolean } | ChildProcess>();
  readonly agents = new Map<string, Agent>();
  private destroyed = false;

  private constructor(readonly opts: WorldOptions) {}

  ns(role: string): string {
    return `${this.prefix}-${role}`;
  }

  static async create(opts: WorldOptions = {}): Promise<World> {
    installExitHandlers();
    const w = new World(opts);
    live.add(w);
    try {
      await w.build();
    } catch (e) {
      await w.destroy();
      throw e;
    }
    return w;
  }

  private async addNs(role: string): Promise<void> {
    await run('ip', ['netns', 'add', this.ns(role)]);
    this.created.push(role);
  }

  async ip(role: string, commands: readonly string[]): Promise<void> {
    await run('ip', ['-n', this.ns(role), '-batch', '-'], { input: commands.join('\n') + '\n', timeoutMs: 30_000 });
  }

  /** Run a command in a namespace; returns stdout (throws on failure unless allowFailure). */
  async exec(role: string, argv: readonly string[], o: { allowFailure?: boolean; input?: string; timeoutMs?: number } = {}): Promise<string> {
    const r = await run('ip', ['netns', 'exec', this.ns(role), ...argv], { allowFailure: o.allowFailure, input: o.input, timeoutMs: o.timeoutMs ?? 30_000 });
    return r.stdout;
  }

  private async build(): Promise<void> {
    const pods = this.opts.pods ?? 0;
    if (pods > 20) throw new Error('at most 20 pods');
    await this.addNs('node');
    await this.ip('node', ['link set lo up']);
    await this.exec('node', ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']);
    const dual = this.opts.dualStack === true;
    const noDad = ['net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0'];
    if (dual) await this.exec('node', ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1', ...noDad]);
    if (this.opts.client) {
      await this.addNs('client');
      if (dual) await this.exec('client', ['sysctl', '-q', '-w', ...noDad]);
      await this.ip('client', [
        'link set lo up',
        `link add eth0 type veth peer name cl0 netns ${this.ns('node')}`,
        `addr add ${CLIENT_IP}/30 dev eth0`,
        ...(dual ? [`addr add ${CLIENT_IP6}/126 dev eth0 nodad`] : []),
        'link set eth0 up',
        `route add default via ${NODE_IP}`,
        ...(dual ? [`route add ::/0 via ${NODE_IP6}`] : []),
      ]);
      await this.ip('node', [`addr add ${NODE_IP}/30 dev cl0`, ...(dual ? [`addr add ${NODE_IP6}/126 dev cl0 nodad`] : []), 'link set cl0 up']);
    } else {
      // The node still needs its address (the proxy's node IP).
      await this.ip('node', [`addr add ${NODE_IP}/32 dev lo`, ...(dual ? [`addr add ${NODE_IP6}/128 dev lo nodad`] : [])]);
    }
    for (let n = 1; n <= pods; n++) {
      const role = `p${n}`;
      await this.addNs(role);
      if (dual) await this.exec(role, ['sysctl', '-q', '-w', ...noDad]);
      await this.ip(role, ['link set lo up', `link add eth0 type veth peer name veth-${role} netns ${this.ns('node')}`]);
      await this.ip('node', [
        `link set veth-${role} up`,
        `route add ${podIP(n)}/32 dev veth-${role}`,
        // The node's IPv6 address on the pod's veth: it answers the pod's neighbour solicitations for it.
        ...(dual ? [`addr add ${NODE_IP6}/128 dev veth-${role} nodad`, `route add ${podIP6(n)}/128 dev veth-${role}`] : []),
      ]);
      await this.ip(role, [
        `addr add ${podIP(n)}/32 dev eth0`,
        ...(dual ? [`addr add ${podIP6(n)}/128 dev eth0 nodad`] : []),
        'link set eth0 up',
        `route add ${NODE_IP}/32 dev eth0 scope link`,
        `route add default via ${NODE_IP} dev eth0`,
        ...(dual ? [`route add ${NODE_IP6}/128 dev eth0`, `route add ::/0 via ${NODE_IP6} dev eth0`] : []),
      ]);
      const a = await this.agent(role);
      await a.call('serve', { name: role, port: POD_PORT, host: dual ? '::' : '0.0.0.0' });
    }
  }

  /**
   * An extra namespace routed to the node like a pod (a veth, `ip`/32 on its side, a /32 route on the
   * node's), with no agent: e.g. another node's proxy that must reach the node's API server.
   */
  async addRouted(role: string, ip: string): Promise<void> {
    if (this.created.includes(role)) throw new Error(`namespace role ${role} exists`);
    await this.addNs(role);
    await this.ip(role, ['link set lo up', `link add eth0 type veth peer name v-${role} netns ${this.ns('node')}`]);
    await this.ip('node', [`link set v-${role} up`, `route add ${ip}/32 dev v-${role}`]);
    await this.ip(role, [`addr add ${ip}/32 dev eth0`, 'link set eth0 up', `route add ${NODE_IP}/32 dev eth0 scope link`, `route add default via ${NODE_IP} dev eth0`]);
  }

  /** An extra empty namespace (loopback up), e.g. to load a rendered ruleset for comparison. */
  async addScratch(role: string): Promise<void> {
    if (this.created.includes(role)) return;
    await this.addNs(role);
    await this.ip(role, ['link set lo up']);
  }

  /** The agent of a namespace (started on first use). */
  async agent(role: string): Promise<Agent> {
    let a = this.agents.get(role);
    if (!a) {
      a = new Agent(this.ns(role));
      this.agents.set(role, a);
      this.track(a);
      await a.whenReady();
    }
    return a;
  }

  /** Kill this process (by PID) on teardown if it still runs. */
  track(p: { pid?: number | undefined } | ChildProcess): void {
    this.tracked.add(p);
  }

  private killTracked(): void {
    for (const p of this.tracked) {
      const pid = p.pid;
      if (!pid) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    this.tracked.clear();
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.killTracked();
    // Give killed processes a moment to release their namespace references.
    await new Promise((r) => setTimeout(r, 100));
    for (const role of this.created.reverse()) await run('ip', ['netns', 'del', this.ns(role)], { allowFailure: true });
    this.created.length = 0;
    live.delete(this);
  }

  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.killTracked();
    for (const role of this.created) {
      try {
        execFileSync('ip', ['netns', 'del', this.ns(role)], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    }
    this.created.length = 0;
    live.delete(this);
  }
}

/** Namespaces of this suite that still exist (for leak checks). */
export function leakedNamespaces(prefix: string): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(prefix));
}

/** Split a loop's attempts into failures, with the window [first failure, last failure]. */
export function failureWindow(attempts: readonly LoopAttempt[]): { failed: number; total: number; windowMs: number; first: number | null; last: number | null } {
  const failed = attempts.filter((a) => !a.ok);
  if (failed.length === 0) return { failed: 0, total: attempts.length, windowMs: 0, first: null, last: null };
  const first = Math.min(...failed.map((a) => a.at));
  const last = Math.max(...failed.map((a) => a.at + a.ms));
  return { failed: failed.length, total: attempts.length, windowMs: last - first, first, last };
}
