// Manual scale measurement (not a test): planner time vs iptables-restore time for full syncs of
// N services x 10 endpoints, and a one-endpoint partial sync at 10k, on both backends, each in a
// fresh network namespace.
//
//   node --import tsx test/iptables/scale.manual.ts [sizes=1000,10000]
//
// A restore that would take longer than 2 minutes is killed and reported as such (iptables-nft
// with --noflush is quadratic in user space: one 10k-service restore is known to take > 20 min,
// so that variant is skipped). The partial sync is measured on top of the full table, loaded
// without --noflush in its own fresh namespace.

import { createIptablesDataplane } from '../../src/dataplane/iptables/index.js';
import { plan } from '../../src/dataplane/iptables/planner.js';
import type { Backend } from '../../src/kernel/iptables/tools.js';
import type { ProxyState } from '../../src/model/types.js';
import { run } from '../../src/util/exec.js';
import { config, deleteNetns, makeNetns, state, svc, withServices } from './helpers.js';

const LIMIT_MS = 120_000;
const sizes = (process.argv[2] ?? '1000,10000').split(',').map(Number);
const cfg = config();

function build(n: number): ProxyState {
  const services = Array.from({ length: n }, (_, i) =>
    svc({
      ns: `ns${i % 50}`,
      name: `svc${i}`,
      clusterIP: `198.19.${(i >> 8) & 255}.${i & 255}`,
      nodePort: i % 4 === 0 ? 30000 + (i % 2000) : 0,
      endpoints: Array.from({ length: 10 }, (_, j) => ({ ip: `198.18.${(i * 10 + j) >> 8 & 255}.${(i * 10 + j) & 255}`, port: 8000 + j })),
    }),
  );
  return state(services, { nodeIPs: ['198.18.0.1'] });
}

async function restore(ns: string, backend: Backend, input: string, noflush: boolean): Promise<number | string> {
  const args = ['-w', '5', ...(noflush ? ['--noflush'] : []), '--counters'];
  const r = await run('ip', ['netns', 'exec', ns, `iptables-${backend}-restore`, ...args], { input, timeoutMs: LIMIT_MS, allowFailure: true });
  if (r.code !== 0) return r.stderr.includes('killed after') ? `> ${LIMIT_MS / 1000} s (killed)` : `failed: ${r.stderr.trim().slice(0, 200)}`;
  return r.millis;
}

const fmt = (v: number | string): string => (typeof v === 'number' ? `${(v / 1000).toFixed(2)} s` : v);
const rows: string[] = ['| services x 10 eps | backend | plan (full) | restore input | full sync (dataplane, --noflush) | partial plan (one endpoint) | partial restore |', '|---|---|---|---|---|---|---|'];

for (const n of sizes) {
  const s0 = build(n);
  let t = performance.now();
  const p0 = plan(null, s0, cfg, { full: true });
  const planMs = performance.now() - t;
  const changed = [...s0.services.values()][Math.floor(n / 2)]!;
  const s1 = withServices(s0, [
    svc({
      ns: changed.namespace, name: changed.serviceName, clusterIP: changed.clusterIP, nodePort: changed.nodePort,
      endpoints: [...changed.endpoints.slice(1).map((e) => ({ ip: e.ip, port: e.port })), { ip: '198.18.255.254', port: 8000 }],
    }),
  ]);
  t = performance.now();
  const p1 = plan(p0.next, s1, cfg, { full: false });
  const partialPlanMs = performance.now() - t;
  for (const backend of ['legacy', 'nft'] as Backend[]) {
    const ns = await makeNetns();
    try {
      // Full sync through the dataplane: -C jump checks, iptables-save -t nat, the restore(s).
      // nft: batched per-service restores (the default), and the single upstream-style restore.
      const variants: Array<[string, number | undefined]> = backend === 'nft' ? [['batched', undefined], ['single', 0]] : [['single', undefined]];
      const fulls: string[] = [];
      for (const [label, batchLines] of variants) {
        if (label === 'single' && backend === 'nft' && n > 5000) {
          fulls.push(`${label}: skipped (known > 2 min: 357 s at 5k)`);
          continue;
        }
        const vns = await makeNetns();
        try {
          const dp = createIptablesDataplane(cfg, { backend, netns: vns, conntrackTCPLiberal: false, ...(batchLines === undefined ? {} : { batchLines }) });
          t = performance.now();
          try {
            await dp.sync(s0, { full: true });
            const ms = performance.now() - t;
            fulls.push(`${label}: ${fmt(ms)}`);
          } catch (e) {
            fulls.push(`${label}: failed/killed (${(e as Error).message.slice(0, 80)})`);
          }
        } finally {
          await deleteNetns(vns);
        }
      }
      // Partial sync on top of the full table, loaded here without --noflush (a fresh namespace
      // holds nothing else), which is what a full sync leaves.
      await run('ip', ['netns', 'exec', ns, `iptables-${backend}-restore`, '-w', '5'], { input: p0.restoreInput, timeoutMs: LIMIT_MS });
      const partial = await restore(ns, backend, p1.restoreInput, true);
      rows.push(
        `| ${n} | ${backend} | ${(planMs / 1000).toFixed(3)} s | ${(p0.restoreInput.length / 1e6).toFixed(1)} MB, ${p0.counts.restoreLines} lines | ${fulls.join('; ')} | ${partialPlanMs.toFixed(1)} ms (${p1.counts.restoreLines} lines) | ${fmt(partial)} |`,
      );
      console.error(rows[rows.length - 1]);
    } finally {
      await deleteNetns(ns);
    }
  }
}
console.log(rows.join('\n'));
