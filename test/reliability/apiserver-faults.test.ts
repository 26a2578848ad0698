// Fault 1: API server faults while the proxy watches the project's test API server, with dual-stack
// Services (IPv4 198.19.x and IPv6 2001:db8:19::x ClusterIPs, one EndpointSlice per family).
// A seeded script of >= 1,000 Service/EndpointSlice writes runs while
//   (a) the server is taken down mid-watch (connections cut, port closed) and brought back with the
//       same data, writes continuing while it is down;
//   (b) the server goes down, history is compacted while it is down, so the proxy's watch resumes with
//       a too-old resourceVersion: 410 Expired -> relist;
//   (c) every watch is cut and the next requests are answered 503.
// The proxy must keep its rules while disconnected, reconnect with backoff, and converge: the final
// /debug/state of each family and the kernel's tables of each family equal the server's objects
// (0 lost updates).
//
// Modes: nftables, iptables (nft backend) and iptables-legacy. By default each fault runs in one mode
// (restart: nftables, compaction: iptables, 503: iptables-legacy); KPX_HEAVY=1 runs all nine.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clusterIPOf, FAMILIES } from './support/churn.js';
import { converge } from './support/converge.js';
import { runChurn, setupWatched } from './support/faults.js';
import { heavy, kernelServiceTuples, MODES, type Mode } from './support/modes.js';
import { debugState, sleep } from './support/proxy.js';
import { World } from './support/world.js';

const isRoot = process.getuid?.() === 0;
const CHANGES = 1000;
const setup = (world: World, seed: number, mode: Mode) => setupWatched(world, seed, mode);

function count(text: string, re: RegExp): number {
  return (text.match(re) ?? []).length;
}

const DEFAULT_MODE = { restart: 'nftables', compaction: 'iptables', '503': 'iptables-legacy' } as const;
const modesFor = (fault: keyof typeof DEFAULT_MODE): readonly Mode[] => (heavy ? MODES : [DEFAULT_MODE[fault]]);
const fmtChecked = (c: Record<string, number>): string => Object.entries(c).map(([f, n]) => `${f} ${n}`).join(', ');

for (const mode of modesFor('restart')) {
  test(`${mode}: API server killed mid-watch and restarted (same data): rules kept, reconnect, 0 lost updates (dual-stack)`, { skip: !isRoot && 'needs root', timeout: 180_000 }, async (t) => {
    const world = await World.create({ dualStack: true });
    try {
      const { srv, churn, proxy } = await setup(world, 1, mode);
      const stable = churn.services.get('svc-1')!; // pinned: never changed by the script
      let keptChecks = 0;
      const { writes } = await runChurn(srv, churn, CHANGES, 400, async () => {
        // Down for 4 s while writes continue; meanwhile the programmed rules must stay.
        const down = srv.call('restart', { downMs: 4000 }, 30_000);
        const deadline = Date.now() + 3500;
        while (Date.now() < deadline) {
          for (const f of FAMILIES) {
            const tuples = await kernelServiceTuples(world, mode, f);
            assert.ok(tuples.has(`${clusterIPOf(stable, f)} . tcp . ${stable.port}`), `${f} rules kept while the API server is down`);
          }
          keptChecks++;
          await sleep(500);
        }
        await down;
      });
      const { ms, checked } = await converge(world, churn, 'after restart', mode);
      const out = proxy.output();
      const resumes = count(out, /Watch failed; resuming/g);
      const relists = count(out, /Watch expired; relisting/g);
      t.diagnostic(`${mode} restart: writes: ${writes} (${JSON.stringify(churn.counts)}), services at end: ${churn.services.size}`);
      t.diagnostic(`${mode} restart: rules-kept checks while down (both families): ${keptChecks}; watch resumes logged: ${resumes}; relists: ${relists}`);
      t.diagnostic(`${mode} restart: convergence after the last write: ${ms} ms; state and kernel checked: ${fmtChecked(checked)} services; lost updates: 0`);
      assert.ok(writes >= 1000, `>= 1000 writes (${writes})`);
      assert.ok(resumes >= 1, 'the proxy noticed the lost watch and resumed it');
      const st = await debugState(world);
      assert.equal(st.initialized, true);
      assert.ok(keptChecks >= 1, 'the rules were checked while the server was down');
      const r = await proxy.stop();
      assert.equal(r.code, 0, proxy.output().slice(-3000));
    } finally {
      await world.destroy();
    }
  });
}

for (const mode of modesFor('compaction')) {
  test(`${mode}: history compacted while disconnected: 410 Expired -> relist, 0 lost updates (dual-stack)`, { skip: !isRoot && 'needs root', timeout: 180_000 }, async (t) => {
    const world = await World.create({ dualStack: true });
    try {
      const { srv, churn, proxy } = await setup(world, 2, mode);
      const { writes } = await runChurn(srv, churn, CHANGES, 500, async () => {
        const down = srv.call('restart', { downMs: 3000 }, 30_000);
        // Writes continue for a while, then the history the proxy would resume from is compacted away.
        await sleep(1500);
        await srv.call('compact');
        await down;
      });
      const { ms, checked } = await converge(world, churn, 'after compaction', mode);
      const out = proxy.output();
      const relists = count(out, /Watch expired; relisting/g);
      t.diagnostic(`${mode} compaction: writes: ${writes} (${JSON.stringify(churn.counts)}), services at end: ${churn.services.size}`);
      t.diagnostic(`${mode} compaction: relists after 410: ${relists}; convergence after the last write: ${ms} ms; state and kernel checked: ${fmtChecked(checked)} services; lost updates: 0`);
      assert.ok(relists >= 1, 'a 410 Expired made the proxy relist');
      const r = await proxy.stop();
      assert.equal(r.code, 0, proxy.output().slice(-3000));
    } finally {
      await world.destroy();
    }
  });
}

for (const mode of modesFor('503')) {
  test(`${mode}: watches cut and the next 6 requests answered 503: backoff, resume, 0 lost updates (dual-stack)`, { skip: !isRoot && 'needs root', timeout: 180_000 }, async (t) => {
    const world = await World.create({ dualStack: true });
    try {
      const { srv, churn, proxy } = await setup(world, 3, mode);
      const { writes } = await runChurn(srv, churn, CHANGES, 300, async () => {
        // 6 failures = about 2 per reflector: backoffs of 0.8, 1.6 and 3.2 s (+ up to 100 % jitter) before the resume succeeds.
        await srv.call('failNext', { n: 6, code: 503 });
        await srv.call('dropWatches');
      });
      const { ms, checked } = await converge(world, churn, 'after 503s', mode);
      const reqs = await srv.requests();
      const failed = reqs.filter((r) => r.status === 503).length;
      const resumes = count(proxy.output(), /Watch failed; resuming/g);
      const backoffs = [...proxy.output().matchAll(/backoffMs=(\d+)/g)].map((m) => Number(m[1]));
      t.diagnostic(`${mode} 503: writes: ${writes}; requests answered 503: ${failed}; watch resumes logged: ${resumes} (backoffs ms: ${backoffs.join(' ')}); convergence after the last write: ${ms} ms; state and kernel checked: ${fmtChecked(checked)} services; lost updates: 0`);
      assert.ok(failed >= 1, 'the proxy met the 503s');
      const r = await proxy.stop();
      assert.equal(r.code, 0, proxy.output().slice(-3000));
    } finally {
      await world.destroy();
    }
  });
}
