// Parses the `nft -f` text that Transaction.render writes back into operations, so the fake can
// stand behind a ToolRunner (`nft -f -`) or an NftStream exactly where the kernel would. Only that
// subset of nft's grammar: one command per line (or `;`-separated, as the interactive session
// sends them).

import { type Element, type Family, type NftObject, type SetSpec, elementList } from './objects.js';
import type { Op } from './transaction.js';

/** Splits at `sep` outside double quotes and braces. */
function splitTop(s: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === '{') depth++;
    else if (!quoted && c === '}') depth--;
    else if (!quoted && depth === 0 && s.startsWith(sep, i)) {
      out.push(s.slice(start, i));
      start = i + sep.length;
      i += sep.length - 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

function unquote(s: string): string {
  return s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1) : s;
}

function braced(rest: string): string {
  const t = rest.trim();
  if (!t.startsWith('{') || !t.endsWith('}')) throw new Error(`expected { … }: ${rest}`);
  return t.slice(1, -1).trim();
}

function parseSpec(body: string): SetSpec {
  const spec: { type?: string; typeOf?: string; flags?: string[]; timeout?: number; comment?: string } = {};
  for (const part of splitTop(body, ';').map((p) => p.trim()).filter((p) => p !== '')) {
    const [word, ...r] = part.split(' ');
    const v = r.join(' ');
    if (word === 'type') spec.type = v;
    else if (word === 'typeof') spec.typeOf = v;
    else if (word === 'flags') spec.flags = v.split(',');
    else if (word === 'timeout') spec.timeout = Number(v.replace(/s$/, ''));
    else if (word === 'comment') spec.comment = unquote(v);
    else throw new Error(`unknown set attribute: ${part}`);
  }
  return spec;
}

function parseElement(text: string): Element {
  const parts = splitTop(text.trim(), ' : ');
  let key = parts[0]!;
  const value = parts.length > 1 ? parts.slice(1).join(' : ') : undefined;
  let comment: string | undefined;
  const c = key.indexOf(' comment "');
  if (c >= 0) {
    comment = unquote(key.slice(c + ' comment '.length));
    key = key.slice(0, c);
  }
  return { key, ...(value !== undefined ? { value } : {}), ...(comment !== undefined ? { comment } : {}) };
}

/** One command. */
export function parseCommand(line: string): Op {
  const words = line.trim().split(' ');
  const [verb, kind, family, table] = words as [string, string, Family, string];
  if (verb !== 'add' && verb !== 'delete' && verb !== 'flush' && !(verb === 'create' && kind === 'table')) throw new Error(`unsupported command: ${line}`);
  if (family !== 'ip' && family !== 'ip6' && family !== 'inet') throw new Error(`unsupported family: ${line}`);
  const ref = { family, name: table };
  const name = words[4] ?? '';
  const rest = words.slice(5).join(' ');
  let object: NftObject;
  switch (kind) {
    case 'table': {
      const body = words.slice(4).join(' ');
      const spec = body === '' ? {} : parseSpec(braced(body));
      object = spec.comment !== undefined ? { kind: 'table', comment: spec.comment } : { kind: 'table' };
      break;
    }
    case 'chain': {
      if (rest === '') {
        object = { kind: 'chain', name };
        break;
      }
      const m = /^type (\w+) hook (\w+) priority (-?\d+) ;$/.exec(braced(rest));
      if (!m) throw new Error(`unsupported chain declaration: ${line}`);
      object = { kind: 'chain', name, base: { type: m[1] as 'filter' | 'nat' | 'route', hook: m[2]!, priority: Number(m[3]) } };
      break;
    }
    case 'set':
    case 'map':
      object = { kind, name, spec: rest === '' ? {} : parseSpec(braced(rest)) };
      break;
    case 'rule': {
      const h = /^handle (\d+)$/.exec(rest);
      object = verb === 'delete' && h ? { kind: 'rule-handle', chain: name, handle: Number(h[1]) } : { kind: 'rule', chain: name, rule: rest };
      break;
    }
    case 'element':
      object = { kind: 'element', set: name, batch: elementList(splitTop(braced(rest), ',').map(parseElement)) };
      break;
    default:
      throw new Error(`unsupported object: ${line}`);
  }
  return { verb, table: ref, object };
}

/** A whole `nft -f` text (lines; `;` also separates commands outside quotes and braces). */
export function parseScript(text: string): Op[] {
  const ops: Op[] = [];
  for (const line of text.split('\n')) {
    for (const cmd of splitTop(line, ';')) if (cmd.trim() !== '') ops.push(parseCommand(cmd));
  }
  return ops;
}
