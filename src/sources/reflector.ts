// Our own list/watch loop with client-go reflector semantics (tools/cache/reflector.go):
//   - LIST at client-go's resourceVersion (relistResourceVersion): "0" for the first list (the API server's
//     watch cache answers it whole, ignoring limit, without touching etcd), the last synced rv for later
//     relists (served from the cache, so unpaginated), "" (a consistent read, paginated) after 410 Expired
//     or "Too large resource version"; once a server paginates (no watch cache) every list keeps the page
//     size (limit/continue). Bodies are parsed item by item as they arrive (list-stream.ts); then WATCH from the list's resourceVersion with bookmarks and a
//     random 5–10 minute server timeout; a watch that ends normally is resumed at once from the last rv;
//   - BOOKMARK moves the rv; 410 Gone / ERROR Expired → full relist after a jittered backoff;
//   - other errors and connection loss → the watch resumes from the last rv after exponential backoff
//     (0.8 s → 30 s, reset after a healthy period); a very short empty watch counts as an error (no hot loop);
//   - an inactivity watchdog aborts a watch that delivers nothing (not even bookmarks) for too long.
// The reflector keeps a store keyed ns/name (identity and resourceVersion only: see tombstone()) and turns
// every list into the ADDED/MODIFIED/DELETED events that move the consumer's view to the new state. Objects are parsed with plain JSON.parse.

import type { IncomingMessage } from 'node:http';
import { createLogger, type Logger } from '../log/logger.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { ListStreamParser } from './list-stream.js';
import type { ConnectionStatus } from './diagnose.js';
import { KINDS, metaOf, objectKey, tombstone } from './objects.js';
import type { Transport } from './transport.js';
import type { EventType, ObjectKind, SourceHandler } from './types.js';

export interface ReflectorOptions {
  readonly kind: ObjectKind;
  readonly transport: Transport;
  readonly handler: SourceHandler;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** LIST page size (default 500, as client-go). */
  readonly pageSize?: number;
  /** Abort a watch that receives nothing for this long (default DEFAULT_WATCH_IDLE_TIMEOUT_MS). */
  readonly inactivityTimeoutMs?: number;
  /** Server-side watch timeout in seconds (default: random in [300, 600), as client-go). */
  readonly watchTimeoutSeconds?: () => number;
  /** Backoff for reconnecting a failed watch. */
  readonly watchBackoff?: BackoffOptions;
  /** Backoff before a relist (after 410 or a failed LIST). */
  readonly relistBackoff?: BackoffOptions;
  /** A watch the server ends sooner than this is treated as an error, i.e. retried after backoff (default 1 s). */
  readonly minWatchMs?: number;
  /** Per-request timeout for LIST pages (default 60 s). */
  readonly listTimeoutMs?: number;
  readonly logger?: Logger;
  /** Shared by the reflectors of one connection: one log line per failure cause and per recovery. */
  readonly connection?: ConnectionStatus;
}

export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    /** details.causes[].reason of the Status body. */
    readonly causes: readonly string[] = [],
  ) {
    super(message);
    this.name = 'HttpStatusError';
  }
}

/** Too-old resourceVersion: only a relist helps. */
export class ExpiredError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExpiredError';
  }
}

class StoppedError extends Error {}

/**
 * How long a watch may deliver nothing, not even a BOOKMARK, before it is taken for dead (a half-open
 * connection through a failed load balancer) and resumed from the last resourceVersion. kube-apiserver
 * sends a bookmark to every watch that allows them about once a minute, so 3 minutes is three missed
 * bookmarks: no false alarm on a slow or busy server, and well inside the 5–10 minute watch timeout
 * that would end such a watch anyway (only if the server's end of it reaches us, which it does not here).
 */
export const DEFAULT_WATCH_IDLE_TIMEOUT_MS = 180_000;

type Obj = Record<string, unknown>;

function isExpiredStatus(status: number, reason: string): boolean {
  return status === 410 || reason === 'Expired' || reason === 'Gone';
}

/** client-go isTooLargeResourceVersionError: the watch cache is behind the rv we asked for. */
function isTooLargeResourceVersion(e: unknown): boolean {
  if (!(e instanceof HttpStatusError)) return false;
  if (e.causes.includes('ResourceVersionTooLarge')) return true;
  return (e.status === 504 || e.reason === 'Timeout') && /too large resource version/i.test(e.message);
}

async function readAll(res: IncomingMessage): Promise<string> {
  res.setEncoding('utf8');
  let s = '';
  for await (const c of res) s += c as string;
  return s;
}

/** A non-2xx response as an error carrying the Status reason. */
async function statusError(res: IncomingMessage): Promise<Error> {
  const status = res.statusCode ?? 0;
  let reason = '';
  let message = `HTTP ${status}`;
  const causes: string[] = [];
  try {
    const body = JSON.parse(await readAll(res)) as { reason?: unknown; message?: unknown; details?: { causes?: unknown } };
    if (typeof body.reason === 'string') reason = body.reason;
    if (typeof body.message === 'string') message = `HTTP ${status}: ${body.message}`;
    if (Array.isArray(body.details?.causes)) {
      for (const c of body.details.causes as { reason?: unknown }[]) if (typeof c?.reason === 'string') causes.push(c.reason);
    }
  } catch {
    /* not a Status body; the code is enough */
  }
  if (isExpiredStatus(status, reason)) return new ExpiredError(message);
  return new HttpStatusError(status, reason, message, causes);
}

export class Reflector {
  private readonly kind: ObjectKind;
  private readonly path: string;
  private readonly apiVersion: string;
  private readonly log: Logger;
  private readonly store = new Map<string, Obj>();
  private rv = '';
  /** client-go isLastSyncResourceVersionUnavailable: the next list is a consistent read (rv ""). */
  private rvUnavailable = false;
  /** client-go paginatedResult: this server paginated a list (no watch cache), so lists keep the page size. */
  private paginated = false;
  private synced = false;
  private stopped = false;
  private running: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private wake: (() => void) | undefined;
  private readonly watchBackoff: Backoff;
  private readonly relistBackoff: Backoff;
  /** Counters for tests and diagnostics. */
  readonly stats = { lists: 0, listPages: 0, watches: 0, watchErrors: 0, expired: 0, events: 0, bookmarks: 0 };

  constructor(private readonly opts: ReflectorOptions) {
    this.kind = opts.kind;
    this.path = KINDS[opts.kind].path;
    this.apiVersion = KINDS[opts.kind].apiVersion;
    this.log = opts.logger ?? createLogger('reflector');
    this.watchBackoff = new Backoff(opts.watchBackoff);
    this.relistBackoff = new Backoff(opts.relistBackoff);
  }

  /** The last resourceVersion seen (list, event or bookmark). */
  get resourceVersion(): string {
    return this.rv;
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get size(): number {
    return this.store.size;
  }

  start(): void {
    if (this.running) return;
    this.stopped = false;
    this.running = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.wake?.();
    await this.running;
    this.running = undefined;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.listAndWatch();
      } catch (e) {
        if (this.stopped || e instanceof StoppedError) break;
        if (e instanceof ExpiredError) {
          this.stats.expired++;
          // As client-go after a 410 on the watch: the last rv is gone, so relist from etcd (rv "").
          this.rvUnavailable = true;
          this.log.info('Watch expired; relisting', { kind: this.kind, resourceVersion: this.rv, err: e.message });
        } else {
          this.log.warn('List failed; will retry', { kind: this.kind, err: e as Error });
        }
      }
      if (this.stopped) break;
      await this.sleep(this.relistBackoff.next());
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
    });
  }

  private baseQuery(): URLSearchParams {
    const q = new URLSearchParams();
    if (this.opts.labelSelector) q.set('labelSelector', this.opts.labelSelector);
    if (this.opts.fieldSelector) q.set('fieldSelector', this.opts.fieldSelector);
    return q;
  }

  private async listAndWatch(): Promise<void> {
    await this.list();
    // Watch from the last rv until it expires (throws ExpiredError → relist) or we stop.
    for (;;) {
      if (this.stopped) throw new StoppedError();
      try {
        await this.watch();
      } catch (e) {
        if (this.stopped) throw new StoppedError();
        if (e instanceof ExpiredError) throw e;
        this.stats.watchErrors++;
        const delay = this.watchBackoff.next();
        this.log.warn('Watch failed; resuming from the last resourceVersion after backoff', {
          kind: this.kind,
          resourceVersion: this.rv,
          backoffMs: Math.round(delay),
          err: e as Error,
        });
        await this.sleep(delay);
      }
    }
  }

  /**
   * LIST at client-go's relistResourceVersion; moves the store (and so the consumer) to the listed state.
   * Items are applied as they arrive (ADDED/MODIFIED; list-stream.ts parses each from the body as soon as
   * it is complete), and what the list did not contain is DELETED at the end. So at most one item (and one
   * network chunk) of a response is alive at a time, paginated or not: holding a whole 10k-object list
   * as text and objects was the list's peak memory (docs/operations.md "Memory"). A list that fails
   * half-way leaves the store and the consumer agreeing on newer objects; the next list completes it.
   */
  private async list(): Promise<void> {
    this.stats.lists++;
    const rv = this.rvUnavailable ? '' : this.rv === '' ? '0' : this.rv;
    let listRv: string;
    const seen = new Set<string>();
    try {
      listRv = await this.listAt(rv, seen);
    } catch (e) {
      if (rv === '' || this.stopped || !(e instanceof ExpiredError || isTooLargeResourceVersion(e))) throw e;
      // client-go: retry at once as a consistent read, so that the reflector makes progress.
      this.log.info('List at resourceVersion unavailable; listing the latest state', { kind: this.kind, resourceVersion: rv, err: (e as Error).message });
      this.rvUnavailable = true;
      listRv = await this.listAt('', seen);
    }
    this.rvUnavailable = false;
    for (const [k, old] of this.store) {
      if (seen.has(k)) continue;
      this.store.delete(k);
      this.emit('DELETED', old);
    }
    this.rv = listRv;
    if (!this.synced) {
      this.synced = true;
      this.log.v(2).info('Initial list done', { kind: this.kind, objects: seen.size, resourceVersion: listRv });
      this.safe(() => this.opts.handler.onSynced(this.kind));
    }
  }

  /** All pages of one list at `rv`; returns the list's resourceVersion. Keys seen are added to `seen`. */
  private async listAt(rv: string, seen: Set<string>): Promise<string> {
    let cont = '';
    let listRv = '';
    // The page size as client-go's reflector sets its pager's (reflector.go list()): rv "" and "0" keep
    // the limit (the watch cache ignores it for "0"; a server without one pages), a non-zero rv drops it
    // so that the watch cache can serve the list, and a server that paginated once always gets it.
    const limit = this.paginated || rv === '' || rv === '0' ? String(this.opts.pageSize ?? 500) : '';
    do {
      if (this.stopped) throw new StoppedError();
      const q = this.baseQuery();
      if (limit) q.set('limit', limit);
      // Continuation pages carry no resourceVersion (the token holds it), as client-go's pager.
      if (cont) q.set('continue', cont);
      else if (rv !== '') q.set('resourceVersion', rv);
      const meta = await this.getPage(q, cont !== '', (it) => {
        const o = this.normalize(it);
        if (!o) return;
        const k = objectKey(o);
        seen.add(k);
        const old = this.store.get(k);
        if (old && metaOf(old).resourceVersion === metaOf(o).resourceVersion) return; // unchanged
        this.store.set(k, tombstone(o));
        this.emit(old ? 'MODIFIED' : 'ADDED', o);
      });
      this.stats.listPages++;
      listRv = typeof meta.resourceVersion === 'string' ? meta.resourceVersion : '';
      cont = typeof meta.continue === 'string' ? meta.continue : '';
      if (cont) this.paginated = true;
    } while (cont);
    if (!listRv) throw new Error(`LIST ${this.path}: response has no resourceVersion`);
    return listRv;
  }

  /** One LIST request; items go to onItem as they are parsed; resolves with the list's metadata. */
  private async getPage(q: URLSearchParams, continuation: boolean, onItem: (item: unknown) => void): Promise<{ resourceVersion?: unknown; continue?: unknown }> {
    const ac = new AbortController();
    this.abort = ac;
    const timer = setTimeout(() => ac.abort(), this.opts.listTimeoutMs ?? 60_000);
    try {
      const res = await this.request(q, ac.signal, continuation);
      res.setEncoding('utf8');
      const parser = new ListStreamParser(onItem);
      for await (const c of res) parser.write(c as string);
      const { head, hadItems } = parser.end();
      if (!hadItems) throw new Error(`LIST ${this.path}: response has no items`);
      return (head.metadata ?? {}) as { resourceVersion?: unknown; continue?: unknown };
    } finally {
      clearTimeout(timer);
      if (this.abort === ac) this.abort = undefined;
    }
  }

  /** One GET; a non-200 answer is thrown as an error. Outcomes are reported to the shared connection status. */
  private async request(q: URLSearchParams, signal: AbortSignal, continuation = false): Promise<IncomingMessage> {
    let res: IncomingMessage;
    const t0 = performance.now();
    try {
      res = await this.opts.transport.get(this.path, q, signal, continuation);
      // As client-go's round-tripper log at -v=6: where a slow start waits (headers, not the body).
      this.log.v(6).info('GET', { path: this.path, query: q.toString(), status: res.statusCode, headersMillis: Math.round(performance.now() - t0) });
    } catch (e) {
      if (!signal.aborted) this.opts.connection?.failed(e);
      throw e;
    }
    if (res.statusCode !== 200) {
      const err = await statusError(res);
      this.opts.connection?.failed(err);
      throw err;
    }
    this.opts.connection?.ok();
    return res;
  }

  /** Keep only plausible objects; fill kind/apiVersion, which list items lack. */
  private normalize(raw: unknown): Obj | undefined {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
    const o = raw as Obj;
    if (!metaOf(o).name) {
      this.log.warn('Ignoring object without metadata.name', { kind: this.kind });
      return undefined;
    }
    o.kind ??= this.kind;
    o.apiVersion ??= this.apiVersion;
    return o;
  }

  private emit(type: EventType, o: Obj): void {
    this.stats.events++;
    this.safe(() => this.opts.handler.onEvent(this.kind, type, o));
  }

  private safe(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      // A consumer bug must not kill the list/watch loop.
      this.log.error('Event handler threw', { kind: this.kind, err: e as Error });
    }
  }

  private apply(type: string, o: Obj): void {
    const k = objectKey(o);
    const old = this.store.get(k);
    if (type === 'DELETED') {
      if (old) {
        this.store.delete(k);
        this.emit('DELETED', o);
      }
      return;
    }
    this.store.set(k, tombstone(o));
    // ADDED for a known key (e.g. replayed after reconnect) is an update for consumers, and vice versa.
    this.emit(old ? 'MODIFIED' : 'ADDED', o);
  }

  /** One WATCH request; resolves when the server ends it normally, throws otherwise. */
  private async watch(): Promise<void> {
    const q = this.baseQuery();
    q.set('watch', '1');
    q.set('allowWatchBookmarks', 'true');
    q.set('resourceVersion', this.rv);
    const timeoutS = this.opts.watchTimeoutSeconds?.() ?? Math.floor(300 + Math.random() * 300);
    q.set('timeoutSeconds', String(timeoutS));
    const ac = new AbortController();
    this.abort = ac;
    const started = Date.now();
    let events = 0;
    let watchdog: NodeJS.Timeout | undefined;
    let inactive = false;
    const inactivityMs = this.opts.inactivityTimeoutMs ?? DEFAULT_WATCH_IDLE_TIMEOUT_MS;
    const arm = (): void => {
      if (watchdog) clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        inactive = true;
        ac.abort();
      }, inactivityMs);
    };
    this.stats.watches++;
    try {
      arm();
      const res = await this.request(q, ac.signal);
      res.setEncoding('utf8');
      let buf = '';
      for await (const chunk of res) {
        arm();
        buf += chunk as string;
        // Consume every complete line, then keep only the tail (one copy per chunk, not per line).
        let start = 0;
        let nl: number;
        while ((nl = buf.indexOf('\n', start)) >= 0) {
          const line = buf.slice(start, nl).trim();
          start = nl + 1;
          if (line) {
            this.handleLine(line);
            events++;
          }
        }
        if (start > 0) buf = buf.slice(start);
      }
      if (buf.trim()) {
        this.handleLine(buf.trim());
        events++;
      }
      // Unlike client-go (which exempts watches that delivered anything, bookmarks included), any watch the
      // server ends within minWatchMs goes through backoff: a server closing every watch at once must not
      // make us reconnect in a hot loop.
      const lasted = Date.now() - started;
      if (lasted < (this.opts.minWatchMs ?? 1000)) {
        throw new Error(`very short watch: the server ended it after ${lasted} ms with ${events} events`);
      }
      this.log.v(4).info('Watch ended; resuming', { kind: this.kind, resourceVersion: this.rv, events });
    } catch (e) {
      if (inactive) throw new Error(`watch inactive for ${inactivityMs} ms (no event or bookmark): taken for a dead connection`);
      throw e;
    } finally {
      if (watchdog) clearTimeout(watchdog);
      if (this.abort === ac) this.abort = undefined;
      ac.abort(); // release the socket in every case
    }
  }

  private handleLine(line: string): void {
    let ev: { type?: unknown; object?: unknown };
    try {
      ev = JSON.parse(line) as typeof ev;
    } catch (e) {
      throw new Error(`undecodable watch event: ${(e as Error).message}`);
    }
    const type = ev.type;
    if (type === 'ERROR') {
      const st = (ev.object ?? {}) as { code?: unknown; reason?: unknown; message?: unknown };
      const code = typeof st.code === 'number' ? st.code : 0;
      const reason = typeof st.reason === 'string' ? st.reason : '';
      const msg = `watch ERROR ${code} ${reason}: ${typeof st.message === 'string' ? st.message : ''}`;
      if (isExpiredStatus(code, reason)) throw new ExpiredError(msg);
      throw new HttpStatusError(code, reason, msg);
    }
    if (type === 'BOOKMARK') {
      const rv = metaOf(ev.object).resourceVersion;
      if (rv) this.rv = rv;
      this.stats.bookmarks++;
      return;
    }
    if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') {
      this.log.warn('Ignoring watch event of unknown type', { kind: this.kind, type: String(type) });
      return;
    }
    const o = this.normalize(ev.object);
    if (!o) return;
    this.apply(type, o);
    const rv = metaOf(o).resourceVersion;
    if (rv) this.rv = rv;
  }
}
