// IPVS mode's layout: fixed names, the iptables skeleton (chains, jump rules) and the ipsets
// (upstream pkg/proxy/ipvs proxier.go and ipset.go).

import type { IPFamily } from '../../model/types.js';
import type { JumpRule } from '../../kernel/iptables/jumps.js';
import type { SetSpec, SetType } from '../../kernel/ipset/ipset.js';

export const DUMMY_DEVICE = 'kube-ipvs0';

export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';
export const KUBE_SOURCE_RANGES_FIREWALL = 'KUBE-SOURCE-RANGES-FIREWALL';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
export const KUBE_NODE_PORT = 'KUBE-NODE-PORT';
export const KUBE_FORWARD = 'KUBE-FORWARD';
export const KUBE_LOAD_BALANCER = 'KUBE-LOAD-BALANCER';
export const KUBE_IPVS_FILTER = 'KUBE-IPVS-FILTER';
export const KUBE_IPVS_OUT_FILTER = 'KUBE-IPVS-OUT-FILTER';

export type Table = 'nat' | 'filter';

/** Jumps from built-in chains (upstream iptablesJumpChain), each ensured by prepending. */
export const JUMPS: readonly (JumpRule & { readonly table: Table })[] = [
  { table: 'nat', src: 'OUTPUT', dst: KUBE_SERVICES, comment: 'kubernetes service portals', extra: [] },
  { table: 'nat', src: 'PREROUTING', dst: KUBE_SERVICES, comment: 'kubernetes service portals', extra: [] },
  { table: 'nat', src: 'POSTROUTING', dst: KUBE_POSTROUTING, comment: 'kubernetes postrouting rules', extra: [] },
  { table: 'filter', src: 'FORWARD', dst: KUBE_FORWARD, comment: 'kubernetes forwarding rules', extra: [] },
  { table: 'filter', src: 'INPUT', dst: KUBE_NODE_PORT, comment: 'kubernetes health check rules', extra: [] },
  { table: 'filter', src: 'INPUT', dst: KUBE_PROXY_FIREWALL, comment: 'kube-proxy firewall rules', extra: [] },
  { table: 'filter', src: 'FORWARD', dst: KUBE_PROXY_FIREWALL, comment: 'kube-proxy firewall rules', extra: [] },
  { table: 'filter', src: 'INPUT', dst: KUBE_IPVS_FILTER, comment: 'kubernetes ipvs access filter', extra: [] },
  { table: 'filter', src: 'OUTPUT', dst: KUBE_IPVS_OUT_FILTER, comment: 'kubernetes ipvs access filter', extra: [] },
];

/** Chains written (and so flushed) on every iptables-restore (upstream iptablesChains). */
export const CHAINS: readonly { table: Table; chain: string }[] = [
  { table: 'nat', chain: KUBE_SERVICES },
  { table: 'nat', chain: KUBE_POSTROUTING },
  { table: 'nat', chain: KUBE_NODE_PORT },
  { table: 'nat', chain: KUBE_LOAD_BALANCER },
  { table: 'nat', chain: KUBE_MARK_MASQ },
  { table: 'filter', chain: KUBE_FORWARD },
  { table: 'filter', chain: KUBE_NODE_PORT },
  { table: 'filter', chain: KUBE_PROXY_FIREWALL },
  { table: 'filter', chain: KUBE_SOURCE_RANGES_FIREWALL },
  { table: 'filter', chain: KUBE_IPVS_FILTER },
  { table: 'filter', chain: KUBE_IPVS_OUT_FILTER },
];

export const SET = {
  loopBack: 'KUBE-LOOP-BACK',
  clusterIP: 'KUBE-CLUSTER-IP',
  externalIP: 'KUBE-EXTERNAL-IP',
  externalIPLocal: 'KUBE-EXTERNAL-IP-LOCAL',
  loadBalancer: 'KUBE-LOAD-BALANCER',
  loadBalancerFW: 'KUBE-LOAD-BALANCER-FW',
  loadBalancerLocal: 'KUBE-LOAD-BALANCER-LOCAL',
  loadBalancerSourceIP: 'KUBE-LOAD-BALANCER-SOURCE-IP',
  loadBalancerSourceCIDR: 'KUBE-LOAD-BALANCER-SOURCE-CIDR',
  nodePortTCP: 'KUBE-NODE-PORT-TCP',
  nodePortLocalTCP: 'KUBE-NODE-PORT-LOCAL-TCP',
  nodePortUDP: 'KUBE-NODE-PORT-UDP',
  nodePortLocalUDP: 'KUBE-NODE-PORT-LOCAL-UDP',
  nodePortSCTP: 'KUBE-NODE-PORT-SCTP-HASH',
  nodePortLocalSCTP: 'KUBE-NODE-PORT-LOCAL-SCTP-HASH',
  healthCheckNodePort: 'KUBE-HEALTH-CHECK-NODE-PORT',
  ipvsIPs: 'KUBE-IPVS-IPS',
} as const;
export type SetId = keyof typeof SET;

/** Every set, in upstream ipsetInfo order, with its type and comment. */
export const SET_INFO: readonly { id: SetId; type: SetType; comment: string }[] = [
  { id: 'loopBack', type: 'hash:ip,port,ip', comment: 'Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose' },
  { id: 'clusterIP', type: 'hash:ip,port', comment: 'Kubernetes service cluster ip + port for masquerade purpose' },
  { id: 'externalIP', type: 'hash:ip,port', comment: 'Kubernetes service external ip + port for masquerade and filter purpose' },
  { id: 'externalIPLocal', type: 'hash:ip,port', comment: 'Kubernetes service external ip + port with externalTrafficPolicy=local' },
  { id: 'loadBalancer', type: 'hash:ip,port', comment: 'Kubernetes service lb portal' },
  { id: 'loadBalancerFW', type: 'hash:ip,port', comment: 'Kubernetes service load balancer ip + port for load balancer with sourceRange' },
  { id: 'loadBalancerLocal', type: 'hash:ip,port', comment: 'Kubernetes service load balancer ip + port with externalTrafficPolicy=local' },
  { id: 'loadBalancerSourceIP', type: 'hash:ip,port,ip', comment: 'Kubernetes service load balancer ip + port + source IP for packet filter purpose' },
  { id: 'loadBalancerSourceCIDR', type: 'hash:ip,port,net', comment: 'Kubernetes service load balancer ip + port + source cidr for packet filter purpose' },
  { id: 'nodePortTCP', type: 'bitmap:port', comment: 'Kubernetes nodeport TCP port for masquerade purpose' },
  { id: 'nodePortLocalTCP', type: 'bitmap:port', comment: 'Kubernetes nodeport TCP port with externalTrafficPolicy=local' },
  { id: 'nodePortUDP', type: 'bitmap:port', comment: 'Kubernetes nodeport UDP port for masquerade purpose' },
  { id: 'nodePortLocalUDP', type: 'bitmap:port', comment: 'Kubernetes nodeport UDP port with externalTrafficPolicy=local' },
  { id: 'nodePortSCTP', type: 'hash:ip,port', comment: "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'" },
  { id: 'nodePortLocalSCTP', type: 'hash:ip,port', comment: "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'" },
  { id: 'healthCheckNodePort', type: 'bitmap:port', comment: 'Kubernetes health check node port' },
  { id: 'ipvsIPs', type: 'hash:ip', comment: 'Addresses on the ipvs interface' },
];

/**
 * IPv6 sets use the prefix KUBE-6- and, as upstream NewIPSet, are cut to ipset's 31-character
 * limit (KUBE-6-LOAD-BALANCER-SOURCE-CIDR becomes KUBE-6-LOAD-BALANCER-SOURCE-CID).
 */
export function setName(id: SetId, family: IPFamily): string {
  const base = SET[id];
  return family === 'IPv6' ? base.replace(/^KUBE-/, 'KUBE-6-').slice(0, 31) : base;
}

/** Every set of the family as `ipset create` declares it (upstream's options). */
export function setSpecs(family: IPFamily): SetSpec[] {
  return SET_INFO.map((s) => ({ name: setName(s.id, family), type: s.type, family, hashSize: 1024, maxElem: 65536, portRange: '0-65535', comment: true }));
}
