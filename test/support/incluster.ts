// The in-cluster configuration as a pod sees it: a service-account directory (token, ca.crt,
// namespace) at the fixed path client libraries read, and KUBERNETES_SERVICE_HOST/PORT. Made from the
// test API server's kubeconfig; used by the in-cluster test (a private mount namespace puts the
// directory at the real path) and by the image test (podman mounts it there).

import { promises as fsp } from 'node:fs';
import path from 'node:path';

import { SERVICE_ACCOUNT_DIR } from '../../src/sources/incluster.js';

export { SERVICE_ACCOUNT_DIR };

interface Kubeconfig {
  clusters: { cluster: { server: string; 'certificate-authority-data'?: string } }[];
  users: { user: { token?: string } }[];
}

/** Write token, ca.crt and namespace into `dir` from a TLS test API server's kubeconfig. */
export async function writeServiceAccountDir(kubeconfigPath: string, dir: string, o: { token?: boolean } = {}): Promise<{ host: string; port: string; token: string }> {
  const kc = JSON.parse(await fsp.readFile(kubeconfigPath, 'utf8')) as Kubeconfig;
  const cluster = kc.clusters[0]!.cluster;
  const ca = cluster['certificate-authority-data'];
  if (!ca) throw new Error('the in-cluster path needs the test API server with TLS (a CA)');
  const token = kc.users[0]!.user.token ?? '';
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(path.join(dir, 'ca.crt'), Buffer.from(ca, 'base64'));
  await fsp.writeFile(path.join(dir, 'namespace'), 'kube-system');
  if (o.token !== false) await rotateToken(dir, token);
  const u = new URL(cluster.server);
  return { host: u.hostname, port: u.port, token };
}

/** Replace the token file atomically, as kubelet's projected volume does (never a half-written file). */
export async function rotateToken(dir: string, token: string): Promise<void> {
  const tmp = path.join(dir, '.token.tmp');
  await fsp.writeFile(tmp, token);
  await fsp.rename(tmp, path.join(dir, 'token'));
}

/**
 * A command prefix (after `ip netns exec NS`) that runs the rest in a private mount namespace where
 * `saDir` is bind-mounted at SERVICE_ACCOUNT_DIR, on a small tmpfs over /run (the host has no
 * /run/secrets to mount on; nothing outside this process tree sees either mount).
 */
export function serviceAccountMountPrefix(saDir: string): string[] {
  const script = [
    'mount -t tmpfs -o size=1m,mode=755 kpx-run /run',
    `mkdir -p ${SERVICE_ACCOUNT_DIR}`,
    `mount --bind "$0" ${SERVICE_ACCOUNT_DIR}`,
    'exec "$@"',
  ].join(' && ');
  return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, saDir];
}
