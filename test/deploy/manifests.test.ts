// The deploy/ manifests are what users install: check the properties that matter (least
// privilege RBAC, DaemonSet shape as upstream's kube-proxy) on the parsed objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../support/repo-root.js';

type Obj = Record<string, any>; // parsed YAML of several kinds; fields are checked one by one below

function loadDeploy(): Obj[] {
  const dir = join(repoRoot(), 'deploy');
  const out: Obj[] = [];
  for (const f of readdirSync(dir).filter((n) => /\.ya?ml$/.test(n) && n !== 'kustomization.yaml').sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) {
      assert.equal(doc.errors.length, 0, `${f}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const o = doc.toJS() as Obj | null;
      if (o) out.push(o);
    }
  }
  return out;
}

const objs = loadDeploy();
const byKind = (k: string) => objs.filter((o) => o.kind === k);

test('every manifest has apiVersion, kind and a name', () => {
  assert.ok(objs.length >= 5);
  for (const o of objs) {
    assert.ok(o.apiVersion && o.kind && o.metadata?.name, JSON.stringify(o).slice(0, 80));
  }
});

test('ClusterRole grants only read on services, endpointslices, nodes, servicecidrs and create/patch on events', () => {
  const [role] = byKind('ClusterRole');
  assert.ok(role);
  const grants = new Set<string>();
  for (const r of role.rules as Obj[]) {
    for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) grants.add(`${g}/${res}:${v}`);
  }
  const want = new Set([
    '/services:get', '/services:list', '/services:watch',
    '/nodes:get', '/nodes:list', '/nodes:watch',
    'discovery.k8s.io/endpointslices:get', 'discovery.k8s.io/endpointslices:list', 'discovery.k8s.io/endpointslices:watch',
    'networking.k8s.io/servicecidrs:get', 'networking.k8s.io/servicecidrs:list', 'networking.k8s.io/servicecidrs:watch',
    '/events:create', '/events:patch', 'events.k8s.io/events:create', 'events.k8s.io/events:patch',
  ]);
  assert.deepEqual([...grants].sort(), [...want].sort());
  for (const r of role.rules as Obj[]) assert.ok(!r.verbs.includes('*') && !r.resources.includes('*'));
});

test('ClusterRoleBinding binds the role to the DaemonSet service account', () => {
  const [b] = byKind('ClusterRoleBinding');
  const [sa] = byKind('ServiceAccount');
  const [ds] = byKind('DaemonSet');
  assert.equal(b.roleRef.name, byKind('ClusterRole')[0].metadata.name);
  assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
  assert.equal(ds.spec.template.spec.serviceAccountName, sa.metadata.name);
});

test('DaemonSet runs like upstream kube-proxy', () => {
  const [ds] = byKind('DaemonSet');
  const pod = ds.spec.template.spec;
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.priorityClassName, 'system-node-critical');
  assert.ok(pod.tolerations.some((t: Obj) => t.operator === 'Exists'));
  const c = pod.containers[0];
  assert.equal(c.livenessProbe.httpGet.path, '/livez');
  assert.equal(c.livenessProbe.httpGet.port, 10256);
  const caps = c.securityContext.capabilities?.add ?? [];
  assert.ok(c.securityContext.privileged === true || ['NET_ADMIN', 'NET_RAW', 'SYS_MODULE'].every((x) => caps.includes(x)));
  const mounts = new Map((c.volumeMounts as Obj[]).map((m) => [m.mountPath, m]));
  assert.ok(mounts.has('/lib/modules') && mounts.get('/lib/modules')!.readOnly);
  assert.ok(mounts.has('/run/xtables.lock'));
  const vols = new Map((pod.volumes as Obj[]).map((v) => [v.name, v]));
  assert.equal(vols.get(mounts.get('/run/xtables.lock')!.name)?.hostPath.type, 'FileOrCreate');
  assert.ok(c.command.includes('--hostname-override=$(NODE_NAME)'));
});

test('ConfigMap holds a KubeProxyConfiguration the DaemonSet reads', () => {
  const [cm] = byKind('ConfigMap');
  const cfg = cm.data['config.yaml'] as string;
  assert.match(cfg, /apiVersion: kubeproxy\.config\.k8s\.io\/v1alpha1/);
  assert.match(cfg, /kind: KubeProxyConfiguration/);
  const [ds] = byKind('DaemonSet');
  const c = ds.spec.template.spec.containers[0];
  const arg = (c.command as string[]).find((a) => a.startsWith('--config='))!;
  const mount = (c.volumeMounts as Obj[]).find((m) => arg.slice('--config='.length).startsWith(m.mountPath))!;
  const vol = (ds.spec.template.spec.volumes as Obj[]).find((v) => v.name === mount.name)!;
  assert.equal(vol.configMap.name, cm.metadata.name);
  assert.ok(arg.endsWith('/config.yaml'));
});

test('the ConfigMap configuration is accepted by kube-proxy-ts itself', async () => {
  const { parseCommandLine } = await import('../../src/config/options.js');
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const [cm] = byKind('ConfigMap');
  const dir = mkdtempSync(join(tmpdir(), 'kpx-deploy-'));
  try {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, cm.data['config.yaml']);
    const r = await parseCommandLine(['--config', file, '--hostname-override', 'node-a']);
    assert.equal(r.kind, 'run', r.kind === 'error' ? r.message : r.kind);
    if (r.kind === 'run') assert.equal(r.options.mode, 'nftables');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the real kubectl maps and creates every deploy/ object (against the test API server)', async (t) => {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { existsSync } = await import('node:fs');
  const run = promisify(execFile);
  const kubectl = process.env.KUBECTL ?? '/usr/bin/kubectl';
  if (!existsSync(kubectl)) {
    t.skip(`!!! kubectl not found at ${kubectl}: deploy/ not validated with kubectl`);
    return;
  }
  const { startTestApiServer } = await import('../../tools/test-apiserver/server.js');
  const server = await startTestApiServer();
  const deployDir = join(repoRoot(), 'deploy');
  const kc = (...args: string[]) => run(kubectl, ['--kubeconfig', server.kubeconfigPath, ...args], { timeout: 60_000 });
  try {
    const want = [
      'serviceaccount/kube-proxy-ts',
      'clusterrole.rbac.authorization.k8s.io/kube-proxy-ts',
      'clusterrolebinding.rbac.authorization.k8s.io/kube-proxy-ts',
      'configmap/kube-proxy-ts',
      'daemonset.apps/kube-proxy-ts',
    ].sort();
    const dry = await kc('create', '--dry-run=client', '--validate=false', '-k', deployDir, '-o', 'name');
    assert.deepEqual(dry.stdout.trim().split('\n').sort(), want);
    // As docs/deploy.md installs it: `kubectl apply -k deploy/`.
    const applied = await kc('apply', '-k', deployDir, '-o', 'name');
    assert.deepEqual(applied.stdout.trim().split('\n').sort(), want);
    const got = await kc('get', 'ds,cm,sa', '-n', 'kube-system', '-o', 'name');
    assert.deepEqual(got.stdout.trim().split('\n').sort(), ['configmap/kube-proxy-ts', 'daemonset.apps/kube-proxy-ts', 'serviceaccount/kube-proxy-ts']);
  } finally {
    await server.stop();
  }
});

test('deploy/kustomization.yaml lists every manifest, and `kubectl kustomize` builds them offline', async (t) => {
  const dir = join(repoRoot(), 'deploy');
  const k = parseAllDocuments(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as Obj;
  const files = readdirSync(dir).filter((n) => /\.ya?ml$/.test(n) && n !== 'kustomization.yaml').sort();
  assert.deepEqual([...(k.resources as string[])].sort(), files);
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { existsSync } = await import('node:fs');
  const kubectl = process.env.KUBECTL ?? '/usr/bin/kubectl';
  if (!existsSync(kubectl)) {
    t.skip(`!!! kubectl not found at ${kubectl}`);
    return;
  }
  // No server: kustomize needs none (KUBECONFIG pointed at nothing to prove it).
  const out = await promisify(execFile)(kubectl, ['kustomize', dir], { timeout: 60_000, env: { ...process.env, KUBECONFIG: '/nonexistent' } });
  const built = parseAllDocuments(out.stdout).map((d) => d.toJS() as Obj);
  assert.deepEqual(built.map((o) => `${o.kind}/${o.metadata.name}`).sort(), objs.map((o) => `${o.kind}/${o.metadata.name}`).sort());
});

test('the DaemonSet runs the image `make image` builds, with a memory request from the measured RSS', () => {
  const [ds] = byKind('DaemonSet');
  const c = ds.spec.template.spec.containers[0];
  const { version } = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { version: string };
  assert.equal(c.image, `localhost/kube-proxy-ts:${version}`);
  assert.equal(c.imagePullPolicy, 'IfNotPresent');
  assert.equal(c.command[0], 'node');
  assert.equal(c.command[1], '/app/dist/bundle/main.js', 'the path the Dockerfile puts the program at');
  const mi = (q: string): number => {
    const m = /^(\d+)(Mi|Gi)$/.exec(q);
    assert.ok(m, `memory quantity ${q}`);
    return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
  };
  // docs/deploy.md "Resources": RSS at 10k Services x 10 endpoints (API server source) peaks near
  // 360 MB in iptables mode; the request covers it. No memory limit (an OOM-killed proxy stops
  // programming Services), as upstream.
  assert.ok(mi(c.resources.requests.memory) >= 384, c.resources.requests.memory);
  assert.equal(c.resources.limits?.memory, undefined);
  assert.equal(ds.spec.updateStrategy.type, 'RollingUpdate');
});
