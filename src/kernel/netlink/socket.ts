// One netlink socket and its request/answer bookkeeping, for the appliers that talk to the kernel
// directly (IPVS over generic netlink, nftables set elements over nfnetlink). Thin: messages are
// encoded and decoded in message.ts and the callers' own encoders.
//
// The socket comes from the `netlink` package (a small N-API addon, prebuilt for x64 and arm64):
// Node has no netlink sockets of its own. It is loaded on first use; where it cannot be (another
// architecture without a compiler at install time) the caller falls back to its command-line tool.
// Netlink requests are handled inside the sending system call, so the answers to a datagram are
// queued before those of the next one, in order.

import { constants as osConstants } from 'node:os';
import { splitReplies, type NetlinkReply } from './message.js';

/** A datagram not answered within this long fails (the kernel answers in milliseconds). */
const REPLY_TIMEOUT_MS = 30_000;

/** The part of the addon's RawNetlinkSocket used here (its typings pin @types/node 12). */
interface RawSocket {
  on(event: 'message', cb: (msg: Buffer) => void): unknown;
  on(event: 'error', cb: (err: Error) => void): unknown;
  send(msg: Uint8Array | Uint8Array[], options?: object, callback?: (err?: Error) => void): void;
  ref(): void;
  unref(): void;
  close(): void;
}

export function errnoName(errno: number): string {
  for (const [name, v] of Object.entries(osConstants.errno)) if (v === errno) return name;
  return `errno ${errno}`;
}

export interface NetlinkChannel {
  /** The first of `n` consecutive sequence numbers (32 bits; a batch never wraps). */
  reserve(n: number): number;
  /**
   * Sends `datagrams` in order (each buffer is one datagram of one or more messages); `onReply`
   * sees every answer whose sequence number is in [first, last] and returns true when the exchange
   * is complete.
   */
  exchange(datagrams: readonly Buffer[], first: number, last: number, onReply: (r: NetlinkReply) => boolean): Promise<void>;
  close(): void;
}

/** Opens a socket of netlink `protocol`; rejects when the addon cannot be loaded or the socket opened. */
export async function openNetlink(protocol: number, what: string): Promise<NetlinkChannel> {
  const { RawNetlinkSocket } = (await import('netlink/dist/raw.js')) as unknown as { RawNetlinkSocket: new (protocol: number, o: object) => RawSocket };
  const sock = new RawNetlinkSocket(protocol, { recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
  // An idle socket must not keep Node alive; one waiting for an answer does.
  sock.unref();
  let seq = Math.floor(Math.random() * 0x7fffffff);
  let broken: Error | null = null;
  /** seq → handler of the answers carrying it. */
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

  return {
    reserve(n) {
      if (seq + n > 0xffffffff) seq = 0;
      const first = seq + 1;
      seq += n;
      return first;
    },
    exchange: (datagrams, first, last, onReply) =>
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
          failAll(new Error(`${what} netlink: no answer from the kernel`));
          done(broken!);
        }, REPLY_TIMEOUT_MS);
        const handler = (r: NetlinkReply): void => {
          if (r.seq === -1) return done(broken ?? new Error(`${what} netlink: socket failed`));
          if (onReply(r)) done();
        };
        for (let s = first; s <= last; s++) waiting.set(s, handler);
        // In order: the addon queues sends first in, first out, and the kernel handles a datagram
        // (and queues its answers) inside its send.
        for (const d of datagrams) {
          sock.send(d, {}, (err) => {
            if (err) {
              failAll(err);
              done(err);
            }
          });
        }
      }),
    close() {
      failAll(new Error(`${what} netlink: closed`));
      sock.close();
    },
  };
}
