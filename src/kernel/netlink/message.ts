// Netlink messages as bytes, shared by the sockets that talk to the kernel directly (IPVS over
// generic netlink, nftables set elements over nfnetlink): a writer that puts messages back to back
// into one buffer, and the decoding of the kernel's answers. Pure: no socket here.

export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
/** NLM_F_ROOT | NLM_F_MATCH: a dump request. */
export const NLM_F_DUMP = 0x300;
export const NLM_F_CREATE = 0x400;
export const NLA_F_NESTED = 0x8000;

// Written field by field into one buffer per batch: no intermediate buffer per attribute. At 110k
// IPVS messages the allocating version cost ~12 s of JS in the emulated guest, more than the
// kernel's 8 s for the same messages.

/** Netlink messages written back to back into one growing buffer. */
export class Writer {
  private buf: Buffer;
  private off = 0;

  constructor(size = 16_384) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private room(n: number): void {
    if (this.off + n <= this.buf.length) return;
    const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.off + n));
    this.buf.copy(b, 0, 0, this.off);
    this.buf = b;
  }

  /** Starts a message; returns its offset for end(). Port 0: the kernel fills ours in. */
  begin(type: number, flags: number, seq: number): number {
    this.room(16);
    const at = this.off;
    const b = this.buf;
    b.writeUInt16LE(type, at + 4);
    b.writeUInt16LE(flags, at + 6);
    b.writeUInt32LE(seq >>> 0, at + 8);
    b.writeUInt32LE(0, at + 12);
    this.off += 16;
    return at;
  }

  end(at: number): void {
    this.buf.writeUInt32LE(this.off - at, at);
  }

  genl(cmd: number, version: number): void {
    this.room(4);
    this.buf.writeUInt32LE(cmd | (version << 8), this.off);
    this.off += 4;
  }

  /** struct nfgenmsg (netfilter messages): family, version 0, resource id (big-endian). */
  nfgen(family: number, resId: number): void {
    this.room(4);
    const b = this.buf;
    b[this.off] = family;
    b[this.off + 1] = 0;
    b[this.off + 2] = (resId >>> 8) & 0xff;
    b[this.off + 3] = resId & 0xff;
    this.off += 4;
  }

  /** Starts a nested attribute; returns its offset for close(). */
  open(type: number): number {
    this.room(4);
    const at = this.off;
    this.buf.writeUInt16LE(type | NLA_F_NESTED, at + 2);
    this.off += 4;
    return at;
  }

  close(at: number): void {
    this.buf.writeUInt16LE(this.off - at, at);
  }

  // Plain byte stores: Buffer's write methods check their arguments on every call, and a full
  // sync writes ~1.5M fields.
  header(type: number, len: number): number {
    const padded = (4 + len + 3) & ~3;
    this.room(padded);
    const b = this.buf;
    const at = this.off;
    const total = 4 + len;
    b[at] = total & 0xff;
    b[at + 1] = total >>> 8;
    b[at + 2] = type & 0xff;
    b[at + 3] = type >>> 8;
    for (let i = at + total; i < at + padded; i++) b[i] = 0;
    this.off += padded;
    return at + 4;
  }

  // Each writer takes the offset first: header() may replace this.buf with a larger one.
  u16(type: number, v: number): void {
    const at = this.header(type, 2);
    this.buf[at] = v & 0xff;
    this.buf[at + 1] = (v >>> 8) & 0xff;
  }
  be16(type: number, v: number): void {
    const at = this.header(type, 2);
    this.buf[at] = (v >>> 8) & 0xff;
    this.buf[at + 1] = v & 0xff;
  }
  u32(type: number, v: number): void {
    const at = this.header(type, 4);
    const b = this.buf;
    b[at] = v & 0xff;
    b[at + 1] = (v >>> 8) & 0xff;
    b[at + 2] = (v >>> 16) & 0xff;
    b[at + 3] = (v >>> 24) & 0xff;
  }
  u32pair(type: number, a: number, b: number): void {
    const at = this.header(type, 8);
    this.buf.writeUInt32LE(a >>> 0, at);
    this.buf.writeUInt32LE(b >>> 0, at + 4);
  }
  cstring(type: number, s: string): void {
    const at = this.header(type, s.length + 1);
    this.buf.write(s, at, 'latin1');
    this.buf[at + s.length] = 0;
  }
  /**
   * An attribute of `len` bytes whose payload the caller fills at the returned offset through
   * buffer() (zeroed: shorter values are padded with zeros).
   */
  fixed(type: number, len: number): number {
    const at = this.header(type, len);
    // A loop, not Buffer.fill: most values are 4-16 bytes, and fill's call costs more than that.
    const b = this.buf;
    for (let i = at; i < at + len; i++) b[i] = 0;
    return at;
  }
  /** The buffer being written (replaced when it grows: fetch it after each header). */
  buffer(): Buffer {
    return this.buf;
  }
  /** Bytes written so far. */
  get length(): number {
    return this.off;
  }

  /** The messages written so far (a view: valid until the next write). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.off);
  }
}


// ---- decoding ----

/** Attributes of `b` from `from` (a nest's payload, or a genl body after its 4-byte header), by type. */
export function readAttrs(b: Buffer, from: number): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (let o = from; o + 4 <= b.length; ) {
    const len = b.readUInt16LE(o);
    if (len < 4 || o + len > b.length) break;
    m.set(b.readUInt16LE(o + 2) & ~NLA_F_NESTED, b.subarray(o + 4, o + len));
    o += (len + 3) & ~3;
  }
  return m;
}


export type NetlinkReply =
  | { readonly kind: 'ack'; readonly seq: number; readonly errno: number }
  | { readonly kind: 'done'; readonly seq: number }
  | { readonly kind: 'data'; readonly seq: number; readonly type: number; readonly body: Buffer };

/** The messages of one datagram (several may share it). */
export function splitReplies(buf: Buffer): NetlinkReply[] {
  const out: NetlinkReply[] = [];
  let o = 0;
  while (o + 16 <= buf.length) {
    const len = buf.readUInt32LE(o);
    if (len < 16 || o + len > buf.length) break;
    const type = buf.readUInt16LE(o + 4);
    const seq = buf.readUInt32LE(o + 8);
    // NLMSG_ERROR: int error (0 = an acknowledgement), then the request's header.
    if (type === NLMSG_ERROR && len >= 20) out.push({ kind: 'ack', seq, errno: 0 - buf.readInt32LE(o + 16) });
    else if (type === NLMSG_DONE) out.push({ kind: 'done', seq });
    else out.push({ kind: 'data', seq, type, body: buf.subarray(o + 16, o + len) });
    o += (len + 3) & ~3;
  }
  return out;
}

