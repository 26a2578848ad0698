// Value parsers for command-line flags, one per pflag value type kube-proxy uses. Each throws
// FlagValueError with the message the Go type's Set() would return; flags.ts wraps it as
// `invalid argument "<v>" for "--<flag>" flag: <message>` like pflag.

import { parseDuration, DurationError } from '../util/duration.js';
import { isCIDR, isIPLiteral, splitHostPort } from './net.js';

export class FlagValueError extends Error {}

const q = (s: string): string => JSON.stringify(s);

/** strconv.ParseBool */
export function parseGoBool(s: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  throw new FlagValueError(`strconv.ParseBool: parsing ${q(s)}: invalid syntax`);
}

/** strconv.ParseInt(s, 0, bits): sign, 0x/0o/0b/0 prefixes and '_' separators after a prefix. */
export function parseGoInt(s: string, bits: 32 | 64 = 32): number {
  const bad = (why: string): FlagValueError => new FlagValueError(`strconv.ParseInt: parsing ${q(s)}: ${why}`);
  const m = /^([+-]?)(0[xX]|0[oO]|0[bB]|0(?=[0-9_]))?(.*)$/.exec(s);
  if (!m) throw bad('invalid syntax');
  const prefix = (m[2] ?? '').toLowerCase();
  let body = m[3] ?? '';
  const base = prefix === '0x' ? 16 : prefix === '0b' ? 2 : prefix === '' ? 10 : 8;
  if (prefix !== '') {
    // Go's underscoreOK: '_' only between digits or right after the base prefix.
    if (/__|_$/.test(body)) throw bad('invalid syntax');
    body = body.replace(/_/g, '');
  }
  const digits = base === 16 ? /^[0-9a-f]+$/i : base === 8 ? /^[0-7]+$/ : base === 2 ? /^[01]+$/ : /^[0-9]+$/;
  if (!digits.test(body)) throw bad('invalid syntax');
  const radix = base === 16 ? '0x' : base === 8 ? '0o' : base === 2 ? '0b' : '';
  const mag = BigInt(radix + body);
  const v = m[1] === '-' ? -mag : mag;
  const lim = 1n << BigInt(bits - 1);
  if (v < -lim || v > lim - 1n) throw bad('value out of range');
  return Number(v);
}

/** strconv.ParseUint(s, 10, bits) */
export function parseGoUint(s: string, bits: number): number {
  if (!/^[0-9]+$/.test(s)) throw new FlagValueError(`strconv.ParseUint: parsing ${q(s)}: invalid syntax`);
  const v = BigInt(s);
  if (v >= 1n << BigInt(bits)) throw new FlagValueError(`strconv.ParseUint: parsing ${q(s)}: value out of range`);
  return Number(v);
}

/** strconv.ParseFloat(s, 32), decimal forms plus inf/nan. */
export function parseGoFloat32(s: string): number {
  const t = s.replace(/_/g, '');
  if (/^[+-]?(inf|infinity)$/i.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (/^nan$/i.test(s)) return NaN;
  if (!/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(t)) {
    throw new FlagValueError(`strconv.ParseFloat: parsing ${q(s)}: invalid syntax`);
  }
  const v = Math.fround(Number(t));
  if (!Number.isFinite(v)) throw new FlagValueError(`strconv.ParseFloat: parsing ${q(s)}: value out of range`);
  return v;
}

export function parseFlagDuration(s: string): bigint {
  try {
    return parseDuration(s);
  } catch (e) {
    if (e instanceof DurationError) throw new FlagValueError(e.message);
    throw e;
  }
}

/** utilflag.IPVar */
export function parseIPFlag(s: string): string {
  if (s === '') return '';
  if (!isIPLiteral(s)) throw new FlagValueError(`${q(s)} is not a valid IP address`);
  return s;
}

/** utilflag.IPPortVar: IP or IP:port; blank clears. */
export function parseIPPortFlag(s: string): string {
  if (s.trim() === '') return '';
  if (isIPLiteral(s)) return s;
  const hp = splitHostPort(s);
  if (!Array.isArray(hp)) throw new FlagValueError(`${q(s)} is not in a valid format (ip or ip:port): ${hp.error}`);
  const [host, port] = hp;
  if (!isIPLiteral(host)) throw new FlagValueError(`${q(host)} is not a valid IP address`);
  if (!/^[0-9]+$/.test(port) || Number(port) > 65535) throw new FlagValueError(`${q(port)} is not a valid number`);
  return s;
}

/** pflag StringSlice reads one CSV record: commas split, double quotes group. */
export function parseCSVList(s: string): string[] {
  if (s === '') return [];
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let i = 0;
  let fieldStart = true;
  while (i < s.length) {
    const c = s[i] as string;
    if (quoted) {
      if (c === '"' && s[i + 1] === '"') {
        cur += '"';
        i += 2;
        continue;
      }
      if (c === '"') {
        quoted = false;
        i++;
        continue;
      }
      cur += c;
    } else if (c === '"' && fieldStart) {
      quoted = true;
    } else if (c === ',') {
      out.push(cur);
      cur = '';
      fieldStart = true;
      i++;
      continue;
    } else {
      cur += c;
    }
    fieldStart = false;
    i++;
  }
  if (quoted) throw new FlagValueError(`parse error on line 1, column ${s.length + 1}: extraneous or missing " in quoted-field`);
  out.push(cur);
  return out;
}

export function parseCIDRList(s: string, allowPrimary: boolean): string[] {
  const list = parseCSVList(s);
  for (const c of list) {
    if (allowPrimary && c === 'primary') continue;
    if (!isCIDR(c)) throw new FlagValueError(`${q(c)} is not a valid CIDR${allowPrimary ? " (nor 'primary')" : ''}`);
  }
  return list;
}

/** --cluster-cidr is one string, split on ',' later; each non-empty part must be a CIDR. */
export function parseClusterCIDRFlag(s: string): string {
  if (s === '') return s;
  for (const part of s.split(',')) {
    if (!isCIDR(part.trim())) throw new FlagValueError(`${q(part)} is not a valid CIDR`);
  }
  return s;
}

/** cliflag.MapStringBool: "A=true,B=false" (merged over earlier values). */
export function parseMapStringBool(s: string, prev: Record<string, boolean>): Record<string, boolean> {
  const out = { ...prev };
  for (const raw of s.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq < 0) throw new FlagValueError('malformed pair, expect string=bool');
    const k = item.slice(0, eq).trim();
    const v = item.slice(eq + 1).trim();
    let b: boolean;
    try {
      b = parseGoBool(v);
    } catch (e) {
      throw new FlagValueError(`invalid value of ${k}: ${v}, err: ${(e as Error).message}`);
    }
    // defineProperty: a gate named "__proto__" must stay a plain key.
    Object.defineProperty(out, k, { value: b, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

export interface VModuleItem {
  filePattern: string;
  verbosity: number;
}

/** logsapi vmodule flag: "pattern=N,...". */
export function parseVModule(s: string, prev: VModuleItem[]): VModuleItem[] {
  const out = [...prev];
  for (const pat of s.split(',')) {
    if (pat === '') continue;
    const pl = pat.split('=');
    if (pl.length !== 2 || pl[0] === '' || pl[1] === '') throw new FlagValueError(`${q(pat)} does not have the pattern=N format`);
    let v: number;
    try {
      v = parseGoUint(pl[1] as string, 31);
    } catch (e) {
      throw new FlagValueError(`parsing verbosity in ${q(pat)}: ${(e as Error).message}`);
    }
    out.push({ filePattern: pl[0] as string, verbosity: v });
  }
  return out;
}

/** resource.Quantity (only its syntax is checked; the value is kept as written). */
export function parseQuantity(s: string): string {
  if (!/^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE])?$/.test(s)) {
    throw new FlagValueError("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
  }
  return s;
}

export const VALID_PROXY_MODES = ['iptables', 'ipvs', 'nftables'] as const;
export const PROXY_MODE_MESSAGE = 'must be iptables, ipvs, nftables or blank (blank means the best-available proxy [currently iptables])';

export function parseProxyMode(s: string): '' | 'iptables' | 'ipvs' | 'nftables' {
  if (s === '' || (VALID_PROXY_MODES as readonly string[]).includes(s)) return s as '' | 'iptables' | 'ipvs' | 'nftables';
  throw new FlagValueError(PROXY_MODE_MESSAGE);
}

export const LOCAL_MODES = ['ClusterCIDR', 'NodeCIDR', 'BridgeInterface', 'InterfaceNamePrefix', ''] as const;
export type LocalModeValue = (typeof LOCAL_MODES)[number];

export function parseLocalMode(s: string): LocalModeValue {
  if ((LOCAL_MODES as readonly string[]).includes(s)) return s as LocalModeValue;
  throw new FlagValueError(`supported values: ${LOCAL_MODES.map((m) => q(m)).join(', ')}`);
}

/** verflag: true/raw print the version, false does nothing, vX.Y.Z sets the reported version. */
export function parseVersionFlag(s: string): 'true' | 'raw' | 'false' {
  if (s === 'raw') return 'raw';
  if (s.startsWith('v')) return 'false';
  return parseGoBool(s) ? 'true' : 'false';
}
