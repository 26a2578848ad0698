// ipvsadm: virtual and real servers as `ipvsadm -R` / `ipvsadm -S -n` lines (the one spelling of
// them: the applier, the renderer, the fake and the parsers agree on it), and the calls the IPVS
// dataplane makes, through a ToolRunner.

import type { Protocol } from '../../model/types.js';
import type { ExecResult, ToolRunner } from '../runner.js';
import { type RealServer, type VirtualServer, hostPort } from './types.js';

export function serviceFlag(p: Protocol): string {
  return p === 'TCP' ? '-t' : p === 'UDP' ? '-u' : '--sctp-service';
}

export function vsSpec(vs: { protocol: Protocol; ip: string; port: number }): string {
  return `${serviceFlag(vs.protocol)} ${hostPort(vs.ip, vs.port)}`;
}

export function vsLine(op: '-A' | '-E', vs: VirtualServer): string {
  let s = `${op} ${vsSpec(vs)} -s ${vs.scheduler}`;
  if (vs.flags.length > 0) s += ` -b ${vs.flags.join(',')}`;
  if (vs.persistence > 0) s += ` -p ${vs.persistence}`;
  return s;
}

export function rsLine(op: '-a' | '-e', vs: { protocol: Protocol; ip: string; port: number }, rs: RealServer): string {
  return `${op} ${vsSpec(vs)} -r ${hostPort(rs.ip, rs.port)} -m -w ${rs.weight}`;
}

/** `ipvsadm -R` with `lines` (no call when empty). */
export async function ipvsadmRestore(run: ToolRunner, lines: readonly string[]): Promise<ExecResult | null> {
  if (lines.length === 0) return null;
  return run('ipvsadm', ['-R'], { input: lines.join('\n') + '\n' });
}

/** The kernel has no IPVS (module not loaded/available): ipvsadm's own wording of it. */
export function ipvsUnavailableText(text: string): boolean {
  return /Can't initialize ipvs|Protocol not available/.test(text);
}

/** Thrown by the IPVS cleanup when its only failure was ipvsadm finding no IPVS in the kernel: nothing to clean. */
export class IpvsUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IpvsUnavailableError';
  }
}
