// Control-plane measurement: the initial LIST of N Services + N EndpointSlices (10 endpoints) from
// the project's test API server, through the real reflector and ServiceModel.build, to a desired
// state and the nftables plan of it (what the proxy holds before its first sync).
//
// Two child processes so each RSS is its own: `control.js server N` (the API server, populated)
// and `control.js client <kubeconfig> N` (the proxy side, measured). bench/run.ts drives both.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { planFull } from '../src/dataplane/nftables/planner.js';
import { configureLogging } from '../src/log/logger.js';
import { ServiceModel } from '../src/model/tracker.js';
import { loadKubeConfig } from '../src/sources/apiserver.js';
import { selectorsFor } from '../src/sources/objects.js';
import { Reflector } from '../src/sources/reflector.js';
import { kubeConfigTransport } from '../src/sources/transport.js';
import type { ObjectKind } from '../src/sources/types.js';
import { startTestApiServer } from '../tools/test-apiserver/server.js';
import { BUILD_CTX, DATAPLANE_CONFIG, range, serviceObject, sliceObject } from './fixtures.js';

export interface ControlResult {
  readonly services: number;
  readonly listMs: number;
  readonly buildMs: number;
  readonly planMs: number;
  readonly totalMs: number;
  readonly servicePorts: number;
  readonly maxRssMB: number;
  readonly heapUsedMB: number;
}

const SELF = fileURLToPath(import.meta.url);

async function serve(n: number): Promise<void> {
  configureLogging({ sink: () => undefined });
  const srv = await startTestApiServer();
  srv.store.maxLogEvents = 2 * n + 1000;
  for (let i = 0; i < n; i++) {
    const { resourceVersion: _s, ...svcMeta } = serviceObject(i).metadata as Record<string, unknown>;
    srv.create({ ...serviceObject(i), metadata: svcMeta });
    const slice = sliceObject(i, range(10));
    const { resourceVersion: _e, ...sliceMeta } = slice.metadata as Record<string, unknown>;
    srv.create({ ...slice, metadata: sliceMeta });
  }
  process.send!({ kubeconfig: srv.kubeconfigPath });
  process.on('message', () => void srv.stop().then(() => process.exit(0)));
}

async function client(kubeconfig: string, n: number): Promise<void> {
  configureLogging({ sink: () => undefined });
  const transport = kubeConfigTransport(loadKubeConfig(kubeconfig, ''));
  const model = new ServiceModel({ nodeName: 'bench-node', onInvalid: () => undefined });
  const synced = new Set<ObjectKind>();
  const handler = { onEvent: (k: ObjectKind, t: 'ADDED' | 'MODIFIED' | 'DELETED', o: unknown) => void model.onEvent(k, t, o), onSynced: (k: ObjectKind) => void synced.add(k) };
  const reflectors = (['Service', 'EndpointSlice'] as const).map((kind) => new Reflector({ kind, transport, handler, ...selectorsFor(kind, 'bench-node') }));
  const t0 = performance.now();
  for (const r of reflectors) r.start();
  const deadline = Date.now() + 300_000;
  while (synced.size < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  if (synced.size < 2) throw new Error('initial list did not complete in 300 s');
  const t1 = performance.now();
  const built = model.build('IPv4', BUILD_CTX);
  const t2 = performance.now();
  const p = planFull(built.state, DATAPLANE_CONFIG);
  const t3 = performance.now();
  const res: ControlResult = {
    services: n,
    listMs: t1 - t0,
    buildMs: t2 - t1,
    planMs: t3 - t2,
    totalMs: t3 - t0,
    servicePorts: built.state.services.size,
    maxRssMB: (process.resourceUsage().maxRSS * 1024) / 1048576,
    heapUsedMB: process.memoryUsage().heapUsed / 1048576,
  };
  // Keep the plan alive until measured (its memory is part of what the proxy holds).
  if (p.ops < 0) console.error('unreachable');
  process.send!(res);
  await Promise.all(reflectors.map((r) => r.stop()));
  process.exit(0);
}

function once<T>(child: ChildProcess, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms / 1000} s`)), ms);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve(m as T);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited ${code}`));
    });
  });
}

/** Run one control-plane measurement at N services (both children, bounded in time). */
export async function measureControlPlane(n: number, limitMs: number): Promise<ControlResult> {
  const srv = fork(SELF, ['server', String(n)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  let cli: ChildProcess | undefined;
  try {
    const { kubeconfig } = await once<{ kubeconfig: string }>(srv, limitMs, 'test API server');
    cli = fork(SELF, ['client', kubeconfig, String(n)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    return await once<ControlResult>(cli, limitMs, 'control-plane client');
  } finally {
    cli?.kill('SIGKILL');
    srv.kill('SIGKILL');
  }
}

// Only when started as a child (run.ts imports this module for measureControlPlane).
const role = process.argv[1] === SELF ? process.argv[2] : undefined;
if (role === 'server') void serve(Number(process.argv[3]));
else if (role === 'client') void client(process.argv[3]!, Number(process.argv[4]));
