// The IPVS applier's socket: `ipvsadm -R` lines (genl.ts encodes them) sent to the kernel over one
// generic netlink socket, in batches. Thin on purpose: encoding and decoding are in genl.ts.
//
// A batch is one datagram of up to BATCH messages; only its last message asks for an
// acknowledgement. The kernel runs the messages of a datagram in order, answers each failure with an
// error message and carries on with the next (as `ipvsadm -R` carries on after a failed line), and
// acknowledges the last one after all of them; replies arrive in order, so once the last is
// acknowledged every failure of the batch has been read. BATCH bounds what one batch can queue on
// the socket (at most one error per message, each carrying its request back) far below the receive
// buffer, so no reply is ever dropped.
//
// Where the socket cannot be opened (../netlink/socket.ts) or the kernel has no IPVS family, the
// caller falls back to `ipvsadm -R`.

import { constants as osConstants } from 'node:os';
import { errnoName, openNetlink } from '../netlink/socket.js';
import { NLM_F_ACK, NLM_F_REQUEST, Writer } from '../netlink/message.js';
import { familyIdOf, familyRequest, NETLINK_GENERIC, parseDestReply, parseRestoreLine, writeCommand, writeDestDump, type IpvsServiceKey } from './genl.js';
import { rsKey, vsKey } from './types.js';

/** Messages per datagram (see above: ≤ 64 error replies of ≤ ~1 KB each fit any receive buffer). */
export const BATCH = 64;

export interface IpvsLineFailure {
  readonly line: string;
  /** errno name, e.g. "EEXIST". */
  readonly code: string;
}

export interface IpvsApplyResult {
  readonly millis: number;
  readonly failures: readonly IpvsLineFailure[];
}

export interface IpvsNetlink {
  /** Send `lines` (ipvsadm -R form); resolves when the kernel has answered every one. */
  apply(lines: readonly string[]): Promise<IpvsApplyResult>;
  /**
   * Connections (active + inactive) per real server of `services`, keyed "vsKey/rsKey" as
   * parseIpvsadmConnCounts keys them (a service that is gone has none); one dump per service.
   */
  connCounts(services: readonly IpvsServiceKey[]): Promise<{ counts: Map<string, number>; millis: number }>;
  close(): void;
}

/**
 * Opens the socket and resolves the IPVS family. Rejects when the addon cannot be loaded or the
 * kernel has no IPVS (the caller then uses ipvsadm).
 */
export async function openIpvsNetlink(): Promise<IpvsNetlink> {
  const ch = await openNetlink(NETLINK_GENERIC, 'IPVS');
  const { reserve, exchange } = ch;

  let family: number | null = null;
  try {
    const s = reserve(1);
    await exchange([familyRequest(s)], s, s, (r) => {
      if (r.kind === 'data') family = familyIdOf(r.body);
      else if (r.kind === 'ack') return true;
      return false;
    });
  } catch (e) {
    ch.close();
    throw e;
  }
  if (family === null) {
    ch.close();
    throw new Error('IPVS netlink: the kernel has no IPVS generic netlink family (ip_vs not loaded)');
  }
  const familyId: number = family;

  return {
    async apply(lines) {
      // Everything is encoded before anything is sent: a line this cannot encode changes nothing.
      const cmds = lines.map(parseRestoreLine);
      const batches: { data: Buffer; first: number; last: number; from: number }[] = [];
      for (let i = 0; i < cmds.length; i += BATCH) {
        const n = Math.min(BATCH, cmds.length - i);
        const first = reserve(n);
        const w = new Writer(n * 192);
        for (let k = 0; k < n; k++) {
          const m = w.begin(familyId, NLM_F_REQUEST | (k === n - 1 ? NLM_F_ACK : 0), first + k);
          writeCommand(w, cmds[i + k]!);
          w.end(m);
        }
        batches.push({ data: w.bytes(), first, last: first + n - 1, from: i });
      }
      const t0 = process.hrtime.bigint();
      const failures: IpvsLineFailure[] = [];
      for (const b of batches) {
        await exchange([b.data], b.first, b.last, (r) => {
          if (r.kind !== 'ack') return false;
          if (r.errno !== 0) failures.push({ line: lines[b.from + r.seq - b.first]!, code: errnoName(r.errno) });
          return r.seq === b.last;
        });
      }
      return { millis: Number(process.hrtime.bigint() - t0) / 1e6, failures };
    },
    async connCounts(services) {
      const t0 = process.hrtime.bigint();
      const counts = new Map<string, number>();
      // One dump at a time: a socket answers one dump before it takes the next.
      for (const svc of services) {
        const s = reserve(1);
        const w = new Writer(128);
        writeDestDump(w, familyId, s, svc);
        const key = vsKey(svc.protocol, svc.ip, svc.port);
        let failed = 0;
        await exchange([w.bytes()], s, s, (r) => {
          if (r.kind === 'data') {
            const d = parseDestReply(r.body, svc.ip.includes(':'));
            if (d) counts.set(`${key}/${rsKey(d.ip, d.port)}`, d.connections);
            return false;
          }
          if (r.kind === 'ack') failed = r.errno;
          return true; // NLMSG_DONE, or an error instead of the dump
        });
        // ENOENT/ESRCH: the service is gone, so none of its real servers holds a connection.
        if (failed !== 0 && failed !== osConstants.errno.ENOENT && failed !== osConstants.errno.ESRCH) throw new Error(`IPVS netlink: listing ${key} failed: ${errnoName(failed)}`);
      }
      return { counts, millis: Number(process.hrtime.bigint() - t0) / 1e6 };
    },
    close() {
      ch.close();
    },
  };
}
