// Shared set-up of the traffic fault tests: a world with a client and backend pods, Services written
// to a --manifests directory, the proxy started in the node namespace, and traffic checked end to end.

import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clusterIPOf, serviceObj, sliceObj, type Family, type SvcModel } from './churn.js';
import { modeRun, type Mode as RunMode } from './modes.js';
import { eventually, startProxyIn, type RunningProxy } from './proxy.js';
import { POD_PORT, podIP, World, type Agent, type Target } from './world.js';

export type Mode = 'nftables' | 'iptables';

/** `n` services svc-1..n (VIP 198.19.0.i:80) whose endpoints are all `pods` (port 8080). */
export function servicesOverPods(n: number, pods: number): SvcModel[] {
  const out: SvcModel[] = [];
  for (let i = 1; i <= n; i++) {
    const endpoints = new Map<string, boolean>();
    for (let p = 1; p <= pods; p++) endpoints.set(podIP(p), true);
    out.push({ name: `svc-${i}`, index: i, port: 80, targetPort: POD_PORT, endpoints });
  }
  return out;
}

/** The services' ClusterIP targets of the given families (IPv4 only by default). */
export function targetsOf(svcs: readonly SvcModel[], families: readonly Family[] = ['IPv4']): Target[] {
  return families.flatMap((f) => svcs.map((s) => ({ host: clusterIPOf(s, f), port: s.port })));
}

export async function writeManifests(dir: string, file: string, objects: readonly unknown[]): Promise<void> {
  const tmp = path.join(dir, `.${file}.tmp`);
  await fsp.writeFile(tmp, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  await fsp.rename(tmp, path.join(dir, file));
}

/** Service + slice objects; `dual`: dual-stack Services with one slice per family. */
export function manifestObjects(svcs: readonly SvcModel[], dual = false): unknown[] {
  return svcs.flatMap((s) => [serviceObj(s, 'default', dual), sliceObj(s), ...(dual ? [sliceObj(s, 'default', 'IPv6')] : [])]);
}

export interface TrafficSetup {
  readonly world: World;
  readonly dir: string;
  readonly client: Agent;
  readonly targets: Target[];
  proxy: RunningProxy;
  /** Proxy arguments, for restarts. */
  readonly args: string[];
  cleanup(): Promise<void>;
}

/** Every target answers from the client (bounded wait). */
export async function waitForTraffic(client: Agent, targets: readonly Target[], timeoutMs = 30_000): Promise<void> {
  await eventually(async () => {
    for (const t of targets) if (!(await client.probe(t, 1000)).ok) return false;
    return true;
  }, 'service traffic through the proxy', timeoutMs, 200);
}

export async function trafficSetup(o: {
  mode: RunMode;
  services: number;
  pods?: number;
  extraArgs?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Dual-stack Services and world; targets are then every IPv4 ClusterIP followed by every IPv6 one. */
  dualStack?: boolean;
  /** How long to wait for traffic through the first sync (default 30 s; the emulated IPVS guest needs minutes). */
  readyTimeoutMs?: number;
}): Promise<TrafficSetup> {
  const dual = o.dualStack === true;
  const world = await World.create({ client: true, pods: o.pods ?? 2, dualStack: dual });
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'kpx-rel-'));
  const cleanup = async (): Promise<void> => {
    await world.destroy();
    await fsp.rm(dir, { recursive: true, force: true });
  };
  try {
    const svcs = servicesOverPods(o.services, o.pods ?? 2);
    await writeManifests(dir, 'services.json', manifestObjects(svcs, dual));
    const run = modeRun(o.mode);
    const args = ['--manifests', dir, '--proxy-mode', run.proxyMode, '--hostname-override', 'node-a', ...(o.extraArgs ?? [])];
    const env = { ...run.env, ...o.env };
    const proxy = startProxyIn(world, args, Object.keys(env).length > 0 ? env : undefined);
    const client = await world.agent('client');
    const targets = targetsOf(svcs, dual ? ['IPv4', 'IPv6'] : ['IPv4']);
    await waitForTraffic(client, targets, o.readyTimeoutMs);
    return { world, dir, client, targets, proxy, args, cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
