// Defensive readers for raw API objects (parsed JSON/YAML, never trusted).
// Every reader either returns a value of the expected shape or throws InvalidObject
// with a reason naming the field; the tracker turns that into one onInvalid call.

export class InvalidObject extends Error {}

export type Raw = Record<string, unknown>;

/** Longest string we accept in any field we read (names have tighter limits). */
export const MAX_STRING = 1024;

export function isRecord(x: unknown): x is Raw {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Own property only: objects from the wire may carry keys such as "__proto__" or "constructor". */
export function get(o: Raw, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, key) ? o[key] : undefined;
}

export function fail(path: string, why: string): never {
  throw new InvalidObject(`${path}: ${why}`);
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 64 ? v.slice(0, 64) + '…' : v);
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  return typeof v;
}

/** Absent (undefined/null) → undefined; otherwise must be an object. */
export function optRecord(o: Raw, key: string, path: string): Raw | undefined {
  const v = get(o, key);
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) fail(`${path}.${key}`, `expected object, got ${describe(v)}`);
  return v;
}

export function optArray(o: Raw, key: string, path: string, max: number): readonly unknown[] {
  const v = get(o, key);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(`${path}.${key}`, `expected array, got ${describe(v)}`);
  if (v.length > max) fail(`${path}.${key}`, `too many entries (${v.length} > ${max})`);
  return v;
}

/** Absent → undefined; otherwise must be a string of at most `max` characters. */
export function optString(o: Raw, key: string, path: string, max = MAX_STRING): string | undefined {
  const v = get(o, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(`${path}.${key}`, `expected string, got ${describe(v)}`);
  if (v.length > max) fail(`${path}.${key}`, `too long (${v.length} > ${max})`);
  return v;
}

export function optBool(o: Raw, key: string, path: string): boolean | undefined {
  const v = get(o, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') fail(`${path}.${key}`, `expected boolean, got ${describe(v)}`);
  return v;
}

/** Absent → undefined; otherwise an integer within [min, max]. */
export function optInt(o: Raw, key: string, path: string, min: number, max: number): number | undefined {
  const v = get(o, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(`${path}.${key}`, `expected integer, got ${describe(v)}`);
  if (v < min || v > max) fail(`${path}.${key}`, `${v} out of range [${min}, ${max}]`);
  return v;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isDNS1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}
export function isDNS1035Label(s: string): boolean {
  return s.length <= 63 && DNS1035_LABEL.test(s);
}
export function isDNS1123Subdomain(s: string): boolean {
  return s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}

/** Port names (service and EndpointSlice): empty, or a DNS-1123 label. They end up in map keys, so no ':' or '/'. */
export function isPortName(s: string): boolean {
  return s === '' || isDNS1123Label(s);
}

/** Label values: empty, or up to 63 of [A-Za-z0-9._-] starting and ending alphanumeric. */
export function isLabelValue(s: string): boolean {
  return s === '' || (s.length <= 63 && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(s));
}

export interface Meta {
  readonly namespace: string;
  readonly name: string;
  /** "namespace/name" */
  readonly key: string;
  readonly labels: Raw;
  readonly annotations: Raw;
}

export type NameRule = 'dns1035' | 'dns1123label' | 'dns1123subdomain';

function nameOk(rule: NameRule, s: string): boolean {
  if (rule === 'dns1035') return isDNS1035Label(s);
  if (rule === 'dns1123label') return isDNS1123Label(s);
  return isDNS1123Subdomain(s);
}

/**
 * Read metadata. A missing namespace means "default" (as kubectl does for manifests);
 * `namespaced: false` (Node) leaves it empty.
 */
export function readMeta(obj: unknown, nameRule: NameRule, namespaced = true): Meta {
  if (!isRecord(obj)) fail('object', `expected object, got ${describe(obj)}`);
  const md = get(obj, 'metadata');
  if (!isRecord(md)) fail('metadata', md === undefined ? 'missing' : `expected object, got ${describe(md)}`);
  const name = optString(md, 'name', 'metadata', 253);
  if (name === undefined || name === '') fail('metadata.name', 'missing');
  if (!nameOk(nameRule, name)) fail('metadata.name', `${describe(name)} is not a valid name`);
  let namespace = '';
  if (namespaced) {
    namespace = optString(md, 'namespace', 'metadata', 63) || 'default';
    if (!isDNS1123Label(namespace)) fail('metadata.namespace', `${describe(namespace)} is not a DNS label`);
  }
  const labels = optRecord(md, 'labels', 'metadata') ?? {};
  const annotations = optRecord(md, 'annotations', 'metadata') ?? {};
  return { namespace, name, key: namespaced ? `${namespace}/${name}` : name, labels, annotations };
}

/** Best-effort "ns/name" of an object that failed validation (for the invalid report and replacement). */
export function bestEffortKey(obj: unknown, namespaced = true): string | null {
  if (!isRecord(obj)) return null;
  const md = get(obj, 'metadata');
  if (!isRecord(md)) return null;
  const name = get(md, 'name');
  if (typeof name !== 'string' || name === '' || name.length > 253) return null;
  if (!namespaced) return name;
  const ns = get(md, 'namespace');
  if (ns !== undefined && ns !== null && (typeof ns !== 'string' || ns.length > 63)) return null;
  return `${(ns as string | undefined | null) || 'default'}/${name}`;
}

/** A label value we read must be a string; absent → undefined. */
export function readLabel(labels: Raw, key: string): string | undefined {
  const v = get(labels, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(`metadata.labels[${key}]`, `expected string, got ${describe(v)}`);
  if (v.length > 63) fail(`metadata.labels[${key}]`, 'too long');
  return v;
}

export function hasLabel(labels: Raw, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(labels, key);
}
