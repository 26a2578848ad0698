// HTTP GETs (and event POSTs) to the API server with a KubeConfig's server URL, TLS and credentials (client-node's
// applyToHTTPSOptions), on plain node:http/https so the reflector can stream watch bodies itself.

import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

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

export interface KubeConfigTransport extends Transport {
  /** POST a JSON body (events); resolves with the status and the response body. */
  post(path: string, body: unknown, signal: AbortSignal): Promise<{ status: number; body: string }>;
}

export function kubeConfigTransport(kc: KubeConfig, limiter?: RateLimiter): KubeConfigTransport {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const base = new URL(cluster.server);
  const prefix = base.pathname.replace(/\/+$/, '');
  const request = async (method: 'GET' | 'POST', url: URL, signal: AbortSignal, body?: string): Promise<IncomingMessage> => {
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': USER_AGENT };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const opts: https.RequestOptions = { method, headers };
    // Fills CA/client certs, bearer token (incl. exec/file token refresh) and the agent.
    await kc.applyToHTTPSOptions(opts);
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = mod.request(url, { ...opts, signal }, (res) => {
        res.socket?.setKeepAlive(true, 30_000);
        resolve(res);
      });
      req.on('error', reject);
      req.end(body);
    });
  };
  return {
    server: cluster.server,
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
