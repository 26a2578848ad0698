// Credentials only `@kubernetes/client-node` provides (exec and auth-provider plugins, proxy-url), for
// kubeconfig users that need them. Loaded with a dynamic import from transport.ts only for such users:
// the library costs ~0.7 s and ~110 MB at start, which no other credential form should pay.

import type https from 'node:https';
import type { Cluster, KubeConfig as KubeConfigT } from '@kubernetes/client-node';

/** A function that fills a request's TLS options, agent and Authorization header as client-node does. */
export async function clientNodeAuthorizer(kubeconfig: string, master: string): Promise<(opts: https.RequestOptions) => Promise<void>> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  let kc: KubeConfigT = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const current = kc.getCurrentCluster();
  if (master || (current && current.server.startsWith('http:') && !current.skipTLSVerify)) {
    // --master overrides the server; plain http needs skipTLSVerify in client-node (nothing to verify).
    const server = master || current!.server;
    const out = new KubeConfig();
    const fix = (c: Cluster): Cluster => ({ ...c, server, skipTLSVerify: c.skipTLSVerify || server.startsWith('http:') });
    if (!current) out.loadFromClusterAndUser(fix({ name: 'master', server, skipTLSVerify: false }), kc.getCurrentUser() ?? { name: 'master' });
    else out.loadFromOptions({ clusters: kc.clusters.map((c) => (c.name === current.name ? fix(c) : c)), contexts: kc.contexts, users: kc.users, currentContext: kc.currentContext });
    kc = out;
  }
  return (opts) => kc.applyToHTTPSOptions(opts);
}
