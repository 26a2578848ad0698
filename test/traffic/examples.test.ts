// examples/manifests (what tools/demo.ts feeds the proxy) must parse, and every endpoint address in
// it must be a pod the demo topology creates, so the demo cannot silently point at nothing.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseManifestText } from '../../src/sources/manifests.js';
import { repoRoot } from '../support/repo-root.js';
import { ADDR, PODS } from '../support/topology.js';

interface Obj {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  endpoints?: { addresses?: string[] }[];
  status?: { addresses?: { address?: string }[] };
}

test('examples/manifests parse and use the demo topology addresses', () => {
  const dir = join(repoRoot(import.meta.url), 'examples/manifests');
  const objects: Obj[] = [];
  for (const f of readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f)).sort()) {
    objects.push(...(parseManifestText(f, readFileSync(join(dir, f), 'utf8')) as Obj[]));
  }
  const names = objects.map((o) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`).sort();
  assert.deepEqual(names, [
    'EndpointSlice/demo/web-abc12',
    'EndpointSlice/demo/web-nodeport-v4',
    'EndpointSlice/demo/web-nodeport-v6',
    'Node//node-a',
    'Service/demo/no-endpoints',
    'Service/demo/web',
    'Service/demo/web-nodeport',
  ]);
  const podIPs = new Set(PODS.filter((p) => p.node === 'node').flatMap((p) => [p.ipv4, p.ipv6]));
  for (const o of objects.filter((x) => x.kind === 'EndpointSlice')) {
    for (const e of o.endpoints ?? []) for (const a of e.addresses ?? []) assert.ok(podIPs.has(a), `${o.metadata?.name}: ${a} is not a demo pod`);
  }
  const node = objects.find((o) => o.kind === 'Node');
  assert.deepEqual(node?.status?.addresses?.slice(0, 2).map((a) => a.address), [ADDR.node.ipv4, ADDR.node.ipv6]);
});
