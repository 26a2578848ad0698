// The in-cluster configuration's files (upstream rest.InClusterConfig): the service-account token and
// CA that kubelet mounts at a fixed path. Checked at start so a pod without them (e.g.
// automountServiceAccountToken: false and no --kubeconfig) fails with the file named, instead of with
// a request error later. The token itself is read again per request by the transport (it rotates).

import { accessSync, constants } from 'node:fs';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Throws an error naming the first unreadable file. Upstream fails on the token and only warns on the CA; we fail on both. */
export function checkInClusterFiles(dir: string = SERVICE_ACCOUNT_DIR): void {
  for (const f of ['token', 'ca.crt']) {
    const file = `${dir}/${f}`;
    try {
      accessSync(file, constants.R_OK);
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code ?? String(e);
      throw new Error(
        `in-cluster configuration: cannot read ${file} (${why}); mount the service account token (automountServiceAccountToken) or pass --kubeconfig`,
      );
    }
  }
}
