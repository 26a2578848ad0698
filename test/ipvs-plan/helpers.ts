// ServicePort / ProxyState builders for the IPVS planner tests: the shared builder
// (test/support/state.ts) with this folder's defaults; a case may still state the endpoint
// categories explicitly (clusterEndpoints / localEndpoints).

import type { Endpoint, IPFamily, ProxyState, ServicePort } from '../../src/model/types.js';
import type { DataplaneConfig } from '../../src/dataplane/config.js';
import { dataplaneConfig, endpoint, proxyState, servicePort, type ServicePortOpts } from '../support/state.js';

export function ep(ip: string, port: number, o: Partial<Endpoint> = {}): Endpoint {
  return endpoint(ip, { port, ...o });
}

export type SpInput = ServicePortOpts & { readonly name: string; readonly namespace?: string; readonly clusterIP: string; readonly port: number };

/** The shared builder (test/support/state.ts) with this folder's defaults (namespace `ns`). */
export function sp(i: SpInput): ServicePort {
  const { name, namespace, ...o } = i;
  return servicePort(namespace ?? 'ns', name, o);
}

export function state(services: ServicePort[], o: { family?: IPFamily; nodeIPs?: string[]; nodePortIPs?: string[]; generation?: number } = {}): ProxyState {
  const family = o.family ?? 'IPv4';
  return proxyState(services, {
    family,
    nodeName: 'node1',
    nodeIPs: o.nodeIPs ?? (family === 'IPv6' ? ['2001:db8:1::1'] : ['198.18.0.1']),
    nodePortAddresses: o.nodePortIPs ? { matchAll: false, ips: o.nodePortIPs } : { matchAll: true },
    generation: o.generation,
  });
}

export function config(o: Partial<DataplaneConfig> = {}): DataplaneConfig {
  return dataplaneConfig({ family: 'IPv4', localDetector: { mode: 'cidr', cidr: '198.18.128.0/17' }, ...o });
}
