// The JSON the metrics server's /debug/services serves and that `kube-proxy-ts explain` / `get`
// read back. One type shared by both ends, so the CLI and the server cannot drift apart.
// Endpoint lists of a service port are serialised once (`endpoints`, with every condition); the
// selected sets refer to them by "ip:port" key.

import type { Endpoint, IPFamily, NodeContext, NodePortAddresses, ServicePort } from '../model/types.js';
import type { DataplaneConfig } from '../dataplane/config.js';
import type { ProxyMode } from '../config/types.js';

export const SNAPSHOT_KIND = 'kube-proxy-ts/debug-services';

/** An endpoint the model never put into a service port, and why. */
export interface ExcludedEndpoint {
  readonly ip: string;
  readonly port: number;
  readonly reason: 'wrong family' | 'no matching port name';
  readonly detail: string;
}

export type ServicePortJSON = Omit<ServicePort, 'clusterEndpoints' | 'localEndpoints' | 'allReachableEndpoints'> & {
  readonly clusterEndpoints: readonly string[];
  readonly localEndpoints: readonly string[];
  readonly allReachableEndpoints: readonly string[];
  /** Endpoints of the Service's slices that this port does not use at all (other family, other port name). */
  readonly excluded: readonly ExcludedEndpoint[];
};

export interface LocalAddressJSON {
  readonly ip: string;
  readonly iface: string;
  readonly loopback: boolean;
}

export interface FamilySnapshot {
  readonly family: IPFamily;
  /** Generation of the last programmed state (0: nothing programmed yet). */
  readonly generation: number;
  /** When that state was programmed (ISO time), null before the first successful sync. */
  readonly lastSync: string | null;
  readonly lastSyncFull: boolean;
  readonly consecutiveFailures: number;
  readonly config: DataplaneConfig;
  readonly node: NodeContext;
  readonly nodePortAddresses: NodePortAddresses;
  readonly serviceCIDRs: readonly string[];
  /** This family's addresses on the node's interfaces, now. */
  readonly localAddresses: readonly LocalAddressJSON[];
  readonly services: readonly ServicePortJSON[];
}

export interface DebugSnapshot {
  readonly kind: typeof SNAPSHOT_KIND;
  readonly mode: ProxyMode;
  readonly nodeName: string;
  readonly initialized: boolean;
  readonly families: readonly FamilySnapshot[];
}

export type { Endpoint };
