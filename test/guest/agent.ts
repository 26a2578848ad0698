// A helper process started inside one network namespace of an IPVS guest test
// (`ip netns exec NS node agent.js`). It reads JSON requests on stdin, one per line, and answers
// on stdout: run the IPVS dataplane (in the "node" namespace), serve TCP/UDP as pods, or connect
// as a client. One process per namespace keeps the number of (slow, emulated) node starts down.

import * as net from 'node:net';
import * as dgram from 'node:dgram';
import * as readline from 'node:readline';
import { createIpvsDataplane, type IpvsDataplaneHandle } from '../../src/dataplane/ipvs/index.js';
import type { DataplaneConfig } from '../../src/dataplane/config.js';
import { configureLogging } from '../../src/log/logger.js';
import { stateFromJSON, type StateJSON } from './wire.js';

configureLogging({ sink: (l) => process.stderr.write(l + '\n') });

type Req = { id: number; op: string; [k: string]: unknown };

let dp: IpvsDataplaneHandle | null = null;
const held = new Map<number, net.Socket>();
let nextHandle = 1;

/** TCP: "ip:port from remote" on connect, then echo each line prefixed with "echo ". */
function listenTCP(ip: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer((s) => {
      s.on('error', () => undefined);
      s.write(`${ip}:${port} ${s.remoteAddress}\n`);
      s.on('data', (b) => s.write('echo ' + b.toString()));
    });
    srv.once('error', reject);
    srv.listen(port, ip, () => resolve());
  });
}

function listenUDP(ip: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(ip.includes(':') ? 'udp6' : 'udp4');
    sock.on('message', (_m, rinfo) => sock.send(`${ip}:${port} ${rinfo.address}\n`, rinfo.port, rinfo.address));
    sock.once('error', reject);
    sock.bind(port, ip, () => resolve());
  });
}

/** Connect, read the greeting line; keep the socket open when `hold`. */
function connectTCP(host: string, port: number, hold: boolean, timeoutMs: number): Promise<{ reply: string; handle?: number } | { error: string }> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    let buf = '';
    const t = setTimeout(() => {
      s.destroy();
      resolve({ error: 'timeout' });
    }, timeoutMs);
    s.on('error', (e) => {
      clearTimeout(t);
      resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message });
    });
    s.on('data', (b) => {
      buf += b.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(t);
      s.removeAllListeners('data');
      const reply = buf.slice(0, nl);
      if (hold) {
        const h = nextHandle++;
        held.set(h, s);
        resolve({ reply, handle: h });
      } else {
        s.end();
        resolve({ reply });
      }
    });
  });
}

function echo(handle: number, text: string, timeoutMs: number): Promise<{ reply: string } | { error: string }> {
  const s = held.get(handle);
  if (!s) return Promise.resolve({ error: 'no such handle' });
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve({ error: 'timeout' }), timeoutMs);
    s.once('data', (b) => {
      clearTimeout(t);
      resolve({ reply: b.toString().trim() });
    });
    s.once('error', (e) => {
      clearTimeout(t);
      resolve({ error: e.message });
    });
    s.write(text + '\n');
  });
}

function udpAsk(host: string, port: number, timeoutMs: number): Promise<{ reply: string } | { error: string }> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const t = setTimeout(() => {
      sock.close();
      resolve({ error: 'timeout' });
    }, timeoutMs);
    sock.on('message', (m) => {
      clearTimeout(t);
      sock.close();
      resolve({ reply: m.toString().trim() });
    });
    sock.send('hi', port, host);
  });
}

async function handle(r: Req): Promise<unknown> {
  switch (r.op) {
    case 'create':
      dp = createIpvsDataplane(r.cfg as DataplaneConfig, { drainCheckMs: 0 });
      return {};
    case 'sync':
      return dp!.sync(stateFromJSON(r.state as StateJSON), { full: Boolean(r.full) });
    case 'draining':
      return dp!.drainingRealServers();
    case 'drift':
      return dp!.detectDrift();
    case 'render':
      return dp!.render(stateFromJSON(r.state as StateJSON));
    case 'cleanup':
      await dp!.cleanup();
      return {};
    case 'listen':
      for (const ip of r.ips as string[]) {
        if (r.proto === 'UDP') await listenUDP(ip, r.port as number);
        else await listenTCP(ip, r.port as number);
      }
      return {};
    case 'connect':
      return connectTCP(r.host as string, r.port as number, Boolean(r.hold), (r.timeoutMs as number) ?? 3000);
    case 'echo':
      return echo(r.handle as number, r.text as string, (r.timeoutMs as number) ?? 3000);
    case 'close': {
      const s = held.get(r.handle as number);
      held.delete(r.handle as number);
      // RST rather than FIN: IPVS then keeps the entry 10 s (CLOSE) instead of 2 min (TIME_WAIT).
      if (s) s.resetAndDestroy();
      return {};
    }
    case 'udp':
      return udpAsk(r.host as string, r.port as number, (r.timeoutMs as number) ?? 3000);
    case 'exit':
      setImmediate(() => process.exit(0));
      return {};
    default:
      throw new Error(`unknown op ${r.op}`);
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const r = JSON.parse(line) as Req;
  handle(r).then(
    (result) => process.stdout.write(JSON.stringify({ id: r.id, ok: true, result }) + '\n'),
    (e: unknown) => process.stdout.write(JSON.stringify({ id: r.id, ok: false, error: (e as Error).message ?? String(e) }) + '\n'),
  );
});
rl.on('close', () => process.exit(0));
// id 0 is the readiness line of the JSON-lines protocol (test/support/rpc-child.ts).
process.stdout.write(JSON.stringify({ id: 0, ok: true, result: 'ready' }) + '\n');
