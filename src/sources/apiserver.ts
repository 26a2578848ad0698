// The API server Source: four reflectors (Services, EndpointSlices, this node's Node, ServiceCIDRs) with
// upstream kube-proxy's selectors, on a ClientConfig resolved as upstream's clientcmd.BuildConfigFromFlags
// does (kubeconfig.ts): --kubeconfig file if given, else in-cluster; --master overrides the server URL.

import { existsSync } from 'node:fs';
import { createLogger, type Logger } from '../log/logger.js';
import type { BackoffOptions } from './backoff.js';
import { ConnectionStatus } from './diagnose.js';
import { checkInClusterFiles } from './incluster.js';
import { resolveClientConfig, type ClientConfig } from './kubeconfig.js';
import { selectorsFor } from './objects.js';
import { Reflector } from './reflector.js';
import { kubeConfigTransport, RateLimiter, type KubeConfigTransport, type Transport } from './transport.js';
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

const KINDS: readonly ObjectKind[] = ['Service', 'EndpointSlice', 'Node', 'ServiceCIDR'];

/**
 * Test-only knobs (docs/reliability.md), read from the environment because the faults they shorten
 * take minutes at production settings: KPX_TEST_WATCH_IDLE_TIMEOUT_MS (silent-watch bound, default
 * 3 min) and KPX_TEST_CREDENTIAL_REFRESH_MS (credential file re-read period, default 60 s). Values
 * below 100 ms or unparsable are ignored, so a stray setting cannot make the proxy spin.
 */
export function testTuning(env: NodeJS.ProcessEnv = process.env): { inactivityTimeoutMs?: number; credentialRefreshMs?: number } {
  const ms = (name: string): number | undefined => {
    const v = Number(env[name]);
    return env[name] && Number.isFinite(v) && v >= 100 ? v : undefined;
  };
  return { inactivityTimeoutMs: ms('KPX_TEST_WATCH_IDLE_TIMEOUT_MS'), credentialRefreshMs: ms('KPX_TEST_CREDENTIAL_REFRESH_MS') };
}

/** --kubeconfig / --master / in-cluster → where and how to connect (kept under this name for callers). */
export function loadKubeConfig(kubeconfig: string, master: string, serviceAccountDir?: string): ClientConfig {
  // Name the setting: "ENOENT: no such file or directory, open 'x'" does not say which one.
  if (kubeconfig && !existsSync(kubeconfig)) throw new Error(`--kubeconfig (clientConnection.kubeconfig) ${kubeconfig}: no such file`);
  // In-cluster without the mounted token/CA: fail at start naming the file, not per request later.
  if (!kubeconfig && !master && process.env.KUBERNETES_SERVICE_HOST && process.env.KUBERNETES_SERVICE_PORT) checkInClusterFiles(serviceAccountDir);
  return resolveClientConfig({ kubeconfig, master, serviceAccountDir });
}

/** The events sink of upstream's recorder (client.EventsV1()): the same kubeconfig and credentials. */
export function apiServerEventSink(kubeconfig: string, master: string): KubeConfigTransport {
  return kubeConfigTransport(loadKubeConfig(kubeconfig, master));
}

export function createApiServerSource(opts: ApiServerSourceOptions, transportOverride?: Transport): Source {
  const log = opts.logger ?? createLogger('apiserver');
  let reflectors: Reflector[] = [];
  return {
    async start(handler: SourceHandler): Promise<void> {
      const tuning = testTuning();
      const credentialRefreshMs = opts.credentialRefreshMs ?? tuning.credentialRefreshMs;
      const inactivityTimeoutMs = opts.inactivityTimeoutMs ?? tuning.inactivityTimeoutMs;
      if (tuning.inactivityTimeoutMs !== undefined || tuning.credentialRefreshMs !== undefined) {
        log.warn('Test-only tuning from the environment in effect', { ...tuning });
      }
      const transport =
        transportOverride ??
        kubeConfigTransport(loadKubeConfig(opts.kubeconfig, opts.master, opts.serviceAccountDir), new RateLimiter(opts.qps ?? 5, opts.burst ?? 10), {
          refreshMs: credentialRefreshMs,
        });
      log.info('Using API server', { server: transport.server, node: opts.nodeName });
      const connection = new ConnectionStatus(log, transport.server);
      reflectors = KINDS.map(
        (kind) =>
          new Reflector({
            kind,
            transport,
            handler,
            ...selectorsFor(kind, opts.nodeName),
            inactivityTimeoutMs,
            watchBackoff: opts.watchBackoff,
            relistBackoff: opts.relistBackoff,
            pageSize: opts.pageSize,
            logger: log,
            connection,
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
