// iptables mode's layout: the fixed chain names, the jump rules that hook them into the built-in
// chains (upstream iptablesJumpChains / iptablesKubeletJumpChains), and the per-service chain
// names, hashed byte-for-byte as upstream (pkg/proxy/iptables/proxier.go): people grep
// iptables-save for these names, and a restarted upstream kube-proxy must recognise ours.

import { sha256Base32 } from '../../util/hash.js';
import type { JumpRule, Table } from '../../kernel/iptables/jumps.js';

export type { JumpRule, Table };

export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_EXTERNAL_SERVICES = 'KUBE-EXTERNAL-SERVICES';
export const KUBE_NODEPORTS = 'KUBE-NODEPORTS';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
export const KUBE_FORWARD = 'KUBE-FORWARD';
export const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';
export const KUBE_PROXY_CANARY = 'KUBE-PROXY-CANARY';
/** A duplicate of kubelet's anti-martian chain; never deleted (kubelet owns it too). */
export const KUBE_FIREWALL = 'KUBE-FIREWALL';

/** Top-level chains written (and so flushed) on every sync, in upstream's order. */
export const FILTER_TOP_CHAINS = [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL];
export const NAT_TOP_CHAINS = [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ];

const NEW = ['-m', 'conntrack', '--ctstate', 'NEW'];

export const JUMP_RULES: readonly JumpRule[] = [
  { table: 'filter', dst: KUBE_EXTERNAL_SERVICES, src: 'INPUT', comment: 'kubernetes externally-visible service portals', extra: NEW },
  { table: 'filter', dst: KUBE_EXTERNAL_SERVICES, src: 'FORWARD', comment: 'kubernetes externally-visible service portals', extra: NEW },
  { table: 'filter', dst: KUBE_NODEPORTS, src: 'INPUT', comment: 'kubernetes health check service ports', extra: [] },
  { table: 'filter', dst: KUBE_SERVICES, src: 'FORWARD', comment: 'kubernetes service portals', extra: NEW },
  { table: 'filter', dst: KUBE_SERVICES, src: 'OUTPUT', comment: 'kubernetes service portals', extra: NEW },
  { table: 'filter', dst: KUBE_FORWARD, src: 'FORWARD', comment: 'kubernetes forwarding rules', extra: [] },
  { table: 'filter', dst: KUBE_PROXY_FIREWALL, src: 'INPUT', comment: 'kubernetes load balancer firewall', extra: NEW },
  { table: 'filter', dst: KUBE_PROXY_FIREWALL, src: 'OUTPUT', comment: 'kubernetes load balancer firewall', extra: NEW },
  { table: 'filter', dst: KUBE_PROXY_FIREWALL, src: 'FORWARD', comment: 'kubernetes load balancer firewall', extra: NEW },
  { table: 'nat', dst: KUBE_SERVICES, src: 'OUTPUT', comment: 'kubernetes service portals', extra: [] },
  { table: 'nat', dst: KUBE_SERVICES, src: 'PREROUTING', comment: 'kubernetes service portals', extra: [] },
  { table: 'nat', dst: KUBE_POSTROUTING, src: 'POSTROUTING', comment: 'kubernetes postrouting rules', extra: [] },
];

/**
 * Kubelet's KUBE-FIREWALL jumps. Upstream ensures them always (creating an empty chain with -N);
 * we ensure them only when we write the chain ourselves (IPv4 localhost NodePorts), because a
 * restore can only create a chain by declaring it, which would flush kubelet's copy.
 */
export const KUBELET_JUMP_RULES: readonly JumpRule[] = [
  { table: 'filter', dst: KUBE_FIREWALL, src: 'INPUT', comment: '', extra: [] },
  { table: 'filter', dst: KUBE_FIREWALL, src: 'OUTPUT', comment: '', extra: [] },
];

function hash16(s: string): string {
  return sha256Base32(s, 16);
}

/** Upstream portProtoHash: base32(sha256(spn + proto))[:16]; proto lower-case. */
export function portProtoHash(spn: string, protocol: string): string {
  return hash16(spn + protocol.toLowerCase());
}

export const SVC_PREFIX = 'KUBE-SVC-';
export const SVL_PREFIX = 'KUBE-SVL-';
export const EXT_PREFIX = 'KUBE-EXT-';
export const FW_PREFIX = 'KUBE-FW-';
export const SEP_PREFIX = 'KUBE-SEP-';

const SERVICE_CHAIN_PREFIXES = [SVC_PREFIX, SVL_PREFIX, SEP_PREFIX, FW_PREFIX, EXT_PREFIX];

/** The four per-service-port chains share one hash. */
export interface ServiceChainNames {
  readonly svc: string;
  readonly svl: string;
  readonly ext: string;
  readonly fw: string;
}

export function serviceChainNames(spn: string, protocol: string): ServiceChainNames {
  const h = portProtoHash(spn, protocol);
  return { svc: SVC_PREFIX + h, svl: SVL_PREFIX + h, ext: EXT_PREFIX + h, fw: FW_PREFIX + h };
}

/** KUBE-SVC-<hash>. */
export function servicePortChainName(spn: string, protocol: string): string {
  return SVC_PREFIX + portProtoHash(spn, protocol);
}

/** KUBE-SEP-<base32(sha256(spn + proto + "ip:port"))[:16]>; `endpoint` as net.JoinHostPort. */
export function endpointChainName(spn: string, protocol: string, endpoint: string): string {
  return SEP_PREFIX + hash16(spn + protocol.toLowerCase() + endpoint);
}

/** Upstream isServiceChainName: one of the five per-service prefixes. */
export function isServiceChainName(chain: string): boolean {
  return SERVICE_CHAIN_PREFIXES.some((p) => chain.startsWith(p));
}
