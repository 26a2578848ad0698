// ipset: sets, entries and restore operations as values, their one spelling as `ipset restore`
// lines, and the calls IPVS mode makes, through a ToolRunner. The mode (src/dataplane/ipvs) says
// which sets exist and what goes in them; only this module writes ipset command text.

import type { IPFamily } from '../../model/types.js';
import type { ExecResult, ToolRunner } from '../runner.js';
import { normaliseSetEntry, PROTOCOL_NUMBERS } from './parse.js';

export type SetType = 'hash:ip' | 'hash:ip,port' | 'hash:ip,port,ip' | 'hash:ip,port,net' | 'bitmap:port';

/** A set as `ipset create` declares it. */
export interface SetSpec {
  readonly name: string;
  readonly type: SetType;
  /** Address family of a hash set (bitmap:port sets have none). */
  readonly family: IPFamily;
  /** Hash sets: initial hash size and element limit. */
  readonly hashSize: number;
  readonly maxElem: number;
  /** bitmap:port sets: the port range, e.g. "0-65535". */
  readonly portRange: string;
  /** Entries may carry comments. */
  readonly comment: boolean;
}

/** One `ipset restore` command. */
export type IpsetOp =
  | { readonly op: 'create'; readonly set: SetSpec }
  | { readonly op: 'add' | 'del'; readonly set: string; readonly entry: string }
  | { readonly op: 'destroy'; readonly set: string };

/** Entries in ipset's textual form, as `ipset save` prints them (so planned and saved compare equal). */
export const setEntry = {
  ipPort: (ip: string, proto: string, port: number): string => `${ip},${proto}:${port}`,
  ipPortIP: (ip: string, proto: string, port: number, ip2: string): string => `${ip},${proto}:${port},${ip2}`,
  ipPortNet: (ip: string, proto: string, port: number, net: string): string => normaliseSetEntry(`${ip},${proto}:${port},${net}`),
};

function createArgs(s: SetSpec): string {
  let a = `${s.name} ${s.type}`;
  if (s.type === 'bitmap:port') a += ` range ${s.portRange}`;
  else a += ` family ${s.family === 'IPv6' ? 'inet6' : 'inet'} hashsize ${s.hashSize} maxelem ${s.maxElem}`;
  return s.comment ? `${a} comment` : a;
}

/** The `ipset restore` line of one operation. */
export function ipsetLine(o: IpsetOp): string {
  switch (o.op) {
    case 'create':
      return `create ${createArgs(o.set)}`;
    case 'add':
    case 'del':
      return `${o.op} ${o.set} ${o.entry}`;
    case 'destroy':
      return `destroy ${o.set}`;
  }
}

/** `ipset restore` input of `ops`, in order. */
export function renderIpsetRestore(ops: readonly IpsetOp[]): string {
  return ops.map(ipsetLine).join('\n') + '\n';
}

/**
 * An entry with its protocol as a number ("198.19.0.1,6:80"), for the tool's input only: ipset
 * looks a protocol name up with getprotobyname, which opens and reads /etc/protocols for every
 * entry, and a number not at all (ipset 7.17, strace: 2,049 vs 7 opens for 2,000 entries; 4.2 s vs
 * 0.34 s in the emulated IPVS guest). The kernel stores the same entry; `ipset save` prints the name.
 */
export function numericProtocolEntry(entry: string): string {
  return entry.replace(/,(tcp|udp|sctp):/, (_m, p: string) => `,${PROTOCOL_NUMBERS[p]!}:`);
}

/** `ipset restore` (with -exist: creating an existing set with the same options, adding a present
 *  or deleting an absent entry are no errors) of `ops`; no call when there are none. */
export async function ipsetRestore(run: ToolRunner, ops: readonly IpsetOp[], opts: { exist: boolean }): Promise<ExecResult | null> {
  if (ops.length === 0) return null;
  const input = renderIpsetRestore(ops.map((o) => (o.op === 'add' || o.op === 'del' ? { ...o, entry: numericProtocolEntry(o.entry) } : o)));
  return run('ipset', opts.exist ? ['restore', '-exist'] : ['restore'], { input });
}

/** `ipset save` (every set and entry; parse with parseIpsetSave). */
export function ipsetSave(run: ToolRunner): Promise<ExecResult> {
  return run('ipset', ['save']);
}

/** Names of the sets that exist (`ipset list -n`). */
export async function ipsetNames(run: ToolRunner): Promise<Set<string>> {
  return new Set((await run('ipset', ['list', '-n'])).stdout.split('\n').map((s) => s.trim()).filter((s) => s !== ''));
}

/** Whether set `name` exists (`ipset list -n NAME`). */
export async function ipsetExists(run: ToolRunner, name: string): Promise<boolean> {
  return (await run('ipset', ['list', '-n', name], { allowFailure: true })).code === 0;
}

/** Whether set `name` holds `entry` (`ipset test`). */
export async function ipsetHas(run: ToolRunner, name: string, entry: string): Promise<boolean> {
  return (await run('ipset', ['test', name, entry], { allowFailure: true })).code === 0;
}
