// Shared by the API server fault tests (test/reliability/apiserver-faults.test.ts, and in IPVS mode
// test/guest/faults.test.ts): a watched test API server with a seeded dual-stack churn, and the proxy.

import { NsApiServer } from './apiserver.js';
import { Churn } from './churn.js';
import { converge } from './converge.js';
import { modeRun, type Mode } from './modes.js';
import { nodeObject } from '../../runtime/fixtures.js';
import { sleep, startProxyIn, type RunningProxy } from './proxy.js';
import { NODE_IP, NODE_IP6, type World } from './world.js';

export const SEED_SERVICES = 60;

/** Apply `count` churn steps in small batches with a pause between batches; `during` runs at `atStep`. */
export async function runChurn(
  srv: NsApiServer,
  churn: Churn,
  count: number,
  atStep: number,
  during: () => Promise<void>,
): Promise<{ writes: number; failed: number }> {
  let writes = 0;
  let failed = 0;
  let pending: Promise<void> | null = null;
  const batch = 10;
  for (let i = 0; i < count; i += batch) {
    if (i <= atStep && atStep < i + batch) pending = during();
    const ops = [];
    for (let j = i; j < Math.min(count, i + batch); j++) ops.push(...churn.step());
    const r = await srv.apply(ops);
    writes += r.done;
    failed += r.failed;
    if (r.failed) throw new Error(`server rejected writes: ${r.errors.join('; ')}`);
    await sleep(15);
  }
  if (pending) await pending;
  return { writes, failed };
}

/** The API server, a dual-stack churn seeded with `seedServices` services, and the proxy watching it, converged. */
export async function setupWatched(
  world: World,
  seed: number,
  mode: Mode,
  o: { seedServices?: number; extraArgs?: readonly string[]; readyTimeoutMs?: number } = {},
): Promise<{ srv: NsApiServer; churn: Churn; proxy: RunningProxy }> {
  const srv = await NsApiServer.start(world);
  const churn = new Churn(seed, { maxServices: 150, endpointsPerService: 6, dual: true });
  await srv.apply([{ t: 'create', obj: nodeObject('node-a', [NODE_IP, NODE_IP6]) }, ...churn.pin(1), ...churn.seed(o.seedServices ?? SEED_SERVICES)]);
  const run = modeRun(mode);
  const proxy = startProxyIn(world, ['--kubeconfig', srv.kubeconfigPath, '--proxy-mode', run.proxyMode, '--hostname-override', 'node-a', '--v=2', ...(o.extraArgs ?? [])], run.env);
  await converge(world, churn, 'initial sync', mode, o.readyTimeoutMs);
  return { srv, churn, proxy };
}

