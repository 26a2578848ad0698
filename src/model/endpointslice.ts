// EndpointSlice validation and normalisation (upstream endpointslicecache.go). Only the
// fields kube-proxy reads survive; two equal ParsedSlices give the same endpoints.

import { familyOf, normalizeIP } from './ip.js';
import {
  fail,
  get,
  hasLabel,
  isDNS1035Label,
  isPortName,
  isRecord,
  optArray,
  optBool,
  optInt,
  optRecord,
  optString,
  readLabel,
  readMeta,
  type Raw,
} from './raw.js';
import { LABEL_HEADLESS, LABEL_SERVICE_PROXY_NAME, readProtocol } from './service.js';
import type { Endpoint, IPFamily, Protocol } from './types.js';

export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
export const ANNOTATION_TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';

// API validation limits (discovery/v1).
const MAX_ENDPOINTS = 1000;
const MAX_PORTS = 100;
const MAX_ADDRESSES = 100;
const MAX_HINTS = 8;

export interface SlicePort {
  /** null: the API's nil name — such ports are ignored, as upstream. */
  readonly name: string | null;
  /** null: nil or 0 — ignored, as upstream. */
  readonly port: number | null;
  readonly protocol: Protocol;
}

/**
 * A slice's endpoint, already shaped as the model's Endpoint for the slice's first usable port
 * (`port` 0 when it has none) and the node name the parse was given: a single-port slice (nearly
 * all of them) then yields its Endpoints without a second object per endpoint (merge.ts reuses
 * these when port and locality match; 100k endpoints are ~10 MB of heap each way).
 */
export type SliceEndpoint = Endpoint;

export interface ParsedSlice {
  readonly namespace: string;
  readonly name: string;
  /** "namespace/sliceName" */
  readonly key: string;
  /** "namespace/serviceName" */
  readonly serviceKey: string;
  readonly family: IPFamily;
  readonly ports: readonly SlicePort[];
  readonly endpoints: readonly SliceEndpoint[];
}

export type SliceParse =
  | { kind: 'ok'; slice: ParsedSlice; triggerTime: Date | null }
  | { kind: 'skip'; key: string; reason: string };

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** The trigger-time annotation; a malformed value is ignored (upstream logs and ignores it). */
function readTriggerTime(annotations: Raw): Date | null {
  const v = get(annotations, ANNOTATION_TRIGGER_TIME);
  if (typeof v !== 'string' || v.length > 64 || !RFC3339.test(v)) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

function readHints(hints: Raw, key: string, path: string): readonly string[] | null {
  const list = optArray(hints, key, path, MAX_HINTS);
  if (list.length === 0) return null;
  const out: string[] = [];
  list.forEach((h, i) => {
    const p = `${path}.${key}[${i}]`;
    if (!isRecord(h)) fail(p, 'expected object');
    const name = optString(h, 'name', p, 253);
    if (name === undefined) fail(`${p}.name`, 'missing');
    if (!out.includes(name)) out.push(name);
  });
  // Shared by every Endpoint made from this slice endpoint: frozen so nobody can edit it.
  return Object.freeze(out.sort());
}

/** Validate and normalise one EndpointSlice. Throws InvalidObject. */
/** `thisNode`: this node's name, for the endpoints' `isLocal` (merge.ts recomputes it for another). */
export function parseEndpointSlice(obj: unknown, thisNode = ''): SliceParse {
  const meta = readMeta(obj, 'dns1123subdomain');
  const o = obj as Raw;
  if (hasLabel(meta.labels, LABEL_SERVICE_PROXY_NAME)) return { kind: 'skip', key: meta.key, reason: 'service-proxy-name label' };
  if (hasLabel(meta.labels, LABEL_HEADLESS)) return { kind: 'skip', key: meta.key, reason: 'headless label' };
  const serviceName = readLabel(meta.labels, LABEL_SERVICE_NAME);
  if (serviceName === undefined || serviceName === '') fail(`metadata.labels[${LABEL_SERVICE_NAME}]`, 'missing');
  if (!isDNS1035Label(serviceName)) fail(`metadata.labels[${LABEL_SERVICE_NAME}]`, 'not a service name');

  const addressType = optString(o, 'addressType', 'object', 16);
  if (addressType === undefined) fail('addressType', 'missing');
  if (addressType === 'FQDN') return { kind: 'skip', key: meta.key, reason: 'FQDN slice' };
  if (addressType !== 'IPv4' && addressType !== 'IPv6') fail('addressType', `unknown type ${JSON.stringify(addressType)}`);
  const family: IPFamily = addressType;

  const ports: SlicePort[] = optArray(o, 'ports', 'object', MAX_PORTS).map((p, i) => {
    const path = `ports[${i}]`;
    if (!isRecord(p)) fail(path, 'expected object');
    const name = optString(p, 'name', path, 63) ?? null;
    if (name !== null && !isPortName(name)) fail(`${path}.name`, `${JSON.stringify(name)} is not a valid port name`);
    const port = optInt(p, 'port', path, 0, 65535);
    const protocol = readProtocol(p, path);
    return { name, port: port === undefined || port === 0 ? null : port, protocol };
  });

  const firstPort = ports.find((p) => p.name !== null && p.port !== null)?.port ?? 0;
  const endpoints: SliceEndpoint[] = [];
  optArray(o, 'endpoints', 'object', MAX_ENDPOINTS).forEach((e, i) => {
    const path = `endpoints[${i}]`;
    if (!isRecord(e)) fail(path, 'expected object');
    const addrs = optArray(e, 'addresses', path, MAX_ADDRESSES);
    let first: string | null = null;
    for (let j = 0; j < addrs.length; j++) {
      const a = addrs[j];
      if (typeof a !== 'string') fail(`${path}.addresses[${j}]`, 'expected string');
      const ip = normalizeIP(a);
      if (ip === null) fail(`${path}.addresses[${j}]`, `${JSON.stringify(a.slice(0, 64))} is not an IP address`);
      if (familyOf(ip) !== family) fail(`${path}.addresses[${j}]`, `${ip} is not ${family}`);
      if (j === 0) first = ip;
    }
    const cond = optRecord(e, 'conditions', path) ?? {};
    const ready = optBool(cond, 'ready', `${path}.conditions`);
    const serving = optBool(cond, 'serving', `${path}.conditions`);
    const terminating = optBool(cond, 'terminating', `${path}.conditions`);
    const nodeName = optString(e, 'nodeName', path, 253) ?? '';
    const zone = optString(e, 'zone', path, 253) ?? '';
    const hints = optRecord(e, 'hints', path);
    const zoneHints = hints ? readHints(hints, 'forZones', `${path}.hints`) : null;
    const nodeHints = hints ? readHints(hints, 'forNodes', `${path}.hints`) : null;
    // Upstream ignores endpoints without addresses (logged, not fatal).
    if (first === null) return;
    // Same property order as merge.ts toEndpoint: one hidden class for both.
    endpoints.push(
      Object.freeze({
        ip: first,
        port: firstPort,
        ready: ready ?? true,
        serving: serving ?? true,
        terminating: terminating ?? false,
        // An empty node name is never local, even if this node's name were empty.
        isLocal: thisNode !== '' && nodeName === thisNode,
        nodeName,
        zone,
        zoneHints,
        nodeHints,
      }),
    );
  });

  return {
    kind: 'ok',
    slice: {
      namespace: meta.namespace,
      name: meta.name,
      key: meta.key,
      serviceKey: `${meta.namespace}/${serviceName}`,
      family,
      ports,
      endpoints,
    },
    triggerTime: readTriggerTime(meta.annotations),
  };
}
