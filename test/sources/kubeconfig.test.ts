// Every credential form the API source accepts, each against the test API server (TLS where it matters):
// token and CA (data, files, relative paths), token file, client certificate/key (files and data),
// insecure-skip-tls-verify, basic auth, a YAML kubeconfig, in-cluster service-account token + CA, an exec
// plugin (through @kubernetes/client-node), TLS verification enforced, and a rotated token file picked up
// without a restart (after the refresh period, and at once after a 401).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { configureLogging } from '../../src/log/logger.js';
import { createApiServerSource, type ApiServerSourceOptions } from '../../src/sources/apiserver.js';
import { resolveClientConfig } from '../../src/sources/kubeconfig.js';
import { MaterialReader } from '../../src/sources/transport.js';
import { startTestApiServer, type TestApiServer, type TestApiServerOptions } from '../../tools/test-apiserver/server.js';
import { RecordingHandler, waitFor } from './helpers.js';

configureLogging({ sink: () => undefined });

type Rec = Record<string, unknown>;

async function withServer(o: TestApiServerOptions, fn: (srv: TestApiServer, dir: string) => Promise<void>): Promise<void> {
  const srv = await startTestApiServer(o);
  const dir = await mkdtemp(path.join(tmpdir(), 'kpx-kc-'));
  try {
    srv.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's0', namespace: 'default' }, spec: { ports: [{ port: 80 }] } });
    srv.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' } });
    await fn(srv, dir);
  } finally {
    await srv.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** A kubeconfig with one cluster/user/context. */
function kubeconfig(cluster: Rec, user: Rec): Rec {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  };
}

async function caData(srv: TestApiServer): Promise<string> {
  return (await readFile(srv.tlsFiles!.ca)).toString('base64');
}

/** Start the source with `opts`, wait for all four kinds (incl. ServiceCIDR), check the Service arrived; stop. */
async function syncs(opts: Partial<ApiServerSourceOptions>, what: string, after?: (h: RecordingHandler) => Promise<void>, timeoutMs = 10_000): Promise<void> {
  const h = new RecordingHandler();
  const src = createApiServerSource({ kubeconfig: '', master: '', nodeName: 'node-a', ...opts });
  await src.start(h);
  try {
    await waitFor(() => h.synced.size === 4, `${what}: synced`, timeoutMs);
    assert.deepEqual(h.keys('Service'), ['default/s0'], what);
    await after?.(h);
  } finally {
    await src.stop();
  }
}

async function write(dir: string, name: string, doc: Rec | string): Promise<string> {
  const f = path.join(dir, name);
  await writeFile(f, typeof doc === 'string' ? doc : JSON.stringify(doc));
  return f;
}

test('TLS: token with CA data; token file and CA file by relative path; YAML kubeconfig', async () => {
  await withServer({ tls: true }, async (srv, dir) => {
    await syncs({ kubeconfig: srv.kubeconfigPath }, 'token + certificate-authority-data');
    await copyFile(srv.tlsFiles!.ca, path.join(dir, 'ca.crt'));
    await writeFile(path.join(dir, 'token'), `${srv.token}\n`);
    for (const field of ['tokenFile', 'token-file']) {
      const f = await write(dir, `kc-${field}`, kubeconfig({ server: srv.url, 'certificate-authority': 'ca.crt' }, { [field]: 'token' }));
      await syncs({ kubeconfig: f }, `${field} + certificate-authority (relative)`);
    }
    const y = await write(dir, 'kc.yaml', stringify(kubeconfig({ server: srv.url, 'certificate-authority-data': await caData(srv) }, { token: srv.token })));
    await syncs({ kubeconfig: y }, 'YAML kubeconfig');
  });
});

test('TLS: client certificate and key (files, relative; and inline data), no token', async () => {
  await withServer({ tls: true }, async (srv, dir) => {
    await copyFile(srv.tlsFiles!.clientCert, path.join(dir, 'client.crt'));
    await copyFile(srv.tlsFiles!.clientKey, path.join(dir, 'client.key'));
    const files = await write(dir, 'kc-files', kubeconfig({ server: srv.url, 'certificate-authority-data': await caData(srv) }, { 'client-certificate': 'client.crt', 'client-key': 'client.key' }));
    await syncs({ kubeconfig: files }, 'client-certificate/client-key files');
    const b64 = async (f: string): Promise<string> => (await readFile(f)).toString('base64');
    const data = await write(
      dir,
      'kc-data',
      kubeconfig(
        { server: srv.url, 'certificate-authority-data': await caData(srv) },
        { 'client-certificate-data': await b64(srv.tlsFiles!.clientCert), 'client-key-data': await b64(srv.tlsFiles!.clientKey) },
      ),
    );
    await syncs({ kubeconfig: data }, 'client-certificate-data/client-key-data');
  });
});

test('TLS: insecure-skip-tls-verify; without it and without the CA the server is not trusted', async () => {
  await withServer({ tls: true }, async (srv, dir) => {
    const insecure = await write(dir, 'kc-insecure', kubeconfig({ server: srv.url, 'insecure-skip-tls-verify': true }, { token: srv.token }));
    await syncs({ kubeconfig: insecure }, 'insecure-skip-tls-verify');
    const untrusted = await write(dir, 'kc-untrusted', kubeconfig({ server: srv.url }, { token: srv.token }));
    const before = srv.requests.length;
    const h = new RecordingHandler();
    const src = createApiServerSource({ kubeconfig: untrusted, master: '', nodeName: 'node-a', relistBackoff: { initialMs: 50, maxMs: 100 } });
    await src.start(h);
    try {
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(h.synced.size, 0, 'a server certificate from an unknown CA must be refused');
      assert.equal(srv.requests.length, before, 'no request got past the TLS handshake');
    } finally {
      await src.stop();
    }
  });
});

test('TLS: basic auth (username/password)', async () => {
  await withServer({ tls: true, basicAuth: { username: 'kp', password: 's3cret' } }, async (srv, dir) => {
    const f = await write(dir, 'kc-basic', kubeconfig({ server: srv.url, 'certificate-authority-data': await caData(srv) }, { username: 'kp', password: 's3cret' }));
    await syncs({ kubeconfig: f }, 'basic auth');
    const bad = await write(dir, 'kc-basic-bad', kubeconfig({ server: srv.url, 'certificate-authority-data': await caData(srv) }, { username: 'kp', password: 'nope' }));
    const h = new RecordingHandler();
    const src = createApiServerSource({ kubeconfig: bad, master: '', nodeName: 'node-a', relistBackoff: { initialMs: 50, maxMs: 100 } });
    await src.start(h);
    try {
      await waitFor(() => srv.requests.some((r) => r.status === 401), 'a wrong password gets 401');
      assert.equal(h.synced.size, 0);
    } finally {
      await src.stop();
    }
  });
});

test('exec credential plugin: served by @kubernetes/client-node (loaded only for it)', async () => {
  await withServer({ tls: true }, async (srv, dir) => {
    const cred = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential', status: { token: srv.token } });
    const f = await write(
      dir,
      'kc-exec',
      kubeconfig(
        { server: srv.url, 'certificate-authority-data': await caData(srv) },
        { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: process.execPath, args: ['-e', `process.stdout.write(${JSON.stringify(cred)})`] } },
      ),
    );
    assert.equal(resolveClientConfig({ kubeconfig: f, master: '' }).plugin?.reason, 'exec plugin');
    assert.equal(resolveClientConfig({ kubeconfig: srv.kubeconfigPath, master: '' }).plugin, undefined);
    // Generous: this path imports client-node (~0.7 s idle, several seconds on a loaded machine) and runs the plugin.
    await syncs({ kubeconfig: f }, 'exec plugin', undefined, 60_000);
  });
});

test('in-cluster: service-account token and CA; a rotated token file is used without a restart', async () => {
  await withServer({ tls: true }, async (srv, dir) => {
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    process.env.KUBERNETES_SERVICE_HOST = '127.0.0.1';
    process.env.KUBERNETES_SERVICE_PORT = String(srv.port);
    try {
      await copyFile(srv.tlsFiles!.ca, path.join(dir, 'ca.crt'));
      await writeFile(path.join(dir, 'token'), srv.token);
      const cfg = resolveClientConfig({ kubeconfig: '', master: '', serviceAccountDir: dir });
      assert.equal(cfg.server, `https://127.0.0.1:${srv.port}`);

      // Refresh period elapsed: the next request reads the new token (no 401 on the way).
      await syncs({ serviceAccountDir: dir, credentialRefreshMs: 100 }, 'in-cluster', async (h) => {
        const t2 = 'rotated-token-2';
        await writeFile(path.join(dir, 'token'), t2);
        srv.setToken(t2);
        await new Promise((r) => setTimeout(r, 200));
        const before = srv.requests.length;
        srv.dropWatches();
        srv.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's1', namespace: 'default' }, spec: { ports: [{ port: 80 }] } });
        await waitFor(() => h.view.Service.has('default/s1'), 'event after rotation (refresh period)', 10_000);
        assert.equal(srv.requests.slice(before).filter((r) => r.status === 401).length, 0, 'the rotated token was read before any request');
      });
      srv.delete('Service', 'default', 's1');

      // Default refresh (60 s): the server's 401 makes the transport read the file again at once.
      await syncs({ serviceAccountDir: dir }, 'in-cluster, default refresh', async (h) => {
        const t3 = 'rotated-token-3';
        await writeFile(path.join(dir, 'token'), t3);
        srv.setToken(t3);
        srv.dropWatches();
        srv.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's2', namespace: 'default' }, spec: { ports: [{ port: 80 }] } });
        await waitFor(() => h.view.Service.has('default/s2'), 'event after rotation (401)', 10_000);
        assert.ok(srv.requests.some((r) => r.status === 401), 'the old token was refused once');
      });
    } finally {
      for (const [k, v] of [['KUBERNETES_SERVICE_HOST', saved.host], ['KUBERNETES_SERVICE_PORT', saved.port]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});

test('kubeconfig errors are clear: missing file, no current context, no server', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'kpx-kc-'));
  try {
    assert.throws(() => resolveClientConfig({ kubeconfig: path.join(dir, 'nope'), master: '' }), /kubeconfig .*nope.*ENOENT/);
    const noCtx = await write(dir, 'no-ctx', { apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }] });
    assert.throws(() => resolveClientConfig({ kubeconfig: noCtx, master: '' }), /no current context\/cluster/);
    assert.equal(resolveClientConfig({ kubeconfig: noCtx, master: 'https://127.0.0.1:2/' }).server, 'https://127.0.0.1:2');
    const noServer = await write(dir, 'no-server', kubeconfig({}, {}));
    assert.throws(() => resolveClientConfig({ kubeconfig: noServer, master: '' }), /no server/);
    const ipv6 = resolveClientConfig({ kubeconfig: '', master: '', env: { KUBERNETES_SERVICE_HOST: '2001:db8::1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountDir: dir });
    assert.equal(ipv6.server, 'https://[2001:db8::1]:443');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('credential files: re-read after the refresh period or invalidate(), last good value kept while missing', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'kpx-kc-'));
  try {
    const f = path.join(dir, 'token');
    await writeFile(f, 'one');
    let t = 0;
    const r = new MaterialReader({ file: f }, 1000, () => t);
    assert.equal(r.get()?.toString(), 'one');
    await writeFile(f, 'two');
    t = 999;
    assert.equal(r.get()?.toString(), 'one', 'cached within the refresh period');
    t = 1000;
    assert.equal(r.get()?.toString(), 'two', 're-read after it');
    await writeFile(f, 'three');
    r.invalidate();
    assert.equal(r.get()?.toString(), 'three', 're-read at once after invalidate() (a 401)');
    await rm(f);
    t = 5000;
    assert.equal(r.get()?.toString(), 'three', 'a file briefly missing during rotation keeps the last value');
    assert.throws(() => new MaterialReader({ file: f }, 1000).get(), /reading .*token/);
    assert.equal(new MaterialReader({ data: Buffer.from('x') }, 1000).get()?.toString(), 'x');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
