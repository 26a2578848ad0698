// The real kubectl drives the test API server (over TLS with a bearer token when openssl is available),
// and our API server Source sees every change.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { configureLogging } from '../../src/log/logger.js';
import { createApiServerSource } from '../../src/sources/apiserver.js';
import { startTestApiServer } from '../../tools/test-apiserver/server.js';
import { RecordingHandler, waitFor } from '../sources/helpers.js';

const exec = promisify(execFile);
const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';
configureLogging({ sink: () => undefined });

function hasOpenssl(): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => existsSync(path.join(d, 'openssl')));
}

const svcYaml = (port: number, target: number, labels = ''): string => `apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
${labels}spec:
  selector: {app: web}
  ports:
  - name: http
    port: ${port}
    targetPort: ${target}
`;

const sliceYaml = `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: default
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
endpoints:
- addresses: ["198.18.100.2"]
  conditions: {ready: true}
ports:
- name: http
  port: 8080
  protocol: TCP
`;

test('kubectl create/get/replace/apply/label/delete against the test API server; the source sees each change', async (t) => {
  if (!existsSync(KUBECTL)) {
    console.error(`\n*** SKIPPING kubectl test: ${KUBECTL} not found (set KUBECTL=...) ***\n`);
    t.skip('kubectl missing');
    return;
  }
  const tls = hasOpenssl();
  if (!tls) console.error('\n*** openssl not found: running the kubectl test over plain http ***\n');
  const srv = await startTestApiServer({ tls });
  const dir = await mkdtemp(path.join(tmpdir(), 'kpx-kubectl-'));
  const h = new RecordingHandler();
  const src = createApiServerSource({ kubeconfig: srv.kubeconfigPath, master: '', nodeName: 'node-a', qps: 0 });
  const kubectl = async (...args: string[]): Promise<string> => {
    try {
      const { stdout } = await exec(KUBECTL, ['--kubeconfig', srv.kubeconfigPath, ...args], { timeout: 30_000 });
      return stdout;
    } catch (e) {
      const err = e as Error & { stderr?: string };
      throw new Error(`kubectl ${args.join(' ')}: ${err.stderr ?? err.message}`);
    }
  };
  const file = async (name: string, text: string): Promise<string> => {
    const p = path.join(dir, name);
    await writeFile(p, text);
    return p;
  };
  const ports = (): unknown => (h.view.Service.get('default/web') as { spec: { ports: unknown } } | undefined)?.spec.ports;
  try {
    await src.start(h);
    await waitFor(() => h.synced.size === 4, 'synced');

    assert.match(await kubectl('create', '-f', await file('svc.yaml', svcYaml(80, 8080)), '-f', await file('slice.yaml', sliceYaml)), /service\/web created/);
    await waitFor(() => h.view.Service.has('default/web') && h.view.EndpointSlice.has('default/web-1'), 'created objects seen');
    const svc = h.view.Service.get('default/web') as { spec: { clusterIP: string } };
    assert.match(svc.spec.clusterIP, /^\d+\.\d+\.\d+\.\d+$/, 'clusterIP allocated by the server');

    const got = JSON.parse(await kubectl('get', 'services', '-o', 'json')) as { items: { metadata: { name: string } }[] };
    assert.deepEqual(got.items.map((i) => i.metadata.name), ['web']);
    // Server-side printing: the usual columns.
    const table = await kubectl('get', 'services');
    assert.match(table, /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\n/);
    assert.match(table, new RegExp(`web\\s+ClusterIP\\s+${svc.spec.clusterIP.replace(/\./g, '\\.')}\\s+<none>\\s+80/TCP`));
    assert.match(await kubectl('get', 'endpointslices'), /web-1\s+IPv4\s+8080\s+198\.18\.100\.2/);
    const slices = JSON.parse(await kubectl('get', 'endpointslices', '-o', 'json')) as { items: { endpoints: unknown[] }[] };
    assert.equal(slices.items.length, 1);

    h.clear();
    assert.match(await kubectl('replace', '-f', await file('svc2.yaml', svcYaml(80, 9090))), /replaced/);
    await waitFor(() => JSON.stringify(ports()).includes('9090'), 'replace seen');
    assert.deepEqual(h.events.map((e) => `${e.type} ${e.key}`), ['MODIFIED default/web']);
    assert.equal((h.view.Service.get('default/web') as { spec: { clusterIP: string } }).spec.clusterIP, svc.spec.clusterIP, 'replace keeps the allocated clusterIP');

    // Client-side apply: first apply patches in the last-applied annotation, the second changes the port.
    await kubectl('apply', '-f', await file('svc3.yaml', svcYaml(80, 9090)));
    assert.match(await kubectl('apply', '-f', await file('svc4.yaml', svcYaml(81, 7070))), /configured/);
    await waitFor(() => JSON.stringify(ports()).includes('7070'), 'apply seen');
    assert.deepEqual(ports(), [{ name: 'http', port: 81, targetPort: 7070, protocol: 'TCP' }]);
    const viaKubectl = JSON.parse(await kubectl('get', 'svc', 'web', '-o', 'json')) as { spec: { ports: unknown } };
    assert.deepEqual(viaKubectl.spec.ports, ports());

    // Labelled for another proxy: invisible to kube-proxy (DELETED), and back.
    h.clear();
    await kubectl('label', 'svc', 'web', 'service.kubernetes.io/service-proxy-name=other');
    await waitFor(() => !h.view.Service.has('default/web'), 'label hides the service');
    await kubectl('label', 'svc', 'web', 'service.kubernetes.io/service-proxy-name-');
    await waitFor(() => h.view.Service.has('default/web'), 'unlabel shows it again');
    assert.deepEqual(h.events.map((e) => `${e.type} ${e.key}`), ['DELETED default/web', 'ADDED default/web']);

    // Nodes (created through apply's create path): only ours is watched.
    await kubectl('apply', '-f', await file('nodes.yaml', 'apiVersion: v1\nkind: Node\nmetadata:\n  name: node-a\n---\napiVersion: v1\nkind: Node\nmetadata:\n  name: node-b\n'));
    await waitFor(() => h.view.Node.has('node-a'), 'node seen');
    assert.deepEqual(h.keys('Node'), ['node-a']);

    // ServiceCIDRs (networking.k8s.io/v1): kubectl maps the kind through discovery, the source watches them.
    const cidrYaml = 'apiVersion: networking.k8s.io/v1\nkind: ServiceCIDR\nmetadata:\n  name: extra\nspec:\n  cidrs: ["198.19.0.0/16"]\n';
    assert.match(await kubectl('create', '-f', await file('cidr.yaml', cidrYaml)), /servicecidr\.networking\.k8s\.io\/extra created/);
    await waitFor(() => h.view.ServiceCIDR.has('extra'), 'ServiceCIDR seen');
    assert.match(await kubectl('get', 'servicecidrs'), /extra\s+198\.19\.0\.0\/16/);
    assert.match(await kubectl('delete', 'servicecidr', 'extra'), /deleted/);
    await waitFor(() => !h.view.ServiceCIDR.has('extra'), 'ServiceCIDR delete seen');

    h.clear();
    assert.match(await kubectl('delete', 'service', 'web'), /deleted/);
    assert.match(await kubectl('delete', '-f', path.join(dir, 'slice.yaml')), /deleted/);
    await waitFor(() => !h.view.Service.has('default/web') && !h.view.EndpointSlice.has('default/web-1'), 'deletes seen');
    assert.deepEqual(h.events.map((e) => `${e.type} ${e.kind}`).sort(), ['DELETED EndpointSlice', 'DELETED Service']);
    await assert.rejects(kubectl('get', 'svc', 'web'), /NotFound|not found/);
    assert.deepEqual(h.violations, []);
  } finally {
    await src.stop();
    await srv.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
