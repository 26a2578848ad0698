// The sync engine alone, with a recording fake dataplane and a manual clock: the full / partial /
// drift decision, a new dataplane on changed settings, retry after a failure (full, with backoff),
// changes of failed runs carried to the next success, and the sync metrics' values.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DataplaneConfig } from '../../src/dataplane/config.js';
import type { Dataplane, SyncOptions, SyncResult } from '../../src/dataplane/types.js';
import { configureLogging } from '../../src/log/logger.js';
import { metrics } from '../../src/metrics/metrics.js';
import type { IPFamily, ProxyState, StateChange } from '../../src/model/types.js';
import { PERIODIC_FULL_MAX_DEFER_MS, SyncEngine, type SyncInput, type SyncReport } from '../../src/proxy/sync-engine.js';
import { FakeClock } from '../support/fake-clock.js';
import { dataplaneConfig, endpoint, proxyState, servicePort, withServices } from '../support/state.js';

configureLogging({ sink: () => undefined });

const SYNC_PERIOD = 30_000;
const FULL_PERIOD = 3_600_000;

class FakeDataplane implements Dataplane {
  readonly mode = 'nftables' as const;
  readonly syncs: { full: boolean; generation: number }[] = [];
  driftChecks = 0;
  failNext = 0;
  drift = false;
  /** The dataplane upgrades every partial request to full (as a mode may). */
  alwaysFull = false;
  constructor(readonly cfg: DataplaneConfig) {}
  get family(): IPFamily {
    return this.cfg.family;
  }
  async sync(state: ProxyState, opts: SyncOptions): Promise<SyncResult> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('injected failure');
    }
    const full = opts.full || this.alwaysFull;
    this.syncs.push({ full, generation: state.generation });
    return { full, operations: state.services.size, toolMillis: 0 };
  }
  async detectDrift(): Promise<boolean> {
    this.driftChecks++;
    const d = this.drift;
    this.drift = false;
    return d;
  }
  render(): string {
    return '';
  }
  async cleanup(): Promise<void> {}
}

function change(o: Partial<StateChange> = {}): StateChange {
  return { changedKeys: new Set(), conntrackCleanupRequired: false, topologyChanged: false, triggerTimes: [], ...o };
}

/** An engine whose build hook returns `next` (set by the test), with a manual decision clock. */
function setup(family: IPFamily = 'IPv6', o: { byService?: boolean; clock?: FakeClock } = {}) {
  const dps: FakeDataplane[] = [];
  const t = { now: 1_000_000 };
  const built: { next: SyncInput | null } = { next: null };
  const reports: SyncReport[] = [];
  const failures: unknown[] = [];
  const engine = new SyncEngine(
    {
      family,
      factory: (cfg) => {
        const dp = new FakeDataplane(cfg);
        dps.push(dp);
        return dp;
      },
      minSyncPeriodMs: 1000,
      syncPeriodMs: SYNC_PERIOD,
      fullSyncPeriodMs: FULL_PERIOD,
      noLocalEndpointsByService: o.byService,
      clock: o.clock,
      now: () => (o.clock ? o.clock.now() : t.now),
    },
    {
      build: async () => built.next,
      failed: (_input, err) => void failures.push(err),
      settled: async (r) => void reports.push(r),
    },
  );
  const input = (state: ProxyState, c: Partial<StateChange> = {}, cfg: Partial<DataplaneConfig> = {}): SyncInput => ({
    state,
    change: change(c),
    config: dataplaneConfig({ family, ...cfg }),
    builtAt: Date.now(),
  });
  return { engine, dps, t, built, reports, failures, input };
}

const web = (n: number, family: IPFamily = 'IPv6') =>
  servicePort('default', 'web', { family, clusterIP: family === 'IPv6' ? '2001:db8:ff::10' : '198.19.0.10', endpoints: [endpoint(family === 'IPv6' ? `2001:db8:1::${n}` : `198.18.1.${n}`)] });

async function histCount(h: typeof metrics.syncProxyRulesDuration, family: IPFamily): Promise<number> {
  const v = (await h.get()).values.find((x) => x.metricName?.endsWith('_count') && x.labels.ip_family === family);
  return v?.value ?? 0;
}

async function gauge(g: typeof metrics.syncProxyRulesLastTimestamp, labels: Record<string, string>): Promise<number | undefined> {
  return (await g.get()).values.find((x) => Object.entries(labels).every(([k, val]) => (x.labels as Record<string, unknown>)[k] === val))?.value;
}

test('first sync is full; a change is partial; no drift check before syncPeriod has passed', async () => {
  const { engine, dps, t, built, input, reports } = setup();
  const s1 = proxyState([web(1)], { family: 'IPv6', generation: 1 });
  built.next = input(s1, { changedKeys: new Set([web(1).key]) });
  await engine.syncOnce();
  assert.equal(dps.length, 1);
  assert.deepEqual(dps[0]!.syncs, [{ full: true, generation: 1 }]);
  assert.equal(engine.applied, s1);
  assert.equal(reports[0]!.previous, null);

  t.now += 5000;
  const s2 = withServices(s1, [web(2)]);
  built.next = input(s2, { changedKeys: new Set([web(2).key]) });
  await engine.syncOnce();
  assert.deepEqual(dps[0]!.syncs[1], { full: false, generation: 2 });
  assert.equal(dps[0]!.driftChecks, 0, 'drift check not due yet');
  assert.equal(reports[1]!.previous, s1, 'the hooks see the state applied before');
  assert.equal(dps.length, 1, 'same settings: same dataplane');
  assert.equal(engine.view().appliedFull, false);
});

test('topology change, changed settings and the full sync period each force a full sync', async () => {
  const { engine, dps, t, built, input } = setup();
  const s1 = proxyState([web(1)], { family: 'IPv6' });
  built.next = input(s1);
  await engine.syncOnce();
  built.next = input(withServices(s1, [web(2)]), { topologyChanged: true, changedKeys: new Set(['x']) });
  await engine.syncOnce();
  assert.equal(dps[0]!.syncs[1]!.full, true, 'topology change');

  built.next = input(withServices(s1, [web(3)]), { changedKeys: new Set(['x']) }, { masqueradeAll: true });
  await engine.syncOnce();
  assert.equal(dps.length, 2, 'new settings: a new dataplane');
  assert.deepEqual(dps[1]!.syncs, [{ full: true, generation: 2 }]);
  assert.equal(engine.view().config?.masqueradeAll, true, 'debug view shows the settings in use');

  built.next = input(withServices(s1, [web(4)]), { changedKeys: new Set(['x']) }, { masqueradeAll: true });
  await engine.syncOnce();
  assert.equal(dps[1]!.syncs[1]!.full, false);
  t.now += FULL_PERIOD;
  built.next = input(withServices(s1, [web(5)]), { changedKeys: new Set() }, { masqueradeAll: true });
  await engine.syncOnce();
  assert.equal(dps[1]!.syncs[2]!.full, true, 'full sync period elapsed');
});

test('a due periodic full sync does not hold up a change: the change goes partial, the next run is full; deferral is bounded', async () => {
  const { engine, dps, t, built, input } = setup();
  const s1 = proxyState([web(1)], { family: 'IPv6' });
  built.next = input(s1);
  await engine.syncOnce();
  t.now += FULL_PERIOD;
  built.next = input(withServices(s1, [web(2)]), { changedKeys: new Set([web(2).key]) });
  await engine.syncOnce();
  assert.equal(dps[0]!.syncs[1]!.full, false, 'the change is programmed without the full resync');
  // The queued run: nothing new to program, so the periodic full sync happens now.
  t.now += 1000;
  built.next = input(withServices(s1, [web(2)]));
  await engine.syncOnce();
  assert.equal(dps[0]!.syncs[2]!.full, true, 'deferred full sync ran next');

  // Constant churn: deferred at most PERIODIC_FULL_MAX_DEFER_MS past due.
  t.now += FULL_PERIOD;
  for (let i = 3; i < 6; i++) {
    built.next = input(withServices(s1, [web(i)]), { changedKeys: new Set([web(i).key]) });
    await engine.syncOnce();
    assert.equal(dps[0]!.syncs.at(-1)!.full, false, `change ${i} partial`);
    t.now += 20_000;
  }
  t.now += PERIODIC_FULL_MAX_DEFER_MS;
  built.next = input(withServices(s1, [web(9)]), { changedKeys: new Set([web(9).key]) });
  await engine.syncOnce();
  assert.equal(dps[0]!.syncs.at(-1)!.full, true, 'overdue: full even with a change');
});

test('drift: a periodic run checks before syncing and goes full on drift; with changes it checks after and queues a full run', async () => {
  const { engine, dps, t, built, input } = setup();
  const s1 = proxyState([web(1)], { family: 'IPv6' });
  built.next = input(s1);
  await engine.syncOnce();
  const dp = dps[0]!;

  // Periodic run (no changes), drift check due, no drift: partial.
  t.now += SYNC_PERIOD;
  built.next = input(s1);
  await engine.syncOnce();
  assert.equal(dp.driftChecks, 1);
  assert.equal(dp.syncs[1]!.full, false);

  // Periodic run, drift: this very run is full.
  t.now += SYNC_PERIOD;
  dp.drift = true;
  await engine.syncOnce();
  assert.equal(dp.driftChecks, 2);
  assert.equal(dp.syncs[2]!.full, true);

  // A full sync restarts the drift schedule: no check right after it.
  t.now += SYNC_PERIOD - 1;
  await engine.syncOnce();
  assert.equal(dp.driftChecks, 2);

  // Changes to program with the check due: partial first, the check after it; drift -> the next run is full.
  t.now += 1;
  dp.drift = true;
  built.next = input(withServices(s1, [web(2)]), { changedKeys: new Set([web(2).key]) });
  await engine.syncOnce();
  assert.equal(dp.syncs[4]!.full, false, 'the change went out partial');
  assert.equal(dp.driftChecks, 3, 'checked after the sync');
  await engine.syncOnce();
  assert.equal(dp.syncs[5]!.full, true, 'drift found after the sync: next run full');
});

test('a failed drift check counts as drift', async () => {
  const { engine, dps, t, built, input } = setup();
  const s1 = proxyState([web(1)], { family: 'IPv6' });
  built.next = input(s1);
  await engine.syncOnce();
  dps[0]!.detectDrift = async () => {
    throw new Error('nft -c failed');
  };
  t.now += SYNC_PERIOD;
  await engine.syncOnce();
  assert.equal(dps[0]!.syncs[1]!.full, true);
});

test('failure: the error reaches the caller, the applied state stays, the next sync is full and carries the failed build\'s conntrack request', async () => {
  const { engine, dps, built, input, reports, failures } = setup();
  const s1 = proxyState([web(1)], { family: 'IPv6' });
  built.next = input(s1);
  await engine.syncOnce();
  assert.equal(reports[0]!.conntrackDue, false);

  const s2 = withServices(s1, [web(2)]);
  built.next = input(s2, { changedKeys: new Set([web(2).key]), conntrackCleanupRequired: true });
  dps[0]!.failNext = 1;
  await assert.rejects(engine.syncOnce(), /injected failure/);
  assert.equal(failures.length, 1, 'failed hook called');
  assert.equal(engine.applied, s1, 'applied state unchanged');
  assert.equal(reports.length, 1, 'no settled hook for a failed run');

  // The next build has no UDP change of its own; the failed one's request is still due.
  const s3 = withServices(s2, [web(3)]);
  built.next = input(s3, { changedKeys: new Set([web(3).key]) });
  await engine.syncOnce();
  assert.equal(dps[0]!.syncs.at(-1)!.full, true, 'after a failure: full');
  assert.equal(reports[1]!.conntrackDue, true);
  assert.equal(reports[1]!.previous, s1, 'previous is the last applied state, not the failed one');
  built.next = input(s3);
  await engine.syncOnce();
  assert.equal(reports[2]!.conntrackDue, false, 'cleared once served');
});

test('a dataplane that upgrades to full is recorded as full', async () => {
  const { engine, dps, built, input, t } = setup();
  const s1 = proxyState([web(1)], { family: 'IPv6' });
  built.next = input(s1);
  await engine.syncOnce();
  dps[0]!.alwaysFull = true;
  t.now += 1000;
  const before = await histCount(metrics.syncFullProxyRulesDuration, 'IPv6');
  built.next = input(withServices(s1, [web(2)]), { changedKeys: new Set(['x']) });
  await engine.syncOnce();
  assert.equal(engine.view().appliedFull, true);
  assert.equal(await histCount(metrics.syncFullProxyRulesDuration, 'IPv6'), before + 1);
});

test('build returning null skips the run: no dataplane, no metrics', async () => {
  const { engine, dps } = setup();
  const before = await histCount(metrics.syncProxyRulesDuration, 'IPv6');
  await engine.syncOnce();
  assert.equal(dps.length, 0);
  assert.equal(engine.applied, null);
  assert.equal(await histCount(metrics.syncProxyRulesDuration, 'IPv6'), before);
});

test('metrics: durations by kind (failures too), last-sync timestamp only on success, programming latency, no-local-endpoints', async () => {
  const { engine, dps, t, built, input } = setup('IPv4');
  const total0 = await histCount(metrics.syncProxyRulesDuration, 'IPv4');
  const full0 = await histCount(metrics.syncFullProxyRulesDuration, 'IPv4');
  const partial0 = await histCount(metrics.syncPartialProxyRulesDuration, 'IPv4');
  const prog0 = await histCount(metrics.networkProgrammingDuration, 'IPv4');
  metrics.syncProxyRulesLastTimestamp.set({ ip_family: 'IPv4' }, 0);

  const local = servicePort('default', 'loc', {
    family: 'IPv4',
    clusterIP: '198.19.0.20',
    nodePort: 30080,
    externalPolicyLocal: true,
    internalPolicyLocal: true,
    endpoints: [endpoint('198.18.2.1')],
  });
  const local2 = servicePort('default', 'loc', { ...local, portName: 'q', endpoints: local.endpoints });
  const s1 = proxyState([web(1, 'IPv4'), local, local2]);
  built.next = input(s1, { triggerTimes: [new Date(Date.now() - 2000), new Date(0)] });
  await engine.syncOnce();
  assert.equal(await histCount(metrics.syncProxyRulesDuration, 'IPv4'), total0 + 1);
  assert.equal(await histCount(metrics.syncFullProxyRulesDuration, 'IPv4'), full0 + 1);
  assert.equal(await histCount(metrics.syncPartialProxyRulesDuration, 'IPv4'), partial0);
  assert.equal(await histCount(metrics.networkProgrammingDuration, 'IPv4'), prog0 + 2, 'startedAt defaults to 0: both trigger times count');
  assert.ok(((await gauge(metrics.syncProxyRulesLastTimestamp, { ip_family: 'IPv4' })) ?? 0) > 0);
  // Two service ports of one Service with Local policies and no local endpoint.
  assert.equal(await gauge(metrics.noLocalEndpointsTotal, { traffic_policy: 'internal', ip_family: 'IPv4' }), 2);
  assert.equal(await gauge(metrics.noLocalEndpointsTotal, { traffic_policy: 'external', ip_family: 'IPv4' }), 2);

  // A failed partial sync: observed as partial, timestamp untouched.
  metrics.syncProxyRulesLastTimestamp.set({ ip_family: 'IPv4' }, 0);
  t.now += 1000;
  dps[0]!.failNext = 1;
  built.next = input(withServices(s1, [web(2, 'IPv4')]), { changedKeys: new Set(['x']), triggerTimes: [new Date()] });
  await assert.rejects(engine.syncOnce());
  assert.equal(await histCount(metrics.syncPartialProxyRulesDuration, 'IPv4'), partial0 + 1);
  assert.equal(await gauge(metrics.syncProxyRulesLastTimestamp, { ip_family: 'IPv4' }), 0);
  assert.equal(await histCount(metrics.networkProgrammingDuration, 'IPv4'), prog0 + 2, 'not observed until programmed');
  // The model hands each change out once: the next build has no trigger times of its own.
  built.next = input(withServices(s1, [web(3, 'IPv4')]), { changedKeys: new Set(['x']) });
  await engine.syncOnce();
  assert.equal(await histCount(metrics.networkProgrammingDuration, 'IPv4'), prog0 + 3, 'the failed run\'s trigger time, once programmed');
});

test('no-local-endpoints counts Services in IPVS mode', async () => {
  const { engine, built, input } = setup('IPv4', { byService: true });
  const local = servicePort('default', 'loc', { family: 'IPv4', clusterIP: '198.19.0.20', internalPolicyLocal: true, endpoints: [endpoint('198.18.2.1')] });
  const local2 = servicePort('default', 'loc', { ...local, portName: 'q', endpoints: local.endpoints });
  built.next = input(proxyState([local, local2]));
  await engine.syncOnce();
  assert.equal(await gauge(metrics.noLocalEndpointsTotal, { traffic_policy: 'internal', ip_family: 'IPv4' }), 1);
});

test('retry: the runner retries a failed run with backoff, and the retry is full', async () => {
  const clock = new FakeClock();
  const { engine, dps, built, input } = setup('IPv6', { clock });
  built.next = input(proxyState([web(1)], { family: 'IPv6' }));
  engine.start();
  engine.request();
  try {
    await clock.advance(0);
    const dp = dps[0]!;
    assert.equal(dp.syncs.length, 1);
    dp.failNext = 1;
    built.next = input(proxyState([web(2)], { family: 'IPv6', generation: 2 }), { changedKeys: new Set(['x']) });
    await clock.advance(1000);
    engine.request();
    await clock.advance(0);
    assert.equal(dp.syncs.length, 1, 'the run failed');
    assert.equal(engine.consecutiveFailures, 1);
    await clock.advance(999);
    assert.equal(dp.syncs.length, 1, 'no retry before the first backoff step (1 s)');
    await clock.advance(1);
    assert.deepEqual(dp.syncs[1], { full: true, generation: 2 }, 'retried, full');
    assert.equal(engine.consecutiveFailures, 0);
  } finally {
    await engine.stop();
  }
});
