// Manual measurement (not a test): LIST N Services + N EndpointSlices (10 endpoints each) from the test
// API server through our reflector; reports wall time, pages, and the client process's RSS/heap.
//   node --import tsx test/sources/scale.manual.ts [N=10000]
// The server runs in a child process so the figures are the client's alone.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { configureLogging } from '../../src/log/logger.js';
import { loadKubeConfig } from '../../src/sources/apiserver.js';
import { selectorsFor } from '../../src/sources/objects.js';
import { Reflector } from '../../src/sources/reflector.js';
import { kubeConfigTransport } from '../../src/sources/transport.js';
import type { ObjectKind, SourceHandler } from '../../src/sources/types.js';
import { startTestApiServer } from '../../tools/test-apiserver/server.js';

const N = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 10_000);

async function serve(): Promise<void> {
  const srv = await startTestApiServer();
  srv.store.maxLogEvents = 4 * N + 100;
  for (let i = 0; i < N; i++) {
    const name = `svc-${i}`;
    const ns = `default`;
    srv.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: ns, labels: { app: name } },
      spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
    });
    srv.create({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-abcde`, namespace: ns, labels: { 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
      addressType: 'IPv4',
      endpoints: Array.from({ length: 10 }, (_, j) => ({
        addresses: [`10.${(i >> 8) & 255}.${i & 255}.${j + 1}`],
        conditions: { ready: true, serving: true, terminating: false },
        nodeName: `node-${j % 3}`,
        zone: `zone-${j % 3}`,
        targetRef: { kind: 'Pod', namespace: ns, name: `${name}-pod-${j}`, uid: '00000000-0000-0000-0000-000000000000' },
      })),
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
  }
  process.send!({ kubeconfig: srv.kubeconfigPath, url: srv.url });
  process.on('message', (m) => {
    if (m === 'update') {
      // One change per slice, for watch throughput.
      for (let i = 0; i < N; i++) {
        const s = srv.get('EndpointSlice', 'default', `svc-${i}-abcde`)!;
        (s.endpoints as { conditions: { ready: boolean } }[])[0]!.conditions.ready = false;
        srv.update(s);
      }
      process.send!({ updated: true });
    } else if (m === 'stop') void srv.stop().then(() => process.exit(0));
  });
}

function mb(n: number): string {
  return (n / 1024 / 1024).toFixed(0) + ' MB';
}

async function measure(): Promise<void> {
  configureLogging({ sink: () => undefined });
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--server', String(N)], { execArgv: process.execArgv });
  const t0 = Date.now();
  const info = await new Promise<{ kubeconfig: string }>((r) => child.once('message', (m) => r(m as { kubeconfig: string })));
  console.log(`server populated ${N} services + ${N} slices in ${Date.now() - t0} ms`);
  global.gc?.();
  const base = process.memoryUsage();
  const transport = kubeConfigTransport(loadKubeConfig(info.kubeconfig, ''));
  let events = 0;
  const synced = new Set<ObjectKind>();
  const handler: SourceHandler = { onEvent: () => void events++, onSynced: (k) => void synced.add(k) };
  const reflectors = (['Service', 'EndpointSlice'] as const).map(
    (kind) => new Reflector({ kind, transport, handler, ...selectorsFor(kind, 'node-a') }),
  );
  const t1 = Date.now();
  for (const r of reflectors) r.start();
  while (synced.size < 2) await new Promise((r) => setTimeout(r, 5));
  const listMs = Date.now() - t1;
  global.gc?.();
  const after = process.memoryUsage();
  console.log(`initial LIST of ${N} services + ${N} slices: ${listMs} ms, ${events} events, pages ${reflectors.map((r) => r.stats.listPages).join('+')}`);
  console.log(`client RSS ${mb(base.rss)} → ${mb(after.rss)} (+${mb(after.rss - base.rss)}), heap used ${mb(base.heapUsed)} → ${mb(after.heapUsed)} (+${mb(after.heapUsed - base.heapUsed)})${global.gc ? '' : ' (run with --expose-gc for settled heap figures)'}`);
  const t2 = Date.now();
  const before = events;
  let serverDone = 0;
  child.once('message', () => (serverDone = Date.now()));
  child.send('update');
  while (events - before < N) await new Promise((r) => setTimeout(r, 5));
  const t3 = Date.now();
  console.log(
    `watch: ${N} EndpointSlice MODIFIED events delivered ${t3 - t2} ms after the first update; the server's ${N} updates took ${serverDone ? serverDone - t2 : '>' + (t3 - t2)} ms`,
  );
  console.log(`peak RSS ${mb(process.resourceUsage().maxRSS * 1024)}`);
  await Promise.all(reflectors.map((r) => r.stop()));
  child.send('stop');
}

if (process.argv.includes('--server')) void serve();
else void measure();
