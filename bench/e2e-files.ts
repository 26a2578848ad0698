// Object files for the end-to-end benchmark (bench/e2e.ts): the test API server's `--load` preload
// and the `--manifests` directories (JSON and YAML), all with the synthetic cluster of fixtures.ts
// plus this node's Node object. Written in chunks so 50k services never sit in one string.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NAMESPACE, NODE_IP, range, serviceObject, sliceObject } from './fixtures.js';

export const E2E_NODE = 'bench-node';

export function nodeObject(): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: E2E_NODE, labels: { 'kubernetes.io/hostname': E2E_NODE } },
    status: { addresses: [{ type: 'InternalIP', address: NODE_IP }, { type: 'Hostname', address: E2E_NODE }] },
  };
}

/** Without metadata.resourceVersion (the API server refuses creates that carry one). */
function fresh(o: Record<string, unknown>): Record<string, unknown> {
  const { resourceVersion: _rv, ...meta } = o.metadata as Record<string, unknown>;
  return { ...o, metadata: meta };
}

/** Objects 0..n-1 in `files` groups: service i then its slice, so every file holds whole services. */
function* groups(n: number, endpoints: number, files: number): Generator<Record<string, unknown>[]> {
  const per = Math.max(1, Math.ceil(n / files));
  for (let start = 0; start < n; start += per) {
    const out: Record<string, unknown>[] = [];
    for (let i = start; i < Math.min(n, start + per); i++) out.push(fresh(serviceObject(i)), fresh(sliceObject(i, range(endpoints))));
    yield out;
  }
}

const list = (items: readonly Record<string, unknown>[]): string => JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) + '\n';

/** The test API server's preload: the namespace, the Node, N Services + N EndpointSlices (JSON lists). */
export function writeApiPreload(dir: string, n: number, endpoints: number): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '000-base.json'), list([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } }, nodeObject()]));
  let k = 0;
  for (const g of groups(n, endpoints, Math.ceil(n / 1000))) writeFileSync(join(dir, `svc-${String(k++).padStart(4, '0')}.json`), list(g));
}

/**
 * A `--manifests` directory of 100 files (+ the Node): `json` = one `kind: List` per `.json` file;
 * `yaml` = multi-document `.yaml` files whose documents are JSON flow mappings (what a generator
 * writes; the shape the issue measured).
 */
export function writeManifests(dir: string, n: number, endpoints: number, format: 'json' | 'yaml'): void {
  mkdirSync(dir, { recursive: true });
  const ext = format === 'json' ? 'json' : 'yaml';
  const text = (objs: readonly Record<string, unknown>[]): string => (format === 'json' ? list(objs) : objs.map((o) => `---\n${JSON.stringify(o)}\n`).join(''));
  writeFileSync(join(dir, `000-node.${ext}`), text([nodeObject()]));
  let k = 0;
  for (const g of groups(n, endpoints, 100)) writeFileSync(join(dir, `svc-${String(k++).padStart(3, '0')}.${ext}`), text(g));
}
