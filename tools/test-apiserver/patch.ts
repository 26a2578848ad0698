// PATCH bodies: JSON merge patch (RFC 7386), a strategic-merge subset good enough for `kubectl apply`
// on the kinds served here, and JSON patch (RFC 6902: add/remove/replace/test).

type Json = unknown;

function isObj(v: Json): v is Record<string, Json> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function mergePatch(target: Json, patch: Json): Json {
  if (!isObj(patch)) return patch;
  const out: Record<string, Json> = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

// Merge keys of the list fields kubectl apply sends element-wise (from the Go types' patchMergeKey tags).
const MERGE_KEYS: Record<string, string> = {
  ports: 'port',
  addresses: 'type',
  conditions: 'type',
  taints: 'key',
};

/** Strategic merge patch, the subset kubectl emits: $patch, $setElementOrder, $deleteFromPrimitiveList, $retainKeys. */
export function strategicMergePatch(target: Json, patch: Json): Json {
  if (!isObj(patch)) return patch;
  if (patch.$patch === 'delete') return undefined;
  if (patch.$patch === 'replace') {
    const { $patch: _ignored, ...rest } = patch;
    return rest;
  }
  const out: Record<string, Json> = isObj(target) ? { ...target } : {};
  const orders = new Map<string, Json[]>();
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch') continue;
    if (k === '$retainKeys') {
      if (Array.isArray(v)) for (const key of Object.keys(out)) if (!v.includes(key) && !(key in patch)) delete out[key];
      continue;
    }
    if (k.startsWith('$setElementOrder/')) {
      if (Array.isArray(v)) orders.set(k.slice('$setElementOrder/'.length), v);
      continue;
    }
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[field]) && Array.isArray(v)) out[field] = (out[field] as Json[]).filter((x) => !v.includes(x));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const mk = MERGE_KEYS[k];
    if (Array.isArray(v) && mk && v.every(isObj)) {
      out[k] = mergeList(Array.isArray(out[k]) ? (out[k] as Json[]) : [], v as Record<string, Json>[], mk);
      continue;
    }
    const merged = strategicMergePatch(out[k], v);
    if (merged === undefined) delete out[k];
    else out[k] = merged;
  }
  for (const [field, order] of orders) {
    const mk = MERGE_KEYS[field];
    const list = out[field];
    if (!Array.isArray(list)) continue;
    const keyOf = (x: Json): Json => (mk && isObj(x) ? x[mk] : x);
    const orderKeys = order.map(keyOf);
    const rank = (x: Json): number => {
      const i = orderKeys.findIndex((o) => JSON.stringify(o) === JSON.stringify(keyOf(x)));
      return i < 0 ? Number.MAX_SAFE_INTEGER : i;
    };
    out[field] = [...list].sort((a, b) => rank(a) - rank(b));
  }
  return out;
}

function mergeList(target: Json[], patch: Record<string, Json>[], key: string): Json[] {
  if (patch.some((p) => p.$patch === 'replace')) return patch.filter((p) => p.$patch !== 'replace');
  const out = [...target];
  for (const p of patch) {
    const i = out.findIndex((t) => isObj(t) && t[key] === p[key]);
    if (p.$patch === 'delete') {
      if (i >= 0) out.splice(i, 1);
    } else if (i >= 0) out[i] = strategicMergePatch(out[i], p);
    else out.push(strategicMergePatch({}, p));
  }
  return out;
}

export class JsonPatchError extends Error {}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new JsonPatchError(`invalid JSON pointer ${JSON.stringify(path)}`);
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function jsonPatch(doc: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw new JsonPatchError('JSON patch must be an array');
  let root: Json = structuredClone(doc);
  for (const op of ops) {
    if (!isObj(op) || typeof op.op !== 'string' || typeof op.path !== 'string') throw new JsonPatchError('invalid JSON patch operation');
    const segs = pointer(op.path);
    if (segs.length === 0) {
      if (op.op === 'replace' || op.op === 'add') root = structuredClone(op.value);
      else throw new JsonPatchError(`unsupported op ${op.op} on the root`);
      continue;
    }
    let parent: Json = root;
    for (const s of segs.slice(0, -1)) {
      parent = Array.isArray(parent) ? parent[Number(s)] : isObj(parent) ? parent[s] : undefined;
      if (parent === undefined) throw new JsonPatchError(`path ${op.path} does not exist`);
    }
    const last = segs[segs.length - 1]!;
    const has = Array.isArray(parent) ? last === '-' || Number(last) < parent.length : isObj(parent) && last in parent;
    switch (op.op) {
      case 'add':
        if (Array.isArray(parent)) parent.splice(last === '-' ? parent.length : Number(last), 0, structuredClone(op.value));
        else if (isObj(parent)) parent[last] = structuredClone(op.value);
        break;
      case 'replace':
      case 'remove':
        if (!has) throw new JsonPatchError(`path ${op.path} does not exist`);
        if (Array.isArray(parent)) {
          if (op.op === 'remove') parent.splice(Number(last), 1);
          else parent[Number(last)] = structuredClone(op.value);
        } else if (isObj(parent)) {
          if (op.op === 'remove') delete parent[last];
          else parent[last] = structuredClone(op.value);
        }
        break;
      case 'test': {
        const cur = Array.isArray(parent) ? parent[Number(last)] : isObj(parent) ? parent[last] : undefined;
        if (JSON.stringify(cur) !== JSON.stringify(op.value)) throw new JsonPatchError(`test failed at ${op.path}`);
        break;
      }
      default:
        throw new JsonPatchError(`unsupported JSON patch op ${op.op}`);
    }
  }
  return root;
}
