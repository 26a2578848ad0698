// Service validation and normalisation (upstream ShouldSkipService, GetClusterIPByFamily,
// newBaseServiceInfo). The result holds only what ServicePorts need, already normalised
// and split by family, so equality of two ParsedServices means "no ProxyState change".

import { parseCIDRSloppy, parseIPSloppy } from './ip.js';
import {
  fail,
  get,
  hasLabel,
  isPortName,
  isRecord,
  optArray,
  optInt,
  optRecord,
  optString,
  readMeta,
  type Raw,
} from './raw.js';
import type { IPFamily, Protocol } from './types.js';

export const LABEL_SERVICE_PROXY_NAME = 'service.kubernetes.io/service-proxy-name';
export const LABEL_HEADLESS = 'service.kubernetes.io/headless';

/** API default for sessionAffinityConfig.clientIP.timeoutSeconds. */
export const DEFAULT_AFFINITY_TIMEOUT = 10800;
const MAX_AFFINITY_TIMEOUT = 86400;

// Upper bounds for lists: generous for real services, small enough that garbage stays cheap.
const MAX_SERVICE_PORTS = 20000;
const MAX_IP_LIST = 1000;

export interface ParsedServicePort {
  readonly name: string;
  readonly protocol: Protocol;
  readonly port: number;
  readonly nodePort: number;
}

/** Per-family fields of a Service. */
export interface FamilyFields {
  readonly clusterIP: string;
  readonly externalIPs: readonly string[];
  readonly loadBalancerIPs: readonly string[];
  readonly loadBalancerSourceRanges: readonly string[];
}

export interface ParsedService {
  readonly namespace: string;
  readonly name: string;
  readonly key: string;
  readonly ports: readonly ParsedServicePort[];
  /** Only families with a ClusterIP are present. */
  readonly families: Readonly<Partial<Record<IPFamily, FamilyFields>>>;
  readonly affinityTimeoutSeconds: number;
  readonly externalPolicyLocal: boolean;
  readonly internalPolicyLocal: boolean;
  readonly healthCheckNodePort: number;
  readonly trafficDistribution: string;
}

/** skip: an object we deliberately do not proxy (headless, ExternalName, filtered labels). */
export type ServiceParse = { kind: 'ok'; svc: ParsedService } | { kind: 'skip'; key: string; reason: string };

const SERVICE_TYPES = new Set(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']);
const PROTOCOLS = new Set<Protocol>(['TCP', 'UDP', 'SCTP']);

export function readProtocol(o: Raw, path: string): Protocol {
  const p = optString(o, 'protocol', path, 16) ?? 'TCP';
  if (!PROTOCOLS.has(p as Protocol)) fail(`${path}.protocol`, `unknown protocol ${JSON.stringify(p)}`);
  return p as Protocol;
}

function readIP(v: unknown, path: string): { family: IPFamily; text: string } {
  if (typeof v !== 'string') fail(path, 'expected string');
  const ip = parseIPSloppy(v);
  if (!ip) fail(path, `${JSON.stringify(v.slice(0, 64))} is not an IP address`);
  return ip;
}

function readPolicy(spec: Raw, key: string): boolean {
  const v = optString(spec, key, 'spec', 16);
  if (v === undefined || v === '' || v === 'Cluster') return false;
  if (v === 'Local') return true;
  fail(`spec.${key}`, `unknown policy ${JSON.stringify(v)}`);
}

const NONE: readonly string[] = Object.freeze([]);

/** Texts of one family; the shared empty list when none (most services have no external IPs). */
function ofFamily(list: readonly { family: IPFamily; text: string }[], fam: IPFamily): readonly string[] {
  if (list.length === 0) return NONE;
  const out = list.filter((x) => x.family === fam).map((x) => x.text);
  return out.length === 0 ? NONE : Object.freeze(out);
}

/** Validate and normalise one Service. Throws InvalidObject. */
export function parseService(obj: unknown): ServiceParse {
  const meta = readMeta(obj, 'dns1035');
  const o = obj as Raw;
  // The informer's label selector hides these services entirely (upstream server.go).
  if (hasLabel(meta.labels, LABEL_SERVICE_PROXY_NAME)) return { kind: 'skip', key: meta.key, reason: 'service-proxy-name label' };
  if (hasLabel(meta.labels, LABEL_HEADLESS)) return { kind: 'skip', key: meta.key, reason: 'headless label' };

  const spec = get(o, 'spec');
  if (!isRecord(spec)) fail('spec', spec === undefined ? 'missing' : 'expected object');
  const type = optString(spec, 'type', 'spec', 32) || 'ClusterIP';
  if (!SERVICE_TYPES.has(type)) fail('spec.type', `unknown type ${JSON.stringify(type)}`);
  if (type === 'ExternalName') return { kind: 'skip', key: meta.key, reason: 'ExternalName' };

  const clusterIP = optString(spec, 'clusterIP', 'spec', 64) ?? '';
  if (clusterIP === '' || clusterIP === 'None') return { kind: 'skip', key: meta.key, reason: 'headless' };

  // ClusterIPs by family: ipFamilies[i] names the family of clusterIPs[i].
  const rawIPs = optArray(spec, 'clusterIPs', 'spec', 2);
  const rawFamilies = optArray(spec, 'ipFamilies', 'spec', 2);
  const clusterIPs = rawIPs.length > 0 ? rawIPs.map((v, i) => readIP(v, `spec.clusterIPs[${i}]`)) : [readIP(clusterIP, 'spec.clusterIP')];
  if (rawIPs.length > 0 && rawIPs[0] !== clusterIP) fail('spec.clusterIPs[0]', 'differs from spec.clusterIP');
  if (clusterIPs.length === 2 && clusterIPs[0]!.family === clusterIPs[1]!.family) fail('spec.clusterIPs', 'two IPs of the same family');
  if (rawFamilies.length > 0) {
    if (rawFamilies.length !== clusterIPs.length) fail('spec.ipFamilies', 'length differs from spec.clusterIPs');
    rawFamilies.forEach((f, i) => {
      if (f !== 'IPv4' && f !== 'IPv6') fail(`spec.ipFamilies[${i}]`, `unknown family ${JSON.stringify(f)}`);
      if (f !== clusterIPs[i]!.family) fail(`spec.ipFamilies[${i}]`, `${f} does not match clusterIP ${clusterIPs[i]!.text}`);
    });
  }

  // Ports.
  const ports: ParsedServicePort[] = [];
  const seen = new Set<string>();
  optArray(spec, 'ports', 'spec', MAX_SERVICE_PORTS).forEach((p, i) => {
    const path = `spec.ports[${i}]`;
    if (!isRecord(p)) fail(path, 'expected object');
    const name = optString(p, 'name', path, 63) ?? '';
    if (!isPortName(name)) fail(`${path}.name`, `${JSON.stringify(name)} is not a valid port name`);
    const protocol = readProtocol(p, path);
    const port = optInt(p, 'port', path, 1, 65535);
    if (port === undefined) fail(`${path}.port`, 'missing');
    const nodePort = optInt(p, 'nodePort', path, 0, 65535) ?? 0;
    const id = `${name}/${protocol}`;
    if (seen.has(id)) fail(path, `duplicate port ${JSON.stringify(name)}/${protocol}`);
    seen.add(id);
    ports.push({ name, protocol, port, nodePort });
  });

  const externalIPs = optArray(spec, 'externalIPs', 'spec', MAX_IP_LIST).map((v, i) => readIP(v, `spec.externalIPs[${i}]`));
  const sourceRanges = optArray(spec, 'loadBalancerSourceRanges', 'spec', MAX_IP_LIST).map((v, i) => {
    const path = `spec.loadBalancerSourceRanges[${i}]`;
    if (typeof v !== 'string' || v.length > 128) fail(path, 'expected CIDR string');
    // Upstream validation accidentally allows whitespace padding; upstream trims it.
    const c = parseCIDRSloppy(v.trim());
    if (!c) fail(path, `${JSON.stringify(v)} is not a CIDR`);
    return c;
  });

  const lbIPs: { family: IPFamily; text: string }[] = [];
  const status = optRecord(o, 'status', 'object');
  const lb = status && optRecord(status, 'loadBalancer', 'status');
  if (lb) {
    optArray(lb, 'ingress', 'status.loadBalancer', MAX_IP_LIST).forEach((ing, i) => {
      const path = `status.loadBalancer.ingress[${i}]`;
      if (!isRecord(ing)) fail(path, 'expected object');
      const ipMode = optString(ing, 'ipMode', path, 16);
      if (ipMode !== undefined && ipMode !== 'VIP' && ipMode !== 'Proxy') fail(`${path}.ipMode`, `unknown mode ${JSON.stringify(ipMode)}`);
      optString(ing, 'hostname', path, 253);
      const ip = optString(ing, 'ip', path, 64);
      if (ip === undefined || ip === '') return;
      const parsed = readIP(ip, `${path}.ip`);
      // ipMode Proxy: the load balancer proxies, so the node must not short-circuit the LB IP.
      if (ipMode !== 'Proxy') lbIPs.push(parsed);
    });
  }

  // Session affinity.
  const affinity = optString(spec, 'sessionAffinity', 'spec', 16) ?? 'None';
  let affinityTimeoutSeconds = 0;
  if (affinity === 'ClientIP') {
    const cfg = optRecord(spec, 'sessionAffinityConfig', 'spec');
    const cip = cfg && optRecord(cfg, 'clientIP', 'spec.sessionAffinityConfig');
    affinityTimeoutSeconds =
      (cip && optInt(cip, 'timeoutSeconds', 'spec.sessionAffinityConfig.clientIP', 1, MAX_AFFINITY_TIMEOUT)) ?? DEFAULT_AFFINITY_TIMEOUT;
  } else if (affinity !== 'None' && affinity !== '') {
    fail('spec.sessionAffinity', `unknown affinity ${JSON.stringify(affinity)}`);
  }

  // Traffic policies (k8s.io/kubernetes/pkg/api/v1/service helpers).
  const eTPLocal = readPolicy(spec, 'externalTrafficPolicy');
  const iTPLocal = readPolicy(spec, 'internalTrafficPolicy');
  const externallyFacing = type === 'NodePort' || type === 'LoadBalancer' || externalIPs.length > 0;
  const externalPolicyLocal = externallyFacing && eTPLocal;
  const hcnp = optInt(spec, 'healthCheckNodePort', 'spec', 0, 65535) ?? 0;
  const healthCheckNodePort = type === 'LoadBalancer' && externalPolicyLocal ? hcnp : 0;
  const trafficDistribution = optString(spec, 'trafficDistribution', 'spec', 64) ?? '';

  const families: Partial<Record<IPFamily, FamilyFields>> = {};
  for (const cip of clusterIPs) {
    const fam = cip.family;
    families[fam] = {
      clusterIP: cip.text,
      externalIPs: ofFamily(externalIPs, fam),
      loadBalancerIPs: ofFamily(lbIPs, fam),
      loadBalancerSourceRanges: ofFamily(sourceRanges, fam),
    };
  }

  return {
    kind: 'ok',
    svc: {
      namespace: meta.namespace,
      name: meta.name,
      key: meta.key,
      ports,
      families,
      affinityTimeoutSeconds,
      externalPolicyLocal,
      internalPolicyLocal: iTPLocal,
      healthCheckNodePort,
      trafficDistribution,
    },
  };
}

