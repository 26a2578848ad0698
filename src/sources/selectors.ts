// Kubernetes label and field selectors: parsing and matching, shared by the manifests source
// (which applies upstream's informer filters locally) and the test API server.

export type LabelRequirement =
  | { op: 'exists' | 'notexists'; key: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: '=' | '!='; key: string; value: string };

export class SelectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelectorError';
  }
}

/** Split on commas that are not inside parentheses (set-based values contain commas). */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((p) => p.trim()).filter((p) => p !== '');
}

const KEY = /^[A-Za-z0-9][-A-Za-z0-9_./]*$/;

function checkKey(key: string, whole: string): string {
  if (!KEY.test(key)) throw new SelectorError(`invalid label key ${JSON.stringify(key)} in selector ${JSON.stringify(whole)}`);
  return key;
}

export function parseLabelSelector(s: string): LabelRequirement[] {
  const reqs: LabelRequirement[] = [];
  for (const part of splitTop(s)) {
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/))) {
      const values = m[3]!.split(',').map((v) => v.trim()).filter((v) => v !== '');
      reqs.push({ op: m[2] as 'in' | 'notin', key: checkKey(m[1]!, s), values });
    } else if ((m = part.match(/^!\s*(\S+)$/))) {
      reqs.push({ op: 'notexists', key: checkKey(m[1]!, s) });
    } else if ((m = part.match(/^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/))) {
      reqs.push({ op: m[2] === '!=' ? '!=' : '=', key: checkKey(m[1]!, s), value: m[3]! });
    } else if ((m = part.match(/^(\S+)$/))) {
      reqs.push({ op: 'exists', key: checkKey(m[1]!, s) });
    } else {
      throw new SelectorError(`unable to parse requirement ${JSON.stringify(part)} in selector ${JSON.stringify(s)}`);
    }
  }
  return reqs;
}

export function matchLabels(reqs: readonly LabelRequirement[], labels: Readonly<Record<string, unknown>> | undefined): boolean {
  const l = labels ?? {};
  for (const r of reqs) {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = has ? String(l[r.key]) : undefined;
    switch (r.op) {
      case 'exists':
        if (!has) return false;
        break;
      case 'notexists':
        if (has) return false;
        break;
      case 'in':
        if (!has || !r.values.includes(v!)) return false;
        break;
      case 'notin':
        if (has && r.values.includes(v!)) return false;
        break;
      case '=':
        if (!has || v !== r.value) return false;
        break;
      case '!=':
        if (has && v === r.value) return false;
        break;
    }
  }
  return true;
}

export interface FieldRequirement {
  readonly path: string;
  readonly op: '=' | '!=';
  readonly value: string;
}

export function parseFieldSelector(s: string): FieldRequirement[] {
  return splitTop(s).map((part) => {
    const m = part.match(/^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw new SelectorError(`invalid field selector requirement ${JSON.stringify(part)}`);
    return { path: m[1]!, op: m[2] === '!=' ? '!=' : '=', value: m[3]! };
  });
}

/** The value at a dotted path, as the API server's field label conversion yields it ("" when absent). */
export function fieldValue(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur === undefined || cur === null ? '' : String(cur);
}

export function matchFields(reqs: readonly FieldRequirement[], obj: unknown): boolean {
  for (const r of reqs) {
    const v = fieldValue(obj, r.path);
    if (r.op === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}

// Upstream kube-proxy's informer filters (cmd/kube-proxy server.go).
export const PROXY_LABEL_SELECTOR = '!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless';
export const SERVICE_FIELD_SELECTOR = 'spec.clusterIP!=None';
export function nodeFieldSelector(nodeName: string): string {
  return `metadata.name=${nodeName}`;
}
