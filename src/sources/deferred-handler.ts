// A SourceHandler that queues what a source delivers until the real handler is attached, so the source
// can start listing before the proxier exists (main.ts starts the API LIST while the platform checks,
// conntrack set-up and servers start). Delivery order is kept; after attach() calls pass straight through.

import type { EventType, ObjectKind, SourceHandler } from './types.js';

export class DeferredHandler implements SourceHandler {
  private target: SourceHandler | null = null;
  private queue: ((h: SourceHandler) => void)[] = [];

  onEvent(kind: ObjectKind, type: EventType, object: unknown, origin?: string): void {
    if (this.target) this.target.onEvent(kind, type, object, origin);
    else this.queue.push((h) => h.onEvent(kind, type, object, origin));
  }

  onSynced(kind: ObjectKind): void {
    if (this.target) this.target.onSynced(kind);
    else this.queue.push((h) => h.onSynced(kind));
  }

  /** Deliver what was queued, in order, then pass everything through to `h`. */
  attach(h: SourceHandler): void {
    const queued = this.queue;
    this.queue = [];
    this.target = h;
    for (const f of queued) f(h);
  }

  /** Calls queued so far (tests, logs). */
  get queued(): number {
    return this.queue.length;
  }
}
