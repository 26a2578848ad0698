// Builders for ProxyState / ServicePort values (the planner's input) in nftables tests: the shared
// test/support/state.ts builder with this folder's names.

import type { DataplaneConfig } from '../../src/dataplane/config.js';
import type { Endpoint, IPFamily, NodePortAddresses, ProxyState, ServicePort } from '../../src/model/types.js';
import { dataplaneConfig, endpoint, proxyState, servicePort, type ServicePortOpts } from '../support/state.js';

export function ep(ip: string, o: Partial<Endpoint> = {}): Endpoint {
  return endpoint(ip, o);
}

export type SpOpts = ServicePortOpts;

/** A ServicePort with endpoint categories derived like the model does for the simple cases. */
export function sp(ns: string, name: string, o: SpOpts = {}): ServicePort {
  return servicePort(ns, name, o);
}

export function state(
  services: readonly ServicePort[],
  o: { family?: IPFamily; nodeIPs?: string[]; nodePortAddresses?: NodePortAddresses; serviceCIDRs?: string[]; generation?: number } = {},
): ProxyState {
  return proxyState(services, o);
}

export function config(o: Partial<DataplaneConfig> = {}): DataplaneConfig {
  return dataplaneConfig(o);
}
