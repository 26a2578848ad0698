// The planner's element sources as kernel ElementBatches. Endpoint elements (10^5 in a 10k-service
// full plan) stay in the records' compact forms (blocks, entries, IPs) and are written as text
// pieces joined once per command; `items()` lists them as typed elements for the fake.

import { type Element, type ElementBatch, ElementChunks, quote } from '../../kernel/nftables/objects.js';
import type { Endpoint } from '../../model/types.js';
import type { ElementOp } from './elements.js';
import type { SlotBlock } from './alloc.js';
import type { Entry } from './service.js';

function epText(ep: Pick<Endpoint, 'ip' | 'port'>): string {
  return `${ep.ip} . ${ep.port}`;
}

/** Owner-counted elements (ElementTable claims, or element operations built by the planner). */
export function opsBatch(ops: readonly ElementOp[]): ElementBatch {
  return {
    count: ops.length,
    *items(): Iterable<Element> {
      for (const op of ops) {
        const e: { key: string; value?: string; comment?: string } = { key: op.key };
        if (op.value !== null) e.value = op.value;
        if (op.comment !== undefined) e.comment = op.comment;
        yield e;
      }
    },
    render(head, verb, emit) {
      const w = new ElementChunks(head, emit);
      for (const op of ops) {
        const p = w.next();
        p.push(op.key);
        if (verb === 'delete') continue;
        if (op.comment !== undefined) p.push(' comment ', quote(op.comment));
        if (op.value !== null) p.push(' : ', op.value);
      }
      w.flush();
    },
  };
}

/** `base+i : ip . port` for endpoint blocks (adds only: block diffs go through opsBatch). */
export function slotBatch(blocks: readonly SlotBlock[]): ElementBatch {
  let count = 0;
  for (const b of blocks) count += b.slots.length;
  return {
    count,
    *items(): Iterable<Element> {
      for (const { base, slots } of blocks) for (let i = 0; i < slots.length; i++) yield { key: String(base + i), value: epText(slots[i]!) };
    },
    render(head, verb, emit) {
      const w = new ElementChunks(head, emit);
      for (const { base, slots } of blocks) {
        for (let i = 0; i < slots.length; i++) {
          const ep = slots[i]!;
          if (verb === 'delete') w.next().push(String(base + i));
          else w.next().push(String(base + i), ' : ', ep.ip, ' . ', String(ep.port));
        }
      }
      w.flush();
    },
  };
}

/** `prefix . i : ip . port` for entries of the shared endpoint maps. */
export function entryBatch(entries: readonly Entry[]): ElementBatch {
  let count = 0;
  for (const e of entries) count += e.slots.length;
  return {
    count,
    *items(): Iterable<Element> {
      for (const e of entries) for (let i = 0; i < e.slots.length; i++) yield { key: `${e.prefix} . ${i}`, value: epText(e.slots[i]!) };
    },
    render(head, verb, emit) {
      const w = new ElementChunks(head, emit);
      for (const e of entries) {
        const slots = e.slots;
        for (let i = 0; i < slots.length; i++) {
          const ep = slots[i]!;
          if (verb === 'delete') w.next().push(e.prefix, ' . ', String(i));
          else w.next().push(e.prefix, ' . ', String(i), ' : ', ep.ip, ' . ', String(ep.port));
        }
      }
      w.flush();
    },
  };
}

/** `ip . ip` (the hairpin set). */
export function pairBatch(ips: readonly string[]): ElementBatch {
  return {
    count: ips.length,
    *items(): Iterable<Element> {
      for (const ip of ips) yield { key: `${ip} . ${ip}` };
    },
    render(head, _verb, emit) {
      const w = new ElementChunks(head, emit);
      for (const ip of ips) w.next().push(ip, ' . ', ip);
      w.flush();
    },
  };
}
