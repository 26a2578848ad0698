// The API server Source: four reflectors (Services, EndpointSlices, this node's Node, ServiceCIDRs) with upstream
// kube-proxy's selectors, on a KubeConfig loaded as upstream's clientcmd.BuildConfigFromFlags does:
// --kubeconfig file if given, else in-cluster; --master overrides the server URL.

import { existsSync } from 'node:fs';
import { KubeConfig, type Cluster } from '@kubernetes/client-node';
import { createLogger, type Logger } from '../log/logger.js';
import type { BackoffOptions } from './backoff.js';
import { checkInClusterFiles } from './incluster.js';
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
  readonly logger?: Logger;
}

const KINDS: readonly ObjectKind[] = ['Service', 'EndpointSlice', 'Node', 'ServiceCIDR'];

function withServer(kc: KubeConfig, server: string): KubeConfig {
  const current = kc.getCurrentCluster();
  const out = new KubeConfig();
  if (!current) {
    out.loadFromClusterAndUser({ name: 'master', server, skipTLSVerify: false }, { name: 'master' });
    return out;
  }
  out.loadFromOptions({
    clusters: kc.clusters.map((c) => (c.name === current.name ? { ...c, server } : c)),
    contexts: kc.contexts,
    users: kc.users,
    currentContext: kc.currentContext,
  });
  return out;
}

/** Plain-http servers carry no TLS to verify; client-node refuses them unless skipTLSVerify is set. */
function allowPlainHttp(kc: KubeConfig): KubeConfig {
  const c = kc.getCurrentCluster();
  if (!c || !c.server.startsWith('http:') || c.skipTLSVerify) return kc;
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: kc.clusters.map((x): Cluster => (x.name === c.name ? { ...x, skipTLSVerify: true } : x)),
    contexts: kc.contexts,
    users: kc.users,
    currentContext: kc.currentContext,
  });
  return out;
}

export function loadKubeConfig(kubeconfig: string, master: string): KubeConfig {
  let kc = new KubeConfig();
  if (kubeconfig) {
    // Name the setting: "ENOENT: no such file or directory, open 'x'" does not say which one.
    if (!existsSync(kubeconfig)) throw new Error(`--kubeconfig (clientConnection.kubeconfig) ${kubeconfig}: no such file`);
    kc.loadFromFile(kubeconfig);
  }
  else if (master) kc.loadFromClusterAndUser({ name: 'master', server: master, skipTLSVerify: false }, { name: 'master' });
  else {
    if (!process.env.KUBERNETES_SERVICE_HOST || !process.env.KUBERNETES_SERVICE_PORT) {
      throw new Error('no --kubeconfig or --master given and not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset)');
    }
    checkInClusterFiles();
    kc.loadFromCluster();
  }
  if (master && kubeconfig) kc = withServer(kc, master);
  if (!kc.getCurrentCluster()) throw new Error(`kubeconfig ${kubeconfig}: no current context/cluster`);
  return allowPlainHttp(kc);
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
      const transport =
        transportOverride ?? kubeConfigTransport(loadKubeConfig(opts.kubeconfig, opts.master), new RateLimiter(opts.qps ?? 5, opts.burst ?? 10));
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
