// The nftables applier's socket for set and map elements: `add element` / `delete element` commands
// (elements-netlink.ts encodes them) sent over one nfnetlink socket. Thin on purpose.
//
// Atomic: all messages in one datagram between NFNL_MSG_BATCH_BEGIN and _END, one nf_tables
// transaction: any failed message aborts all of it (as a failed `nft -f` does). Such a datagram
// must fit the socket's send buffer; a larger transaction is declined (null) before anything is
// sent, and the caller uses `nft`. Not atomic (the elements of a table that is not hooked yet, see
// staged.ts): batches of up to MAX_DATAGRAM bytes, each its own transaction.
//
// Completion: after the batches, an NFT_MSG_GETGEN with an acknowledgement. The kernel handles a
// datagram inside its send, so when that request is answered every error of the batches before it
// has been read.

import { Writer } from '../netlink/message.js';
import { errnoName, openNetlink, type NetlinkChannel } from '../netlink/socket.js';
import { NETLINK_NETFILTER, parseElementCommand, writeBatchMark, writeElementCommand, writeGenRequest, type SetLayout } from './elements-netlink.js';

/**
 * Bytes per datagram: below the send buffer the kernel allows without privileges beyond
 * CAP_NET_ADMIN (2 × net.core.wmem_max, 416 KiB by default).
 */
export const MAX_DATAGRAM = 192 * 1024;

export interface NftElementWriter {
  /**
   * Applies element command lines; resolves with wall milliseconds, or null (nothing sent) when a
   * line is not an element command of a set `layoutOf` knows or an atomic transaction is too big.
   * Rejects when the kernel refuses it (atomic: nothing applied).
   */
  apply(lines: readonly string[], layoutOf: (set: string) => SetLayout | null, atomic: boolean): Promise<number | null>;
  close(): void;
}

export async function openNftElementWriter(): Promise<NftElementWriter> {
  const ch: NetlinkChannel = await openNetlink(NETLINK_NETFILTER, 'nftables');
  return {
    async apply(lines, layoutOf, atomic) {
      // Encode everything first: a line that cannot be encoded sends nothing.
      // Sized from the text (the encoding is about as long): no growing copies of megabytes.
      let textLength = 0;
      for (const l of lines) textLength += l.length;
      const w = new Writer(Math.max(4096, textLength + (textLength >> 2)));
      const starts: number[] = [];
      const lineOf: number[] = [];
      for (let i = 0; i < lines.length; i++) {
        const cmd = parseElementCommand(lines[i]!);
        const layout = cmd ? layoutOf(cmd.set) : null;
        if (!cmd || !layout) return null;
        writeElementCommand(w, cmd, layout, () => {
          starts.push(w.length);
          lineOf.push(i);
          return 0; // numbered below, once the batches are cut
        });
      }
      const body = w.bytes();
      starts.push(body.length);
      if (atomic && body.length > MAX_DATAGRAM) return null;
      // Cut into batches of whole messages.
      const cuts: [number, number][] = [];
      let from = 0;
      for (let k = 1; k < starts.length; k++) {
        if (!atomic && starts[k]! - starts[from]! > MAX_DATAGRAM && k - 1 > from) {
          cuts.push([from, k - 1]);
          from = k - 1;
        }
      }
      if (starts.length > 1) cuts.push([from, starts.length - 1]);
      const messages = starts.length - 1;
      const first = ch.reserve(messages + 2 * cuts.length + 1);
      const seqOf = (msg: number): number => first + msg;
      const datagrams: Buffer[] = [];
      let mark = first + messages;
      const markBytes = (end: boolean): Buffer => {
        const m = new Writer(32);
        writeBatchMark(m, end, mark++);
        return Buffer.from(m.bytes());
      };
      for (const [a, b] of cuts) {
        const head = markBytes(false);
        const d = Buffer.concat([head, body.subarray(starts[a]!, starts[b]!), markBytes(true)]);
        // Number the messages (nlmsg_seq, at offset 8 of each header).
        for (let k = a; k < b; k++) d.writeUInt32LE(seqOf(k), head.length + starts[k]! - starts[a]! + 8);
        datagrams.push(d);
      }
      const gen = mark;
      const g = new Writer(32);
      writeGenRequest(g, gen);
      datagrams.push(Buffer.from(g.bytes()));
      const t0 = process.hrtime.bigint();
      const failures: string[] = [];
      await ch.exchange(datagrams, first, gen, (r) => {
        if (r.kind !== 'ack') return false;
        if (r.seq === gen) return true;
        if (r.errno !== 0) {
          const line = r.seq - first < messages ? lines[lineOf[r.seq - first]!]! : 'batch';
          failures.push(`${errnoName(r.errno)}: ${line.length > 300 ? line.slice(0, 300) + '…' : line}`);
        }
        return false;
      });
      if (failures.length > 0) throw new Error(`nftables netlink: the kernel refused ${failures.length} message(s): ${failures.slice(0, 3).join('; ')}`);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    },
    close() {
      ch.close();
    },
  };
}
