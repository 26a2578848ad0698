// HTTP GETs (and event POSTs) to the API server on plain node:http/https (so the reflector can stream watch bodies itself),
// with the credentials of a ClientConfig (kubeconfig.ts): CA, client certificate/key, bearer token (inline
// or a file), basic auth, impersonation, insecure-skip-tls-verify, tls-server-name. Files (service-account
// token, CA, client certificate) are re-read at most every `refreshMs` and at once after a 401, so rotated
// projected tokens and certificates are picked up without a restart, as client-go's cached file token
// source does (1 min); after a certificate verification failure the CA and client certificate files are
// re-read at once too. Users that need an exec/auth-provider plugin or a proxy go through
// `@kubernetes/client-node`, loaded only then (client-node-auth.ts).

import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { isCertificateFailure } from './diagnose.js';
import type { ClientConfig, Material } from './kubeconfig.js';

export interface Transport {
  /**
   * GET `path` (absolute API path) with `query`; resolves with the response once headers arrive.
   * `continuation`: a further page of one logical LIST, not charged to the rate limiter (else a paginated
   * 10k-object list at the default 5 qps would take seconds longer than upstream's single request).
   */
  get(path: string, query: URLSearchParams, signal: AbortSignal, continuation?: boolean): Promise<IncomingMessage>;
  /** For log lines: the server URL. */
  readonly server: string;
}

/** A token bucket: at most `qps` requests per second on average, bursts up to `burst`. */
export class RateLimiter {
  private tokens: number;
  private last = Date.now();

  constructor(
    private readonly qps: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  async take(signal?: AbortSignal): Promise<void> {
    if (this.qps <= 0) return;
    for (;;) {
      const now = Date.now();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      if (signal?.aborted) throw new Error('aborted');
      await new Promise((r) => setTimeout(r, Math.ceil(((1 - this.tokens) / this.qps) * 1000)));
    }
  }
}

const USER_AGENT = 'kube-proxy-ts/0.1.0';
/** Sent on every request, whoever authenticates it. */
const BASE_HEADERS: Readonly<Record<string, string>> = { Accept: 'application/json', 'User-Agent': USER_AGENT };
/** How long a credential file read stays valid (client-go's cached file token source: 1 minute). */
export const DEFAULT_REFRESH_MS = 60_000;

/** Inline data, or a file's content re-read when older than refreshMs (or after invalidate()). */
export class MaterialReader {
  private value: Buffer | undefined;
  private readAt = -Infinity;

  constructor(
    private readonly m: Material | undefined,
    private readonly refreshMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(): Buffer | undefined {
    const m = this.m;
    if (!m) return undefined;
    if ('data' in m) return m.data;
    if (this.now() - this.readAt < this.refreshMs && this.value) return this.value;
    try {
      this.value = readFileSync(m.file);
      this.readAt = this.now();
    } catch (e) {
      // A rotation in progress (file briefly missing) keeps the last good value; with none, fail the request.
      if (!this.value) throw new Error(`reading ${m.file}: ${(e as Error).message}`);
    }
    return this.value;
  }

  invalidate(): void {
    this.readAt = -Infinity;
  }
}

export interface TransportOptions {
  /** Re-read credential files at most this often (default 60 s). */
  readonly refreshMs?: number;
}

type Authorize = (opts: https.RequestOptions) => Promise<void>;

export interface KubeConfigTransport extends Transport {
  /** POST a JSON body (events); resolves with the status and the response body. */
  post(path: string, body: unknown, signal: AbortSignal): Promise<{ status: number; body: string }>;
}

export function kubeConfigTransport(cfg: ClientConfig, limiter?: RateLimiter, topts: TransportOptions = {}): KubeConfigTransport {
  const base = new URL(cfg.server);
  const prefix = base.pathname.replace(/\/+$/, '');
  const isHttps = base.protocol === 'https:';
  const refreshMs = topts.refreshMs ?? DEFAULT_REFRESH_MS;
  const ca = new MaterialReader(cfg.ca, refreshMs);
  const cert = new MaterialReader(cfg.clientCert, refreshMs);
  const key = new MaterialReader(cfg.clientKey, refreshMs);
  const token = new MaterialReader(cfg.token, refreshMs);
  // One keep-alive agent: LIST pages and watches reuse TLS sessions. A new one when TLS material rotates.
  let agent: http.Agent | undefined;
  let agentKey: readonly (Buffer | undefined)[] = [];
  let plugin: Promise<Authorize> | undefined;

  const tlsAgent = (): http.Agent => {
    if (!isHttps) return (agent ??= new http.Agent({ keepAlive: true }));
    const k = [ca.get(), cert.get(), key.get()];
    // Compared by content: a periodic re-read of an unchanged file must not drop pooled connections.
    if (!agent || k.some((b, i) => !(b === agentKey[i] || (b && agentKey[i] && b.equals(agentKey[i]!))))) {
      agentKey = k;
      agent = new https.Agent({
        keepAlive: true,
        ca: k[0],
        cert: k[1],
        key: k[2],
        rejectUnauthorized: !cfg.insecureSkipTLSVerify,
        servername: cfg.tlsServerName,
      });
    }
    return agent;
  };

  const headers = (): Record<string, string | string[]> => {
    const h: Record<string, string | string[]> = { ...BASE_HEADERS };
    const t = token.get()?.toString('utf8').trim();
    if (t) h.Authorization = `Bearer ${t}`;
    else if (cfg.basicAuth) h.Authorization = `Basic ${Buffer.from(`${cfg.basicAuth.username}:${cfg.basicAuth.password}`).toString('base64')}`;
    if (cfg.impersonate?.user) h['Impersonate-User'] = cfg.impersonate.user;
    if (cfg.impersonate?.groups?.length) h['Impersonate-Group'] = [...cfg.impersonate.groups];
    return h;
  };

  const request = async (method: 'GET' | 'POST', url: URL, signal: AbortSignal, body?: string): Promise<IncomingMessage> => {
    let opts: https.RequestOptions;
    if (cfg.plugin) {
      opts = { method, headers: { ...BASE_HEADERS } };
      if (!plugin) {
        const { kubeconfig, master } = cfg.plugin;
        const p = import('./client-node-auth.js').then((m) => m.clientNodeAuthorizer(kubeconfig, master));
        // A failed load is retried by the next request (the reflector backs off).
        p.catch(() => {
          if (plugin === p) plugin = undefined;
        });
        plugin = p;
      }
      await (await plugin)(opts);
    } else {
      opts = { method, headers: headers(), agent: tlsAgent() };
    }
    if (body !== undefined) opts.headers = { ...opts.headers, 'Content-Type': 'application/json' };
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = mod.request(url, { ...opts, signal }, (res) => {
        res.socket?.setKeepAlive(true, 30_000);
        if (res.statusCode === 401) {
          // Rotated credentials: read the files again for the next attempt instead of waiting refreshMs.
          for (const r of [token, ca, cert, key]) r.invalidate();
        }
        resolve(res);
      });
      req.on('error', (e) => {
        // A certificate the CA does not verify (or an expired one) may mean our CA file was rotated: read it again next time.
        if (isCertificateFailure(e)) for (const r of [ca, cert, key]) r.invalidate();
        reject(e);
      });
      req.end(body);
    });
  };

  return {
    server: cfg.server,
    async get(path, query, signal, continuation) {
      if (!continuation) await limiter?.take(signal);
      const url = new URL(base.origin + prefix + path);
      url.search = query.toString();
      return request('GET', url, signal);
    },
    async post(path, body, signal) {
      const res = await request('POST', new URL(base.origin + prefix + path), signal, JSON.stringify(body));
      res.setEncoding('utf8');
      let text = '';
      for await (const c of res) text += c as string;
      return { status: res.statusCode ?? 0, body: text };
    },
  };
}
