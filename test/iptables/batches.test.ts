// The batch restores of the nft backend run several at once (src/dataplane/iptables/batches.ts):
// the order guarantees (first batch alone, at most `concurrency` at once, the main restore that
// jumps into the per-service chains only after every batch has finished, nothing started after a
// failure and nothing left running when the sync rejects) and the unchanged result.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runBatches } from '../../src/dataplane/iptables/batches.js';
import { createIptablesDataplane } from '../../src/dataplane/iptables/index.js';
import { FakeIpvsHost } from '../../src/kernel/ipvs/fake.js';
import type { ToolRunner } from '../../src/kernel/runner.js';
import type { ProxyState } from '../../src/model/types.js';
import { config, state, svc } from './helpers.js';

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function many(n: number): ProxyState {
  const services = [];
  for (let i = 0; i < n; i++) {
    services.push(
      svc({
        ns: `ns${i}`, name: `svc${i}`, clusterIP: `198.19.${i >> 8}.${i & 255}`, nodePort: i % 3 === 0 ? 30000 + i : 0,
        endpoints: [{ ip: `198.18.${100 + (i >> 8)}.${i & 255}` }, { ip: `198.18.${120 + (i >> 8)}.${i & 255}` }],
      }),
    );
  }
  return state(services, { nodeIPs: ['198.18.0.1'] });
}

/** Restore events around the fake host: start/end per restore, restores delayed so they overlap. */
function timedRunner(host: FakeIpvsHost, failOn?: (input: string) => boolean): { run: ToolRunner; events: { kind: 'start' | 'end'; id: number; main: boolean }[] } {
  const events: { kind: 'start' | 'end'; id: number; main: boolean }[] = [];
  let ids = 0;
  const run: ToolRunner = async (command, args, opts = {}) => {
    if (!command.endsWith('restore')) return host.run(command, args, opts);
    const id = ids++;
    const main = (opts.input ?? '').includes('*filter');
    events.push({ kind: 'start', id, main });
    await tick(1 + (id % 3) * 3);
    try {
      if (failOn?.(opts.input ?? '')) return await host.run(command, args, { ...opts, input: '*nat\n-A NO-SUCH-CHAIN -j ACCEPT\nCOMMIT\n' });
      return await host.run(command, args, opts);
    } finally {
      events.push({ kind: 'end', id, main });
    }
  };
  return { run, events };
}

test('runBatches: first alone, then at most `concurrency` at once; a failure starts nothing new and waits for the running ones', async () => {
  let running = 0;
  let peak = 0;
  const log: string[] = [];
  const work = async (i: number): Promise<void> => {
    log.push(`start ${i}`);
    running++;
    peak = Math.max(peak, running);
    await tick(1 + (i % 4));
    running--;
    log.push(`end ${i}`);
    if (i === 5) throw new Error('boom 5');
  };
  await runBatches([], 3, work);
  await assert.rejects(runBatches([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 3, work), /boom 5/);
  assert.deepEqual(log.slice(0, 2), ['start 0', 'end 0'], 'the first item runs alone');
  assert.equal(peak, 3);
  assert.equal(running, 0, 'nothing still running when it rejects');
  const failedAt = log.indexOf('end 5');
  assert.ok(!log.slice(failedAt).some((l) => l.startsWith('start')), 'no item starts after the failure');

  // concurrency 1: strictly one after another, in order
  log.length = 0;
  peak = 0;
  await runBatches([0, 1, 2, 3], 1, work);
  assert.deepEqual(log, ['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
  assert.equal(peak, 1);
});

test('iptables nft batches at once: main restore after every batch, same tables as one at a time and as one restore', async () => {
  const st = many(60);
  const saves: string[] = [];
  for (const [batchLines, restoreConcurrency] of [[40, 3], [40, 1], [0, 3]] as const) {
    const host = new FakeIpvsHost();
    const { run, events } = timedRunner(host);
    const dp = createIptablesDataplane(config(), { run, backend: 'nft', conntrackTCPLiberal: false, batchLines, restoreConcurrency });
    await dp.sync(st, { full: true });
    saves.push(host.ipt('IPv4').save());
    const starts = events.filter((e) => e.kind === 'start');
    if (batchLines === 0) {
      assert.equal(starts.length, 1);
      continue;
    }
    assert.ok(starts.length > 5, `batched: ${starts.length} restores`);
    assert.deepEqual(events.slice(0, 2).map((e) => [e.kind, e.id]), [['start', 0], ['end', 0]], 'the first batch runs alone');
    const mainStart = events.findIndex((e) => e.kind === 'start' && e.main);
    assert.equal(mainStart, events.length - 2, 'the main restore starts after every batch ended, and is the last');
    let inFlight = 0;
    let peak = 0;
    for (const e of events) {
      inFlight += e.kind === 'start' ? 1 : -1;
      peak = Math.max(peak, inFlight);
    }
    assert.equal(peak, restoreConcurrency);
  }
  assert.equal(saves[0], saves[1]);
  assert.equal(saves[0], saves[2]);
});

test('iptables nft batches at once: a failing batch stops the sync before the main restore; the next sync is full', async () => {
  const host = new FakeIpvsHost();
  let fail = true;
  let batchNo = 0;
  const { run, events } = timedRunner(host, (input) => !input.includes('*filter') && fail && ++batchNo === 4);
  const dp = createIptablesDataplane(config(), { run, backend: 'nft', conntrackTCPLiberal: false, batchLines: 40, restoreConcurrency: 3 });
  const st = many(60);
  await assert.rejects(dp.sync(st, { full: true }), /iptables-restore failed/);
  assert.ok(!events.some((e) => e.main), 'no main restore after a failed batch');
  const started = events.filter((e) => e.kind === 'start').length;
  assert.equal(events.filter((e) => e.kind === 'end').length, started, 'every started restore ended before the sync rejected');
  assert.doesNotMatch(host.ipt('IPv4').save(), /^-A KUBE-(SERVICES|NODEPORTS) /m, 'nothing leads into the per-service chains');
  fail = false;
  const r = await dp.sync(st, { full: false });
  assert.equal(r.full, true);
  const fresh = new FakeIpvsHost();
  await createIptablesDataplane(config(), { run: fresh.run, backend: 'nft', conntrackTCPLiberal: false, batchLines: 0 }).sync(st, { full: true });
  assert.equal(host.ipt('IPv4').save(), fresh.ipt('IPv4').save());
});
