// Incremental parse of a LIST response body (`{"kind":…,"metadata":{…},"items":[{…},{…}]}`): each item
// of the top-level `items` array is handed to `onItem` as soon as its text is complete, parsed with plain
// JSON.parse, so a whole unpaginated list (client-go's first LIST, resourceVersion=0 from the watch cache)
// never exists at once as text nor as objects: at most one network chunk and one item are held, and the
// consumer (the model) works while the rest of the body is still arriving. Everything outside `items`
// (kind, apiVersion, metadata with resourceVersion and continue) is parsed at the end.
//
// The scan only tracks nesting and string boundaries; strings are skipped with indexOf (native speed),
// so the cost is a small fraction of JSON.parse's. Malformed JSON is left to JSON.parse to report.

export interface ListHead {
  /** The top-level object without its items (items: [] when the body had an items array). */
  readonly head: Record<string, unknown>;
  /** Whether the body had a top-level `items` array. */
  readonly hadItems: boolean;
  /** Items handed to onItem. */
  readonly count: number;
}

const QUOTE = 34;
const BACKSLASH = 92;
const OPEN_OBJ = 123;
const CLOSE_OBJ = 125;
const OPEN_ARR = 91;
const CLOSE_ARR = 93;

export class ListStreamParser {
  /** Unconsumed text; buf[0] is at absolute offset `base` of the body. */
  private buf = '';
  /** Scan position in buf. */
  private pos = 0;
  private depth = 0;
  private inString = false;
  private stringStart = 0;
  /** The last string closed at depth 1 (a key, or a value): the key of a following array. */
  private lastTopString = '';
  /** Inside the top-level items array (its contents are at depth >= 2). */
  private inItems = false;
  private hadItems = false;
  /** Start (in buf) of the item being read, or -1. */
  private itemStart = -1;
  /** Text outside the items array, kept for the final parse. */
  private rest = '';
  /** Start (in buf) of text not yet appended to rest, or -1 while inside items. */
  private restFrom = 0;
  private count = 0;

  constructor(private readonly onItem: (item: unknown) => void) {}

  /** Feed the next piece of the body (strings decoded as UTF-8 by the stream: never a split character). */
  write(chunk: string): void {
    this.buf += chunk;
    this.scan();
    this.compact();
  }

  /** The body is complete: parse what lies outside the items. */
  end(): ListHead {
    if (this.restFrom >= 0) this.rest += this.buf.slice(this.restFrom);
    this.buf = '';
    const head = JSON.parse(this.rest) as unknown;
    if (head === null || typeof head !== 'object' || Array.isArray(head)) throw new Error('LIST response is not a JSON object');
    return { head: head as Record<string, unknown>, hadItems: this.hadItems, count: this.count };
  }

  private scan(): void {
    const buf = this.buf;
    const n = buf.length;
    let i = this.pos;
    while (i < n) {
      if (this.inString) {
        let j = buf.indexOf('"', i);
        // A quote preceded by an odd run of backslashes is escaped.
        while (j >= 0) {
          let k = j - 1;
          while (buf.charCodeAt(k) === BACKSLASH) k--;
          if ((j - 1 - k) % 2 === 0) break;
          j = buf.indexOf('"', j + 1);
        }
        if (j < 0) {
          // The string goes on in the next chunk; a trailing backslash run is re-examined then.
          i = n;
          break;
        }
        this.inString = false;
        if (this.depth === 1) this.lastTopString = buf.slice(this.stringStart + 1, j);
        i = j + 1;
        continue;
      }
      const c = buf.charCodeAt(i);
      if (c === QUOTE) {
        this.inString = true;
        this.stringStart = i;
      } else if (c === OPEN_OBJ || c === OPEN_ARR) {
        this.depth++;
        if (this.depth === 2 && c === OPEN_ARR && this.lastTopString === 'items' && !this.hadItems) {
          // The items array begins: what came before it (and the '[') goes to rest.
          this.inItems = true;
          this.hadItems = true;
          this.rest += buf.slice(this.restFrom, i + 1);
          this.restFrom = -1;
        } else if (this.inItems && this.depth === 3) {
          this.itemStart = i;
        }
      } else if (c === CLOSE_OBJ || c === CLOSE_ARR) {
        if (this.inItems && this.depth === 3 && this.itemStart >= 0) {
          this.onItem(JSON.parse(buf.slice(this.itemStart, i + 1)));
          this.count++;
          this.itemStart = -1;
        } else if (this.inItems && this.depth === 2) {
          // The items array ends; rest resumes with its ']'.
          this.inItems = false;
          this.restFrom = i;
        }
        this.depth--;
      } else if (this.inItems && this.depth === 2 && c > 32 && c !== 44) {
        // A scalar item (not an object): no list item is one; JSON.parse reports it.
        if (this.itemStart < 0) throw new Error(`LIST response: an item is not an object (at ${JSON.stringify(buf.slice(i, i + 20))})`);
      }
      i++;
    }
    this.pos = i;
  }

  /** Drop consumed text so that at most the current item (or unparsed head) is held. */
  private compact(): void {
    let keep = this.pos;
    if (this.itemStart >= 0) keep = Math.min(keep, this.itemStart);
    if (this.restFrom >= 0) keep = Math.min(keep, this.restFrom);
    if (this.inString) keep = Math.min(keep, this.stringStart);
    if (keep === 0) return;
    this.buf = this.buf.slice(keep);
    this.pos -= keep;
    if (this.itemStart >= 0) this.itemStart -= keep;
    if (this.restFrom >= 0) this.restFrom -= keep;
    this.stringStart -= keep;
  }
}
