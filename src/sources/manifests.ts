// --manifests=DIR: a Source with no API server. Every *.yaml/*.yml/*.json file in DIR (top level only;
// multi-document YAML and `kind: List` allowed) contributes Service, EndpointSlice, (this node's) Node and
// ServiceCIDR objects, filtered exactly as the API path's selectors would. The directory is watched (fs.watch +
// debounce, plus a slow periodic rescan because fs.watch misses events on some filesystems and on
// ConfigMap-style symlink swaps) and changes are emitted as ADDED/MODIFIED/DELETED by diffing keyed sets.
// A file that fails to parse keeps contributing its previous objects: a half-written file must never
// make Services disappear.
//
// Memory and start-up: only a file's digest and, per object, its identity and a 53-bit fingerprint of
// the slimmed object are kept between scans; the objects themselves are handed to the handler from the
// parse that produced them and then dropped (the model keeps its own parsed copy). A file is parsed
// again only when its content changed -- or, rarely, when an object of an unchanged file must be
// emitted again (a duplicate's winning file dropped it, or the source restarted).

import { createHash } from 'node:crypto';
import { promises as fsp, watch as fsWatch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { createLogger, type Logger } from '../log/logger.js';
import { yaml } from '../util/yaml.js';
import { KINDS, asRecord, metaOf, selectorPredicate, selectorsFor, slimObject } from './objects.js';
import type { ObjectKind, Source, SourceHandler } from './types.js';
import { FingerprintError, fingerprint } from './fingerprint.js';
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
  readonly namespace: string;
  readonly name: string;
  /** The file it came from: named in the model's message when the object is invalid. */
  readonly file: string;
  /** fingerprint() (./fingerprint.ts) of the slimmed object, to tell MODIFIED from an unchanged rewrite. */
  readonly digest: number;
  /**
   * The object without the fields no consumer reads (slimObject), from the parse that produced this
   * entry, until it has been handed to the handler (or found unchanged); then dropped. Keeping 10k
   * Services' and 10k slices' objects (as JS trees, or v8.serialize'd as before) cost tens of MB and,
   * serializing, a third of the initial load's CPU.
   */
  object: Record<string, unknown> | undefined;
}

/** What a DELETED event carries: only the identity matters to consumers (as on the API path). */
function tombstoneOf(e: Entry): Record<string, unknown> {
  const metadata: Record<string, unknown> = { name: e.name };
  if (e.namespace) metadata.namespace = e.namespace;
  return { apiVersion: KINDS[e.kind].apiVersion, kind: e.kind, metadata };
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
/** Files read ahead of the one being parsed (see scanOnce). */
const READ_AHEAD = 4;

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

/**
 * The documents of `text` when every one of them is JSON (a `.json` file, or YAML whose documents are JSON
 * mappings separated by `---` lines), else null. JSON.parse is ~50x faster than the YAML parser on such
 * documents (10k Services' manifests: ~0.3 s instead of ~11 s), and gives the same values: JSON is YAML.
 */
export function parseJsonDocuments(text: string): unknown[] | null {
  const first = /\S/.exec(text)?.[0];
  // A stream may begin with a document marker (`---` before the first document, as generators write).
  if (first === '-') return /^\s*---[ \t]*\r?\n/.test(text) ? jsonDocumentsOf(text) : null;
  if (first !== '{' && first !== '[') return null;
  // One document (a .json file): parsed whole, without splitting and trimming a copy of the text. A
  // `---` line makes JSON.parse fail right there, so several documents cost little extra here.
  try {
    return [JSON.parse(text)];
  } catch {
    // several documents, or not JSON: below
  }
  return jsonDocumentsOf(text);
}

/** Documents separated by `---` lines, each a JSON object or array; null when one is not. */
function jsonDocumentsOf(text: string): unknown[] | null {
  const out: unknown[] = [];
  for (const chunk of text.split(/^---[ \t]*$/m)) {
    const t = chunk.trim();
    if (t === '') continue;
    if (t[0] !== '{' && t[0] !== '[') return null;
    try {
      out.push(JSON.parse(t));
    } catch {
      return null; // not JSON after all (a YAML flow mapping, comments, an error): the YAML parser decides
    }
  }
  return out;
}

function parseYamlDocuments(file: string, text: string): unknown[] {
  const docs = yaml().parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  if (!Array.isArray(docs)) return []; // EmptyStream: comments or whitespace only
  const out: unknown[] = [];
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) {
      const pos = err.linePos?.[0];
      // The yaml library's pretty message has a code excerpt after the first line; one log line wanted.
      throw new ManifestParseError(file, pos?.line, pos?.col, err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '').trim());
    }
    out.push(doc.toJS({ maxAliasCount: 100 }));
  }
  return out;
}

/** Parse one manifest file's text into raw documents (expanding `kind: List` / `*List` items). */
export function parseManifestText(file: string, text: string): unknown[] {
  const out: unknown[] = [];
  for (const value of parseJsonDocuments(text) ?? parseYamlDocuments(file, text)) {
    if (value === null || value === undefined) continue; // empty document ("---" alone)
    const rec = asRecord(value);
    const kind = rec?.kind;
    if (rec && typeof kind === 'string' && kind.endsWith('List') && Array.isArray(rec.items)) {
      for (const item of rec.items) out.push(item);
    } else out.push(value);
  }
  return out;
}

/** Equality of two file contents without keeping them (sha1: not for security, only change detection). */
function digestOf(content: Buffer): string {
  return createHash('sha1').update(content).digest('base64');
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
      log.warn('Ignoring manifest object of an unhandled kind', { file, kind: typeof kind === 'string' ? kind : '', handled: Object.keys(KINDS).join(', ') });
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
    const slim = slimObject(object);
    let digest: number;
    try {
      digest = fingerprint(slim);
    } catch (e) {
      if (!(e instanceof FingerprintError)) throw e;
      log.warn('Ignoring manifest object that refers to itself or is nested too deeply', { file, kind, object: meta.name, err: e.message });
      noteRejectedInput();
      return undefined;
    }
    const entry: Entry = { kind: info.kind, namespace: ns, name: meta.name, file, digest, object: slim };
    return [entryKey(info.kind, ns, meta.name), entry];
  }

  /** A file's bytes; null when it vanished (deleted or renamed since readdir), an Error when unreadable. */
  function readBytes(file: string): Promise<Buffer | null | Error> {
    return fsp.readFile(path.join(dir, file)).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? null : e));
  }

  /** `force`: parse even when unchanged, for objects that must be emitted again (see scanOnce). */
  async function loadFile(file: string, state: FileState | undefined, force = false): Promise<FileState | undefined> {
    return loadContent(file, state, await readBytes(file), force);
  }

  function loadContent(file: string, state: FileState | undefined, content: Buffer | null | Error, force = false): FileState | undefined {
    // Vanished between readdir and read: treated as removed.
    if (content === null) return undefined;
    if (content instanceof Error) {
      log.error('Cannot read manifest file; keeping its previous objects', { file, err: content });
      return state;
    }
    const digest = digestOf(content);
    if (state && state.digest === digest && !(force && state.ok)) return state;
    try {
      const entries = new Map<string, Entry>();
      // Decoded only when changed: a rescan of unchanged files reads and digests bytes, nothing more.
      const docs = parseManifestText(file, content.toString('utf8'));
      for (const raw of docs) {
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
    // Nothing handed over yet (the first scan): each file's objects go to the handler as soon as it is
    // parsed instead of all at the end, so they are garbage by the time the next file is parsed -- holding
    // all 20k objects of 10k Services until the end of the scan doubled the GC time of the first load.
    const streaming = handler !== undefined && emitted.size === 0;
    const seen = new Set<string>();
    // The next few files are read while one is parsed: a read takes several thread-pool round trips
    // (open, fstat, read, close), each waiting for the main thread, so reading only the next file left
    // the main thread idle for a few ms per file.
    const reads = new Map<number, Promise<Buffer | null | Error>>();
    for (let i = 0; i < Math.min(READ_AHEAD, names.length); i++) reads.set(i, readBytes(names[i]!));
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const content = await reads.get(i)!;
      reads.delete(i);
      if (i + READ_AHEAD < names.length) reads.set(i + READ_AHEAD, readBytes(names[i + READ_AHEAD]!));
      const prevState = files.get(name);
      const next = loadContent(name, prevState, content);
      if (next) {
        files.set(name, next);
        seen.add(name);
        if (streaming && next !== prevState) emitFile(next);
      }
    }
    for (const name of [...files.keys()]) if (!seen.has(name)) files.delete(name);

    let next = collect(names);
    // Objects to emit whose file was not parsed in this scan (their object was dropped once emitted):
    // a duplicate whose winning file dropped it, or everything after a restart. Parse those files again.
    const reparse = new Set<string>();
    for (const [k, e] of next) if (!e.object && changed(emitted.get(k), e) && files.get(e.file)?.ok) reparse.add(e.file);
    if (reparse.size > 0) {
      for (const name of reparse) {
        const st = await loadFile(name, files.get(name), true);
        if (st) files.set(name, st);
        else files.delete(name);
      }
      next = collect(names);
    }
    diffAndEmit(next);
  }

  /**
   * The first scan's per-file emission, in kind order within the file. A key defined again by a later
   * file is emitted again from it (MODIFIED when different): the later file wins, as in the full diff.
   */
  function emitFile(st: FileState): void {
    for (const kind of KIND_ORDER) {
      for (const [k, e] of st.entries) {
        if (e.kind !== kind || !e.object) continue;
        const old = emitted.get(k);
        if (changed(old, e)) handler!.onEvent(kind, old ? 'MODIFIED' : 'ADDED', e.object, e.file);
        e.object = undefined;
        emitted.set(k, e);
      }
    }
  }

  function changed(old: Entry | undefined, e: Entry): boolean {
    return !old || old.digest !== e.digest;
  }

  /** The objects of all files, keyed; a key in several files is the last file's. */
  function collect(names: readonly string[]): Map<string, Entry> {
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
    return next;
  }

  function diffAndEmit(next: Map<string, Entry>): void {
    if (!handler) {
      emitted = next;
      return;
    }
    const prev = emitted;
    // Per kind in a fixed order so Services precede their EndpointSlices, like an initial list would.
    for (const kind of KIND_ORDER) {
      for (const [k, e] of prev) {
        if (e.kind === kind && !next.has(k)) handler.onEvent(kind, 'DELETED', tombstoneOf(e), e.file);
      }
      for (const [k, e] of next) {
        if (e.kind !== kind) continue;
        const old = prev.get(k);
        if (!changed(old, e)) continue;
        if (!e.object) {
          // Its file no longer parses (it was broken after this object was emitted from it): the
          // handler keeps what it has, and a later scan emits the object once the file parses again.
          if (old) next.set(k, old);
          else next.delete(k);
          continue;
        }
        handler.onEvent(kind, old ? 'MODIFIED' : 'ADDED', e.object, e.file);
      }
    }
    emitted = next;
    // Every object the handler needs now has been handed over (or was unchanged): drop them all.
    for (const st of files.values()) for (const e of st.entries.values()) e.object = undefined;
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
      // The first scan emits the whole set in kind order in one go (a restart: all of it again).
      handler = h;
      emitted = new Map();
      await scan();
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
