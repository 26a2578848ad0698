// The JSON debug views of the metrics server, built from what the proxier last programmed:
//   /debug/state     compact per-family summary (memory, sync times, endpoints per service port)
//   /debug/services  every service port per family with all its endpoints and their conditions,
//                    endpoints of the Service the port does not use, the node facts and dataplane
//                    settings of that sync: the input of `kube-proxy-ts explain` and `get`.

import { joinHostPort } from '../model/ip.js';
import { portId } from '../model/merge.js';
import type { Endpoint, IPFamily, ServicePort } from '../model/types.js';
import type { LocalAddress } from '../node/addresses.js';
import type { ProxierDebugSource } from './source.js';
import { SNAPSHOT_KIND, type DebugSnapshot, type ExcludedEndpoint, type FamilySnapshot, type ServicePortJSON } from './types.js';

const key = (e: Endpoint): string => joinHostPort(e.ip, e.port);

/** /debug/state (kept as it was when it lived in the proxier: tests and tools read it). */
export function debugStateView(src: ProxierDebugSource): unknown {
  // Taken before the (large) view below is built; see docs/operations.md "Memory".
  const mem = process.memoryUsage();
  const families: Record<string, unknown> = {};
  for (const f of src.families) {
    const s = f.applied;
    const services: Record<string, unknown> = {};
    if (s) {
      for (const [k, sp] of s.services) {
        services[k] = {
          clusterIP: sp.clusterIP,
          port: sp.port,
          protocol: sp.protocol,
          nodePort: sp.nodePort,
          externalIPs: sp.externalIPs,
          loadBalancerIPs: sp.loadBalancerIPs,
          hasAnyEndpoints: sp.hasAnyEndpoints,
          clusterEndpoints: sp.clusterEndpoints.map(key),
          localEndpoints: sp.localEndpoints.map(key),
        };
      }
    }
    families[f.family] = {
      generation: s?.generation ?? 0,
      lastSync: f.appliedAt?.toISOString() ?? null,
      lastSyncFull: f.appliedFull,
      consecutiveFailures: f.consecutiveFailures,
      nodeIPs: s?.node.ips ?? [],
      nodePortAddresses: s ? (s.nodePortAddresses.matchAll ? 'all' : s.nodePortAddresses.ips) : null,
      serviceCIDRs: s?.serviceCIDRs ?? [],
      services,
    };
  }
  return {
    mode: src.mode,
    initialized: src.initialized,
    healthCheckNodePorts: Object.fromEntries(src.healthCheckNodePorts),
    memory: { rss: mem.rss, heapTotal: mem.heapTotal, heapUsed: mem.heapUsed, external: mem.external, arrayBuffers: mem.arrayBuffers },
    families,
  };
}

export interface ServicesFilter {
  readonly namespace?: string;
  readonly name?: string;
}

const OTHER: Record<IPFamily, IPFamily> = { IPv4: 'IPv6', IPv6: 'IPv4' };

/** Endpoints of the Service's slices that `sp` never uses: the other family's, and other port names'. */
function excludedOf(src: ProxierDebugSource, sp: ServicePort, usedIds: ReadonlySet<string>): ExcludedEndpoint[] {
  const byPort = src.model.endpointsByPort?.bind(src.model);
  if (!byPort) return [];
  const out: ExcludedEndpoint[] = [];
  const own = portId(sp.portName, sp.protocol);
  for (const [id, eps] of byPort(sp.namespace, sp.serviceName, OTHER[sp.family])) {
    if (id !== own) continue;
    for (const e of eps) out.push({ ip: e.ip, port: e.port, reason: 'wrong family', detail: `${OTHER[sp.family]} endpoint; this service port is ${sp.family}` });
  }
  for (const [id, eps] of byPort(sp.namespace, sp.serviceName, sp.family)) {
    if (usedIds.has(id)) continue;
    const [name, proto] = id.split('/');
    for (const e of eps) {
      out.push({ ip: e.ip, port: e.port, reason: 'no matching port name', detail: `slice port ${JSON.stringify(name)}/${proto ?? ''} matches no port of the Service` });
    }
  }
  return out;
}

function servicePortJSON(sp: ServicePort, excluded: ExcludedEndpoint[]): ServicePortJSON {
  return {
    ...sp,
    clusterEndpoints: sp.clusterEndpoints.map(key),
    localEndpoints: sp.localEndpoints.map(key),
    allReachableEndpoints: sp.allReachableEndpoints.map(key),
    excluded,
  };
}

/** /debug/services: the programmed state of every family, optionally one namespace / Service. */
export function servicesSnapshot(src: ProxierDebugSource, local: readonly LocalAddress[], filter: ServicesFilter = {}): DebugSnapshot {
  const families: FamilySnapshot[] = [];
  for (const f of src.families) {
    const s = f.applied;
    const services: ServicePortJSON[] = [];
    if (s) {
      // Port ids every port of a Service uses, so "no matching port name" names only strays.
      const usedBySvc = new Map<string, Set<string>>();
      for (const sp of s.services.values()) {
        const k = `${sp.namespace}/${sp.serviceName}`;
        let set = usedBySvc.get(k);
        if (!set) usedBySvc.set(k, (set = new Set()));
        set.add(portId(sp.portName, sp.protocol));
      }
      for (const sp of s.services.values()) {
        if (filter.namespace !== undefined && sp.namespace !== filter.namespace) continue;
        if (filter.name !== undefined && sp.serviceName !== filter.name) continue;
        services.push(servicePortJSON(sp, excludedOf(src, sp, usedBySvc.get(`${sp.namespace}/${sp.serviceName}`)!)));
      }
    }
    families.push({
      family: f.family,
      generation: s?.generation ?? 0,
      lastSync: f.appliedAt?.toISOString() ?? null,
      lastSyncFull: f.appliedFull,
      consecutiveFailures: f.consecutiveFailures,
      config: f.config,
      node: s?.node ?? { name: src.nodeName, ips: [], labels: {} },
      nodePortAddresses: s?.nodePortAddresses ?? { matchAll: false, ips: [] },
      serviceCIDRs: s?.serviceCIDRs ?? [],
      localAddresses: local.filter((a) => a.family === f.family).map((a) => ({ ip: a.ip, iface: a.iface, loopback: a.loopback })),
      services,
    });
  }
  return { kind: SNAPSHOT_KIND, mode: src.mode, nodeName: src.nodeName, initialized: src.initialized, families };
}
