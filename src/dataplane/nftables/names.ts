// Chain and set names exactly as upstream's nftables proxier (pkg/proxy/nftables/proxier.go
// hashAndTruncate), so `nft list ruleset` reads the same to people who know upstream and a
// restarted upstream kube-proxy recognises the per-service chains (names containing '/').

import { sha256Base32 } from '../../util/hash.js';
import type { Endpoint, ServicePort } from '../../model/types.js';

/** knftables.NameLengthMax (256) minus 16 characters of room for prefixes. */
const NAME_BASE_MAX = 240;

/** Upstream hashAndTruncate: "<base32(sha256(name))[:8]>-<name>", cut to 240 chars with "...". */
export function hashAndTruncate(name: string): string {
  const h = sha256Base32(name, 8);
  const full = `${h}-${name}`;
  return full.length > NAME_BASE_MAX ? full.slice(0, NAME_BASE_MAX - 3) + '...' : full;
}

/** "ns/svc/proto/portName", upstream servicePortChainNameBase (before hashing). */
export function servicePortBase(sp: Pick<ServicePort, 'namespace' | 'serviceName' | 'protocol' | 'portName'>): string {
  return `${sp.namespace}/${sp.serviceName}/${sp.protocol.toLowerCase()}/${sp.portName}`;
}

/** "<servicePortBase>__<ip with ':' as '.'>/<port>", upstream servicePortEndpointChainNameBase. */
export function endpointBase(spBase: string, ep: Pick<Endpoint, 'ip' | 'port'>): string {
  return `${spBase}__${ep.ip.replace(/:/g, '.')}/${ep.port}`;
}

export interface ServiceChainNames {
  readonly service: string;
  readonly local: string;
  readonly external: string;
  readonly firewall: string;
  /** Named verdict maps choosing an endpoint chain (sessionAffinity ClientIP only). */
  readonly serviceVmap: string;
  readonly localVmap: string;
}

/** Chain and vmap names of a service port (memoised per planner by service.ts ServiceCache). */
export function serviceChainNames(sp: Pick<ServicePort, 'namespace' | 'serviceName' | 'protocol' | 'portName'>): ServiceChainNames {
  return computeNames(hashAndTruncate(servicePortBase(sp)));
}

function computeNames(b: string): ServiceChainNames {
  return {
    service: 'service-' + b,
    local: 'local-' + b,
    external: 'external-' + b,
    firewall: 'firewall-' + b,
    serviceVmap: 'service-endpoints-' + b,
    localVmap: 'local-endpoints-' + b,
  };
}

export function endpointChainName(sp: ServicePort, ep: Endpoint): string {
  return 'endpoint-' + hashAndTruncate(endpointBase(servicePortBase(sp), ep));
}

export function affinitySetName(sp: ServicePort, ep: Endpoint): string {
  return 'affinity-' + hashAndTruncate(endpointBase(servicePortBase(sp), ep));
}

/** Upstream isServiceChainName: per-service chains are the ones whose name contains '/'. */
export function isServiceChainName(name: string): boolean {
  return name.includes('/');
}
