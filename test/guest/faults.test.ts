// Faults in IPVS mode, in the IPVS guest (docs/reliability.md sections 1 and 2 for the other modes),
// with dual-stack Services (IPv4 and IPv6 ClusterIPs, pods in both families):
//   - rules wiped by someone else, one after another in one proxy run: `ipvsadm -C`, `ipset flush`,
//     `iptables -t nat -F`, `ip6tables -t nat -F`, `ip link del kube-ipvs0`. Each must be detected
//     by the periodic drift check and repaired (what was wiped is back, traffic of both families
//     flows); the outage window per family is the figure;
//   - the API server killed mid-watch and restarted with the same data while a seeded churn writes:
//     rules kept while it is down, then /debug/state and the IPVS virtual servers of both families
//     equal the server's objects (0 lost updates);
//   - history compacted while the API server is down (410 Expired -> relist), and every watch cut with
//     the next 6 requests answered 503 (backoff, resume), each during a churn, then 0 lost updates as
//     above (test/reliability/apiserver-faults.test.ts runs the same three faults in the other modes).
// Emulated guest (TCG): every process start costs 10-20x the host's, so one proxy run per case (the
// compaction and 503 cases share one) and KPX_HEAVY=1 only:
//   flock /tmp/ipvs-vm.lock ../shared/ipvs-vm/run-in-vm --timeout 1500 -- env KPX_HEAVY=1 \
//     node --test --test-concurrency=1 dist/test/guest/faults.test.js
// The API server cases alone: add --test-name-pattern='API server|history compacted|answered 503'.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { clusterIPOf, FAMILIES, svcIP, svcIP6, type Family } from '../reliability/support/churn.js';
import { converge } from '../reliability/support/converge.js';
import { runChurn, setupWatched } from '../reliability/support/faults.js';
import { heavy, kernelServiceTuples } from '../reliability/support/modes.js';
import { debugState, eventually, sleep } from '../reliability/support/proxy.js';
import { trafficSetup, waitForTraffic } from '../reliability/support/scenario.js';
import { failureWindow, World } from '../reliability/support/world.js';
import { skipReason } from './topology.js';
import { watchedIpvs, type WatchedIpvs } from './watched.js';

const reason = skipReason() ?? (heavy ? null : 'heavy (~15 min in the emulated guest): set KPX_HEAVY=1');
if (reason) console.log(`# IPVS fault tests SKIPPED: ${reason}`);

const SERVICES = 2;
const SYNC_PERIOD_MS = 5000;
/** Generous: a drift check and a full sync start a dozen tools, 50-250 ms each under TCG. */
const RESTORE_BOUND_MS = 60_000;

interface Flush {
  readonly name: string;
  readonly argv: string[];
  /** Families whose traffic the flush can break (for the figure; the other family must not fail). */
  readonly hits: readonly Family[];
  /** What must be back in the kernel afterwards. */
  readonly restored: (world: World) => Promise<boolean>;
}

const count = (text: string, re: RegExp): number => (text.match(re) ?? []).length;
const fmtChecked = (c: Record<string, number>): string => Object.entries(c).map(([f, n]) => `${f} ${n}`).join(', ');

const has = (text: string, ...needles: string[]): boolean => needles.every((n) => text.includes(n));
const ALL_VS = async (w: World): Promise<boolean> => {
  for (const f of FAMILIES) if ((await kernelServiceTuples(w, 'ipvs', f)).size !== SERVICES) return false;
  return true;
};
const flushes: Flush[] = [
  { name: 'ipvsadm -C', argv: ['ipvsadm', '-C'], hits: FAMILIES, restored: ALL_VS },
  {
    name: 'ipset flush',
    argv: ['ipset', 'flush'],
    hits: FAMILIES,
    restored: async (w) => has(await w.exec('node', ['ipset', 'save']), `add KUBE-CLUSTER-IP ${svcIP(1)},tcp:80`, `add KUBE-6-CLUSTER-IP ${svcIP6(1)},tcp:80`),
  },
  {
    name: 'iptables -t nat -F',
    argv: ['iptables', '-w', '5', '-t', 'nat', '-F'],
    hits: ['IPv4'],
    restored: async (w) => /-A PREROUTING .*-j KUBE-SERVICES/.test(await w.exec('node', ['iptables-save', '-t', 'nat'])),
  },
  {
    name: 'ip6tables -t nat -F',
    argv: ['ip6tables', '-w', '5', '-t', 'nat', '-F'],
    hits: ['IPv6'],
    restored: async (w) => /-A PREROUTING .*-j KUBE-SERVICES/.test(await w.exec('node', ['ip6tables-save', '-t', 'nat'])),
  },
  {
    name: 'ip link del kube-ipvs0',
    argv: ['ip', 'link', 'del', 'kube-ipvs0'],
    hits: FAMILIES,
    restored: async (w) => has(await w.exec('node', ['ip', 'addr', 'show', 'dev', 'kube-ipvs0'], { allowFailure: true }), `${svcIP(1)}/32`, `${svcIP6(1)}/128`),
  },
];

/** Epoch ms of a klog line ("I1206 03:41:23.747000 ..."; UTC, today). */
function logTime(line: string): number {
  const m = /^[IWE]\d{4} (\d\d):(\d\d):(\d\d)\.(\d{3})/.exec(line);
  if (!m) return Number.NaN;
  const d = new Date();
  d.setUTCHours(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]));
  return d.getTime();
}

describe('IPVS faults (dual-stack)', { skip: reason ?? false, concurrency: false }, () => {
  test('ipvs: ipvsadm -C, ipset flush, iptables/ip6tables -t nat -F, ip link del kube-ipvs0 by someone else: each detected and repaired', { timeout: 1_200_000 }, async (t) => {
    const s = await trafficSetup({ mode: 'ipvs', services: SERVICES, dualStack: true, readyTimeoutMs: 300_000, extraArgs: [`--ipvs-sync-period=${SYNC_PERIOD_MS / 1000}s`, '--v=2'] });
    try {
      assert.ok(await ALL_VS(s.world), 'virtual servers of both families programmed');
      const familyOf = (target: number): Family => (target < SERVICES ? 'IPv4' : 'IPv6');
      for (const fl of flushes) {
        const logBefore = s.proxy.output().length;
        // Attempts are slow under emulation: a 3 s timeout keeps CPU starvation from reading as an outage.
        await s.client.startLoop(s.targets, { periodMs: 500, timeoutMs: 3000, maxMs: 240_000 });
        await sleep(2000 + Math.floor(Math.random() * SYNC_PERIOD_MS));
        const flushedAt = Date.now();
        await s.world.exec('node', fl.argv);
        let restoredMs = -1;
        await eventually(async () => {
          const ok = await fl.restored(s.world);
          if (ok) restoredMs = Date.now() - flushedAt;
          return ok;
        }, `${fl.name}: repaired`, RESTORE_BOUND_MS + 30_000, 250);
        // Traffic of every target must come back, then hold for a few seconds.
        await waitForTraffic(s.client, s.targets, 60_000);
        const backMs = Date.now() - flushedAt;
        await sleep(3000);
        const attempts = await s.client.stopLoop();
        const logLines = s.proxy.output().slice(logBefore).split('\n');
        for (const f of FAMILIES) {
          const mine = attempts.filter((a) => familyOf(a.target) === f);
          const before = mine.filter((a) => a.at + a.ms < flushedAt);
          const w = failureWindow(mine.filter((a) => a.at + a.ms >= flushedAt));
          const lastFail = w.last === null ? 0 : w.last - flushedAt;
          t.diagnostic(
            `ipvs \`${fl.name}\` ${f}: ${w.failed}/${w.total} connections after the flush failed (${before.filter((a) => !a.ok).length}/${before.length} before it), ` +
              `outage window ${w.windowMs} ms, last failure ended ${lastFail} ms after the flush`,
          );
          if (!fl.hits.includes(f)) assert.equal(w.failed, 0, `${fl.name}: ${f} kept working`);
          const tail = mine.filter((a) => a.at > flushedAt + backMs);
          assert.ok(tail.length > 0 && tail.every((a) => a.ok), `${fl.name}: ${f} traffic fine after the repair`);
        }
        const detected = logLines.find((l) => /IPVS drift|behind our back/.test(l));
        const detectedMs = detected ? logTime(detected) - flushedAt : -1;
        t.diagnostic(`ipvs \`${fl.name}\`: drift logged ${detectedMs} ms after the flush, rules restored ${restoredMs} ms, every target answering ${backMs} ms (sync period ${SYNC_PERIOD_MS} ms)`);
        t.diagnostic(`ipvs \`${fl.name}\`: log: ${logLines.filter((l) => /IPVS drift|behind our back|full=true/.test(l)).slice(0, 6).join(' || ')}`);
        assert.ok(detected, `${fl.name}: the proxy logged the drift`);
        assert.ok(restoredMs <= RESTORE_BOUND_MS, `${fl.name}: repaired within ${RESTORE_BOUND_MS} ms (${restoredMs} ms)`);
        assert.ok(await ALL_VS(s.world), `${fl.name}: every virtual server still there`);
      }
      const r = await s.proxy.stop(60_000);
      assert.equal(r.code, 0);
    } finally {
      await s.cleanup();
    }
  });

  test('ipvs: API server killed mid-watch and restarted (same data): rules kept, reconnect, 0 lost updates (dual-stack)', { timeout: 1_200_000 }, async (t) => {
    const world = await World.create({ dualStack: true });
    try {
      const { srv, churn, proxy } = await setupWatched(world, 11, 'ipvs', { seedServices: 20, readyTimeoutMs: 300_000, extraArgs: [`--ipvs-sync-period=${SYNC_PERIOD_MS / 1000}s`] });
      const stable = churn.services.get('svc-1')!;
      let keptChecks = 0;
      const { writes } = await runChurn(srv, churn, 300, 100, async () => {
        const down = srv.call('restart', { downMs: 4000 }, 60_000);
        const deadline = Date.now() + 3500;
        while (Date.now() < deadline) {
          for (const f of FAMILIES) {
            const tuples = await kernelServiceTuples(world, 'ipvs', f);
            assert.ok(tuples.has(`${clusterIPOf(stable, f)} . tcp . ${stable.port}`), `${f} virtual server kept while the API server is down`);
          }
          keptChecks++;
          await sleep(500);
        }
        await down;
      });
      const { ms, checked } = await converge(world, churn, 'after restart', 'ipvs', 300_000);
      const resumes = (proxy.output().match(/Watch failed; resuming/g) ?? []).length;
      t.diagnostic(`ipvs restart: writes: ${writes} (${JSON.stringify(churn.counts)}); rules-kept checks while down: ${keptChecks}; watch resumes: ${resumes}`);
      t.diagnostic(`ipvs restart: convergence after the last write: ${ms} ms; state and virtual servers checked: IPv4 ${checked.IPv4}, IPv6 ${checked.IPv6} services; lost updates: 0`);
      assert.ok(keptChecks >= 1);
      assert.ok(resumes >= 1, 'the proxy noticed the lost watch and resumed it');
      assert.equal((await debugState(world)).initialized, true);
      const r = await proxy.stop(60_000);
      assert.equal(r.code, 0, proxy.output().slice(-3000));
    } finally {
      await world.destroy();
    }
  });

  // The compaction and 503 cases share one world, API server and proxy (under load a proxy start and
  // initial sync take minutes here): the first case that runs sets them up, the suite's end stops
  // them. Each case counts from its own start (log offset, request counts reset, its own writes).
  let shared: Promise<WatchedIpvs> | null = null;
  const watched = (): Promise<WatchedIpvs> => (shared ??= watchedIpvs(12, SYNC_PERIOD_MS));
  after(async () => {
    const w = await shared?.catch(() => null);
    if (!w) return;
    try {
      const r = await w.proxy.stop(60_000);
      assert.equal(r.code, 0, w.proxy.output().slice(-3000));
    } finally {
      await w.world.destroy();
    }
  });

  test('ipvs: history compacted while the API server is down: 410 Expired -> relist, 0 lost updates (dual-stack)', { timeout: 900_000 }, async (t) => {
    const { world, srv, churn, proxy } = await watched();
    const logFrom = proxy.output().length;
    const before = { ...churn.counts };
    await srv.resetCounts();
    const { writes } = await runChurn(srv, churn, 300, 100, async () => {
      // Down for 4 s while writes continue; just before it listens again, one more write and the history
      // is compacted past every watcher's resourceVersion, so each resuming watch gets 410 Expired.
      await srv.restart(4000, true);
    });
    const { ms, checked } = await converge(world, churn, 'after compaction', 'ipvs', 300_000);
    const out = proxy.output().slice(logFrom);
    const relists = count(out, /Watch expired; relisting/g);
    const lists = (await srv.counts()).lists;
    t.diagnostic(`ipvs compaction: writes: ${writes} (${JSON.stringify(delta(churn.counts, before))}), services at end: ${churn.services.size}`);
    t.diagnostic(`ipvs compaction: relists after 410 logged: ${relists}; LISTs served since the fault: ${JSON.stringify(lists)}; convergence after the last write: ${ms} ms; state and virtual servers checked: ${fmtChecked(checked)} services; lost updates: 0`);
    assert.ok(relists >= 1, 'a 410 Expired made the proxy relist');
    // The server counts a relist when its LIST arrives, after the relist backoff: the Services and
    // EndpointSlices ones must have come (the churn's data since the fault is only there), others may be late.
    assert.ok((lists.services ?? 0) >= 1 && (lists.endpointslices ?? 0) >= 1, 'Services and EndpointSlices relisted');
    assert.equal((await debugState(world)).initialized, true);
  });

  test('ipvs: watches cut and the next 6 requests answered 503: backoff, resume, 0 lost updates (dual-stack)', { timeout: 900_000 }, async (t) => {
    const { world, srv, churn, proxy } = await watched();
    // The reflectors' backoffs start over only after 2 healthy minutes (client-go's; src/sources/backoff.ts).
    // If the compaction case ran first on this proxy, wait for that, so the backoffs are this fault's alone.
    const lastBackoffAt = Math.max(0, ...proxy.output().split('\n').filter((l) => /Watch failed|Watch expired|List failed/.test(l)).map(logTime).filter(Number.isFinite));
    const quietMs = lastBackoffAt ? Math.max(0, lastBackoffAt + 125_000 - Date.now()) : 0;
    await sleep(quietMs);
    const logFrom = proxy.output().length;
    const before = { ...churn.counts };
    const since = Date.now();
    await srv.resetCounts();
    const { writes } = await runChurn(srv, churn, 300, 100, async () => {
      // 6 failures = 1-2 per reflector: backoffs of 0.8, 1.6 (and 3.2) s + up to 100 % jitter before the resume succeeds.
      await srv.call('failNext', { n: 6, code: 503 });
      await srv.dropWatches();
    });
    const { ms, checked } = await converge(world, churn, 'after 503s', 'ipvs', 300_000);
    const out = proxy.output().slice(logFrom);
    const failed = (await srv.requests()).filter((r) => r.at >= since && r.status === 503).length;
    const resumes = count(out, /Watch failed; resuming/g);
    const backoffs = [...out.matchAll(/backoffMs=(\d+)/g)].map((m) => Number(m[1]));
    const lists = (await srv.counts()).lists;
    t.diagnostic(`ipvs 503: waited ${quietMs} ms for the backoffs to reset; writes: ${writes} (${JSON.stringify(delta(churn.counts, before))}), services at end: ${churn.services.size}`);
    t.diagnostic(`ipvs 503: requests answered 503: ${failed}; watch resumes logged: ${resumes} (backoffs ms: ${backoffs.join(' ')}); LISTs since the fault: ${JSON.stringify(lists)}; convergence after the last write: ${ms} ms; state and virtual servers checked: ${fmtChecked(checked)} services; lost updates: 0`);
    assert.ok(failed >= 1, 'the proxy met the 503s');
    assert.ok(resumes >= 1, 'the proxy noticed the cut watches and resumed them');
    assert.equal((await debugState(world)).initialized, true);
  });
});

function delta(now: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(now).map(([k, v]) => [k, v - (before[k] ?? 0)]));
}
