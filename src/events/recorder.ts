// Kubernetes Events (events.k8s.io/v1) as upstream kube-proxy records them through client-go's
// tools/events recorder: reportingController "kube-proxy", reportingInstance "kube-proxy-<hostname>",
// `regarding` the Node (kind Node, name and uid = the node name) unless a caller names another object.
//
// Recording never blocks and never throws: record() puts the event on a bounded queue and returns; one
// background pump posts them, paced by a token bucket. An event isomorphic to one sent in the last
// 6 minutes (same regarding, type, reason, action, note) is not sent again: client-go turns those into
// an EventSeries and PATCHes its count; we drop them (count kept locally, logged at -v=4), which keeps
// start-up retry loops (a busy healthz port retried every 5 s) from flooding the API server.
// With --manifests there is no API server and no recorder: recordEvent() is a no-op.

import { createLogger } from '../log/logger.js';
import { RateLimiter } from '../sources/transport.js';

const log = createLogger('events');

export type EventType = 'Normal' | 'Warning';

/** An ObjectReference as the recorder fills it (upstream's NodeRef: kind, name, uid; namespace ""). */
export interface EventRef {
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly apiVersion?: string;
}

/** Where events go: POST `path` with a JSON body; resolves with the HTTP status (and body, for errors). */
export interface EventSink {
  post(path: string, body: unknown, signal: AbortSignal): Promise<{ status: number; body: string }>;
}

export interface EventRecorderOptions {
  readonly sink: EventSink;
  /** This node's name (hostname-override): the default `regarding`. */
  readonly nodeName: string;
  /** os.hostname() in upstream (client-go NewRecorder: "<controller>-<hostname>"). */
  readonly hostname: string;
  /** Events per second once the burst is spent (default 1) and burst (default 25). */
  readonly qps?: number;
  readonly burst?: number;
  /** Queue bound; events beyond it are dropped (default 100). */
  readonly maxQueue?: number;
  /** Window in which an isomorphic event is not sent again (default 6 min, as client-go's series). */
  readonly dedupeWindowMs?: number;
  /** Attempts per event for network errors, 429 and 5xx (default 3), and the first retry delay (default 1 s). */
  readonly attempts?: number;
  readonly retryDelayMs?: number;
  readonly now?: () => Date;
}

export const REPORTING_CONTROLLER = 'kube-proxy';
/** Upstream's action for every start-up event. */
export const ACTION_START = 'StartKubeProxy';
/** Upstream server_linux.go, mode ipvs (1.35). */
export const IPVS_DEPRECATION_MESSAGE = "The ipvs proxier is now deprecated and may be removed in a future release. Please use 'nftables' instead.";
/** Upstream server_linux.go setupConntrack, when /sys is read-only (reason "readOnlySysFS"). */
export const READ_ONLY_SYSFS_MESSAGE =
  'CRI error: /sys is read-only: cannot modify conntrack limits, problems may arise later (If running Docker, see docker issue #24000)';

interface Pending {
  readonly key: string;
  readonly path: string;
  readonly body: Record<string, unknown>;
}

/** client-go's MicroTime: RFC 3339 with microseconds. */
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class EventRecorder {
  private readonly queue: Pending[] = [];
  private readonly lastSent = new Map<string, number>();
  private readonly limiter: RateLimiter;
  private readonly ac = new AbortController();
  private pumping: Promise<void> | null = null;
  private seq = 0;
  private stopped = false;
  /** For tests and diagnostics. */
  readonly stats = { sent: 0, deduplicated: 0, dropped: 0, failed: 0 };

  constructor(private readonly opts: EventRecorderOptions) {
    this.limiter = new RateLimiter(opts.qps ?? 1, opts.burst ?? 25);
  }

  get nodeRef(): EventRef {
    return { kind: 'Node', name: this.opts.nodeName, namespace: '', uid: this.opts.nodeName };
  }

  /** Queue one event; returns at once. */
  record(type: EventType, reason: string, action: string, note: string, regarding: EventRef = this.nodeRef): void {
    if (this.stopped) return;
    const now = (this.opts.now ?? (() => new Date()))();
    const key = JSON.stringify([regarding.kind, regarding.namespace ?? '', regarding.name, type, reason, action, note]);
    const window = this.opts.dedupeWindowMs ?? 6 * 60_000;
    const last = this.lastSent.get(key);
    if ((last !== undefined && now.getTime() - last < window) || this.queue.some((p) => p.key === key)) {
      this.stats.deduplicated++;
      log.v(4).info('Not repeating an event recorded recently', { reason, object: regarding.name });
      return;
    }
    if (this.queue.length >= (this.opts.maxQueue ?? 100)) {
      this.stats.dropped++;
      log.v(2).info('Event queue full, dropping event', { reason, object: regarding.name });
      return;
    }
    this.lastSent.set(key, now.getTime());
    if (this.lastSent.size > 1000) {
      for (const [k, t] of this.lastSent) if (now.getTime() - t >= window) this.lastSent.delete(k);
    }
    const namespace = regarding.namespace || 'default';
    // client-go: "<regarding name>.<unix nanos in hex>"; the sequence keeps names unique within one millisecond.
    const nanos = BigInt(now.getTime()) * 1_000_000n + BigInt(this.seq++ % 1_000_000);
    const ref: Record<string, unknown> = { kind: regarding.kind, name: regarding.name };
    if (regarding.namespace) ref.namespace = regarding.namespace;
    if (regarding.uid) ref.uid = regarding.uid;
    if (regarding.apiVersion) ref.apiVersion = regarding.apiVersion;
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `${regarding.name}.${nanos.toString(16)}`, namespace },
      eventTime: microTime(now),
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: `${REPORTING_CONTROLLER}-${this.opts.hostname}`,
      action,
      reason,
      regarding: ref,
      note,
      type,
    };
    this.queue.push({ key, path: `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events`, body });
    this.pumping ??= this.pump().finally(() => (this.pumping = null));
  }

  private async pump(): Promise<void> {
    while (this.queue.length > 0 && !this.stopped) {
      const ev = this.queue[0]!;
      const attempts = this.opts.attempts ?? 3;
      for (let i = 1; i <= attempts && !this.stopped; i++) {
        try {
          await this.limiter.take(this.ac.signal);
          const r = await this.opts.sink.post(ev.path, ev.body, this.ac.signal);
          if (r.status >= 200 && r.status < 300) {
            this.stats.sent++;
            break;
          }
          // 4xx other than 429 will not get better by retrying (Forbidden, AlreadyExists, Invalid).
          if (r.status !== 429 && r.status < 500) {
            this.stats.failed++;
            log.warn('Server rejected event, dropping it', { reason: ev.body.reason as string, status: r.status, body: r.body.slice(0, 300) });
            break;
          }
          throw new Error(`HTTP ${r.status}`);
        } catch (e) {
          if (this.stopped) break;
          if (i === attempts) {
            this.stats.failed++;
            log.warn('Could not record event, dropping it', { reason: ev.body.reason as string, err: e as Error });
            break;
          }
          await new Promise((r) => setTimeout(r, (this.opts.retryDelayMs ?? 1000) * 2 ** (i - 1)).unref());
        }
      }
      this.queue.shift();
    }
  }

  /** Wait (at most `timeoutMs`) until the queue is sent: for an exit right after a fatal event. */
  async flush(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.pumping ?? Promise.resolve(), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** Stop sending; queued events are dropped. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.ac.abort();
    await this.pumping?.catch(() => undefined);
  }
}

let current: EventRecorder | null = null;

/** Install (or with null, remove) the process-wide recorder used by recordEvent(). */
export function setEventRecorder(r: EventRecorder | null): void {
  current = r;
}

/**
 * Record an event about this node (or `opts.regarding`). Never blocks or throws; a no-op when no
 * recorder is installed (--manifests mode, tools, tests). `action` defaults to upstream's start-up action.
 */
export function recordEvent(reason: string, type: EventType, note: string, opts: { action?: string; regarding?: EventRef } = {}): void {
  current?.record(type, reason, opts.action ?? ACTION_START, note, opts.regarding);
}

/** Wait (bounded) for queued events to be sent; resolves at once without a recorder. */
export function flushEvents(timeoutMs: number): Promise<void> {
  return current ? current.flush(timeoutMs) : Promise.resolve();
}
