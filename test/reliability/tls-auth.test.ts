// TLS and authentication faults against the test API server with TLS, in the node namespace, each on a
// fresh proxy process (nftables) that has synced a baseline Service:
//   - the server's certificate rotated to another one from the same CA: the proxy reconnects, no restart;
//   - CA mismatch, expired server certificate, HTTP 401, HTTP 403: one error line naming the cause,
//     /healthz as upstream (200: nothing pending is stale; the API connection is not part of it),
//     the programmed rules stay, a Service written during the fault is programmed once the server is
//     fixed, without a restart;
//   - the token file rotated (kubeconfig tokenFile, and the in-cluster service-account token): the new
//     token is read within the refresh period (shortened with the test-only
//     KPX_TEST_CREDENTIAL_REFRESH_MS) and used before the old one is revoked, so no request gets a 401.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { NsApiServer } from './support/apiserver.js';
import { debugState, eventually, httpGet, startProxyIn, type RunningProxy } from './support/proxy.js';
import { NODE_IP, podIP, POD_PORT, World } from './support/world.js';
import { rotateToken, serviceAccountMountPrefix, writeServiceAccountDir } from '../support/incluster.js';
import { nodeObject, rmDir, serviceObject, sliceObject, tempDir } from '../runtime/fixtures.js';

const isRoot = process.getuid?.() === 0;
const ARGS = ['--proxy-mode', 'nftables', '--hostname-override', 'node-a', '--v=2'];
const BASE_IP = '198.19.0.10';
let world: World | null = null;
let srv: NsApiServer | null = null;
const dirs: string[] = [];
let nextSvc = 11;

before(async () => {
  if (!isRoot) return;
  world = await World.create({ pods: 1 });
  srv = await NsApiServer.start(world, { tls: true });
  const r = await srv.apply([
    { t: 'create', obj: nodeObject('node-a', [NODE_IP]) },
    { t: 'create', obj: serviceObject({ name: 'base', clusterIP: BASE_IP, port: 80 }) },
    { t: 'create', obj: sliceObject('base', POD_PORT, [{ ip: podIP(1), nodeName: 'node-a' }]) },
  ]);
  assert.equal(r.failed, 0, r.errors.join('; '));
});

after(async () => {
  await world?.destroy();
  for (const d of dirs) await rmDir(d);
});

/** Write a new Service with one endpoint to the server's store (it reaches the proxy only through its watches). */
async function writeService(): Promise<string> {
  const i = nextSvc++;
  const ip = `198.19.0.${i}`;
  const r = await srv!.apply([
    { t: 'create', obj: serviceObject({ name: `web${i}`, clusterIP: ip, port: 80 }) },
    { t: 'create', obj: sliceObject(`web${i}`, POD_PORT, [{ ip: podIP(1), nodeName: 'node-a' }]) },
  ]);
  assert.equal(r.failed, 0, r.errors.join('; '));
  return ip;
}

async function programmed(ip: string): Promise<boolean> {
  const st = await debugState(world!);
  return Object.values(st.families.IPv4?.services ?? {}).some((s) => s.clusterIP === ip && s.hasAnyEndpoints);
}

async function inTable(ip: string): Promise<boolean> {
  return (await world!.exec('node', ['nft', 'list', 'table', 'ip', 'kube-proxy'])).includes(`${ip} . tcp . 80`);
}

async function withProxy(env: NodeJS.ProcessEnv, args: readonly string[], wrap: readonly string[], fn: (p: RunningProxy) => Promise<void>): Promise<void> {
  const proxy = startProxyIn(world!, [...args, ...ARGS], env, wrap);
  try {
    await eventually(() => programmed(BASE_IP), 'baseline Service programmed', 60_000, 250);
    await fn(proxy);
    assert.equal(proxy.child.exitCode, null, 'the same process throughout, not a restart');
  } finally {
    const end = await proxy.stop();
    assert.equal(end.code, 0, `clean exit on SIGTERM:\n${proxy.output().slice(-3000)}`);
  }
}

const count = (text: string, s: string): number => text.split(s).length - 1;
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

test("server certificate rotated to another one from the same CA: reconnect without restart", { skip: !isRoot && 'needs root', timeout: 180_000 }, async (t) => {
  await withProxy({}, ['--kubeconfig', srv!.kubeconfigPath], [], async (proxy) => {
    const mark = proxy.output().length;
    const t0 = Date.now();
    await srv!.setServerCert('same-ca'); // also closes every connection: the proxy must handshake again
    try {
      const ip = await writeService();
      await eventually(() => programmed(ip), 'Service written after the rotation programmed', 90_000, 250);
      const ms = Date.now() - t0;
      const out = proxy.output().slice(mark);
      t.diagnostic(`rotated certificate: new Service programmed ${secs(ms)} after the rotation; watch resumes: ${count(out, 'Watch failed; resuming')}; failure lines: ${count(out, 'API server requests failing')}`);
      assert.equal(count(out, 'API server requests failing: certificate'), 0, 'no certificate error for a certificate from the trusted CA');
    } finally {
      await srv!.setServerCert('original');
    }
  });
});

interface Fault {
  readonly name: string;
  readonly cause: string;
  readonly breakIt: () => Promise<void>;
  readonly fixIt: () => Promise<void>;
}

const FAULTS: readonly Fault[] = [
  { name: 'CA mismatch', cause: 'certificate signed by unknown authority', breakIt: async () => void (await srv!.setServerCert('other-ca')), fixIt: async () => void (await srv!.setServerCert('original')) },
  { name: 'expired server certificate', cause: 'certificate has expired', breakIt: async () => void (await srv!.setServerCert('expired')), fixIt: async () => void (await srv!.setServerCert('original')) },
  {
    name: 'HTTP 401 (token revoked)',
    cause: 'Unauthorized: check the token',
    // Open watches stay open on a real server when a token is revoked; cutting them stands for the watch timeout.
    breakIt: async () => {
      await srv!.setTokens([randomBytes(8).toString('hex')]);
      await srv!.dropWatches();
    },
    fixIt: async () => void (await srv!.setTokens([srv!.token])),
  },
  {
    name: 'HTTP 403 (RBAC binding missing)',
    cause: 'Forbidden: RBAC',
    breakIt: async () => {
      await srv!.setForbidden(true);
      await srv!.dropWatches();
    },
    fixIt: async () => void (await srv!.setForbidden(false)),
  },
];

for (const f of FAULTS) {
  test(`${f.name}: one log line naming the cause, /healthz as upstream, rules kept, recovery without restart`, { skip: !isRoot && 'needs root', timeout: 180_000 }, async (t) => {
    await withProxy({}, ['--kubeconfig', srv!.kubeconfigPath], [], async (proxy) => {
      const mark = proxy.output().length;
      const since = (): string => proxy.output().slice(mark);
      const t0 = Date.now();
      await f.breakIt();
      let fixed = false;
      try {
        const ip = await writeService();
        await eventually(async () => since().includes(`API server requests failing: ${f.cause}`), `a log line naming "${f.cause}"`, 60_000, 200);
        const logMs = Date.now() - t0;
        // Let the reflectors retry a few times: the cause is still logged once, not per reflector and retry.
        await eventually(async () => count(since(), 'failed;') >= 6, 'retries during the fault', 90_000, 250);
        const health = await httpGet(world!, 'http://127.0.0.1:10256/healthz');
        assert.equal(health.status, 200, `/healthz during the fault: ${health.body}`);
        assert.ok(await inTable(BASE_IP), 'the programmed rules stay during the fault');
        assert.equal(await programmed(ip), false, 'the Service written during the fault cannot have arrived');
        const retries = count(since(), 'failed;');
        const lines = count(since(), `API server requests failing: ${f.cause}`);
        const line = since().split('\n').find((l) => l.includes('API server requests failing'));

        const t1 = Date.now();
        await f.fixIt();
        fixed = true;
        await eventually(() => programmed(ip), 'the Service written during the fault programmed after the fix', 120_000, 250);
        const recoverMs = Date.now() - t1;
        assert.ok(since().includes('API server requests succeed again'), 'the recovery is logged');
        t.diagnostic(`${f.name}: cause logged ${secs(logMs)} after the fault; ${retries} retries logged, the cause line ${lines} time(s); /healthz ${health.status}; base rules kept`);
        t.diagnostic(`${f.name}: Service written during the fault programmed ${secs(recoverMs)} after the fix`);
        t.diagnostic(`log line: ${line?.trim().slice(0, 400)}`);
        assert.equal(lines, 1, `exactly one line names the cause:\n${since().slice(-4000)}`);
      } finally {
        if (!fixed) await f.fixIt();
      }
    });
  });
}

interface TokenCase {
  readonly name: string;
  /** Proxy args, env, command prefix, and how to rotate the file. */
  setup(): Promise<{ args: string[]; env: NodeJS.ProcessEnv; wrap: string[]; rotate: (token: string) => Promise<void> }>;
}

const TOKEN_CASES: readonly TokenCase[] = [
  {
    name: 'kubeconfig tokenFile',
    async setup() {
      const dir = await tempDir('kpx-tok-');
      dirs.push(dir);
      const tokenFile = path.join(dir, 'token');
      await rotateToken(dir, srv!.token);
      const kc = JSON.parse(await fsp.readFile(srv!.kubeconfigPath, 'utf8')) as { users: { user: Record<string, unknown> }[] };
      kc.users[0]!.user = { tokenFile };
      const kubeconfig = path.join(dir, 'kubeconfig');
      await fsp.writeFile(kubeconfig, JSON.stringify(kc), { mode: 0o600 });
      return { args: ['--kubeconfig', kubeconfig], env: {}, wrap: [], rotate: (tok) => rotateToken(dir, tok) };
    },
  },
  {
    name: 'in-cluster service-account token',
    async setup() {
      const dir = await tempDir('kpx-sa-');
      dirs.push(dir);
      const { host, port } = await writeServiceAccountDir(srv!.kubeconfigPath, dir);
      await rotateToken(dir, srv!.token);
      return { args: [], env: { KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: port }, wrap: serviceAccountMountPrefix(dir), rotate: (tok) => rotateToken(dir, tok) };
    },
  },
];

for (const c of TOKEN_CASES) {
  test(`${c.name} rotated: the new token is read within the refresh period and used before the old one is revoked`, { skip: !isRoot && 'needs root', timeout: 180_000 }, async (t) => {
    const old = srv!.token;
    const s = await c.setup();
    try {
      await withProxy({ ...s.env, KPX_TEST_CREDENTIAL_REFRESH_MS: '1000' }, s.args, s.wrap, async () => {
        const fresh = randomBytes(16).toString('hex');
        // As a projected token: the old one stays valid for a while after kubelet writes the new one.
        await srv!.setTokens([old, fresh]);
        const t0 = Date.now();
        await s.rotate(fresh);
        // Open watches send no new requests; cutting them (the watch timeout, sooner) makes the proxy send some.
        await eventually(async () => {
          const used = (await srv!.requests()).some((r) => r.at > t0 && r.token === fresh);
          if (!used) await srv!.dropWatches();
          return used;
        }, 'a request with the new token', 60_000, 1000);
        const pickupMs = Date.now() - t0;
        const revokedAt = Date.now();
        await srv!.setTokens([fresh]);
        await srv!.dropWatches();
        const ip = await writeService();
        await eventually(() => programmed(ip), 'a Service written after the old token was revoked programmed', 90_000, 250);
        const after = (await srv!.requests()).filter((r) => r.at >= revokedAt);
        const unauthorized = after.filter((r) => r.status === 401).length;
        const withOld = after.filter((r) => r.token === old).length;
        t.diagnostic(`${c.name}: new token in use ${secs(pickupMs)} after the file changed (refresh period 1 s); after revoking the old token: ${after.length} requests, ${unauthorized} answered 401, ${withOld} with the old token`);
        assert.ok(after.length >= 1, 'the proxy sent requests after the revocation');
        assert.equal(unauthorized, 0, 'no request was refused: the rotated token had been picked up');
        assert.equal(withOld, 0, 'the old token was no longer sent');
      });
    } finally {
      await srv!.setTokens([old]);
    }
  });
}
