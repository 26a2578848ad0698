// Reading a KubeProxyConfiguration file (YAML or JSON) the way upstream's decoder does, but strict:
// every problem is reported with its field path and file:line:col.
//
// Decoding rules copied from upstream (sigs.k8s.io/yaml + encoding/json):
// - YAML 1.1 scalars (yes/no/on/off are booleans), as goyaml v2 reads them;
// - a string field takes any scalar's source text (`hostnameOverride: 123` is "123");
// - `null` (or an empty value) leaves a field unset, so defaulting applies;
// - numbers and booleans must not be quoted (`masqueradeBit: "14"` is an error);
// - durations are Go duration strings (`syncPeriod: 30` is an error);
// - then v1alpha1 defaulting (defaults.ts), which also replaces explicit zero values.
// Strict, then lenient, as upstream's loadConfig: unknown fields and duplicate fields are strict-
// decoding errors, so the file still loads (unknown fields ignored, the last duplicate wins) and each
// is reported as a warning with file:line:col and a did-you-mean hint; old kubeadm ConfigMaps carry
// fields such as udpIdleTimeout. Every other problem (wrong types, bad YAML, wrong kind) is fatal.

import { readFile } from 'node:fs/promises';
import { LineCounter, parseAllDocuments, isAlias, isMap, isScalar, isSeq, type Document, type Node, type Pair, type Scalar } from 'yaml';
import type { KubeProxyConfiguration } from './types.js';
import { API_VERSION, KIND, applyDefaults, zeroConfiguration } from './defaults.js';
import { DurationError, formatDuration, parseDuration } from '../util/duration.js';
import { suggest } from './suggest.js';

export interface LoadIssue {
  /** JSON path in the file, e.g. "iptables.minSyncPeriod" ("" for the document). */
  readonly path: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
  /** A strict-decoding error (unknown or duplicate field): upstream retries leniently and only logs it. */
  readonly strict?: boolean;
}

export type LoadResult =
  | { readonly ok: true; readonly config: KubeProxyConfiguration; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly issues: readonly LoadIssue[]; readonly message: string };

type FieldType =
  | { t: 'string' }
  | { t: 'bool' }
  | { t: 'int32' }
  | { t: 'uint32' }
  | { t: 'float32' }
  | { t: 'duration' }
  | { t: 'durationOrNs' }
  | { t: 'quantity' }
  | { t: 'stringList' }
  | { t: 'boolMap' }
  | { t: 'list'; of: FieldType }
  | { t: 'object'; fields: Readonly<Record<string, FieldType>> };

const str: FieldType = { t: 'string' };
const bool: FieldType = { t: 'bool' };
const int32: FieldType = { t: 'int32' };
const dur: FieldType = { t: 'duration' };
const obj = (fields: Record<string, FieldType>): FieldType => ({ t: 'object', fields });
const formatOptions = obj({ infoBufferSize: { t: 'quantity' }, splitStream: bool });

/** kubeproxy.config.k8s.io/v1alpha1 KubeProxyConfiguration (kubernetes/kube-proxy config/v1alpha1/types.go). */
const SCHEMA = obj({
  apiVersion: str,
  kind: str,
  featureGates: { t: 'boolMap' },
  clientConnection: obj({ kubeconfig: str, acceptContentTypes: str, contentType: str, qps: { t: 'float32' }, burst: int32 }),
  logging: obj({
    format: str,
    flushFrequency: { t: 'durationOrNs' },
    verbosity: { t: 'uint32' },
    vmodule: { t: 'list', of: obj({ filePattern: str, verbosity: { t: 'uint32' } }) },
    options: obj({ text: formatOptions, json: formatOptions }),
  }),
  hostnameOverride: str,
  bindAddress: str,
  healthzBindAddress: str,
  metricsBindAddress: str,
  bindAddressHardFail: bool,
  enableProfiling: bool,
  showHiddenMetricsForVersion: str,
  mode: str,
  iptables: obj({ masqueradeBit: int32, masqueradeAll: bool, localhostNodePorts: bool, syncPeriod: dur, minSyncPeriod: dur }),
  ipvs: obj({
    syncPeriod: dur,
    minSyncPeriod: dur,
    scheduler: str,
    excludeCIDRs: { t: 'stringList' },
    strictARP: bool,
    tcpTimeout: dur,
    tcpFinTimeout: dur,
    udpTimeout: dur,
  }),
  nftables: obj({ masqueradeBit: int32, masqueradeAll: bool, syncPeriod: dur, minSyncPeriod: dur }),
  winkernel: obj({ networkName: str, sourceVip: str, enableDSR: bool, rootHnsEndpointName: str, forwardHealthCheckVip: bool }),
  detectLocalMode: str,
  detectLocal: obj({ bridgeInterface: str, interfaceNamePrefix: str }),
  clusterCIDR: str,
  nodePortAddresses: { t: 'stringList' },
  oomScoreAdj: int32,
  conntrack: obj({
    maxPerCore: int32,
    min: int32,
    tcpEstablishedTimeout: dur,
    tcpCloseWaitTimeout: dur,
    tcpBeLiberal: bool,
    udpTimeout: dur,
    udpStreamTimeout: dur,
  }),
  configSyncPeriod: dur,
  portRange: str,
  windowsRunAsService: bool,
});

/** How a node's value is shown in messages: type and value, e.g. `string "14"`. */
function describe(node: unknown): string {
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a sequence';
  if (isScalar(node)) {
    const v = node.value;
    if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
    if (typeof v === 'number' || typeof v === 'bigint') return `number ${String(v)}`;
    if (typeof v === 'boolean') return `boolean ${String(v)}`;
    return JSON.stringify(v) ?? String(v);
  }
  return String(node);
}

class Decoder {
  readonly issues: LoadIssue[] = [];
  constructor(
    private readonly lc: LineCounter,
    private readonly doc: Document,
  ) {}

  issue(node: unknown, path: string, message: string, strict = false): void {
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    const pos = this.lc.linePos(range ? range[0] : 0);
    this.issues.push({ path, line: pos.line, col: pos.col, message, ...(strict ? { strict } : {}) });
  }

  /** Returns the decoded value, or undefined for null/absent/invalid. */
  decode(node: unknown, type: FieldType, path: string, depth = 0): unknown {
    if (isAlias(node)) {
      // goyaml resolves anchors; a missing anchor or an alias loop is reported, not followed.
      const target = depth < 50 ? node.resolve(this.doc) : undefined;
      if (target === undefined) {
        this.issue(node, path, `unresolvable alias *${node.source}`);
        return undefined;
      }
      return this.decode(target, type, path, depth + 1);
    }
    if (node === null || node === undefined) return undefined;
    if (isScalar(node) && node.value === null) return undefined;
    const n = node as Node;
    const bad = (what: string): undefined => {
      this.issue(n, path, `expected ${what}, got ${describe(node)}`);
      return undefined;
    };
    switch (type.t) {
      case 'string': {
        if (!isScalar(node)) return bad('a string');
        // sigs.k8s.io/yaml keeps the source text of a scalar decoded into a string field.
        const s = node as Scalar;
        if (typeof s.value === 'string') return s.value;
        return s.source ?? String(s.value);
      }
      case 'bool':
        return isScalar(node) && typeof node.value === 'boolean' ? node.value : bad('a boolean');
      case 'int32':
      case 'uint32': {
        if (!isScalar(node) || typeof node.value !== 'number' || !Number.isInteger(node.value)) return bad('an integer');
        const v = node.value;
        const [lo, hi] = type.t === 'int32' ? [-(2 ** 31), 2 ** 31 - 1] : [0, 2 ** 32 - 1];
        if (v < lo || v > hi) {
          this.issue(n, path, `number ${v} does not fit in ${type.t === 'int32' ? 'a 32-bit integer' : 'an unsigned 32-bit integer'}`);
          return undefined;
        }
        return v;
      }
      case 'float32':
        return isScalar(node) && typeof node.value === 'number' ? Math.fround(node.value) : bad('a number');
      case 'duration':
      case 'durationOrNs': {
        if (type.t === 'durationOrNs' && isScalar(node) && typeof node.value === 'number' && Number.isInteger(node.value)) return node.value;
        if (!isScalar(node) || typeof node.value !== 'string') return bad('a duration string such as "30s"');
        try {
          return formatDuration(parseDuration(node.value));
        } catch (e) {
          if (!(e instanceof DurationError)) throw e;
          this.issue(n, path, e.message);
          return undefined;
        }
      }
      case 'quantity':
        if (isScalar(node) && (typeof node.value === 'number' || typeof node.value === 'string')) return String(node.value);
        return bad('a quantity');
      case 'stringList':
        return this.decode(node, { t: 'list', of: str }, path);
      case 'list': {
        if (!isSeq(node)) return bad('a sequence');
        const out: unknown[] = [];
        node.items.forEach((item, i) => {
          const v = this.decode(item, type.of, `${path}[${i}]`);
          if (v !== undefined) out.push(v);
        });
        return out;
      }
      case 'boolMap': {
        if (!isMap(node)) return bad('a mapping of names to booleans');
        const entries: [string, boolean][] = [];
        for (const [key, pair] of this.pairs(node, path)) {
          const v = this.decode(pair.value, bool, `${path}.${key}`);
          if (typeof v === 'boolean') entries.push([key, v]);
        }
        // fromEntries defines own properties, so a gate named "__proto__" stays a plain key.
        return Object.fromEntries(entries);
      }
      case 'object': {
        if (!isMap(node)) return bad('a mapping');
        const out: Record<string, unknown> = {};
        const known = Object.keys(type.fields);
        for (const [key, pair] of this.pairs(node, path)) {
          const sub = path === '' ? key : `${path}.${key}`;
          const ft = type.fields[key];
          if (!ft) {
            this.issue(pair.key as Node, sub, `unknown field${suggest(key, known)}`, true);
            continue;
          }
          const v = this.decode(pair.value, ft, sub);
          if (v !== undefined) out[key] = v;
        }
        return out;
      }
    }
  }

  /** The map's pairs with string keys; reports non-string and duplicate keys. */
  private *pairs(node: { items: Pair[] }, path: string): Generator<[string, Pair]> {
    const seen = new Map<string, number>();
    for (const pair of node.items) {
      const k = pair.key;
      const key = isScalar(k) && k.value !== null ? String(k.value) : null;
      const where = (name: string): string => (path === '' ? name : `${path}.${name}`);
      if (key === null) {
        this.issue(k as Node, path, `expected a field name, got ${describe(k)}`);
        continue;
      }
      const keyNode = k as Node;
      const first = seen.get(key);
      if (first !== undefined) {
        // Lenient decoding keeps the last value, as upstream's does.
        this.issue(keyNode, where(key), `duplicate field (first set on line ${first})`, true);
      } else seen.set(key, this.lc.linePos(keyNode.range?.[0] ?? 0).line);
      yield [key, pair];
    }
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Overlay decoded fields on the zero object; nested objects merge, lists and maps replace. */
function overlay(target: Record<string, unknown>, src: Record<string, unknown>, replaceKeys: ReadonlySet<string>): void {
  for (const [k, v] of Object.entries(src)) {
    const cur = target[k];
    if (isPlainObject(v) && isPlainObject(cur) && !replaceKeys.has(k)) overlay(cur, v, replaceKeys);
    else target[k] = v;
  }
}

function formatIssues(fileName: string, issues: readonly LoadIssue[]): string {
  return issues.map((i) => `${fileName}:${i.line}:${i.col}: ${i.path === '' ? '' : i.path + ': '}${i.message}`).join('\n');
}

/** Decode file text. `fileName` is used only in messages. Never throws for bad input. */
export function loadConfigText(text: string, fileName: string): LoadResult {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, version: '1.1', prettyErrors: false, uniqueKeys: false });
  const issues: LoadIssue[] = [];
  const fail = (): LoadResult => ({ ok: false, issues, message: formatIssues(fileName, issues) });
  const at = (offset: number, path: string, message: string): void => {
    const p = lc.linePos(offset);
    issues.push({ path, line: p.line, col: p.col, message });
  };
  const list = Array.isArray(docs) ? docs : [];
  if (list.length === 0) {
    at(0, '', `empty file: expected a ${KIND} (apiVersion: ${API_VERSION})`);
    return fail();
  }
  for (const d of list) for (const e of d.errors) at(e.pos[0], '', `invalid YAML: ${e.message}`);
  if (issues.length > 0) return fail();
  if (list.length > 1) {
    at(list[1]?.range[0] ?? 0, '', `more than one YAML document; the file must hold a single ${KIND}`);
    return fail();
  }
  const doc = list[0]!; // length checked above
  const root = doc.contents;
  const dec = new Decoder(lc, doc);
  if (!isMap(root)) {
    dec.issue(root, '', `expected a ${KIND} mapping, got ${describe(root)}`);
    issues.push(...dec.issues);
    return fail();
  }
  const decoded = dec.decode(root, SCHEMA, '') as Record<string, unknown> | undefined;
  // apiVersion and kind first: a wrong kind makes every other message moot.
  const typeIssues: LoadIssue[] = [];
  for (const [field, want] of [
    ['apiVersion', API_VERSION],
    ['kind', KIND],
  ] as const) {
    const got = decoded?.[field];
    const node = root.get(field, true) as Node | undefined;
    if (got === undefined) {
      const p = lc.linePos(root.range?.[0] ?? 0);
      typeIssues.push({ path: field, line: p.line, col: p.col, message: `missing (expected ${JSON.stringify(want)})` });
    } else if (got !== want) {
      const p = lc.linePos(node?.range?.[0] ?? 0);
      typeIssues.push({ path: field, line: p.line, col: p.col, message: `unsupported value ${JSON.stringify(got)} (expected ${JSON.stringify(want)})` });
    }
  }
  if (typeIssues.length > 0) {
    issues.push(...typeIssues);
    return fail();
  }
  issues.push(...dec.issues);
  if (issues.some((i) => !i.strict) || decoded === undefined) return fail();

  const config = zeroConfiguration();
  overlay(config as unknown as Record<string, unknown>, decoded, new Set(['featureGates', 'vmodule']));
  const defaulted = applyDefaults(config);
  // Only strict-decoding errors: upstream logs "Using lenient decoding as strict decoding failed".
  const warnings: string[] = issues.map((i) => `Using lenient decoding as strict decoding failed: ${formatIssues(fileName, [i])}`);
  // Upstream replaces explicit zero values with defaults; say so when the file wrote one.
  for (const path of defaulted) {
    const keys = path.split('.');
    if (root.hasIn(keys) && root.getIn(keys) !== null) {
      warnings.push(`${fileName}: ${path} is zero or empty, so the default is used instead (as upstream kube-proxy does)`);
    }
  }
  return { ok: true, config, warnings };
}

/** Read and decode a file; I/O errors become a failed result too. */
export async function loadConfigFile(path: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const message = `${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`;
    return { ok: false, issues: [{ path: '', line: 0, col: 0, message }], message };
  }
  return loadConfigText(text, path);
}
