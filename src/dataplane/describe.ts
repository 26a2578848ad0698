// What `kube-proxy-ts explain` asks each dataplane: the kernel objects (chains, maps, sets,
// virtual servers) that carry one decided packet path, named by that dataplane's own naming
// code; and the kernel's current view of our rules (for /debug/rules). One small module per
// mode (src/dataplane/<mode>/describe.ts) implements it.

import type { Endpoint, IPFamily, ProxyState, ServicePort } from '../model/types.js';
import type { DataplaneConfig } from './config.js';
import type { ProxyMode } from '../config/types.js';

export type Via = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'externalIP';

/** The path explain decided on, in dataplane-neutral terms. */
export interface DecidedPath {
  readonly sp: ServicePort;
  readonly via: Via;
  /** The packet's destination address and port (for NodePort: the node address and the nodePort). */
  readonly dst: string;
  readonly port: number;
  /**
   * Which endpoint set the rules choose from: the cluster set, the local set, or (eTP=Local) the
   * cluster set through the short-circuit for pod / node-originated traffic.
   */
  readonly policy: 'cluster' | 'local' | 'short-circuit-pod' | 'short-circuit-node';
  readonly outcome: 'forward' | 'reject' | 'drop';
  /** Why the packet is rejected or dropped, in the dataplane's terms. */
  readonly cause?: 'no-endpoints' | 'no-local-endpoints' | 'source-ranges';
  readonly endpoints: readonly Endpoint[];
}

export interface DescribeInput {
  readonly state: ProxyState;
  readonly config: DataplaneConfig;
  /** The node's addresses of the family (interfaces), for modes whose layout depends on them. */
  readonly localIPs: readonly string[];
}

export interface KernelObject {
  readonly kind: 'table' | 'chain' | 'map' | 'set' | 'element' | 'rule' | 'virtual server' | 'real server' | 'ipset entry';
  readonly name: string;
  readonly detail?: string;
}

export interface Implementation {
  readonly mode: ProxyMode;
  readonly objects: readonly KernelObject[];
  /** Chains the packet traverses, in order, as a kernel trace names them (nftables, iptables). */
  readonly chains: readonly string[];
  /** Per-endpoint chains, of which the packet traverses exactly one (the endpoint picked). */
  readonly endpointChains?: readonly string[];
  /** IPVS: the virtual server key ("TCP/198.19.0.10:80"). */
  readonly virtualServer?: string;
}

export type Describer = (path: DecidedPath, input: DescribeInput) => Implementation;

/** Sections of the kernel's current view of our rules, one per tool run. */
export interface RulesSection {
  readonly title: string;
  readonly text: string;
}

export type RulesLister = (family: IPFamily) => Promise<RulesSection[]>;

/** Time limit of each tool run behind /debug/rules. */
export const LIST_TIMEOUT_MS = 20_000;
