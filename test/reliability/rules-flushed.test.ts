// Fault 2: someone else flushes our rules in the node namespace (`nft flush ruleset`; `iptables -t nat -F`
// in iptables mode) while a client keeps opening connections to the services. The proxy's periodic
// drift check must notice and restore the rules within one sync period (--iptables-sync-period=2s);
// the figure is the measured outage window (first to last failed connection).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sleep } from './support/proxy.js';
import { trafficSetup, type Mode } from './support/scenario.js';
import { failureWindow } from './support/world.js';

const isRoot = process.getuid?.() === 0;
const SYNC_PERIOD_MS = 2000;
/** Detection happens on the periodic run (every sync period); the restore itself takes a few ms. Margin for a loaded CI box. */
const RESTORE_BOUND_MS = SYNC_PERIOD_MS + 2500;

const cases: { mode: Mode; name: string; flush: string[] }[] = [
  { mode: 'nftables', name: 'nft flush ruleset', flush: ['nft', 'flush', 'ruleset'] },
  { mode: 'iptables', name: 'iptables -t nat -F', flush: ['iptables', '-w', '5', '-t', 'nat', '-F'] },
];

for (const c of cases) {
  test(`${c.mode}: \`${c.name}\` by someone else is detected and repaired within one sync period`, { skip: !isRoot && 'needs root', timeout: 120_000 }, async (t) => {
    const s = await trafficSetup({ mode: c.mode, services: 3, extraArgs: ['--iptables-sync-period=2s', '--v=2'] });
    try {
      // Let a periodic run pass so the flush lands at a random point of the sync period.
      await s.client.startLoop(s.targets, { periodMs: 50, timeoutMs: 400, maxMs: 30_000 });
      await sleep(1000 + Math.floor(Math.random() * SYNC_PERIOD_MS));
      const flushedAt = Date.now();
      await s.world.exec('node', c.flush);
      await sleep(2 * SYNC_PERIOD_MS + 2000);
      const attempts = await s.client.stopLoop();
      const before = attempts.filter((a) => a.at < flushedAt);
      assert.ok(before.length > 0 && before.every((a) => a.ok), 'traffic was fine before the flush');
      const w = failureWindow(attempts);
      const restoredAfter = w.last === null ? 0 : w.last - flushedAt;
      t.diagnostic(`${c.mode}: outage window: ${w.windowMs} ms (${w.failed}/${w.total} connections failed), restored ${restoredAfter} ms after the flush (sync period ${SYNC_PERIOD_MS} ms)`);
      assert.ok(w.failed > 0 || c.mode === 'iptables', 'the flush did break new connections (else the test measures nothing)');
      assert.ok(restoredAfter <= RESTORE_BOUND_MS, `restored within one sync period (+ margin): ${restoredAfter} ms`);
      const tail = attempts.filter((a) => a.at > flushedAt + RESTORE_BOUND_MS);
      assert.ok(tail.length > 0 && tail.every((a) => a.ok), 'traffic fine after the repair');
      const driftLog = s.proxy.output().split('\n').filter((l) => /drift|behind our back|missing/i.test(l));
      t.diagnostic(`log: ${driftLog[0] ?? '(none)'}`);
      assert.ok(driftLog.length > 0, 'the proxy logged the drift');
      const r = await s.proxy.stop();
      assert.equal(r.code, 0);
    } finally {
      await s.cleanup();
    }
  });
}
