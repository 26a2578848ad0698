// --manifests=DIR: a Source with no API server. Every *.yaml/*.yml/*.json file in DIR (top level only;
// multi-document YAML and `kind: List` allowed) contributes Service, EndpointSlice, (this node's) Node and
// ServiceCIDR objects, filtered exactly as the API path's selectors would. The directory is watched (fs.watch +
// debounce, plus a slow periodic rescan because fs.watch misses events on some filesystems and on
// ConfigMap-style symlink swaps) and changes are emitted as ADDED/MODIFIED/DELETED by diffing keyed sets.
// A file that fails to parse keeps contributing its previous objects: a half-written file must never
// make Services disappear.

import { createHash } from 'node:crypto';
import { promises as fsp, watch as fsWatch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import { parseAllDocuments } from 'yaml';
import { createLogger, type Logger } from '../log/logger.js';
import { KINDS, asRecord, metaOf, selectorPredicate, selectorsFor, slimObject } from './objects.js';
import type { ObjectKind, Source, SourceHandler } from './types.js';
import { unknownFields } from './manifest-fields.js';
import { noteRejectedInput } from './rejections.js';

export interface ManifestsOptions {
  readonly nodeName: string;
  /** Quiet period after a change notification before rescanning (default 100 ms). */
  readonly debounceMs?: number;
  /** Fallback full rescan period (default 10 s). */
  readonly rescanMs?: number;
  readonly logger?: Logger;
}

interface Entry {
  readonly kind: ObjectKind;
  /** The file it came from: named in the model's message when the object is invalid. */
  readonly file: string;
  /**
   * The object without the fields no consumer reads (slimObject), kept for as long as its file is
   * unchanged, serialized (v8.serialize: structured clone, so every value -- Infinity, -0 -- comes back
   * as YAML gave it): a few hundred bytes instead of a tree of small JS objects, which at 10k Services +
   * 10k slices was most of this source's heap. Deserialized only when emitted.
   */
  readonly data: Buffer;
  /** Digest of `data`, to tell MODIFIED from an unchanged rewrite. */
  readonly digest: string;
}

function objectOf(e: Entry): Record<string, unknown> {
  return v8.deserialize(e.data) as Record<string, unknown>;
}

interface FileState {
  /**
   * Digest of the content of the last successful parse (or of the last failure, to log a broken file
   * only once). A digest, not the text: the text of every file stayed in memory otherwise.
   */
  digest: string;
  ok: boolean;
  /** Objects from the last successful parse, keyed kind/namespace/name. */
  entries: Map<string, Entry>;
}

const KIND_ORDER: readonly ObjectKind[] = ['Service', 'EndpointSlice', 'Node', 'ServiceCIDR'];
const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export class ManifestParseError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly column: number | undefined,
    readonly detail: string,
  ) {
    super(`${file}${line !== undefined ? `:${line}:${column ?? 1}` : ''}: ${detail}`);
    this.name = 'ManifestParseError';
  }
}

/** Parse one manifest file's text into raw documents (expanding `kind: List` / `*List` items). */
export function parseManifestText(file: string, text: string): unknown[] {
  const docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  if (!Array.isArray(docs)) return []; // EmptyStream: comments or whitespace only
  const out: unknown[] = [];
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) {
      const pos = err.linePos?.[0];
      // The yaml library's pretty message has a code excerpt after the first line; one log line wanted.
      throw new ManifestParseError(file, pos?.line, pos?.col, err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '').trim());
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue; // empty document ("---" alone)
    const rec = asRecord(value);
    const kind = rec?.kind;
    if (rec && typeof kind === 'string' && kind.endsWith('List') && Array.isArray(rec.items)) out.push(...rec.items);
    else out.push(value);
  }
  return out;
}

/** Equality of two texts without keeping them (sha1: not for security, only change detection). */
function digestOf(text: string | Buffer): string {
  return createHash('sha1').update(text).digest('base64');
}

function entryKey(kind: ObjectKind, ns: string, name: string): string {
  return `${kind}/${ns}/${name}`;
}

export function createManifestsSource(dir: string, opts: ManifestsOptions): Source {
  const log = opts.logger ?? createLogger('manifests');
  const debounceMs = opts.debounceMs ?? 100;
  const rescanMs = opts.rescanMs ?? 10_000;
  const filters: Record<ObjectKind, (o: unknown) => boolean> = {
    Service: selectorPredicate(selectorsFor('Service', opts.nodeName)),
    EndpointSlice: selectorPredicate(selectorsFor('EndpointSlice', opts.nodeName)),
    Node: selectorPredicate(selectorsFor('Node', opts.nodeName)),
    ServiceCIDR: selectorPredicate(selectorsFor('ServiceCIDR', opts.nodeName)),
  };

  const files = new Map<string, FileState>();
  let emitted = new Map<string, Entry>();
  let handler: SourceHandler | undefined;
  let watcher: FSWatcher | undefined;
  let debounce: NodeJS.Timeout | undefined;
  let periodic: NodeJS.Timeout | undefined;
  let scanning: Promise<void> | undefined;
  let rescanRequested = false;
  let stopped = false;
  let warnedDups = new Set<string>();
  let dirUnreadable = false;

  /** Validate and filter one raw document; returns its entry or undefined (with a reason logged at v(2)). */
  function toEntry(file: string, raw: unknown): [string, Entry] | undefined {
    const obj = asRecord(raw);
    const kind = obj?.kind;
    if (!obj || typeof kind !== 'string' || !(kind in KINDS)) {
      // At the default verbosity: a misspelt kind ("Sevice") would otherwise vanish without a word.
      log.warn('Ignoring manifest object of an unhandled kind', { file, kind: typeof kind === 'string' ? kind : '', handled: 'Service, EndpointSlice, Node' });
      return undefined;
    }
    const info = KINDS[kind as ObjectKind];
    if (obj.apiVersion !== info.apiVersion) {
      // Likely meant for us (e.g. discovery.k8s.io/v1beta1), so worth a warning; logged only when the file is (re)parsed.
      log.warn('Ignoring manifest object with an unsupported apiVersion', { file, kind, apiVersion: String(obj.apiVersion), want: info.apiVersion });
      noteRejectedInput();
      return undefined;
    }
    const meta = metaOf(obj);
    if (!meta.name) {
      log.warn('Ignoring manifest object without metadata.name', { file, kind });
      noteRejectedInput();
      return undefined;
    }
    for (const u of unknownFields(kind, obj)) log.warn(`Unknown field in manifest object; it has no effect${u.hint}`, { file, kind, object: meta.name, field: u.field });
    let object = obj;
    // Fill the namespace the way the API server would, so consumers key objects the same on both paths.
    const ns = info.namespaced ? meta.namespace || 'default' : '';
    if (info.namespaced && !meta.namespace) {
      object = { ...obj, metadata: { ...(asRecord(obj.metadata) ?? {}), namespace: ns } };
    }
    if (!filters[info.kind](object)) {
      log.v(2).info('Manifest object filtered out by the proxy selectors', { file, kind, namespace: ns, name: meta.name });
      return undefined;
    }
    // Slimmed after the selector check: it reads only name/namespace/labels and fields, which slimming keeps.
    const data = v8.serialize(slimObject(object));
    return [entryKey(info.kind, ns, meta.name), { kind: info.kind, file, data, digest: digestOf(data) }];
  }

  async function loadFile(file: string, state: FileState | undefined): Promise<FileState | undefined> {
    let content: string;
    try {
      content = await fsp.readFile(path.join(dir, file), 'utf8');
    } catch (e) {
      // Vanished between readdir and read (deleted or renamed): treated as removed.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      log.error('Cannot read manifest file; keeping its previous objects', { file, err: e as Error });
      return state;
    }
    const digest = digestOf(content);
    if (state && state.digest === digest) return state;
    try {
      const entries = new Map<string, Entry>();
      for (const raw of parseManifestText(file, content)) {
        const e = toEntry(file, raw);
        if (e) entries.set(e[0], e[1]);
      }
      if (state && !state.ok) log.info('Manifest file parses again', { file });
      return { digest, ok: true, entries };
    } catch (e) {
      const pe = e instanceof ManifestParseError ? e : undefined;
      noteRejectedInput();
      log.error('Cannot parse manifest file; keeping its previous objects', {
        file: path.join(dir, file),
        line: pe?.line,
        column: pe?.column,
        err: pe ? pe.detail : (e as Error).message,
      });
      return { digest, ok: false, entries: state?.entries ?? new Map() };
    }
  }

  async function scanOnce(): Promise<void> {
    let names: string[];
    try {
      names = (await fsp.readdir(dir)).filter((n) => !n.startsWith('.') && EXTENSIONS.has(path.extname(n).toLowerCase()));
    } catch (e) {
      // Logged once per outage, not on every periodic rescan.
      if (!dirUnreadable) log.error('Cannot read manifests directory; keeping the current objects', { dir, err: e as Error });
      dirUnreadable = true;
      return;
    }
    if (dirUnreadable) log.info('Manifests directory readable again', { dir });
    dirUnreadable = false;
    names.sort();
    const seen = new Set<string>();
    for (const name of names) {
      const next = await loadFile(name, files.get(name));
      if (next) {
        files.set(name, next);
        seen.add(name);
      }
    }
    for (const name of [...files.keys()]) if (!seen.has(name)) files.delete(name);

    const next = new Map<string, Entry>();
    const dups = new Set<string>();
    for (const name of names) {
      const st = files.get(name);
      if (!st) continue;
      for (const [k, e] of st.entries) {
        if (next.has(k)) {
          dups.add(k);
          // Logged once per duplicate, not on every periodic rescan.
          if (!warnedDups.has(k)) log.warn('Object defined in more than one manifest file; the later file wins', { key: k, file: name });
        }
        next.set(k, e);
      }
    }
    warnedDups = dups;
    diffAndEmit(next);
  }

  function diffAndEmit(next: Map<string, Entry>): void {
    const prev = emitted;
    emitted = next;
    if (!handler) return;
    // Per kind in a fixed order so Services precede their EndpointSlices, like an initial list would.
    for (const kind of KIND_ORDER) {
      for (const [k, e] of prev) {
        if (e.kind === kind && !next.has(k)) handler.onEvent(kind, 'DELETED', objectOf(e), e.file);
      }
      for (const [k, e] of next) {
        if (e.kind !== kind) continue;
        const old = prev.get(k);
        if (!old) handler.onEvent(kind, 'ADDED', objectOf(e), e.file);
        else if (old.digest !== e.digest) handler.onEvent(kind, 'MODIFIED', objectOf(e), e.file);
      }
    }
  }

  /** Serialize scans; a request during a scan runs one more scan after it. */
  function scan(): Promise<void> {
    if (scanning) {
      rescanRequested = true;
      return scanning;
    }
    scanning = (async () => {
      try {
        do {
          rescanRequested = false;
          await scanOnce();
        } while (rescanRequested && !stopped);
      } finally {
        scanning = undefined;
      }
    })();
    return scanning;
  }

  function schedule(): void {
    if (stopped) return;
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(() => {
      debounce = undefined;
      void scan();
    }, debounceMs);
  }

  return {
    async start(h: SourceHandler): Promise<void> {
      const st = await fsp.stat(dir).catch((e: Error) => {
        throw new Error(`manifests directory ${dir}: ${e.message}`);
      });
      if (!st.isDirectory()) throw new Error(`manifests directory ${dir}: not a directory`);
      stopped = false;
      // Watch first, so a change made during the initial scan schedules another scan instead of being missed.
      try {
        watcher = fsWatch(dir, { persistent: false }, () => schedule());
        watcher.on('error', (e) => {
          log.warn('Watching the manifests directory failed; relying on the periodic rescan', { dir, err: e });
          watcher?.close();
          watcher = undefined;
        });
      } catch (e) {
        log.warn('Cannot watch the manifests directory; relying on the periodic rescan', { dir, err: e as Error });
      }
      // Parse before handing the handler in, so the initial set is emitted in kind order in one go.
      await scan();
      handler = h;
      const initial = emitted;
      emitted = new Map();
      diffAndEmit(initial);
      for (const kind of KIND_ORDER) h.onSynced(kind);
      periodic = setInterval(() => void scan(), rescanMs);
      periodic.unref();
    },
    async stop(): Promise<void> {
      stopped = true;
      watcher?.close();
      watcher = undefined;
      if (debounce) clearTimeout(debounce);
      if (periodic) clearInterval(periodic);
      debounce = periodic = undefined;
      await scanning;
      handler = undefined;
    },
  };
}
