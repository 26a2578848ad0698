// The end-to-end benchmark's agents, one long-lived process per network namespace (bench/e2e.ts
// starts them with `ip netns exec NS node e2e-agent.js ROLE` and talks JSON lines to them through
// test/support/rpc-child.ts). Every timestamp is epoch milliseconds from performance.timeOrigin +
// performance.now(), so the parent can subtract times taken in different processes.
//
//   pod     answers every TCP connection on TARGET_PORT with the local address it was accepted on
//           (the pod namespace owns the whole pod CIDR, so that address is the endpoint chosen).
//   client  `probe`: opens new connections to a service until one is answered (by `want`, if set).
//   node    `put`: PUTs an EndpointSlice to the test API server over one keep-alive connection;
//           `metrics`: the proxy's own sync and network-programming figures from /metrics.

import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { TARGET_PORT, sliceObject } from './fixtures.js';

const epoch = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const reply = (o: Record<string, unknown>): void => void process.stdout.write(JSON.stringify(o) + '\n');

type Handler = (msg: Record<string, unknown>) => Promise<unknown>;

function serve(ops: Record<string, Handler>): void {
  createInterface({ input: process.stdin }).on('line', (line) => {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const op = ops[String(msg.op)];
    const id = msg.id;
    if (!op) return reply({ id, ok: false, error: `unknown op ${String(msg.op)}` });
    op(msg).then(
      (result) => reply({ id, ok: true, result }),
      (e: unknown) => reply({ id, ok: false, error: e instanceof Error ? e.message : String(e) }),
    );
  });
  process.stdin.on('end', () => process.exit(0));
}

// --- pod --------------------------------------------------------------------------------------

function pod(): void {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.end(s.localAddress ?? '?');
  });
  server.listen(TARGET_PORT, '0.0.0.0', () => {
    serve({});
    reply({ id: 0, ok: true, result: { port: TARGET_PORT } });
  });
}

// --- client -----------------------------------------------------------------------------------

type Attempt = { kind: 'answer'; by: string; t: number } | { kind: 'fail'; code: string };

function attempt(ip: string, port: number, timeoutMs: number): Promise<Attempt> {
  return new Promise((resolve) => {
    const s = net.connect({ host: ip, port });
    let data = '';
    let tFirst = 0;
    let done = false;
    const finish = (a: Attempt): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(a);
    };
    const timer = setTimeout(() => finish({ kind: 'fail', code: 'timeout' }), timeoutMs);
    s.on('data', (b: Buffer) => {
      if (!tFirst) tFirst = epoch();
      data += b.toString();
    });
    s.on('end', () => finish(data ? { kind: 'answer', by: data.trim(), t: tFirst } : { kind: 'fail', code: 'empty' }));
    s.on('error', (e: NodeJS.ErrnoException) => finish({ kind: 'fail', code: e.code ?? 'error' }));
  });
}

async function probe(m: Record<string, unknown>): Promise<unknown> {
  const ip = String(m.ip);
  const port = Number(m.port);
  const want = typeof m.want === 'string' ? m.want : null;
  const intervalMs = Number(m.intervalMs ?? 2);
  const deadline = epoch() + Number(m.timeoutMs ?? 60_000);
  const attemptMs = Number(m.attemptTimeoutMs ?? 200);
  let attempts = 0;
  const codes: Record<string, number> = {};
  let others = 0;
  while (epoch() < deadline) {
    attempts++;
    const a = await attempt(ip, port, attemptMs);
    if (a.kind === 'answer' && (want === null || a.by === want)) return { t: a.t, by: a.by, attempts, others, codes };
    if (a.kind === 'answer') others++;
    else codes[a.code] = (codes[a.code] ?? 0) + 1;
    await sleep(intervalMs);
  }
  return { t: null, attempts, others, codes };
}

function client(): void {
  serve({ probe });
  reply({ id: 0, ok: true, result: {} });
}

// --- node -------------------------------------------------------------------------------------

interface ApiTarget {
  readonly host: string;
  readonly port: number;
  readonly token: string;
}

let api: ApiTarget | null = null;
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** One HTTP request over the keep-alive agent; retried once when the server had closed an idle connection. */
async function request(method: string, host: string, port: number, path: string, body: string | null, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  try {
    return await requestOnce(method, host, port, path, body, headers);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ECONNRESET' && code !== 'EPIPE') throw e;
    return requestOnce(method, host, port, path, body, headers);
  }
}

function requestOnce(method: string, host: string, port: number, path: string, body: string | null, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ method, host, port, path, agent: keepAlive, headers: { ...headers, ...(body !== null ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } : {}) }, timeout: 30_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    if (body !== null) req.write(body);
    req.end();
  });
}

/** PUT service i's slice with endpoint indexes `js`; the trigger-time annotation is the write time. */
async function putSlice(i: number, js: readonly number[], version: number): Promise<{ t0: number; t1: number }> {
  if (!api) throw new Error('init first');
  const obj = sliceObject(i, js, version);
  const meta = { ...(obj.metadata as Record<string, unknown>) };
  delete meta.resourceVersion; // an unconditional update
  const t0 = epoch();
  meta.annotations = { 'endpoints.kubernetes.io/last-change-trigger-time': new Date(t0).toISOString() };
  const body = JSON.stringify({ ...obj, metadata: meta });
  const r = await request('PUT', api.host, api.port, `/apis/discovery.k8s.io/v1/namespaces/${String(meta.namespace)}/endpointslices/${String(meta.name)}`, body, { authorization: `Bearer ${api.token}` });
  if (r.status !== 200) throw new Error(`PUT slice ${i}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
  return { t0, t1: epoch() };
}

const METRIC = /^(kubeproxy_network_programming_duration_seconds|kubeproxy_sync_proxy_rules_duration_seconds)_(sum|count)\{[^}]*ip_family="IPv4"[^}]*\} (\S+)$/;

function node(): void {
  serve({
    init: async (m) => {
      const kc = JSON.parse(readFileSync(String(m.kubeconfig), 'utf8')) as { clusters: { cluster: { server: string } }[]; users: { user: { token?: string } }[] };
      const u = new URL(kc.clusters[0]!.cluster.server);
      api = { host: u.hostname, port: Number(u.port), token: kc.users[0]?.user.token ?? '' };
      return {};
    },
    put: (m) => putSlice(Number(m.i), m.js as number[], Number(m.version)),
    /** `count` changes on services spread over 0..n-2 (one endpoint dropped / restored alternately). */
    putMany: async (m) => {
      const n = Number(m.n);
      const count = Number(m.count);
      const endpoints = Number(m.endpoints);
      const deadline = epoch() + Number(m.timeoutMs ?? 120_000);
      const t = epoch();
      let done = 0;
      for (; done < count && epoch() < deadline; done++) {
        const i = (done * 7919) % Math.max(1, n - 1);
        const js = Array.from({ length: done % 2 === 0 ? endpoints - 1 : endpoints }, (_, j) => j);
        await putSlice(i, js, 1000 + done);
      }
      return { done, ms: epoch() - t };
    },
    metrics: async (m) => {
      const r = await request('GET', '127.0.0.1', Number(m.port ?? 10249), '/metrics', null, {});
      const out: Record<string, number> = {};
      for (const line of r.body.split('\n')) {
        const x = METRIC.exec(line);
        if (x) out[`${x[1] === 'kubeproxy_network_programming_duration_seconds' ? 'np' : 'sync'}${x[2] === 'sum' ? 'Sum' : 'Count'}`] = Number(x[3]);
      }
      return out;
    },
  });
  reply({ id: 0, ok: true, result: {} });
}

const role = process.argv[2];
if (role === 'pod') pod();
else if (role === 'client') client();
else if (role === 'node') node();
else {
  process.stderr.write(`usage: e2e-agent pod|client|node\n`);
  process.exit(2);
}
