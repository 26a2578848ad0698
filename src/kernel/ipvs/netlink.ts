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
// The socket comes from the `netlink` package (a small N-API addon, prebuilt for x64 and arm64):
// Node has no netlink sockets of its own. It is loaded on first use; where it cannot be (another
// architecture without a compiler at install time) or the kernel has no IPVS family, the caller
// falls back to `ipvsadm -R`.

import { constants as osConstants } from 'node:os';
import { familyIdOf, familyRequest, NETLINK_GENERIC, NLM_F_ACK, NLM_F_REQUEST, parseDestReply, parseRestoreLine, splitReplies, Writer, writeCommand, writeDestDump, type IpvsServiceKey, type NetlinkReply } from './genl.js';
import { rsKey, vsKey } from './types.js';

/** Messages per datagram (see above: ≤ 64 error replies of ≤ ~1 KB each fit any receive buffer). */
export const BATCH = 64;
/** A batch not acknowledged within this long fails the apply (the kernel answers in milliseconds). */
const REPLY_TIMEOUT_MS = 30_000;

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

/** The part of the addon's RawNetlinkSocket used here (its typings pin @types/node 12). */
interface RawSocket {
  on(event: 'message', cb: (msg: Buffer) => void): unknown;
  on(event: 'error', cb: (err: Error) => void): unknown;
  send(msg: Uint8Array | Uint8Array[], options?: object, callback?: (err?: Error) => void): void;
  ref(): void;
  unref(): void;
  close(): void;
}

function errnoName(errno: number): string {
  for (const [name, v] of Object.entries(osConstants.errno)) if (v === errno) return name;
  return `errno ${errno}`;
}

/**
 * Opens the socket and resolves the IPVS family. Rejects when the addon cannot be loaded or the
 * kernel has no IPVS (the caller then uses ipvsadm).
 */
export async function openIpvsNetlink(): Promise<IpvsNetlink> {
  const { RawNetlinkSocket } = (await import('netlink/dist/raw.js')) as unknown as { RawNetlinkSocket: new (protocol: number, o: object) => RawSocket };
  const sock = new RawNetlinkSocket(NETLINK_GENERIC, { recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
  sock.unref();
  let seq = Math.floor(Math.random() * 0x7fffffff);
  /** The first of `n` consecutive sequence numbers (32 bits; a batch never wraps). */
  const reserve = (n: number): number => {
    if (seq + n > 0xffffffff) seq = 0;
    const first = seq + 1;
    seq += n;
    return first;
  };
  let broken: Error | null = null;
  /** seq → handler of the replies carrying it. */
  const waiting = new Map<number, (r: NetlinkReply) => void>();
  let inFlight = 0;
  const failAll = (e: Error): void => {
    broken ??= e;
    for (const h of waiting.values()) h({ kind: 'ack', seq: -1, errno: -1 });
    waiting.clear();
  };
  sock.on('message', (buf) => {
    for (const r of splitReplies(buf)) waiting.get(r.seq)?.(r);
  });
  sock.on('error', (e) => failAll(e));

  /** Sends one datagram; `onReply` sees every reply whose sequence number is in [first, last]. */
  const exchange = (msgs: Buffer[], first: number, last: number, onReply: (r: NetlinkReply) => boolean): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (broken) return reject(broken);
      if (inFlight++ === 0) sock.ref();
      let settled = false;
      const done = (e?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        for (let s = first; s <= last; s++) waiting.delete(s);
        if (--inFlight === 0) sock.unref();
        if (e) reject(e);
        else resolve();
      };
      const timer = setTimeout(() => {
        failAll(new Error('IPVS netlink: no answer from the kernel'));
        done(broken!);
      }, REPLY_TIMEOUT_MS);
      const handler = (r: NetlinkReply): void => {
        if (r.seq === -1) return done(broken ?? new Error('IPVS netlink: socket failed'));
        if (onReply(r)) done();
      };
      for (let s = first; s <= last; s++) waiting.set(s, handler);
      sock.send(msgs, {}, (err) => {
        if (err) {
          failAll(err);
          done(err);
        }
      });
    });

  let family: number | null = null;
  try {
    const s = reserve(1);
    await exchange([familyRequest(s)], s, s, (r) => {
      if (r.kind === 'data') family = familyIdOf(r.body);
      else if (r.kind === 'ack') return true;
      return false;
    });
  } catch (e) {
    sock.close();
    throw e;
  }
  if (family === null) {
    sock.close();
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
      failAll(new Error('IPVS netlink: closed'));
      sock.close();
    },
  };
}
