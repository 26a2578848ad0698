// One-shot commands (--print-rules, --dry-run): connect to the source, wait (bounded) for the
// initial Services and EndpointSlices, hand the synced Proxier to the command, stop the source.
// Nothing is programmed: the Proxier's sync loops are never started.

import type { ProxyOptions } from '../config/types.js';
import { loadDataplaneFactory } from '../dataplane/registry.js';
import { ProxyHealth } from '../health/proxy-health.js';
import { ServiceModel } from '../model/tracker.js';
import { Proxier } from '../proxy/proxier.js';
import type { Source } from '../sources/types.js';

export class OneShotTimeout extends Error {}

function describeSource(o: ProxyOptions): string {
  if (o.manifestsDir !== null) return `the manifests directory ${o.manifestsDir}`;
  if (o.master) return `the API server ${o.master}`;
  if (o.kubeconfig) return `the API server of --kubeconfig ${o.kubeconfig}`;
  return 'the in-cluster API server';
}

export async function withSyncedProxier<T>(o: ProxyOptions, createSource: () => Promise<Source>, fn: (p: Proxier) => Promise<T>): Promise<T> {
  const factory = await loadDataplaneFactory(o.mode);
  const proxier = new Proxier({
    options: o,
    model: new ServiceModel({ nodeName: o.hostname }),
    factory,
    health: new ProxyHealth(2 * o.syncPeriodMs),
    manageSysctls: false,
  });
  const source = await createSource();
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const secs = o.oneShotTimeoutMs / 1000;
        reject(new OneShotTimeout(`gave up after ${secs}s waiting for the initial Services and EndpointSlices from ${describeSource(o)} (unreachable? see the warnings above; --one-shot-timeout sets the limit)`));
      }, o.oneShotTimeoutMs);
    });
    // A source that fails to start (unreadable directory, bad kubeconfig) fails the command at once.
    await Promise.race([source.start(proxier), timeout]);
    await Promise.race([proxier.whenInitialized(), timeout]);
    return await fn(proxier);
  } finally {
    clearTimeout(timer);
    await source.stop();
  }
}
