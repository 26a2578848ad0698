// Protocol tests of the test API server with raw HTTP: it must behave like kube-apiserver where our
// reflector and kubectl depend on it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startTestApiServer, type TestApiServer } from '../../tools/test-apiserver/server.js';
import { mergePatch, strategicMergePatch, jsonPatch } from '../../tools/test-apiserver/patch.js';
import { matchLabels, parseLabelSelector } from '../../src/sources/selectors.js';

// Raw JSON responses under test are asserted field by field; typing every shape would add nothing.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;

interface Resp {
  status: number;
  body: J;
  text: string;
}

function call(srv: TestApiServer, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      `${srv.url}${path}`,
      // agent: false — no pooled keep-alive sockets that a server restart has just destroyed.
      { method, agent: false, headers: { Authorization: `Bearer ${srv.token}`, 'Content-Type': 'application/json', ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, text });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** Open a watch and collect events until `n` arrived (or the stream ends). */
function watchEvents(srv: TestApiServer, path: string, n: number, timeoutMs = 3000): Promise<{ status: number; events: { type: string; object: J }[] }> {
  return new Promise((resolve, reject) => {
    const events: { type: string; object: J }[] = [];
    const req = http.get(`${srv.url}${path}`, { headers: { Authorization: `Bearer ${srv.token}` } }, (res) => {
      let buf = '';
      const done = (): void => {
        clearTimeout(t);
        req.destroy();
        resolve({ status: res.statusCode ?? 0, events });
      };
      const t = setTimeout(done, timeoutMs);
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.trim()) events.push(JSON.parse(line) as { type: string; object: J });
        }
        if (events.length >= n) done();
      });
      res.on('end', done);
    });
    req.on('error', reject);
  });
}

const svc = (name: string, labels: Record<string, string> = {}, ns = 'default'): Record<string, unknown> => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: ns, labels },
  spec: { ports: [{ port: 80 }] },
});

async function withServer(fn: (srv: TestApiServer) => Promise<void>): Promise<void> {
  const srv = await startTestApiServer();
  try {
    await fn(srv);
  } finally {
    await srv.stop();
  }
}

test('label selector parsing and matching covers =, ==, !=, in, notin, exists, !key', () => {
  const m = (sel: string, labels: Record<string, string>): boolean => matchLabels(parseLabelSelector(sel), labels);
  assert.equal(m('a=1', { a: '1' }), true);
  assert.equal(m('a==1', { a: '2' }), false);
  assert.equal(m('a!=1', {}), true);
  assert.equal(m('a!=1', { a: '1' }), false);
  assert.equal(m('a in (1, 2)', { a: '2' }), true);
  assert.equal(m('a in (1,2)', {}), false);
  assert.equal(m('a notin (1,2)', {}), true);
  assert.equal(m('a notin (1,2)', { a: '1' }), false);
  assert.equal(m('a', { a: '' }), true);
  assert.equal(m('!a', { a: '' }), false);
  assert.equal(m('!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless', { 'kubernetes.io/service-name': 'x' }), true);
  assert.equal(m('x=y,a in (1,2)', { x: 'y', a: '3' }), false);
  assert.throws(() => parseLabelSelector('a in (1'), /unable to parse|invalid/);
});

test('discovery documents and /version', async () => {
  await withServer(async (srv) => {
    const api = await call(srv, 'GET', '/api');
    assert.deepEqual(api.body.versions, ['v1']);
    const apis = await call(srv, 'GET', '/apis');
    assert.equal(apis.body.groups[0].name, 'discovery.k8s.io');
    const v1 = await call(srv, 'GET', '/api/v1');
    const names = v1.body.resources.map((r: { name: string }) => r.name);
    for (const n of ['services', 'services/status', 'nodes', 'namespaces']) assert.ok(names.includes(n), n);
    const disc = await call(srv, 'GET', '/apis/discovery.k8s.io/v1');
    assert.equal(disc.body.resources[0].kind, 'EndpointSlice');
    assert.equal((await call(srv, 'GET', '/version')).body.major, '1');
    assert.equal((await call(srv, 'GET', '/openapi/v2')).status, 404);
    const nf = await call(srv, 'GET', '/apis/batch/v1');
    assert.equal(nf.status, 404);
    assert.equal(nf.body.kind, 'Status');
  });
});

test('auth: a wrong bearer token gets 401', async () => {
  await withServer(async (srv) => {
    const r = await call(srv, 'GET', '/api/v1/services', undefined, { Authorization: 'Bearer nope' });
    assert.equal(r.status, 401);
    assert.equal(r.body.reason, 'Unauthorized');
  });
});

test('LIST: namespaces, label and field selectors, pagination with continue and remainingItemCount', async () => {
  await withServer(async (srv) => {
    for (let i = 0; i < 7; i++) srv.create(svc(`s${i}`, { tier: i % 2 ? 'odd' : 'even' }));
    srv.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'other' } });
    srv.create(svc('x', {}, 'other'));
    srv.create({ ...svc('h', { 'service.kubernetes.io/headless': '' }), spec: { clusterIP: 'None' } });
    const all = await call(srv, 'GET', '/api/v1/services');
    assert.equal(all.body.kind, 'ServiceList');
    assert.equal(all.body.items.length, 9);
    assert.equal(all.body.items[0].kind, undefined, 'list items carry no kind, as upstream');
    assert.equal(all.body.metadata.resourceVersion, String(srv.resourceVersion()));
    assert.equal((await call(srv, 'GET', '/api/v1/namespaces/other/services')).body.items.length, 1);
    const sel = (q: string): Promise<string[]> => call(srv, 'GET', `/api/v1/services?${q}`).then((r) => r.body.items.map((i: J) => i.metadata.name));
    assert.deepEqual(await sel('labelSelector=tier%3Dodd'), ['s1', 's3', 's5']);
    assert.deepEqual((await sel('labelSelector=tier%20notin%20(odd)')).sort(), ['h', 's0', 's2', 's4', 's6', 'x']);
    assert.deepEqual(await sel('fieldSelector=spec.clusterIP!%3DNone&labelSelector=!tier'), ['x']);
    assert.deepEqual(await sel('fieldSelector=metadata.name%3Ds4'), ['s4']);
    assert.deepEqual(await sel('fieldSelector=metadata.namespace%3Dother'), ['x']);
    // Pagination
    const p1 = await call(srv, 'GET', '/api/v1/namespaces/default/services?limit=3');
    assert.equal(p1.body.items.length, 3);
    assert.equal(p1.body.metadata.remainingItemCount, 5);
    srv.create(svc('zz')); // after the first page: still appears (sorted last), rv of the list stays
    const p2 = await call(srv, 'GET', `/api/v1/namespaces/default/services?limit=100&continue=${p1.body.metadata.continue}`);
    assert.equal(p2.body.metadata.resourceVersion, p1.body.metadata.resourceVersion);
    assert.equal(p2.body.metadata.continue, undefined);
    const names = [...p1.body.items, ...p2.body.items].map((i: J) => i.metadata.name);
    assert.equal(new Set(names).size, names.length, 'no duplicates across pages');
    assert.equal(names.length, 9);
    // Compaction makes the continue token expire.
    srv.compact();
    const gone = await call(srv, 'GET', `/api/v1/namespaces/default/services?limit=3&continue=${p1.body.metadata.continue}`);
    assert.equal(gone.status, 410);
    assert.equal(gone.body.reason, 'Expired');
    assert.equal((await call(srv, 'GET', '/api/v1/services?labelSelector=a%20in%20(')).status, 400);
  });
});

test('LIST: a large list is streamed in pieces and stays the snapshot of its resourceVersion', async () => {
  await withServer(async (srv) => {
    for (let i = 0; i < 1234; i++) srv.create(svc(`big${String(i).padStart(4, '0')}`));
    const rv = String(srv.resourceVersion());
    const seen: { chunked: boolean; body: J } = await new Promise((resolve, reject) => {
      const req = http.request(`${srv.url}/api/v1/services?resourceVersion=0`, { agent: false, headers: { Authorization: `Bearer ${srv.token}` } }, (res) => {
        let text = '';
        let first = true;
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
          // A write after the first piece must not show in this list (the items were chosen before).
          if (first) srv.create(svc('late'));
          first = false;
        });
        res.on('end', () => resolve({ chunked: res.headers['transfer-encoding'] === 'chunked', body: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(seen.chunked, true, 'sent without Content-Length, in pieces');
    assert.equal(seen.body.kind, 'ServiceList');
    assert.equal(seen.body.metadata.resourceVersion, rv);
    assert.equal(seen.body.items.length, 1234);
    assert.equal(seen.body.items[1233].metadata.name, 'big1233');
    assert.ok(!seen.body.items.some((i: J) => i.metadata.name === 'late'));
    assert.equal((await call(srv, 'GET', '/api/v1/services')).body.items.length, 1235);
  });
});

test('WATCH: replay from rv, live events, selector transitions, bookmarks, expired rv', async () => {
  await withServer(async (srv) => {
    const a = srv.create(svc('a'));
    const rv0 = srv.resourceVersion();
    srv.create(svc('b'));
    const replay = await watchEvents(srv, `/api/v1/services?watch=1&resourceVersion=${rv0}`, 1);
    assert.equal(replay.status, 200);
    assert.deepEqual(replay.events.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED b']);
    assert.equal(replay.events[0]!.object.kind, 'Service');
    // Initial state for rv=0.
    const initial = await watchEvents(srv, '/api/v1/services?watch=true&resourceVersion=0', 2);
    assert.deepEqual(initial.events.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED a', 'ADDED b']);
    // Live, filtered by label selector: moving out of the selector is DELETED, back in is ADDED.
    const rv1 = srv.resourceVersion();
    const live = watchEvents(srv, `/api/v1/services?watch=1&resourceVersion=${rv1}&labelSelector=!skip&allowWatchBookmarks=true`, 4);
    await new Promise((r) => setTimeout(r, 50));
    const cur = srv.get('Service', 'default', 'a')!;
    srv.update({ ...cur, metadata: { ...(cur.metadata as object), labels: { skip: 'y' } } });
    const cur2 = srv.get('Service', 'default', 'a')!;
    srv.update({ ...cur2, metadata: { ...(cur2.metadata as object), labels: {} } });
    srv.delete('Service', 'default', 'b');
    srv.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' } });
    srv.sendBookmarks();
    const ev = (await live).events;
    assert.deepEqual(
      ev.map((e) => `${e.type} ${e.object.metadata.name ?? ''}`),
      ['DELETED a', 'ADDED a', 'DELETED b', 'BOOKMARK '],
    );
    assert.ok(Number(ev[0]!.object.metadata.resourceVersion) > Number(a.metadata && (a.metadata as J).resourceVersion));
    assert.equal(ev[3]!.object.metadata.resourceVersion, String(srv.resourceVersion()), 'bookmark carries the current rv');
    // Expired: ERROR event with a 410 Status (default), or HTTP 410.
    srv.compact();
    const exp = await watchEvents(srv, `/api/v1/services?watch=1&resourceVersion=${rv0}`, 1);
    assert.equal(exp.status, 200);
    assert.equal(exp.events[0]!.type, 'ERROR');
    assert.equal(exp.events[0]!.object.code, 410);
    assert.equal(exp.events[0]!.object.reason, 'Expired');
    srv.setWatchExpiredMode('http');
    const exp2 = await call(srv, 'GET', `/api/v1/services?watch=1&resourceVersion=${rv0}`);
    assert.equal(exp2.status, 410);
    // timeoutSeconds ends the stream.
    const t0 = Date.now();
    const short = await watchEvents(srv, `/api/v1/services?watch=1&resourceVersion=${srv.resourceVersion()}&timeoutSeconds=1`, 99, 5000);
    assert.ok(Date.now() - t0 >= 900 && Date.now() - t0 < 3000, 'ended by timeoutSeconds');
    assert.equal(short.events.length, 0);
  });
});

test('writes: create fills metadata, 409 on duplicates and stale updates, patch kinds, status subresource, delete', async () => {
  await withServer(async (srv) => {
    const c = await call(srv, 'POST', '/api/v1/namespaces/default/services', svc('w'));
    assert.equal(c.status, 201);
    for (const f of ['uid', 'creationTimestamp', 'resourceVersion']) assert.ok(c.body.metadata[f], f);
    assert.equal(c.body.metadata.generation, 1);
    // ClusterIPs are allocated from the test ranges only (198.19.0.0/16, 2001:db8:19::/64).
    assert.match(c.body.spec.clusterIP, /^198\.19\.\d+\.\d+$/);
    assert.deepEqual(c.body.spec.clusterIPs, [c.body.spec.clusterIP]);
    const v6 = await call(srv, 'POST', '/api/v1/namespaces/default/services', { ...svc('w6'), spec: { ipFamilies: ['IPv6', 'IPv4'], ipFamilyPolicy: 'PreferDualStack', ports: [{ port: 80 }] } });
    assert.equal(v6.status, 201);
    assert.match(v6.body.spec.clusterIPs[0], /^2001:db8:19::[0-9a-f]+$/);
    assert.match(v6.body.spec.clusterIPs[1], /^198\.19\.\d+\.\d+$/);
    assert.equal((await call(srv, 'POST', '/api/v1/namespaces/default/services', svc('w'))).body.reason, 'AlreadyExists');
    assert.equal((await call(srv, 'POST', '/api/v1/namespaces/nope/services', svc('w', {}, 'nope'))).status, 404);
    // Update with the current rv works, with a stale rv conflicts.
    const u = await call(srv, 'PUT', '/api/v1/namespaces/default/services/w', { ...c.body, spec: { ...c.body.spec, ports: [{ port: 81 }] } });
    assert.equal(u.status, 200);
    assert.equal(u.body.metadata.generation, 2);
    assert.equal(u.body.spec.clusterIP, c.body.spec.clusterIP);
    const stale = await call(srv, 'PUT', '/api/v1/namespaces/default/services/w', c.body);
    assert.equal(stale.status, 409);
    assert.equal(stale.body.reason, 'Conflict');
    // Patches.
    const mp = await call(srv, 'PATCH', '/api/v1/namespaces/default/services/w', { metadata: { labels: { a: 'b' } } }, { 'Content-Type': 'application/merge-patch+json' });
    assert.deepEqual(mp.body.metadata.labels, { a: 'b' });
    const jp = await call(srv, 'PATCH', '/api/v1/namespaces/default/services/w', [{ op: 'replace', path: '/spec/ports/0/port', value: 82 }], {
      'Content-Type': 'application/json-patch+json',
    });
    assert.equal(jp.body.spec.ports[0].port, 82);
    const sp = await call(srv, 'PATCH', '/api/v1/namespaces/default/services/w', { spec: { ports: [{ port: 83 }] } }, {
      'Content-Type': 'application/strategic-merge-patch+json',
    });
    assert.deepEqual(sp.body.spec.ports.map((p: { port: number }) => p.port), [82, 83], 'ports merged by port');
    assert.equal((await call(srv, 'PATCH', '/api/v1/namespaces/default/services/w', {}, { 'Content-Type': 'text/plain' })).status, 415);
    // Status subresource: main writes keep status, /status writes only status.
    const st = await call(srv, 'PUT', '/api/v1/namespaces/default/services/w/status', { ...sp.body, status: { loadBalancer: { ingress: [{ ip: '198.18.50.4' }] } } });
    assert.equal(st.body.status.loadBalancer.ingress[0].ip, '198.18.50.4');
    const main = await call(srv, 'PUT', '/api/v1/namespaces/default/services/w', { ...st.body, status: {} });
    assert.equal(main.body.status.loadBalancer.ingress[0].ip, '198.18.50.4');
    // A no-op update does not bump the resourceVersion.
    const noop = await call(srv, 'PUT', '/api/v1/namespaces/default/services/w', main.body);
    assert.equal(noop.body.metadata.resourceVersion, main.body.metadata.resourceVersion);
    // Delete, then 404 Status.
    assert.equal((await call(srv, 'DELETE', '/api/v1/namespaces/default/services/w')).status, 200);
    const nf = await call(srv, 'GET', '/api/v1/namespaces/default/services/w');
    assert.equal(nf.status, 404);
    assert.equal(nf.body.reason, 'NotFound');
    assert.equal(nf.body.details.name, 'w');
    // EndpointSlices and nodes at their paths.
    const es = await call(srv, 'POST', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { generateName: 'w-' },
      addressType: 'IPv4',
      endpoints: [],
    });
    assert.equal(es.status, 201);
    assert.match(es.body.metadata.name, /^w-.{5}$/);
    assert.equal((await call(srv, 'POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } })).status, 201);
    assert.equal((await call(srv, 'GET', '/api/v1/nodes/n1')).body.metadata.namespace, undefined);
    assert.equal((await call(srv, 'GET', '/api/v1/namespaces/default')).body.kind, 'Namespace');
  });
});

test('fault hooks: failNext returns Status 500s; restart keeps data and port', async () => {
  await withServer(async (srv) => {
    srv.create(svc('keep'));
    srv.failNext(2);
    assert.equal((await call(srv, 'GET', '/api/v1/services')).status, 500);
    assert.equal((await call(srv, 'GET', '/api/v1/services')).body.reason, 'InternalError');
    assert.equal((await call(srv, 'GET', '/api/v1/services')).status, 200);
    const port = srv.port;
    await srv.restart();
    assert.equal(srv.port, port);
    const l = await call(srv, 'GET', '/api/v1/services');
    assert.deepEqual(l.body.items.map((i: J) => i.metadata.name), ['keep']);
  });
});

test('patch helpers: merge, strategic (ports by key, $patch delete, element order), json patch', () => {
  assert.deepEqual(mergePatch({ a: 1, b: { c: 2 } }, { b: { c: null, d: 3 } }), { a: 1, b: { d: 3 } });
  const ports = { spec: { ports: [{ port: 80, name: 'a' }, { port: 443, name: 'b' }] } };
  assert.deepEqual(strategicMergePatch(ports, { spec: { ports: [{ port: 443, $patch: 'delete' }, { port: 8080, name: 'c' }] } }), {
    spec: { ports: [{ port: 80, name: 'a' }, { port: 8080, name: 'c' }] },
  });
  assert.deepEqual(
    strategicMergePatch(ports, { spec: { '$setElementOrder/ports': [{ port: 443 }, { port: 80 }], ports: [{ port: 80, name: 'z' }] } }),
    { spec: { ports: [{ port: 443, name: 'b' }, { port: 80, name: 'z' }] } },
  );
  assert.deepEqual(jsonPatch({ a: [1, 2] }, [{ op: 'add', path: '/a/-', value: 3 }, { op: 'remove', path: '/a/0' }]), { a: [2, 3] });
  assert.throws(() => jsonPatch({}, [{ op: 'remove', path: '/x' }]));
});

test('CLI: --load preloads manifests and prints a working kubeconfig path', async () => {
  const { spawn } = await import('node:child_process');
  const { mkdtemp, writeFile, readFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const pathMod = await import('node:path');
  // Run main.ts under tsx, or main.js when the tests were compiled with tsc.
  const compiled = import.meta.url.endsWith('.js');
  const main = new URL(`../../tools/test-apiserver/main.${compiled ? 'js' : 'ts'}`, import.meta.url);
  const dir = await mkdtemp(pathMod.join(tmpdir(), 'kpx-cli-'));
  await writeFile(pathMod.join(dir, 'svc.yaml'), 'apiVersion: v1\nkind: Service\nmetadata:\n  name: loaded\nspec:\n  ports:\n  - port: 80\n');
  const child = spawn(process.execPath, [...(compiled ? [] : ['--import', 'tsx']), main.pathname, '--load', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const kubeconfig = await new Promise<string>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error('CLI printed no kubeconfig path in 20 s')), 20_000);
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('\n')) {
          clearTimeout(t);
          resolve(out.trim());
        }
      });
      child.on('exit', (code) => reject(new Error(`CLI exited ${code}`)));
    });
    const kc = JSON.parse(await readFile(kubeconfig, 'utf8')) as { clusters: { cluster: { server: string } }[]; users: { user: { token: string } }[] };
    const srvLike = { url: kc.clusters[0]!.cluster.server, token: kc.users[0]!.user.token } as TestApiServer;
    const l = await call(srvLike, 'GET', '/api/v1/namespaces/default/services');
    assert.deepEqual(l.body.items.map((i: J) => i.metadata.name), ['loaded']);
  } finally {
    child.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
});
