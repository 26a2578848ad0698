// HTTP listeners for the health and metrics servers: "host:port" bind addresses, and upstream's
// start-up policy (a failed bind is retried every 5 s, or is fatal with bindAddressHardFail).

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { splitHostPort } from '../config/net.js';
import { createLogger } from '../log/logger.js';

const log = createLogger('server');

/** "host:port" (Go net.SplitHostPort rules) -> host and numeric port; throws on malformed input. */
export function bindHostPort(addr: string): { host: string; port: number } {
  const r = splitHostPort(addr);
  if (!Array.isArray(r)) throw new Error(`invalid bind address: ${r.error}`);
  const port = Number(r[1]);
  if (!/^\d{1,5}$/.test(r[1]) || port > 65535) throw new Error(`invalid port in bind address ${JSON.stringify(addr)}`);
  return { host: r[0], port };
}

export function listenOnce(server: http.Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => {
      server.off('listening', onListening);
      reject(e);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    // '' and '0.0.0.0' mean every address: '::' (dual-stack) where IPv6 is available, else 0.0.0.0.
    // That is Go's behaviour for a "tcp" listen on 0.0.0.0, which upstream's servers use.
    if (host === '' || host === '0.0.0.0') server.listen({ port });
    else server.listen({ host, port });
  });
}

export interface ManagedServer {
  /** Resolves once listening (after retries); rejects only with hardFail. */
  readonly ready: Promise<AddressInfo>;
  close(): Promise<void>;
}

/**
 * Serve `handler` on `bindAddress`. A failed bind is logged and retried every `retryMs` until it
 * works, unless `hardFail`, in which case `ready` rejects.
 */
export function serve(
  name: string,
  bindAddress: string,
  handler: http.RequestListener,
  opts: { hardFail: boolean; retryMs?: number; onListenError?: (e: Error) => void },
): ManagedServer {
  const { host, port } = bindHostPort(bindAddress);
  const server = http.createServer(handler);
  server.keepAliveTimeout = 5_000;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  const ready = new Promise<AddressInfo>((resolve, reject) => {
    const attempt = (): void => {
      if (closed) return;
      listenOnce(server, host, port).then(
        (a) => {
          log.info('Serving', { server: name, address: bindAddress, port: a.port });
          resolve(a);
        },
        (e: Error) => {
          opts.onListenError?.(e);
          if (opts.hardFail) {
            reject(new Error(`failed to start ${name} server on ${bindAddress}: ${e.message}`));
            return;
          }
          log.error('Failed to start server, will retry', { server: name, address: bindAddress, err: e.message });
          retry = setTimeout(attempt, opts.retryMs ?? 5_000);
        },
      );
    };
    attempt();
  });
  ready.catch(() => undefined); // observed by the caller; avoid an unhandled rejection before it is
  return {
    ready,
    close: () =>
      new Promise<void>((resolve) => {
        closed = true;
        if (retry) clearTimeout(retry);
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
