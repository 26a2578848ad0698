// The project's test API server: the only stand-in for kube-apiserver. It speaks the real HTTP protocol
// (discovery, LIST with selectors and pagination, chunked WATCH with bookmarks and 410 Expired, create /
// update / patch / delete with Status bodies) so our reflector and the real kubectl run unchanged against it.
// Faults (dropped watches, 5xx, stalls, compaction, restarts) are injected through the returned handle.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  matchFields,
  matchLabels,
  parseFieldSelector,
  parseLabelSelector,
  SelectorError,
  type FieldRequirement,
  type LabelRequirement,
} from '../../src/sources/selectors.js';
import { JsonPatchError, jsonPatch, mergePatch, strategicMergePatch } from './patch.js';
import {
  apiGroupList,
  apiResourceList,
  apiVersionOf,
  apiVersions,
  findResource,
  openApiV3GroupVersion,
  openApiV3Root,
  resourceForKind,
  RESOURCES,
  VERSION_INFO,
  type ResourceInfo,
} from './resources.js';
import { ApiError, metaOf, notFound, Store, type LogEvent, type Obj } from './store.js';
import { toTable, wantsTable } from './table.js';
import { makeTlsMaterial, serverCert, type ServerCertVariant } from './tls.js';

export interface TestApiServerOptions {
  /** 0 (default) picks an ephemeral port. */
  readonly port?: number;
  /** Serve HTTPS with a CA made by openssl at start (kubeconfig carries the CA). */
  readonly tls?: boolean;
  /** Interval of BOOKMARK events on watches that allow them (default 1000 ms; upstream sends about one a minute). */
  readonly bookmarkIntervalMs?: number;
  /** Also accept HTTP basic auth with this user (any other credential is still checked as below). */
  readonly basicAuth?: { readonly username: string; readonly password: string };
  /** Address to listen on (default 127.0.0.1; e.g. a namespace's address that other namespaces route to). */
  readonly host?: string;
  /**
   * As kube-apiserver's watch cache (default true): a LIST with `resourceVersion=0` (and no `continue`)
   * is served whole, `limit` ignored, as the cache does; `resourceVersion=N` without `limit` is served
   * from the cache too (504 "Too large resource version" when N is ahead of the store). false: as
   * `--watch-cache=false`, every LIST honours `limit` (pages with `continue`).
   */
  readonly watchCache?: boolean;
}

/**
 * Collection GETs served, by resource plural (fleet tests: a relist storm shows as LISTs). `lists` counts
 * LISTs that start a list (no `continue`), `listPages` every page, `watches` every WATCH request.
 */
export interface RequestCounts {
  lists: Record<string, number>;
  listPages: Record<string, number>;
  watches: Record<string, number>;
}

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly at: number;
  /** The bearer token sent, if any (test tokens only: lets a test see which token a client used). */
  readonly token?: string;
  status?: number;
}

export interface TestApiServer {
  readonly url: string;
  readonly port: number;
  readonly kubeconfigPath: string;
  /** Bearer token the server requires (also in the kubeconfig); setToken() rotates it. */
  readonly token: string;
  /** With tls: CA and a client certificate/key the server accepts instead of a token (client-certificate auth). */
  readonly tlsFiles?: { readonly ca: string; readonly clientCert: string; readonly clientKey: string };
  /** Require a new bearer token from now on (the old one gets 401), as a rotated service-account token. */
  setToken(token: string): void;
  readonly store: Store;
  /** Requests seen, oldest first (bounded). */
  readonly requests: RequestRecord[];
  /** LIST / WATCH counts since the start or the last resetCounts() (not bounded like `requests`). */
  counts(): RequestCounts;
  resetCounts(): void;

  create(obj: Obj): Obj;
  update(obj: Obj): Obj;
  updateStatus(obj: Obj): Obj;
  delete(kind: string, namespace: string, name: string): Obj;
  get(kind: string, namespace: string, name: string): Obj | undefined;
  list(kind: string): Obj[];
  resourceVersion(): number;

  /** Forget watch history up to `rv` (default: now): older resourceVersions get 410 Expired. */
  compact(rv?: number): void;
  /** Close every open watch connection abruptly (socket destroyed, no final chunk). */
  dropWatches(): void;
  /** The next `n` requests fail with `code` (default 500) and a Status body. */
  failNext(n: number, code?: number): void;
  /** While stalled, open watches receive nothing (not even bookmarks) but stay connected. */
  stallWatches(stalled: boolean): void;
  /**
   * A half-dead load balancer: every watch open now stays connected but receives nothing more (no
   * events, no bookmarks, not even the close at its timeout); writes still go to the store, and watches
   * opened later work normally. Returns how many watches went silent.
   */
  silenceWatches(): number;
  /**
   * Serve a new certificate (needs tls): 'same-ca' (a rotation), 'other-ca' (signed by a CA the
   * kubeconfig does not trust), 'expired' (our CA, past notAfter) or 'original'. Every connection is
   * closed and TLS session tickets are renewed, so clients must complete a full handshake.
   */
  setServerCert(variant: ServerCertVariant | 'original'): Promise<void>;
  /** While forbidden, every API request (authenticated or not) gets 403 Forbidden, as RBAC without a binding. */
  setForbidden(forbidden: boolean): void;
  /** How a too-old watch resourceVersion is reported: an ERROR event in a 200 stream (default, as upstream) or HTTP 410. */
  setWatchExpiredMode(mode: 'event' | 'http'): void;
  /**
   * Replace the bearer tokens the server accepts (a rotated service-account token). Open watches stay
   * open, as on a real API server; the next requests must carry one of `tokens`.
   */
  setTokens(tokens: readonly string[]): void;
  /** Send a BOOKMARK now on every watch that allows them. */
  sendBookmarks(): void;
  activeWatches(): number;

  stop(): Promise<void>;
  /** Stop listening and listen again on the same port with the same data (clients see connection loss). */
  restart(opts?: { downMs?: number; whileDown?: () => void }): Promise<void>;
}

interface Watch {
  readonly resource: ResourceInfo;
  readonly res: ServerResponse;
  readonly bookmarks: boolean;
  /** kubectl get -w asks for Table objects in events. */
  readonly table: boolean;
  readonly match: (o: Obj) => boolean;
  /** silenceWatches(): connected, but nothing is written to it any more. */
  silent: boolean;
  close(): void;
}

const MAX_BODY = 64 * 1024 * 1024;
/** Resolves when `res` can take more data or is gone; leaves no listener behind (one wait per piece). */
function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Items per written piece of a streamed LIST response. */
const LIST_PIECE_ITEMS = 500;

/**
 * A stored object's text as a list item (no kind/apiVersion, as from the real API server), cached per
 * object like the watch cache's serialized objects: stored objects are replaced on every write, never
 * changed in place, so the object itself is the cache key.
 */
const itemTexts = new WeakMap<Obj, string>();
function itemText(o: Obj): string {
  let t = itemTexts.get(o);
  if (t === undefined) {
    const { kind: _k, apiVersion: _a, ...item } = o;
    t = JSON.stringify(item);
    itemTexts.set(o, t);
  }
  return t;
}

const LIST_KIND_SUFFIX = 'List';

function statusBody(code: number, reason: string, message: string, details?: Obj): Obj {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, e: unknown): void {
  if (e instanceof ApiError) sendJson(res, e.code, statusBody(e.code, e.reason, e.message, e.details));
  else if (e instanceof SelectorError || e instanceof JsonPatchError) sendJson(res, 400, statusBody(400, 'BadRequest', (e as Error).message));
  else sendJson(res, 500, statusBody(500, 'InternalError', `Internal error occurred: ${(e as Error).message}`));
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const ct = (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim();
  // JSON only: a protobuf/CBOR body gets 415, on which client-go retries the request as JSON.
  if (ct !== 'application/json' && !ct.endsWith('+json')) {
    req.resume();
    throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new ApiError(413, 'RequestEntityTooLarge', 'request body too large');
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new ApiError(400, 'BadRequest', `the body of the request was in an unknown format: ${(e as Error).message}`);
  }
}

function asObj(v: unknown, what: string): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ApiError(400, 'BadRequest', `${what} must be a JSON object`);
  return v as Obj;
}

function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start })).toString('base64url');
}

function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { rv?: unknown; start?: unknown };
    if (typeof t.rv === 'number' && typeof t.start === 'string') return { rv: t.rv, start: t.start };
  } catch {
    /* fall through to the error below */
  }
  throw new ApiError(400, 'BadRequest', 'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
}

function parseRv(s: string): number {
  if (!/^\d+$/.test(s)) throw new ApiError(400, 'BadRequest', `invalid resource version: ${JSON.stringify(s)}`);
  return Number(s);
}

function expired(rv: number, oldest: number): ApiError {
  return new ApiError(410, 'Expired', `too old resource version: ${rv} (${oldest})`);
}

export async function startTestApiServer(opts: TestApiServerOptions = {}): Promise<TestApiServer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'kpx-apiserver-'));
  const tls = opts.tls ? await makeTlsMaterial(dir) : undefined;
  let token = randomBytes(16).toString('hex');
  let accepted = new Set([`Bearer ${token}`]);
  const setTokens = (tokens: readonly string[]): void => {
    accepted = new Set(tokens.map((t) => `Bearer ${t}`));
  };
  const basic = opts.basicAuth ? `Basic ${Buffer.from(`${opts.basicAuth.username}:${opts.basicAuth.password}`).toString('base64')}` : null;
  const store = new Store();
  for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    store.create(resourceForKind('Namespace')!, '', { metadata: { name: ns }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } });
  }
  const requests: RequestRecord[] = [];
  const watches = new Set<Watch>();
  const sockets = new Set<Socket>();
  let failures = { n: 0, code: 500 };
  let stalled = false;
  let forbidden = false;
  let serving = tls ? { cert: tls.certPem, key: tls.keyPem } : undefined;
  let expiredMode: 'event' | 'http' = 'event';
  const bookmarkMs = opts.bookmarkIntervalMs ?? 1000;
  const watchCache = opts.watchCache ?? true;
  const scheme = tls ? 'https' : 'http';
  let url = '';
  let port = opts.port ?? 0;
  const host = opts.host ?? '127.0.0.1';
  const emptyCounts = (): RequestCounts => ({ lists: {}, listPages: {}, watches: {} });
  let counts = emptyCounts();
  const bump = (m: Record<string, number>, k: string): void => {
    m[k] = (m[k] ?? 0) + 1;
  };

  function write(w: Watch, type: string, object: unknown): void {
    if (stalled || w.silent || w.res.destroyed) return;
    const o =
      w.table && type !== 'BOOKMARK' && type !== 'ERROR'
        ? toTable(w.resource.kind, [object as Obj], { resourceVersion: metaOf(object as Obj).resourceVersion })
        : object;
    w.res.write(JSON.stringify({ type, object: o }) + '\n');
  }

  function bookmark(w: Watch): void {
    write(w, 'BOOKMARK', { kind: w.resource.kind, apiVersion: apiVersionOf(w.resource), metadata: { resourceVersion: String(store.currentRv()) } });
  }

  /** Deliver one store event to a watch, turning selector transitions into ADDED/DELETED as the watch cache does. */
  function deliver(w: Watch, e: LogEvent): void {
    if (e.resource !== w.resource) return;
    const now = e.type !== 'DELETED' && w.match(e.object);
    const before = e.prev !== undefined && w.match(e.prev);
    if (e.type === 'DELETED') {
      if (before) write(w, 'DELETED', e.object);
    } else if (now && before) write(w, 'MODIFIED', e.object);
    else if (now) write(w, 'ADDED', e.object);
    else if (before) write(w, 'DELETED', { ...e.prev, metadata: { ...metaOf(e.prev!), resourceVersion: String(e.rv) } });
  }

  store.onEvent((e) => {
    for (const w of watches) deliver(w, e);
  });

  function matcher(ns: string, q: URLSearchParams): (o: Obj) => boolean {
    const labels: LabelRequirement[] = q.get('labelSelector') ? parseLabelSelector(q.get('labelSelector')!) : [];
    const fields: FieldRequirement[] = q.get('fieldSelector') ? parseFieldSelector(q.get('fieldSelector')!) : [];
    return (o) => {
      const m = metaOf(o);
      if (ns && m.namespace !== ns) return false;
      return matchLabels(labels, m.labels as Record<string, unknown> | undefined) && matchFields(fields, o);
    };
  }

  function list(r: ResourceInfo, ns: string, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): void {
    const table = wantsTable(req.headers.accept);
    const tableRows: Obj[] = [];
    const match = matcher(ns, q);
    const cont = q.get('continue');
    const rvParam = q.get('resourceVersion') ?? '';
    let limit = q.get('limit') ? Math.max(0, Number(q.get('limit'))) : 0;
    if (watchCache && !cont && rvParam !== '') {
      const rv = parseRv(rvParam);
      // The watch cache serves resourceVersion=0 whole (limit ignored), and resourceVersion=N without a
      // limit; N ahead of the cache waits (3 s upstream) and then fails as below.
      if (rv > store.currentRv()) {
        throw new ApiError(504, 'Timeout', `Too large resource version: ${rv}, current: ${store.currentRv()}`, {
          causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
          retryAfterSeconds: 1,
        });
      }
      if (rv === 0) limit = 0;
    }
    let listRv = store.currentRv();
    let start = '';
    if (cont) {
      const t = decodeContinue(cont);
      if (t.rv < store.oldestRv()) {
        throw new ApiError(
          410,
          'Expired',
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
        );
      }
      listRv = t.rv;
      start = t.start;
    }
    const keys = store.keys(r);
    // First key after `start` (keys are sorted).
    let lo = 0;
    let hi = keys.length;
    if (start) {
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (keys[mid]! <= start) lo = mid + 1;
        else hi = mid;
      }
    }
    // The matching objects (stored objects are never changed in place: a consistent snapshot).
    const parts: Obj[] = [];
    let last = '';
    let more = false;
    let remaining = 0;
    for (let i = lo; i < keys.length; i++) {
      const o = store.getByKey(r, keys[i]!)!;
      if (!match(o)) continue;
      if (limit && parts.length + tableRows.length >= limit) {
        more = true;
        remaining++;
        continue;
      }
      if (table) tableRows.push(o);
      else {
        parts.push(o);
      }
      last = keys[i]!;
    }
    const selectors = q.get('labelSelector') || q.get('fieldSelector');
    const metadata: Obj = { resourceVersion: String(listRv) };
    if (more) {
      metadata.continue = encodeContinue(listRv, last);
      if (!selectors) metadata.remainingItemCount = remaining;
    }
    if (table) return sendJson(res, 200, toTable(r.kind, tableRows, metadata));
    const head = JSON.stringify({ kind: r.kind + LIST_KIND_SUFFIX, apiVersion: apiVersionOf(r), metadata });
    // Splice the items in as pre-serialized text, streamed in pieces as the real API server's encoder
    // writes a large list (chunked): the client parses while the rest is still being sent.
    if (parts.length <= LIST_PIECE_ITEMS) {
      const text = `${head.slice(0, -1)},"items":[${parts.map(itemText).join(',')}]}`;
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    void streamList(res, `${head.slice(0, -1)},"items":[`, parts);
  }

  /** Writes the items LIST_PIECE_ITEMS at a time, waiting for the socket to drain between pieces. */
  async function streamList(res: ServerResponse, opening: string, parts: readonly Obj[]): Promise<void> {
    let sep = '';
    for (let i = 0; i < parts.length; i += LIST_PIECE_ITEMS) {
      if (res.destroyed) return;
      const piece = sep + parts.slice(i, i + LIST_PIECE_ITEMS).map(itemText).join(',');
      sep = ',';
      if (!res.write(i === 0 ? opening + piece : piece)) await drainedOrClosed(res);
    }
    res.end(']}');
  }

  function watch(r: ResourceInfo, ns: string, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): void {
    const match = matcher(ns, q);
    const rvParam = q.get('resourceVersion') ?? '';
    const initial = rvParam === '' || rvParam === '0';
    const from = initial ? 0 : parseRv(rvParam);
    const replay = initial ? [] : store.eventsSince(r, from);
    if (!replay) {
      if (expiredMode === 'http') throw expired(from, store.oldestRv());
      res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
      const e = expired(from, store.oldestRv());
      res.end(JSON.stringify({ type: 'ERROR', object: statusBody(410, 'Expired', e.message) }) + '\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache' });
    res.flushHeaders();
    const bookmarks = q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1';
    let timer: NodeJS.Timeout | undefined;
    let bm: NodeJS.Timeout | undefined;
    const w: Watch = {
      resource: r,
      res,
      bookmarks,
      table: wantsTable(req.headers.accept),
      match,
      silent: false,
      close: () => {
        watches.delete(w);
        if (timer) clearTimeout(timer);
        if (bm) clearInterval(bm);
      },
    };
    if (initial) {
      for (const k of store.keys(r)) {
        const o = store.getByKey(r, k)!;
        if (match(o)) write(w, 'ADDED', o);
      }
    } else {
      for (const e of replay) deliver(w, e);
    }
    watches.add(w);
    const timeoutS = q.get('timeoutSeconds') ? Number(q.get('timeoutSeconds')) : 1800;
    timer = setTimeout(() => {
      if (w.silent) return; // the end would not reach the client either
      if (w.bookmarks) bookmark(w);
      w.close();
      res.end();
    }, Math.max(0, timeoutS) * 1000);
    if (bookmarks) bm = setInterval(() => bookmark(w), bookmarkMs);
    req.on('close', () => w.close());
    res.on('close', () => w.close());
  }

  function requireNamespace(r: ResourceInfo, ns: string): void {
    if (r.namespaced && !store.get(resourceForKind('Namespace')!, '', ns)) {
      throw new ApiError(404, 'NotFound', `namespaces "${ns}" not found`, { name: ns, kind: 'namespaces' });
    }
  }

  async function item(r: ResourceInfo, ns: string, name: string, sub: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (sub && !(sub === 'status' && r.hasStatus)) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const statusOnly = sub === 'status';
    const cur = store.get(r, ns, name);
    switch (req.method) {
      case 'GET':
        if (!cur) throw notFound(r, name);
        if (wantsTable(req.headers.accept) && !statusOnly) return sendJson(res, 200, toTable(r.kind, [cur], { resourceVersion: metaOf(cur).resourceVersion }));
        return sendJson(res, 200, cur);
      case 'PUT': {
        const body = asObj(await readBody(req), 'body');
        if (body.kind !== undefined && body.kind !== r.kind) throw new ApiError(400, 'BadRequest', `kind ${String(body.kind)} does not match ${r.kind}`);
        return sendJson(res, 200, store.update(r, ns, name, body, statusOnly));
      }
      case 'PATCH': {
        if (!cur) throw notFound(r, name);
        const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
        const body = await readBody(req);
        let next: unknown;
        if (ct === 'application/merge-patch+json') next = mergePatch(cur, asObj(body, 'merge patch'));
        else if (ct === 'application/strategic-merge-patch+json') next = strategicMergePatch(cur, asObj(body, 'strategic merge patch'));
        else if (ct === 'application/json-patch+json') next = jsonPatch(cur, body);
        else throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`);
        // The patched object keeps the current resourceVersion unless the patch set one (then it is a precondition).
        return sendJson(res, 200, store.update(r, ns, name, asObj(next, 'patched object'), statusOnly));
      }
      case 'DELETE':
        if (statusOnly) break;
        return sendJson(res, 200, store.delete(r, ns, name));
    }
    throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
  }

  async function collection(r: ResourceInfo, ns: string, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'GET') {
      const w = q.get('watch');
      if (w === 'true' || w === '1') {
        bump(counts.watches, r.plural);
        return watch(r, ns, q, req, res);
      }
      bump(counts.listPages, r.plural);
      if (!q.get('continue')) bump(counts.lists, r.plural);
      return list(r, ns, q, req, res);
    }
    if (req.method === 'POST' && (ns || !r.namespaced)) {
      const body = asObj(await readBody(req), 'body');
      if (body.kind !== undefined && body.kind !== r.kind) throw new ApiError(400, 'BadRequest', `kind ${String(body.kind)} does not match ${r.kind}`);
      const bodyNs = metaOf(body).namespace;
      if (r.namespaced && typeof bodyNs === 'string' && bodyNs && bodyNs !== ns) {
        throw new ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
      }
      requireNamespace(r, ns);
      return sendJson(res, 201, store.create(r, ns, body));
    }
    throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
  }

  async function route(req: IncomingMessage, res: ServerResponse, u: URL): Promise<void> {
    const parts = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const p = u.pathname.replace(/\/+$/, '');
    if (p === '/version') return sendJson(res, 200, VERSION_INFO);
    if (p === '/healthz' || p === '/livez' || p === '/readyz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      return void res.end('ok');
    }
    if (p === '/openapi/v3') return sendJson(res, 200, openApiV3Root());
    if (p.startsWith('/openapi/v3/')) {
      const doc = openApiV3GroupVersion(p.slice('/openapi/v3/'.length));
      if (doc) return sendJson(res, 200, doc);
    }
    if (p === '/api') return sendJson(res, 200, apiVersions(`${host.includes(':') ? `[${host}]` : host}:${port}`));
    if (p === '/apis') return sendJson(res, 200, apiGroupList());
    let group: string;
    let version: string;
    let rest: string[];
    if (parts[0] === 'api' && parts.length >= 2) [group, version, rest] = ['', parts[1]!, parts.slice(2)];
    else if (parts[0] === 'apis' && parts.length >= 3) [group, version, rest] = [parts[1]!, parts[2]!, parts.slice(3)];
    else throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    const known = RESOURCES.some((r) => r.group === group && r.version === version);
    if (!known) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    if (rest.length === 0) return sendJson(res, 200, apiResourceList(group, version));
    const q = u.searchParams;
    // /namespaces/{ns}/{resource}[/{name}[/{sub}]]
    if (rest[0] === 'namespaces' && rest.length >= 3 && rest[2] !== 'status' && rest[2] !== 'finalize') {
      const r = findResource(group, version, rest[2]!);
      if (!r || !r.namespaced) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      const ns = rest[1]!;
      if (rest.length === 3) return collection(r, ns, q, req, res);
      if (rest.length <= 5) return item(r, ns, rest[3]!, rest[4] ?? '', req, res);
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    }
    const r = findResource(group, version, rest[0]!);
    if (!r) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    if (rest.length === 1) return collection(r, '', q, req, res);
    if (!r.namespaced && rest.length <= 3) return item(r, '', rest[1]!, rest[2] ?? '', req, res);
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://x');
    const bearer = /^Bearer (.*)$/.exec(req.headers.authorization ?? '')?.[1];
    const rec: RequestRecord = { method: req.method ?? 'GET', path: u.pathname, query: Object.fromEntries(u.searchParams), at: Date.now(), ...(bearer ? { token: bearer } : {}) };
    requests.push(rec);
    if (requests.length > 20_000) requests.splice(0, requests.length - 10_000);
    res.on('finish', () => (rec.status = res.statusCode));
    try {
      // kubectl (client-go) does not send bearer tokens over plain http, so there the token is only checked when present.
      const auth = req.headers.authorization;
      // A client certificate signed by our CA authenticates on its own (as kube-apiserver's x509 authenticator).
      const certOk = tls !== undefined && auth === undefined && (req.socket as TLSSocket).authorized === true;
      if ((tls || auth !== undefined) && !certOk && !accepted.has(auth ?? '') && (basic === null || auth !== basic)) {
        throw new ApiError(401, 'Unauthorized', 'Unauthorized');
      }
      if (forbidden && (u.pathname.startsWith('/api/') || u.pathname.startsWith('/apis/'))) {
        const verb = req.method !== 'GET' ? String(req.method).toLowerCase() : u.searchParams.get('watch') ? 'watch' : 'list';
        const resource = u.pathname.split('/').filter(Boolean).pop() ?? '';
        throw new ApiError(403, 'Forbidden', `${resource} is forbidden: User "system:serviceaccount:kube-system:kube-proxy" cannot ${verb} resource "${resource}" at the cluster scope`);
      }
      if (failures.n > 0) {
        failures.n--;
        throw new ApiError(failures.code, failures.code === 429 ? 'TooManyRequests' : 'InternalError', 'injected failure');
      }
      await route(req, res, u);
    } catch (e) {
      if (!res.headersSent) sendError(res, e);
      else res.destroy();
    }
    rec.status = res.statusCode;
  }

  let server: http.Server | https.Server;
  function makeServer(): http.Server | https.Server {
    const onReq = (req: IncomingMessage, res: ServerResponse): void => void handle(req, res);
    const s = tls && serving ? https.createServer({ ...serving, ca: tls.caPem, requestCert: true, rejectUnauthorized: false }, onReq) : http.createServer(onReq);
    s.on('connection', (sock: Socket) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
    });
    // Keep-alive and request timeouts would cut long watches.
    s.requestTimeout = 0;
    s.headersTimeout = 60_000;
    return s;
  }

  async function listen(): Promise<void> {
    server = makeServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    port = (server.address() as { port: number }).port;
  }

  async function close(): Promise<void> {
    for (const w of [...watches]) w.close();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of sockets) s.destroy();
    sockets.clear();
    await closed;
  }

  await listen();
  url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const kubeconfigPath = path.join(dir, 'kubeconfig');
  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'test',
        cluster: tls
          ? { server: url, 'certificate-authority-data': Buffer.from(tls.caPem).toString('base64') }
          : { server: url, 'insecure-skip-tls-verify': true },
      },
    ],
    users: [{ name: 'test', user: { token } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'test', namespace: 'default' } }],
    'current-context': 'test',
  };
  await writeFile(kubeconfigPath, JSON.stringify(kubeconfig, null, 2) + '\n', { mode: 0o600 });

  const res = (kind: string): ResourceInfo => {
    const r = resourceForKind(kind);
    if (!r) throw new Error(`test API server does not serve kind ${kind}`);
    return r;
  };
  const copy = <T>(o: T): T => structuredClone(o);

  return {
    get url() {
      return url;
    },
    get port() {
      return port;
    },
    kubeconfigPath,
    get token() {
      return token;
    },
    tlsFiles: tls?.files,
    setToken: (t) => {
      token = t;
      setTokens([t]);
    },
    store,
    setTokens,
    requests,
    counts: () => structuredClone(counts),
    resetCounts: () => {
      counts = emptyCounts();
    },
    create: (obj) => copy(store.create(res(String(obj.kind)), String(metaOf(obj).namespace ?? ''), copy(obj))),
    update: (obj) => {
      const m = metaOf(obj);
      const r = res(String(obj.kind));
      return copy(store.update(r, String(m.namespace ?? ''), String(m.name), copy(obj)));
    },
    updateStatus: (obj) => {
      const m = metaOf(obj);
      const r = res(String(obj.kind));
      return copy(store.update(r, String(m.namespace ?? ''), String(m.name), copy(obj), true));
    },
    delete: (kind, namespace, name) => copy(store.delete(res(kind), namespace, name)),
    get: (kind, namespace, name) => {
      const o = store.get(res(kind), namespace, name);
      return o && copy(o);
    },
    list: (kind) => {
      const r = res(kind);
      return store.keys(r).map((k) => copy(store.getByKey(r, k)!));
    },
    resourceVersion: () => store.currentRv(),
    compact: (rv) => store.compact(rv),
    dropWatches: () => {
      for (const w of [...watches]) {
        w.close();
        w.res.destroy();
      }
    },
    failNext: (n, code = 500) => {
      failures = { n, code };
    },
    stallWatches: (s) => {
      stalled = s;
    },
    silenceWatches: () => {
      for (const w of watches) w.silent = true;
      return watches.size;
    },
    setServerCert: async (variant) => {
      if (!tls) throw new Error('setServerCert needs a TLS server');
      const m = variant === 'original' ? { certPem: tls.certPem, keyPem: tls.keyPem } : await serverCert(tls, variant);
      serving = { cert: m.certPem, key: m.keyPem };
      const s = server as https.Server;
      s.setSecureContext({ ...serving, ca: tls.caPem });
      // New ticket keys: a cached session must not skip the new certificate's verification.
      s.setTicketKeys(randomBytes(48));
      for (const w of [...watches]) w.close();
      for (const sock of sockets) sock.destroy();
    },
    setForbidden: (f) => {
      forbidden = f;
    },
    setWatchExpiredMode: (m) => {
      expiredMode = m;
    },
    sendBookmarks: () => {
      for (const w of watches) if (w.bookmarks) bookmark(w);
    },
    activeWatches: () => watches.size,
    stop: async () => {
      await close();
      await rm(dir, { recursive: true, force: true });
    },
    restart: async (o) => {
      await close();
      if (o?.downMs) await new Promise((r) => setTimeout(r, o.downMs));
      o?.whileDown?.();
      await listen();
    },
  };
}

