// AppliedIndex (src/proxy/applied-index.ts) against the walks it replaced: after every step of a
// random sequence of service-port adds, rewrites and deletes (hundreds at once or one), with syncs
// that fail in between, the health check ports and the no_local_endpoints_total values must equal
// a walk over every service port of the state that was applied, not of the one last attempted.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { DataplaneConfig } from '../../src/dataplane/config.js';
import type { Dataplane, SyncOptions, SyncResult } from '../../src/dataplane/types.js';
import { configureLogging } from '../../src/log/logger.js';
import { metrics } from '../../src/metrics/metrics.js';
import { SortedMap } from '../../src/model/sortedmap.js';
import type { ProxyState, ServicePort } from '../../src/model/types.js';
import { AppliedIndex } from '../../src/proxy/applied-index.js';
import { SyncEngine, type SyncInput } from '../../src/proxy/sync-engine.js';
import { applyChurn, churnBase, churnOp } from '../support/port-churn.js';
import { dataplaneConfig, proxyState } from '../support/state.js';

configureLogging({ sink: () => undefined });

/** The walk syncServiceHealth did: every service port with a health check NodePort, in map order. */
function walkHealthCheckPorts(services: ReadonlyMap<string, ServicePort>): ServicePort[] {
  return [...services.values()].filter((sp) => sp.healthCheckNodePort > 0);
}

/** The walk recordNoLocalEndpoints did (sync-engine.ts before the index). */
function walkNoLocal(services: ReadonlyMap<string, ServicePort>, byService: boolean): { internal: number; external: number } {
  const internal = new Set<string>();
  const external = new Set<string>();
  for (const sp of services.values()) {
    if (!sp.hasAnyEndpoints || sp.localEndpoints.length > 0) continue;
    const key = byService ? `${sp.namespace}/${sp.serviceName}` : sp.key;
    if (sp.internalPolicyLocal) internal.add(key);
    if (sp.externallyAccessible && sp.externalPolicyLocal) external.add(key);
  }
  return { internal: internal.size, external: external.size };
}

/** What happens to a step's state: applied, a failed sync (never applied), or handed over as a plain Map. */
const outcome = fc.constantFrom('ok', 'ok', 'fail', 'plain');
const step = fc.record({ op: churnOp, outcome });

test('AppliedIndex equals a full walk of the applied state after every step (failed syncs, plain Maps, both counting modes)', () => {
  const seen = { hc: 0, internal: 0, external: 0, fails: 0 };
  fc.assert(
    fc.property(churnBase, fc.array(step, { minLength: 1, maxLength: 12 }), fc.boolean(), (base, steps, byService) => {
      const index = new AppliedIndex(byService);
      let desired = applyChurn(SortedMap.empty(), base);
      let applied: ReadonlyMap<string, ServicePort> = desired;
      index.update(applied);
      const check = (): void => {
        assert.deepEqual([...index.healthCheckPorts()], walkHealthCheckPorts(applied));
        // Same objects, not just equal ones (the health server reads them).
        [...index.healthCheckPorts()].forEach((sp) => assert.equal(sp, applied.get(sp.key)));
        assert.deepEqual(index.noLocalEndpoints(), walkNoLocal(applied, byService));
      };
      check();
      for (const s of steps) {
        desired = applyChurn(desired, s.op);
        if (s.outcome === 'fail') {
          seen.fails++;
        } else {
          // A plain Map (other models, tests) in key order: compared key by key.
          applied = s.outcome === 'plain' ? new Map(desired) : desired;
          index.update(applied);
        }
        check();
        const nl = index.noLocalEndpoints();
        seen.hc += [...index.healthCheckPorts()].length > 0 ? 1 : 0;
        seen.internal += nl.internal > 0 ? 1 : 0;
        seen.external += nl.external > 0 ? 1 : 0;
      }
    }),
    { numRuns: 60 },
  );
  assert.ok(seen.hc > 0 && seen.internal > 0 && seen.external > 0 && seen.fails > 0, JSON.stringify(seen));
});

class FlakyDataplane implements Dataplane {
  readonly mode = 'nftables' as const;
  failNext = false;
  constructor(readonly cfg: DataplaneConfig) {}
  get family(): 'IPv4' {
    return 'IPv4';
  }
  async sync(state: ProxyState, opts: SyncOptions): Promise<SyncResult> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('injected failure');
    }
    return { full: opts.full, operations: state.services.size, toolMillis: 0 };
  }
  async detectDrift(): Promise<boolean> {
    return false;
  }
  render(): string {
    return '';
  }
  async cleanup(): Promise<void> {}
}

async function gauge(policy: 'internal' | 'external'): Promise<number | undefined> {
  return (await metrics.noLocalEndpointsTotal.get()).values.find((x) => x.labels.traffic_policy === policy && x.labels.ip_family === 'IPv4')?.value;
}

test('SyncEngine: health check ports and no_local_endpoints_total follow the applied state through failed syncs', async () => {
  const engineStep = fc.record({ op: churnOp, fail: fc.boolean() });
  let fails = 0;
  await fc.assert(
    fc.asyncProperty(churnBase, fc.array(engineStep, { minLength: 1, maxLength: 10 }), fc.boolean(), async (base, steps, byService) => {
      let dp: FlakyDataplane | null = null;
      let next: SyncInput | null = null;
      const engine = new SyncEngine(
        {
          family: 'IPv4',
          factory: (cfg) => (dp = new FlakyDataplane(cfg)),
          minSyncPeriodMs: 1000,
          syncPeriodMs: 3_600_000,
          fullSyncPeriodMs: 86_400_000,
          noLocalEndpointsByService: byService,
          now: () => 1_000_000,
        },
        { build: async () => next },
      );
      const cfg = dataplaneConfig({ family: 'IPv4' });
      const input = (services: SortedMap<ServicePort>, generation: number): SyncInput => ({
        state: { ...proxyState([]), services, generation },
        change: { changedKeys: new Set(['x']), conntrackCleanupRequired: false, topologyChanged: false, triggerTimes: [] },
        config: cfg,
        builtAt: Date.now(),
      });
      let desired = applyChurn(SortedMap.empty(), base);
      let gen = 1;
      next = input(desired, gen);
      await engine.syncOnce();
      let applied = next.state;
      const check = async (): Promise<void> => {
        assert.equal(engine.applied, applied);
        assert.deepEqual([...engine.healthCheckPorts()], walkHealthCheckPorts(applied.services));
        const want = walkNoLocal(applied.services, byService);
        assert.equal(await gauge('internal'), want.internal);
        assert.equal(await gauge('external'), want.external);
      };
      await check();
      for (const s of steps) {
        desired = applyChurn(desired, s.op);
        next = input(desired, ++gen);
        if (s.fail) {
          fails++;
          dp!.failNext = true;
          await assert.rejects(engine.syncOnce());
        } else {
          await engine.syncOnce();
          applied = next.state;
        }
        await check();
      }
    }),
    { numRuns: 40 },
  );
  assert.ok(fails > 0);
});
