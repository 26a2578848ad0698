// Manual measurement of one start's in-process phases (not part of the suite), without an API server:
//   node dist/test/perf/sync-profile.manual.js [services=10000] [--apply]
// ingest (model.onEvent of N Services + N slices), build + nftables planFull per family, and with --apply
// (root; a scratch namespace kpx-prof-<hex>, deleted after) the `nft -f` of each plan: IPv4 first, then
// IPv6 with the IPv4 table loaded, as the proxy's two families run. Prints one JSON line of millis.

import { randomBytes } from 'node:crypto';
import { planFull } from '../../src/dataplane/nftables/planner.js';
import { ServiceModel } from '../../src/model/tracker.js';
import type { IPFamily } from '../../src/model/types.js';
import type { DataplaneConfig } from '../../src/dataplane/config.js';
import { run } from '../../src/util/exec.js';
import { nodeObject, perfObjects } from '../support/perf-objects.js';
import { dataplaneConfig } from '../support/state.js';

const N = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 10_000);
const APPLY = process.argv.includes('--apply');
const now = (): number => performance.now();
const cfg = (family: IPFamily): DataplaneConfig => dataplaneConfig({ family, localDetector: { mode: 'none' } });

const out: Record<string, unknown> = { services: N };
let t = now();
const model = new ServiceModel({ nodeName: 'node-a' });
model.onEvent('Node', 'ADDED', nodeObject());
for (let i = 1; i <= N; i++) for (const o of perfObjects(i, N)) model.onEvent(String(o.kind) as 'Service', 'ADDED', o);
out.ingestMs = Math.round(now() - t);
const scripts: Record<string, string> = {};
for (const family of ['IPv4', 'IPv6'] as const) {
  t = now();
  const { state } = model.build(family, { nodeIPs: family === 'IPv4' ? ['198.18.0.1'] : [], nodePortAddresses: { matchAll: true } });
  out[`build${family}Ms`] = Math.round(now() - t);
  t = now();
  const p = planFull(state, cfg(family));
  out[`plan${family}Ms`] = Math.round(now() - t);
  out[`script${family}KB`] = Math.round(p.script.length / 1024);
  scripts[family] = p.script;
}
if (APPLY) {
  const ns = `kpx-prof-${randomBytes(3).toString('hex')}`;
  await run('ip', ['netns', 'add', ns]);
  try {
    for (const family of ['IPv4', 'IPv6', 'IPv6', 'IPv4'] as const) {
      const r = await run('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: scripts[family]!, timeoutMs: 120_000 });
      const k = `nft${family}Ms`;
      out[out[k] === undefined ? k : `${k}Again`] = Math.round(r.millis);
    }
  } finally {
    await run('ip', ['netns', 'del', ns], { allowFailure: true });
  }
}
process.stdout.write(JSON.stringify(out) + '\n');
