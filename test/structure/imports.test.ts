// Layering of src/ (docs/architecture.md "Module map"): no two top-level folders import each other
// (type-only imports count: they are still a dependency of the design), and no runtime import cycle
// between modules. Reads the TypeScript sources; no build output involved.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../support/repo-root.js';

const SRC = join(repoRoot(), 'src');
const IMPORT = /^(?:import|export)\s+(type\s+)?(?:[^'"]*?from\s+)?['"](\.[^'"]+)['"]/gm;

interface Edge {
  readonly to: string;
  readonly typeOnly: boolean;
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

function graph(): Map<string, Edge[]> {
  const g = new Map<string, Edge[]>();
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    const edges: Edge[] = [];
    for (const m of text.matchAll(IMPORT)) edges.push({ to: normalize(join(dirname(file), m[2]!)).replace(/\.js$/, '.ts'), typeOnly: m[1] !== undefined });
    g.set(file, edges);
  }
  return g;
}

const folderOf = (file: string): string => relative(SRC, file).split(sep)[0]!;

test('no two top-level folders of src/ import each other', () => {
  const deps = new Map<string, Map<string, string>>();
  for (const [from, edges] of graph()) {
    for (const e of edges) {
      const a = folderOf(from);
      const b = folderOf(e.to);
      if (a === b || a.endsWith('.ts') || b.endsWith('.ts')) continue;
      if (!deps.has(a)) deps.set(a, new Map());
      deps.get(a)!.set(b, `${relative(SRC, from)} -> ${relative(SRC, e.to)}`);
    }
  }
  const cycles: string[] = [];
  for (const [a, bs] of deps) for (const [b, why] of bs) if (a < b && deps.get(b)?.has(a)) cycles.push(`${a} <-> ${b}: ${why}; ${deps.get(b)!.get(a)}`);
  assert.deepEqual(cycles, []);
  assert.ok(deps.size > 10, 'the scan found the folders');
});

test('no runtime import cycle between modules', () => {
  const g = graph();
  const state = new Map<string, 'active' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, path: string[]): void => {
    state.set(f, 'active');
    for (const e of g.get(f) ?? []) {
      if (e.typeOnly || !g.has(e.to)) continue;
      const s = state.get(e.to);
      if (s === 'active') cycles.push([...path.slice(path.indexOf(e.to)), e.to].map((p) => relative(SRC, p)).join(' -> '));
      else if (s === undefined) visit(e.to, [...path, e.to]);
    }
    state.set(f, 'done');
  };
  for (const f of g.keys()) if (!state.has(f)) visit(f, [f]);
  assert.deepEqual(cycles, []);
});
