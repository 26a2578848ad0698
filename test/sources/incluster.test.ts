// The in-cluster configuration, as a DaemonSet pod runs it, on the real process: no --kubeconfig, only
// KUBERNETES_SERVICE_HOST/PORT and the service-account files at their fixed path (bind-mounted there
// in a private mount namespace), against the test API server with TLS in the node namespace.
// - rules for the API server's Services appear (the token and the CA are used);
// - a rotated token file is picked up without a restart: the old token is revoked and every watch cut,
//   so only the new token gets a new Service programmed;
// - no token file: exit 1 with an error naming the file.
// Written against the process's behaviour only, so it holds whichever API transport is in place.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { NsApiServer } from '../reliability/support/apiserver.js';
import { debugState, eventually, startProxyIn } from '../reliability/support/proxy.js';
import { NODE_IP, podIP, POD_PORT, World } from '../reliability/support/world.js';
import { rotateToken, SERVICE_ACCOUNT_DIR, serviceAccountMountPrefix, writeServiceAccountDir } from '../support/incluster.js';
import { nodeObject, rmDir, serviceObject, sliceObject, tempDir } from '../runtime/fixtures.js';

const isRoot = process.getuid?.() === 0;
let world: World | null = null;
let srv: NsApiServer | null = null;
const dirs: string[] = [];

before(async () => {
  if (!isRoot) return;
  world = await World.create({ pods: 1 });
  srv = await NsApiServer.start(world, { tls: true });
  const r = await srv.apply([
    { t: 'create', obj: nodeObject('node-a', [NODE_IP]) },
    { t: 'create', obj: serviceObject({ name: 'web1', clusterIP: '198.19.0.10', port: 80 }) },
    { t: 'create', obj: sliceObject('web1', POD_PORT, [{ ip: podIP(1), nodeName: 'node-a' }]) },
  ]);
  assert.equal(r.failed, 0, r.errors.join('; '));
});

after(async () => {
  await world?.destroy();
  for (const d of dirs) await rmDir(d);
});

async function saDir(o: { token?: boolean } = {}): Promise<{ dir: string; env: NodeJS.ProcessEnv; token: string }> {
  const dir = await tempDir('kpx-sa-');
  dirs.push(dir);
  const { host, port, token } = await writeServiceAccountDir(srv!.kubeconfigPath, dir, o);
  return { dir, env: { KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: port }, token };
}

const ARGS = ['--proxy-mode', 'nftables', '--hostname-override', 'node-a', '--v=2'];

async function programmed(ip: string): Promise<boolean> {
  const st = await debugState(world!);
  return Object.values(st.families.IPv4?.services ?? {}).some((s) => s.clusterIP === ip && s.hasAnyEndpoints);
}

test('in-cluster config: token and CA from the service-account path; a rotated token is used without a restart', { skip: !isRoot && 'needs root', timeout: 240_000 }, async () => {
  const sa = await saDir();
  const proxy = startProxyIn(world!, ARGS, sa.env, serviceAccountMountPrefix(sa.dir));
  try {
    await eventually(() => programmed('198.19.0.10'), 'web1 programmed from the in-cluster API connection', 60_000, 250);
    assert.match(proxy.output(), /127\.0\.0\.1/, 'the proxy logs the in-cluster server URL');

    // Rotate: the file gets a new token, the server accepts only the new one, and every watch is cut so
    // the proxy has to authenticate again. client-go (and client-node) re-read the file about once a
    // minute; a transport that re-reads sooner passes sooner.
    const fresh = randomBytes(16).toString('hex');
    await rotateToken(sa.dir, fresh);
    await srv!.setTokens([fresh]);
    await srv!.dropWatches();
    const r = await srv!.apply([
      { t: 'create', obj: serviceObject({ name: 'web2', clusterIP: '198.19.0.11', port: 80 }) },
      { t: 'create', obj: sliceObject('web2', POD_PORT, [{ ip: podIP(1), nodeName: 'node-a' }]) },
    ]);
    assert.equal(r.failed, 0, r.errors.join('; '));
    await eventually(() => programmed('198.19.0.11'), 'web2 programmed after the token rotation', 150_000, 500);
    assert.equal(proxy.child.exitCode, null, 'the same process, not a restart');
    assert.equal(proxy.child.signalCode, null);
  } finally {
    const end = await proxy.stop();
    assert.equal(end.code, 0, `clean exit on SIGTERM:\n${proxy.output().slice(-3000)}`);
  }
});

test('in-cluster config without a token file: exit 1 naming the file', { skip: !isRoot && 'needs root', timeout: 60_000 }, async () => {
  const sa = await saDir({ token: false });
  const proxy = startProxyIn(world!, ARGS, sa.env, serviceAccountMountPrefix(sa.dir));
  const t = setTimeout(() => void proxy.kill(), 30_000);
  const end = await proxy.exited;
  clearTimeout(t);
  assert.equal(end.code, 1, proxy.output());
  assert.ok(proxy.output().includes(`${SERVICE_ACCOUNT_DIR}/token`), `error names the token file:\n${proxy.output()}`);
});
