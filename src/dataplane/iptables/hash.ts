// Chain-name hashing, byte-for-byte as upstream (pkg/proxy/iptables/proxier.go): people grep
// iptables-save for these names, and a restarted upstream kube-proxy must recognise ours.

import { sha256Base32 } from '../../util/hash.js';

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
