// The API server Source: three reflectors (Services, EndpointSlices, this node's Node) with upstream
// kube-proxy's selectors, on a ClientConfig resolved as upstream's clientcmd.BuildConfigFromFlags does
// (kubeconfig.ts): --kubeconfig file if given, else in-cluster; --master overrides the server URL.

import { createLogger, type Logger } from '../log/logger.js';
import type { BackoffOptions } from './backoff.js';
import { resolveClientConfig, type ClientConfig } from './kubeconfig.js';
import { selectorsFor } from './objects.js';
import { Reflector } from './reflector.js';
import { kubeConfigTransport, RateLimiter, type Transport } from './transport.js';
import type { ObjectKind, Source, SourceHandler } from './types.js';

export interface ApiServerSourceOptions {
  /** Path of a kubeconfig file; "" → in-cluster config (unless master alone is given). */
  readonly kubeconfig: string;
  /** Overrides the kubeconfig's server URL; "" → none. */
  readonly master: string;
  readonly nodeName: string;
  /** Client request rate (upstream clientConnection.qps, default 5; burst 10). 0 disables limiting. */
  readonly qps?: number;
  readonly burst?: number;
  /** Tuning, mainly for tests. */
  readonly inactivityTimeoutMs?: number;
  readonly watchBackoff?: BackoffOptions;
  readonly relistBackoff?: BackoffOptions;
  readonly pageSize?: number;
  /** Re-read credential files (token, CA, client certificate) at most this often (default 60 s). */
  readonly credentialRefreshMs?: number;
  /** In-cluster service-account directory (tests; default /var/run/secrets/kubernetes.io/serviceaccount). */
  readonly serviceAccountDir?: string;
  readonly logger?: Logger;
}

const KINDS: readonly ObjectKind[] = ['Service', 'EndpointSlice', 'Node'];

/** --kubeconfig / --master / in-cluster → where and how to connect (kept under this name for callers). */
export function loadKubeConfig(kubeconfig: string, master: string, serviceAccountDir?: string): ClientConfig {
  return resolveClientConfig({ kubeconfig, master, serviceAccountDir });
}

export function createApiServerSource(opts: ApiServerSourceOptions, transportOverride?: Transport): Source {
  const log = opts.logger ?? createLogger('apiserver');
  let reflectors: Reflector[] = [];
  return {
    async start(handler: SourceHandler): Promise<void> {
      const transport =
        transportOverride ??
        kubeConfigTransport(loadKubeConfig(opts.kubeconfig, opts.master, opts.serviceAccountDir), new RateLimiter(opts.qps ?? 5, opts.burst ?? 10), {
          refreshMs: opts.credentialRefreshMs,
        });
      log.info('Using API server', { server: transport.server, node: opts.nodeName });
      reflectors = KINDS.map(
        (kind) =>
          new Reflector({
            kind,
            transport,
            handler,
            ...selectorsFor(kind, opts.nodeName),
            inactivityTimeoutMs: opts.inactivityTimeoutMs,
            watchBackoff: opts.watchBackoff,
            relistBackoff: opts.relistBackoff,
            pageSize: opts.pageSize,
            logger: log,
          }),
      );
      for (const r of reflectors) r.start();
    },
    async stop(): Promise<void> {
      await Promise.all(reflectors.map((r) => r.stop()));
      reflectors = [];
    },
  };
}
