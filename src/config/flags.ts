// The kube-proxy command line, parsed with pflag's rules; the flags themselves (upstream's and
// ours) are in flag-table.ts.
//
// Why a hand-written tokenizer instead of yargs-parser: pflag semantics differ from yargs-parser in
// ways users hit (checked on yargs-parser 22): `--iptables-sync-period -1s` must take "-1s" as the value
// (yargs-parser drops it), `--masquerade-all false` must leave "false" as a positional argument
// (yargs-parser consumes it), `--flag` with no value must fail with "flag needs an argument", and
// `--no-x` must be an unknown flag. pflag's grammar is small, so it is reproduced here exactly.

import {
  FlagValueError,
  parseCIDRList,
  parseClusterCIDRFlag,
  parseCSVList,
  parseFlagDuration,
  parseGoBool,
  parseGoFloat32,
  parseGoInt,
  parseGoUint,
  parseIPFlag,
  parseIPPortFlag,
  parseLocalMode,
  parseMapStringBool,
  parseProxyMode,
  parseQuantity,
  parseVersionFlag,
  parseVModule,
  type VModuleItem,
} from './flagvalues.js';
import { closest } from './suggest.js';
import { FLAGS, type FlagKind, type FlagSpec, type FlagValue } from './flag-table.js';

export { FLAGS, type FlagGroup, type FlagKind, type FlagSpec, type FlagValue } from './flag-table.js';

const BY_NAME: ReadonlyMap<string, FlagSpec> = new Map(FLAGS.map((f) => [f.name, f]));
const BY_SHORT: ReadonlyMap<string, FlagSpec> = new Map(FLAGS.filter((f) => f.shorthand).map((f) => [f.shorthand as string, f]));

export function flagSpec(name: string): FlagSpec | undefined {
  return BY_NAME.get(name);
}

/** Hidden flags are never suggested; the deprecated ports are suggested as their replacements would be. */
function suggestFlag(name: string): string {
  const best = closest(name, FLAGS.filter((f) => !f.deprecated).map((f) => f.name));
  return best === null ? '' : ` (did you mean --${best}?)`;
}

/** cliflag.WordSepNormalizeFunc: `--iptables_sync_period` means `--iptables-sync-period`. */
function normalize(name: string): string {
  return name.replace(/_/g, '-');
}

function isBoolLike(kind: FlagKind): boolean {
  return kind === 'bool' || kind === 'version';
}

/** Convert one raw value; `prev` is the earlier value of the same flag (lists and maps accumulate). */
function convert(spec: FlagSpec, raw: string, prev: FlagValue | undefined): FlagValue {
  switch (spec.kind) {
    case 'bool':
      return parseGoBool(raw);
    case 'string':
      return raw;
    case 'duration':
      return parseFlagDuration(raw);
    case 'int32':
      return parseGoInt(raw, 32);
    case 'float32':
      return parseGoFloat32(raw);
    case 'ip':
      return parseIPFlag(raw);
    case 'ipport':
      return parseIPPortFlag(raw);
    case 'strings':
      return [...((prev as string[] | undefined) ?? []), ...parseCSVList(raw)];
    case 'cidrs':
      return [...((prev as string[] | undefined) ?? []), ...parseCIDRList(raw, false)];
    case 'nodePortAddresses':
      return [...((prev as string[] | undefined) ?? []), ...parseCIDRList(raw, true)];
    case 'clusterCIDR':
      return parseClusterCIDRFlag(raw);
    case 'mapStringBool':
      return parseMapStringBool(raw, (prev as Record<string, boolean> | undefined) ?? {});
    case 'ProxyMode':
      return parseProxyMode(raw);
    case 'LocalMode':
      return parseLocalMode(raw);
    case 'Level':
      return parseGoUint(raw, 31);
    case 'vmodule':
      return parseVModule(raw, (prev as VModuleItem[] | undefined) ?? []);
    case 'quantity':
      return parseQuantity(raw);
    case 'version':
      return parseVersionFlag(raw);
  }
}

export interface ParsedFlags {
  /** Values of the flags given on the command line (pflag's "Changed"), by long name. */
  readonly values: ReadonlyMap<string, FlagValue>;
  /** Non-flag arguments (kube-proxy accepts none). */
  readonly args: readonly string[];
  /** Deprecation notices pflag would print. */
  readonly warnings: readonly string[];
}

export class FlagParseError extends Error {}

/** Parse argv (without node and script) with pflag's rules. Throws FlagParseError. */
export function parseFlags(argv: readonly string[]): ParsedFlags {
  const values = new Map<string, FlagValue>();
  const args: string[] = [];
  const warnings: string[] = [];
  const set = (spec: FlagSpec, raw: string): void => {
    try {
      values.set(spec.name, convert(spec, raw, values.get(spec.name)));
    } catch (e) {
      if (!(e instanceof FlagValueError)) throw e;
      const shown = spec.shorthand ? `-${spec.shorthand}, --${spec.name}` : `--${spec.name}`;
      throw new FlagParseError(`invalid argument ${JSON.stringify(raw)} for ${JSON.stringify(shown)} flag: ${e.message}`);
    }
    if (spec.deprecated) warnings.push(`Flag --${spec.name} has been deprecated, ${spec.deprecated}`);
  };
  let i = 0;
  while (i < argv.length) {
    const s = argv[i++] as string;
    if (s.length < 2 || s[0] !== '-') {
      args.push(s);
      continue;
    }
    if (s[1] === '-') {
      if (s.length === 2) {
        args.push(...argv.slice(i));
        break;
      }
      const body = s.slice(2);
      if (body[0] === '-' || body[0] === '=') throw new FlagParseError(`bad flag syntax: ${s}`);
      const eq = body.indexOf('=');
      const name = eq < 0 ? body : body.slice(0, eq);
      const spec = BY_NAME.get(normalize(name));
      if (!spec) throw new FlagParseError(`unknown flag: --${name}${suggestFlag(normalize(name))}`);
      let raw: string;
      if (eq >= 0) raw = body.slice(eq + 1);
      else if (isBoolLike(spec.kind)) raw = 'true';
      else if (i < argv.length) raw = argv[i++] as string;
      else throw new FlagParseError(`flag needs an argument: ${s}`);
      set(spec, raw);
      continue;
    }
    // Shorthand group, e.g. -v2, -v=2, -v 2, -h.
    let shorts = s.slice(1);
    while (shorts.length > 0) {
      const c = shorts[0] as string;
      const spec = BY_SHORT.get(c);
      if (!spec) throw new FlagParseError(`unknown shorthand flag: '${c}' in -${shorts}`);
      let raw: string;
      let rest = '';
      if (shorts.length > 2 && shorts[1] === '=') raw = shorts.slice(2);
      else if (isBoolLike(spec.kind)) {
        raw = 'true';
        rest = shorts.slice(1);
      } else if (shorts.length > 1) raw = shorts.slice(1);
      else if (i < argv.length) raw = argv[i++] as string;
      else throw new FlagParseError(`flag needs an argument: '${c}' in -${shorts}`);
      set(spec, raw);
      shorts = rest;
    }
  }
  return { values, args, warnings };
}

const TYPE_NAMES: Record<FlagKind, string> = {
  bool: '',
  string: 'string',
  duration: 'duration',
  int32: 'int32',
  float32: 'float32',
  ip: 'ip',
  ipport: 'ipport',
  strings: 'strings',
  cidrs: 'strings',
  nodePortAddresses: 'strings',
  clusterCIDR: 'string',
  mapStringBool: 'mapStringBool',
  ProxyMode: 'ProxyMode',
  LocalMode: 'LocalMode',
  Level: 'Level',
  vmodule: 'pattern=N,...',
  quantity: 'quantity',
  version: 'version[=true]',
};

function isZeroDefault(spec: FlagSpec): boolean {
  return ['', 'false', '0', '0s', '[]'].includes(spec.defValue);
}

function defaultSuffix(spec: FlagSpec): string {
  if (isZeroDefault(spec)) return '';
  // pflag quotes the default of string flags only.
  const quoted = TYPE_NAMES[spec.kind] === 'string';
  return ` (default ${quoted ? JSON.stringify(spec.defValue) : spec.defValue})`;
}

const LONG_DESCRIPTION = `The Kubernetes network proxy runs on each node. This
reflects services as defined in the Kubernetes API on each node and can do simple
TCP, UDP, and SCTP stream forwarding or round robin TCP, UDP, and SCTP forwarding across a set of backends.
kube-proxy-ts programs the same iptables, ipvs or nftables rules as kube-proxy and reads the same
flags and KubeProxyConfiguration files.`;

/** pflag/cobra style usage text (deprecated flags hidden, as pflag does). */
export function helpText(): string {
  const rows = FLAGS.filter((f) => !f.deprecated).map((f) => {
    const left = `  ${f.shorthand ? `-${f.shorthand}, ` : '    '}--${f.name}${TYPE_NAMES[f.kind] ? ' ' + TYPE_NAMES[f.kind] : ''}`;
    return { left, usage: f.usage + defaultSuffix(f) };
  });
  rows.sort((a, b) => a.left.replace(/^\s*(-\w, )?--/, '').localeCompare(b.left.replace(/^\s*(-\w, )?--/, '')));
  const width = Math.max(...rows.map((r) => r.left.length));
  // pflag indents the continuation lines of a multi-line usage to the usage column.
  const lines = rows.map((r) => `${r.left.padEnd(width)}   ${r.usage.replaceAll('\n', '\n' + ' '.repeat(width + 3))}`);
  return `${LONG_DESCRIPTION}\n\nUsage:\n  kube-proxy-ts [flags]\n\nFlags:\n${lines.join('\n')}\n`;
}

export const VERSION_TEXT = 'kube-proxy-ts v0.1.0 (kube-proxy v1.35 compatible)';
