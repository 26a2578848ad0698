// Benchmark (not a test): IPVS dataplane sync latency at N services, inside a throwaway network
// namespace. Run in the IPVS guest after `npm run build`:
//   ../shared/ipvs-vm/run-in-vm --timeout 1500 -- node dist/test/guest/scale.manual.js 1000 10000
// Prints one JSON line per size: first full sync, a no-change full (reconcile) sync, and the
// median of 5 one-endpoint-change incremental syncs, in ms (wall clock and inside tools).

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createIpvsDataplane } from '../../src/dataplane/ipvs/index.js';
import type { ServicePort } from '../../src/model/types.js';
import { configureLogging } from '../../src/log/logger.js';
import { config, ep, sp, state } from '../ipvs-plan/helpers.js';
import { skipReason } from './topology.js';

const sizes = process.argv.slice(2).filter((a) => /^\d+$/.test(a)).map(Number);

function services(n: number, gen: number): ServicePort[] {
  const out: ServicePort[] = [];
  for (let i = 0; i < n; i++) {
    const cip = `198.19.${(i >> 8) & 255}.${i & 255}`;
    const e1 = 2 * i;
    const e2 = 2 * i + 1 + (i === 0 ? gen * 40000 : 0); // service 0's second endpoint moves each round
    const ip = (j: number): string => `198.18.${128 + ((j >> 8) & 127)}.${j & 255}`;
    out.push(
      sp({
        name: `s${i}`,
        clusterIP: cip,
        port: 80,
        nodePort: i % 10 === 0 ? 30000 + (i % 2000) : 0,
        endpoints: [ep(ip(e1), 8080), ep(ip(e2 % 32000), 8080)],
      }),
    );
  }
  return out;
}

async function inner(): Promise<void> {
  // KPX_BENCH_TOOLS=1: print every tool call with its duration (stderr).
  const tools = process.env.KPX_BENCH_TOOLS === '1';
  configureLogging({ verbosity: tools ? 4 : 0, sink: (l) => (tools && l.includes('Ran tool') ? process.stderr.write(l + '\n') : undefined) });
  for (const n of sizes) {
    const dp = createIpvsDataplane(config(), { drainCheckMs: 0 });
    const t0 = performance.now();
    const first = await dp.sync(state(services(n, 0), { nodeIPs: ['198.18.10.1'] }), { full: true });
    // (The no-change full sync below uses fresh objects: it re-reads the kernel and compares all.)
    const fullMs = performance.now() - t0;
    const t1 = performance.now();
    const again = await dp.sync(state(services(n, 0), { nodeIPs: ['198.18.10.1'] }), { full: true });
    const reconcileMs = performance.now() - t1;
    const inc: number[] = [];
    const incTool: number[] = [];
    // As the model does, unchanged services keep their ServicePort objects; only service 0 changes.
    const base = services(n, 0);
    for (let g = 1; g <= 5; g++) {
      const svcs = [services(1, g)[0]!, ...base.slice(1)];
      const s = state(svcs, { nodeIPs: ['198.18.10.1'], generation: g + 1 });
      const t = performance.now();
      const r = await dp.sync(s, { full: false });
      inc.push(performance.now() - t);
      incTool.push(r.toolMillis);
    }
    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(
      JSON.stringify({
        services: n,
        fullSyncMs: Math.round(fullMs),
        fullSyncToolMs: Math.round(first.toolMillis),
        fullOps: first.operations,
        noChangeFullSyncMs: Math.round(reconcileMs),
        noChangeFullOps: again.operations,
        oneEndpointChangeMedianMs: Math.round(med(inc)),
        oneEndpointChangeToolMs: Math.round(med(incTool)),
      }),
    );
    await dp.cleanup();
  }
}

if (process.argv.includes('--inner')) {
  await inner();
} else {
  const reason = skipReason();
  if (reason) {
    console.log(`scale benchmark skipped: ${reason}`);
  } else {
    const ns = `kpx-ipvs-bench-${randomBytes(3).toString('hex')}`;
    spawnSync('ip', ['netns', 'add', ns], { stdio: 'inherit' });
    try {
      spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], { stdio: 'inherit' });
      const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, fileURLToPath(import.meta.url), '--inner', ...sizes.map(String)], { stdio: 'inherit' });
      process.exitCode = r.status ?? 1;
    } finally {
      spawnSync('ip', ['netns', 'del', ns], { stdio: 'inherit' });
    }
  }
}
