// Typed nftables objects (the role of sigs.k8s.io/knftables' Table/Chain/Set/Map/Rule/Element):
// what a Transaction adds, flushes and deletes, and how each renders as `nft -f` text. Rule bodies
// stay text (as in knftables): the typed layer is about objects and their lifetimes, not about
// nft's expression grammar.

export type Family = 'ip' | 'ip6' | 'inet';

export interface TableRef {
  readonly family: Family;
  readonly name: string;
}

export interface Table {
  readonly kind: 'table';
  readonly comment?: string;
}

export interface BaseChainSpec {
  readonly type: 'filter' | 'nat' | 'route';
  readonly hook: string;
  readonly priority: number;
}

export interface Chain {
  readonly kind: 'chain';
  readonly name: string;
  /** Present for base chains (attached to a hook). */
  readonly base?: BaseChainSpec;
}

/** A set's or map's declaration, rendered `{ type … ; flags … ; timeout …s ; comment "…" ; }`. */
export interface SetSpec {
  /** `type` (e.g. "ipv4_addr", "inet_proto . inet_service : verdict"); exclusive with typeOf. */
  readonly type?: string;
  /** `typeof` (e.g. "numgen random mod 1 : verdict"). */
  readonly typeOf?: string;
  readonly flags?: readonly string[];
  /** Element timeout in seconds. */
  readonly timeout?: number;
  readonly comment?: string;
}

export interface NamedSet {
  readonly kind: 'set' | 'map';
  readonly name: string;
  readonly spec: SetSpec;
}

export interface Rule {
  readonly kind: 'rule';
  readonly chain: string;
  /** Rule body as nft text, e.g. `ip daddr @cluster-ips reject`. */
  readonly rule: string;
}

/** A rule known by its handle (only deleted that way). */
export interface RuleHandle {
  readonly kind: 'rule-handle';
  readonly chain: string;
  readonly handle: number;
}

export interface Element {
  readonly key: string;
  /** Map value (absent for set elements). */
  readonly value?: string;
  readonly comment?: string;
}

/**
 * Elements of one set or map. A batch renders itself (chunked commands) and lists its elements as
 * typed values: planners keep their own compact element sources (10^5 endpoint elements in a
 * full plan are written as text pieces, never as one object each), the fake reads `items()`.
 */
export interface ElementBatch {
  readonly count: number;
  items(): Iterable<Element>;
  /** Appends `<head> { e1, e2, … }` commands of at most ELEMENT_CHUNK elements each. */
  render(head: string, verb: 'add' | 'delete', emit: (line: string, elements: number) => void): void;
}

export interface Elements {
  readonly kind: 'element';
  readonly set: string;
  readonly batch: ElementBatch;
}

export type NftObject = Table | Chain | NamedSet | Rule | RuleHandle | Elements;
/** `create` (tables only here) fails when the object exists, where `add` is a no-op. */
export type Verb = 'add' | 'create' | 'flush' | 'delete';

/** Elements per `add element` / `delete element` command (one command per map would be a huge line). */
export const ELEMENT_CHUNK = 1000;

/** A double-quoted nft string; quotes, backslashes and line breaks become "_" so the text stays inert. */
export function quote(s: string): string {
  return `"${s.replace(/["\\\n\r]/g, '_')}"`;
}

export function renderSpec(s: SetSpec): string {
  let out = '{ ';
  if (s.type !== undefined) out += `type ${s.type} ; `;
  if (s.typeOf !== undefined) out += `typeof ${s.typeOf} ; `;
  if (s.flags && s.flags.length > 0) out += `flags ${s.flags.join(',')} ; `;
  if (s.timeout !== undefined) out += `timeout ${s.timeout}s ; `;
  if (s.comment !== undefined) out += `comment ${quote(s.comment)} ; `;
  return out + '}';
}

export function sameSpec(a: SetSpec, b: SetSpec): boolean {
  return renderSpec(a) === renderSpec(b);
}

/** One element as text: the key for deletes; key, comment and value for adds. */
export function elementText(verb: 'add' | 'delete', e: Element): string {
  if (verb === 'delete') return e.key;
  let text = e.key;
  if (e.comment !== undefined) text += ` comment ${quote(e.comment)}`;
  if (e.value !== undefined) text += ` : ${e.value}`;
  return text;
}

/**
 * Builds `<head> { e1, e2, … }` commands of at most ELEMENT_CHUNK elements from text pieces,
 * joined once per command (no intermediate string per element: 10^5 of them in a full plan).
 */
export class ElementChunks {
  private parts: string[];
  private n = 0;
  constructor(
    private readonly head: string,
    private readonly emit: (line: string, elements: number) => void,
  ) {
    this.parts = [head, ' { '];
  }
  /** Starts the next element; push its pieces onto the returned array. */
  next(): string[] {
    if (this.n === ELEMENT_CHUNK) this.flush();
    if (this.n > 0) this.parts.push(', ');
    this.n++;
    return this.parts;
  }
  flush(): void {
    if (this.n === 0) return;
    this.parts.push(' }');
    this.emit(this.parts.join(''), this.n);
    this.parts = [this.head, ' { '];
    this.n = 0;
  }
}

/** A batch over a plain list of typed elements. */
export function elementList(elements: readonly Element[]): ElementBatch {
  return {
    count: elements.length,
    items: () => elements,
    render(head, verb, emit) {
      const w = new ElementChunks(head, emit);
      for (const e of elements) w.next().push(elementText(verb, e));
      w.flush();
    },
  };
}
