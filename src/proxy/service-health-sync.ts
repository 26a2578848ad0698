// Health check NodePorts (upstream ServiceHealthServer.SyncServices / SyncEndpoints) from the latest
// applied state of every family. As upstream (one health server per family), each listener reports
// the local ready endpoints of its own family; a listener on all addresses reports the first family
// (in start order) that has the port. Runs after every sync of every family: it reads each family's
// ports with a health check NodePort from the engine's index (applied-index.ts), not by walking
// every service port of every family.

import type { ServiceHealthServer } from '../health/service-health.js';
import { createLogger } from '../log/logger.js';
import type { IPFamily, ProxyState, ServicePort } from '../model/types.js';
import type { ServiceModelLike } from './event-intake.js';

const log = createLogger('proxier');

export async function syncServiceHealth(
  shs: ServiceHealthServer,
  applied: readonly {
    readonly family: IPFamily;
    readonly applied: ProxyState | null;
    /** The applied state's service ports with healthCheckNodePort > 0, in key order. */
    healthCheckPorts(): Iterable<ServicePort>;
  }[],
  model: ServiceModelLike,
): Promise<void> {
  const wanted = new Map<string, number>();
  const families = new Map<string, IPFamily[]>();
  const addresses = new Set<string>();
  let all = false;
  for (const f of applied) {
    if (!f.applied) continue;
    let any = false;
    for (const sp of f.healthCheckPorts()) {
      const nsn = `${sp.namespace}/${sp.serviceName}`;
      wanted.set(nsn, sp.healthCheckNodePort);
      const fams = families.get(nsn) ?? [];
      if (!fams.includes(f.family)) fams.push(f.family);
      families.set(nsn, fams);
      any = true;
    }
    if (!any) continue;
    const npa = f.applied.nodePortAddresses;
    if (npa.matchAll) all = true;
    else for (const ip of npa.ips) addresses.add(ip);
  }
  try {
    await shs.syncServices(wanted, all ? [] : [...addresses]);
    const counts = new Map<string, Map<IPFamily, number>>();
    for (const [nsn, fams] of families) {
      const slash = nsn.indexOf('/');
      const byFamily = new Map<IPFamily, number>();
      for (const fam of fams) byFamily.set(fam, model.localReadyEndpoints(nsn.slice(0, slash), nsn.slice(slash + 1), fam));
      counts.set(nsn, byFamily);
    }
    shs.syncEndpoints(counts);
  } catch (e) {
    log.error('Failed to sync service health checks', { err: e });
  }
}
