// Test helpers for sources: a recording handler and a bounded wait.

import type { EventType, ObjectKind, SourceHandler } from '../../src/sources/types.js';

export interface Recorded {
  kind: ObjectKind;
  type: EventType | 'SYNCED';
  key: string;
  object: unknown;
}

function keyOf(o: unknown): string {
  const m = (o as { metadata?: { namespace?: string; name?: string } } | null)?.metadata ?? {};
  return m.namespace ? `${m.namespace}/${m.name}` : String(m.name);
}

/** Records events and maintains the consumer's view (kind -> key -> object), rejecting impossible sequences. */
export class RecordingHandler implements SourceHandler {
  readonly events: Recorded[] = [];
  readonly view: Record<ObjectKind, Map<string, unknown>> = { Service: new Map(), EndpointSlice: new Map(), Node: new Map(), ServiceCIDR: new Map() };
  readonly synced = new Set<ObjectKind>();
  readonly violations: string[] = [];

  onEvent(kind: ObjectKind, type: EventType, object: unknown): void {
    const key = keyOf(object);
    this.events.push({ kind, type, key, object });
    const v = this.view[kind];
    if (type === 'ADDED' && v.has(key)) this.violations.push(`ADDED twice ${kind} ${key}`);
    if (type !== 'ADDED' && !v.has(key)) this.violations.push(`${type} of unknown ${kind} ${key}`);
    if (type === 'DELETED') v.delete(key);
    else v.set(key, object);
  }

  onSynced(kind: ObjectKind): void {
    this.events.push({ kind, type: 'SYNCED', key: '', object: undefined });
    this.synced.add(kind);
  }

  keys(kind: ObjectKind): string[] {
    return [...this.view[kind].keys()].sort();
  }

  clear(): void {
    this.events.length = 0;
  }
}

/** Poll `cond` until true or `timeoutMs` passes; throws with `what` on timeout. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
