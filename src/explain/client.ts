// The one-shot commands' HTTP client for the running proxy's debug endpoint, bounded in time.

import http from 'node:http';

export const DEFAULT_METRICS_ADDRESS = '127.0.0.1:10249';
export const DEFAULT_TIMEOUT_MS = 5000;

export interface Endpoint {
  readonly address: string;
  readonly timeoutMs: number;
}

function baseURL(address: string): string {
  if (/^https?:\/\//.test(address)) return address.replace(/\/$/, '');
  // Bare IPv6 "::1:10249" is ambiguous; ask for brackets.
  return `http://${address}`;
}

/** GET `path`; rejects with a message naming the address and the limit when the proxy does not answer in time. */
export function fetchDebug(ep: Endpoint, path: string): Promise<string> {
  const url = baseURL(ep.address) + path;
  return new Promise((resolve, reject) => {
    const fail = (why: string): void =>
      reject(new Error(`cannot read ${url} within ${ep.timeoutMs / 1000}s: ${why} (is kube-proxy-ts running in this network namespace with this --metrics-address?)`));
    let req: http.ClientRequest;
    try {
      req = http.get(url, { timeout: ep.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (b: Buffer) => chunks.push(b));
        res.on('end', () => {
          clearTimeout(deadline);
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) reject(new Error(`${url}: HTTP ${res.statusCode}: ${body.trim().slice(0, 200)}`));
          else resolve(body);
        });
        res.on('error', (e) => fail(e.message));
      });
    } catch (e) {
      fail(e instanceof Error ? e.message : String(e));
      return;
    }
    // One deadline for connect + the whole body (the socket timeout alone restarts on each chunk).
    const deadline = setTimeout(() => {
      req.destroy(new Error('timed out'));
    }, ep.timeoutMs);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(deadline);
      fail(e.code ?? e.message);
    });
  });
}
