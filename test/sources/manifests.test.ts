import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, unlink, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { configureLogging } from '../../src/log/logger.js';
import { createManifestsSource, parseJsonDocuments, parseManifestText, ManifestParseError } from '../../src/sources/manifests.js';
import { RecordingHandler, sleep, waitFor } from './helpers.js';

const logLines: string[] = [];
configureLogging({ sink: (l) => logLines.push(l), verbosity: 2 });

function svcYaml(name: string, port = 80, extra = ''): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: default
${extra}spec:
  clusterIP: 198.19.0.${port % 250}
  ports:
  - port: ${port}
    protocol: TCP
`;
}

function sliceYaml(name: string, svc: string, ip: string): string {
  return `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${name}
  labels:
    kubernetes.io/service-name: ${svc}
addressType: IPv4
endpoints:
- addresses: ["${ip}"]
  conditions: {ready: true}
ports:
- port: 8080
  protocol: TCP
`;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'kpx-manifests-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('parseManifestText: multi-document, List items, empty docs', () => {
  const docs = parseManifestText(
    'x.yaml',
    `${svcYaml('a')}---\n---\napiVersion: v1\nkind: List\nitems:\n- ${JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'b' } })}\n`,
  );
  assert.equal(docs.length, 2);
  assert.deepEqual(
    docs.map((d) => (d as { metadata: { name: string } }).metadata.name),
    ['a', 'b'],
  );
  assert.deepEqual(parseManifestText('e.yaml', '# only a comment\n'), []);
});

test('parseManifestText: error names file and line', () => {
  assert.throws(
    () => parseManifestText('bad.yaml', 'apiVersion: v1\nkind: Service\nmetadata:\n  name: [unclosed\n'),
    (e: unknown) => e instanceof ManifestParseError && e.file === 'bad.yaml' && typeof e.line === 'number' && e.line >= 4,
  );
});

test('parseManifestText: JSON documents (a .json file, or JSON separated by ---) give what the YAML parser gives', () => {
  const svc = (name: string): Record<string, unknown> => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, labels: { 'a.b/c': 'x: y' } }, spec: { ports: [{ port: 80, name: '---' }] } });
  const list = { apiVersion: 'v1', kind: 'List', items: [svc('a'), svc('b')] };
  assert.deepEqual(parseManifestText('l.json', JSON.stringify(list)), [svc('a'), svc('b')]);
  const multi = `${JSON.stringify(svc('a'))}\n---\n\n---  \n${JSON.stringify(svc('b'), null, 2)}\n`;
  assert.deepEqual(parseManifestText('m.yaml', multi), [svc('a'), svc('b')]);
  // One document that is YAML, not JSON: the whole file goes through the YAML parser, same values.
  const mixed = `${JSON.stringify(svc('a'))}\n---\n${svcYaml('c')}`;
  assert.deepEqual(
    parseManifestText('x.yaml', mixed).map((d) => (d as { metadata: { name: string } }).metadata.name),
    ['a', 'c'],
  );
  // YAML flow mappings that are not JSON (unquoted keys) are YAML's.
  assert.deepEqual(parseManifestText('f.yaml', '{kind: Service, metadata: {name: f}}\n'), [{ kind: 'Service', metadata: { name: 'f' } }]);
  // Broken JSON still reports file and line (through the YAML parser).
  assert.throws(
    () => parseManifestText('bad.json', '{"kind": "Service",\n "metadata": {"name": "x"\n'),
    (e: unknown) => e instanceof ManifestParseError && e.file === 'bad.json' && typeof e.line === 'number',
  );
});

test('JSON documents take the JSON path, also after a leading --- marker (a generator\'s usual output)', () => {
  const a = { kind: 'Service', metadata: { name: 'a' } };
  const b = { kind: 'Service', metadata: { name: 'b' } };
  // The shape bench/e2e-files.ts writes: every document preceded by its marker.
  assert.deepEqual(parseJsonDocuments(`---\n${JSON.stringify(a)}\n---\n${JSON.stringify(b)}\n`), [a, b]);
  assert.deepEqual(parseJsonDocuments(`\n---  \r\n${JSON.stringify(a)}\n`), [a]);
  assert.deepEqual(parseJsonDocuments(`${JSON.stringify(a)}\n---\n${JSON.stringify(b)}`), [a, b]);
  // Not JSON: the YAML parser's (null here).
  assert.equal(parseJsonDocuments(`---\nkind: Service\n`), null);
  assert.equal(parseJsonDocuments(`--- {"kind": "Service"}\n`), null);
  assert.equal(parseJsonDocuments(`- a\n- b\n`), null);
  assert.equal(parseJsonDocuments(`---\n# comment\n${JSON.stringify(a)}\n`), null);
});

test('initial load: filters, namespaces, node selection, then synced', async () => {
  await withDir(async (dir) => {
    await writeFile(
      path.join(dir, 'svcs.yaml'),
      [
        svcYaml('web'),
        svcYaml('headless-ip', 81).replace(/clusterIP: .*/, 'clusterIP: None'),
        svcYaml('other-proxy', 82, '  labels:\n    service.kubernetes.io/service-proxy-name: foo\n'),
        svcYaml('headless-label', 83, '  labels:\n    service.kubernetes.io/headless: ""\n'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n',
      ].join('---\n'),
    );
    await writeFile(path.join(dir, 'slices.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [JSON.parse(JSON.stringify({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', endpoints: [] }))] }));
    await writeFile(
      path.join(dir, 'nodes.yml'),
      'apiVersion: v1\nkind: Node\nmetadata:\n  name: node-a\n---\napiVersion: v1\nkind: Node\nmetadata:\n  name: node-b\n',
    );
    await writeFile(path.join(dir, 'cidrs.yaml'), 'apiVersion: networking.k8s.io/v1\nkind: ServiceCIDR\nmetadata:\n  name: kubernetes\nspec:\n  cidrs: [198.19.0.0/16, "2001:db8:19::/112"]\n');
    await writeFile(path.join(dir, 'README.md'), 'not: yaml: at: all: [');
    const src = createManifestsSource(dir, { nodeName: 'node-a' });
    const h = new RecordingHandler();
    await src.start(h);
    try {
      assert.deepEqual(h.keys('Service'), ['default/web']);
      assert.deepEqual(h.keys('EndpointSlice'), ['default/web-1']);
      assert.deepEqual(h.keys('Node'), ['node-a']);
      assert.deepEqual(h.keys('ServiceCIDR'), ['kubernetes'], 'ServiceCIDRs are cluster-scoped: no namespace added');
      // The first load hands each file's objects over as soon as the file is parsed (files in name
      // order: cidrs.yaml, nodes.yml, slices.json, svcs.yaml), then every kind is synced.
      assert.deepEqual(
        h.events.map((e) => `${e.type} ${e.kind}`),
        ['ADDED ServiceCIDR', 'ADDED Node', 'ADDED EndpointSlice', 'ADDED Service', 'SYNCED Service', 'SYNCED EndpointSlice', 'SYNCED Node', 'SYNCED ServiceCIDR'],
      );
      // Namespace defaulted on the emitted object, as the API server would.
      const slice = h.view.EndpointSlice.get('default/web-1') as { metadata: { namespace: string } };
      assert.equal(slice.metadata.namespace, 'default');
      assert.deepEqual(h.violations, []);
    } finally {
      await src.stop();
    }
  });
});

test('files added, changed, unchanged rewrite, removed', async () => {
  await withDir(async (dir) => {
    await writeFile(path.join(dir, 'a.yaml'), svcYaml('a'));
    const src = createManifestsSource(dir, { nodeName: 'n', debounceMs: 30, rescanMs: 60_000 });
    const h = new RecordingHandler();
    await src.start(h);
    try {
      assert.deepEqual(h.keys('Service'), ['default/a']);
      h.clear();
      await writeFile(path.join(dir, 'b.yaml'), svcYaml('b') + '---\n' + sliceYaml('b-1', 'b', '198.18.100.1'));
      await waitFor(() => h.view.EndpointSlice.has('default/b-1'), 'slice b-1 added');
      assert.deepEqual(h.keys('Service'), ['default/a', 'default/b']);
      h.clear();
      await writeFile(path.join(dir, 'b.yaml'), svcYaml('b') + '---\n' + sliceYaml('b-1', 'b', '198.18.100.2'));
      await waitFor(() => h.events.length > 0, 'modify event');
      await sleep(100);
      assert.deepEqual(
        h.events.map((e) => `${e.type} ${e.key}`),
        ['MODIFIED default/b-1'],
      );
      h.clear();
      // Rewriting identical content (touch) must not produce events.
      await writeFile(path.join(dir, 'a.yaml'), svcYaml('a'));
      await sleep(200);
      assert.deepEqual(h.events.map((e) => `${e.type} ${e.key}`), []);
      await unlink(path.join(dir, 'b.yaml'));
      await waitFor(() => !h.view.Service.has('default/b'), 'b deleted');
      await sleep(100);
      assert.deepEqual(h.events.map((e) => `${e.type} ${e.kind} ${e.key}`).sort(), ['DELETED EndpointSlice default/b-1', 'DELETED Service default/b']);
      // Moving an object to another file is not a delete+add.
      h.clear();
      await writeFile(path.join(dir, 'c.yaml.tmp'), svcYaml('a'));
      await rename(path.join(dir, 'c.yaml.tmp'), path.join(dir, 'c.yaml'));
      await unlink(path.join(dir, 'a.yaml'));
      await sleep(300);
      assert.deepEqual(h.events.map((e) => `${e.type} ${e.key}`), []);
      assert.deepEqual(h.keys('Service'), ['default/a']);
      assert.deepEqual(h.violations, []);
    } finally {
      await src.stop();
    }
  });
});

test('a broken file keeps its previous objects; fixing it applies the change', async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'svc.yaml');
    await writeFile(file, svcYaml('keep') + '---\n' + svcYaml('x', 90));
    const src = createManifestsSource(dir, { nodeName: 'n', debounceMs: 30, rescanMs: 60_000 });
    const h = new RecordingHandler();
    logLines.length = 0;
    await src.start(h);
    try {
      h.clear();
      // A half-written file: truncated mid-flow-sequence.
      await writeFile(file, svcYaml('keep') + '---\napiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  labels: {a: [b\n');
      await waitFor(() => logLines.some((l) => l.includes('Cannot parse manifest file')), 'parse error logged');
      await sleep(100);
      assert.deepEqual(h.events.map((e) => `${e.type} ${e.key}`), [], 'no events for a broken file');
      assert.deepEqual(h.keys('Service'), ['default/keep', 'default/x']);
      const errLines = logLines.filter((l) => l.includes('Cannot parse manifest file'));
      assert.equal(errLines.length, 1);
      assert.match(errLines[0]!, /svc\.yaml/);
      assert.match(errLines[0]!, /line=\d+/);
      assert.ok(!errLines[0]!.includes('\n'), 'one line');
      // Fixed: now x is gone and keep changed.
      await writeFile(file, svcYaml('keep', 91));
      await waitFor(() => !h.view.Service.has('default/x'), 'x deleted after fix');
      await sleep(100);
      assert.deepEqual(h.events.map((e) => `${e.type} ${e.key}`).sort(), ['DELETED default/x', 'MODIFIED default/keep']);
      assert.deepEqual(h.violations, []);
    } finally {
      await src.stop();
    }
  });
});

test('within a file, Services are handed over before EndpointSlices whatever the file order', async () => {
  await withDir(async (dir) => {
    await writeFile(path.join(dir, 'all.yaml'), sliceYaml('web-1', 'web', '198.18.0.1') + '---\n' + svcYaml('web'));
    const src = createManifestsSource(dir, { nodeName: 'n', rescanMs: 60_000 });
    const h = new RecordingHandler();
    await src.start(h);
    try {
      assert.deepEqual(h.events.filter((e) => e.type !== 'SYNCED').map((e) => `${e.type} ${e.kind}`), ['ADDED Service', 'ADDED EndpointSlice']);
    } finally {
      await src.stop();
    }
  });
});

test('an object in two files: the later file wins; when it drops the object, the earlier file\'s version is emitted', async () => {
  await withDir(async (dir) => {
    await writeFile(path.join(dir, 'a.yaml'), svcYaml('x', 80) + '---\n' + svcYaml('only-a', 81));
    await writeFile(path.join(dir, 'b.yaml'), svcYaml('x', 90));
    logLines.length = 0;
    const src = createManifestsSource(dir, { nodeName: 'n', debounceMs: 30, rescanMs: 60_000 });
    const h = new RecordingHandler();
    await src.start(h);
    try {
      const port = (): unknown => (h.view.Service.get('default/x') as { spec: { ports: { port: number }[] } }).spec.ports[0]!.port;
      assert.equal(port(), 90);
      assert.equal(logLines.filter((l) => l.includes('more than one manifest file')).length, 1);
      h.clear();
      // b.yaml no longer defines x: a.yaml's x (not parsed again since the first load: a.yaml is unchanged) is back.
      await writeFile(path.join(dir, 'b.yaml'), svcYaml('y', 92));
      await waitFor(() => h.view.Service.has('default/y'), 'y added');
      await sleep(100);
      assert.deepEqual(h.events.map((e) => `${e.type} ${e.key}`).sort(), ['ADDED default/y', 'MODIFIED default/x']);
      assert.equal(port(), 80);
      assert.deepEqual(h.violations, []);
    } finally {
      await src.stop();
    }
    // Started again (a new handler): everything is handed over again.
    const h2 = new RecordingHandler();
    await src.start(h2);
    try {
      assert.deepEqual(h2.keys('Service'), ['default/only-a', 'default/x', 'default/y']);
      assert.equal((h2.view.Service.get('default/x') as { spec: { ports: { port: number }[] } }).spec.ports[0]!.port, 80);
    } finally {
      await src.stop();
    }
  });
});

test('YAML-only values: .inf -> null is a change; a self-referencing alias is reported, not fatal', async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 's.yaml');
    await writeFile(file, svcYaml('s').replace('port: 80', 'port: .inf'));
    await writeFile(path.join(dir, 'loop.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: &m\n  name: loop\n  labels: *m\n');
    logLines.length = 0;
    const src = createManifestsSource(dir, { nodeName: 'n', debounceMs: 30, rescanMs: 60_000 });
    const h = new RecordingHandler();
    await src.start(h);
    try {
      assert.deepEqual(h.keys('Service'), ['default/s']);
      assert.ok(logLines.some((l) => l.includes('refers to itself or is nested too deeply') && l.includes('loop.yaml') && l.includes('object="loop"')), 'the cycle is named');
      h.clear();
      await writeFile(file, svcYaml('s').replace('port: 80', 'port: null'));
      await waitFor(() => h.events.length > 0, 'modify event');
      assert.deepEqual(h.events.map((e) => `${e.type} ${e.key}`), ['MODIFIED default/s']);
    } finally {
      await src.stop();
    }
  });
});

test('periodic rescan catches changes without fs.watch events', async () => {
  await withDir(async (dir) => {
    const src = createManifestsSource(dir, { nodeName: 'n', debounceMs: 10_000, rescanMs: 100 });
    const h = new RecordingHandler();
    await src.start(h);
    try {
      assert.equal(h.synced.size, 4);
      await writeFile(path.join(dir, 's.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'ns1' }, spec: { clusterIP: '198.19.1.1' } }));
      // Debounce is 10 s, so only the 100 ms periodic rescan can deliver this in time.
      await waitFor(() => h.view.Service.has('ns1/s'), 'periodic rescan', 3000);
    } finally {
      await src.stop();
    }
  });
});

test('missing directory: start rejects with the path', async () => {
  const src = createManifestsSource('/nonexistent/kpx-dir', { nodeName: 'n' });
  await assert.rejects(src.start(new RecordingHandler()), /\/nonexistent\/kpx-dir/);
});
