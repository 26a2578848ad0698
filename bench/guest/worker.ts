// One dataplane measurement inside the IPVS guest, run by bench/guest/run.ts INSIDE a throw-away
// node namespace (`ip netns exec kpx-gbench-…-node node worker.js '<json>'`), so every kernel
// tool it starts (ipvsadm, ipset, ip, nft, iptables-restore) programs that namespace only.
// Prints one JSON line per phase on stdout; the parent enforces time limits by killing this
// process group. The rules are deliberately left in place when it exits: the parent measures
// connection setup through them, then deletes the namespace.
//
// Phases: model (ServiceModel ingest + build), full (first sync into the empty namespace),
// change (one endpoint removed / added back alternately, timed from ServiceModel.onEvent to
// dataplane.sync returning: the latency an EndpointSlice update sees).

import { createIptablesDataplane } from '../../src/dataplane/iptables/index.js';
import { createIpvsDataplane } from '../../src/dataplane/ipvs/index.js';
import { createNftablesDataplane } from '../../src/dataplane/nftables/index.js';
import type { Dataplane } from '../../src/dataplane/types.js';
import { configureLogging } from '../../src/log/logger.js';
import { BUILD_CTX, DATAPLANE_CONFIG, range, sliceObject } from '../fixtures.js';
import { emit, loadAndFullSync, now } from '../worker-phases.js';

export const GUEST_MODES = ['ipvs', 'nftables', 'iptables-legacy', 'iptables-nft'] as const;
export type GuestMode = (typeof GUEST_MODES)[number];

export interface GuestJob {
  readonly mode: GuestMode;
  readonly services: number;
  readonly endpoints: number;
  /** One-endpoint changes to time. */
  readonly changes: number;
  /** Stop the change phase early after this long (ms), keeping the samples so far. */
  readonly changeBudgetMs: number;
}

function makeDataplane(mode: GuestMode): Dataplane {
  switch (mode) {
    case 'ipvs':
      // drainCheckMs 0: no background timer, nothing runs between the timed syncs.
      return createIpvsDataplane(DATAPLANE_CONFIG, { drainCheckMs: 0 });
    case 'nftables':
      return createNftablesDataplane(DATAPLANE_CONFIG);
    case 'iptables-legacy':
      return createIptablesDataplane(DATAPLANE_CONFIG, { backend: 'legacy', conntrackTCPLiberal: false });
    case 'iptables-nft':
      return createIptablesDataplane(DATAPLANE_CONFIG, { backend: 'nft', conntrackTCPLiberal: false });
  }
}


async function main(job: GuestJob): Promise<void> {
  configureLogging({ sink: () => undefined });
  if (!GUEST_MODES.includes(job.mode)) throw new Error(`unknown mode ${job.mode}`);
  const N = job.services;
  const E = job.endpoints;

  const { model, dp } = await loadAndFullSync(N, E, () => makeDataplane(job.mode));

  // Pairs of (remove the last endpoint, add it back) on services spread over the range, never
  // the last-created service (the connection test's target), so an even number of changes
  // leaves exactly the full-sync state behind for the connection measurement.
  const version = new Map<number, number>();
  const change = (k: number): Record<string, unknown> => {
    const i = N <= 2 ? 0 : (Math.floor(k / 2) * 7919 + (N >> 1)) % (N - 1);
    const v = (version.get(i) ?? 0) + 1;
    version.set(i, v);
    return sliceObject(i, k % 2 === 0 ? range(E - 1) : range(E), v);
  };
  if (job.changes > 0 && N > 0) {
    emit({ phase: 'change-start' });
    const samples: { kind: 'remove' | 'add'; wallMs: number; buildMs: number; toolMs: number; operations: number }[] = [];
    const failures: string[] = [];
    let forced = 0;
    const t0 = now();
    let k = 0;
    // Keep going past the budget only to finish a remove/add pair (state back to full-sync's).
    for (; k < job.changes && (now() - t0 < job.changeBudgetMs || k % 2 === 1); k++) {
      const obj = change(k);
      const ts = now();
      model.onEvent('EndpointSlice', 'MODIFIED', obj);
      const st = model.build('IPv4', BUILD_CTX).state;
      // Timed separately so the dataplane's share of the latency is visible (the model rebuild
      // reuses unchanged services, but it is on the path an update takes).
      const buildMs = now() - ts;
      try {
        const res = await dp.sync(st, { full: false });
        // A dataplane that upgrades a partial sync to a full one is not an incremental sample.
        if (res.full) forced++;
        // Removes and adds are kept apart: an IPVS TCP remove drains (weight 0, a listing, a
        // delete: more tool processes) while an add is one `ipvsadm -R`, so the two form separate
        // clusters and a median over both is unstable.
        else samples.push({ kind: k % 2 === 0 ? 'remove' : 'add', wallMs: now() - ts, buildMs, toolMs: res.toolMillis, operations: res.operations });
      } catch (e) {
        failures.push(e instanceof Error ? e.message.slice(0, 300) : String(e));
        if (failures.length > 3) break;
      }
    }
    emit({ phase: 'change', samples, attempted: k, budgetHit: k < job.changes && failures.length <= 3, failures, forcedFull: forced });
  }
  emit({ phase: 'done' });
}

const job = JSON.parse(process.argv[2] ?? '{}') as GuestJob;
main(job).then(
  () => process.exit(0),
  (e: unknown) => {
    emit({ phase: 'error', message: e instanceof Error ? e.message.slice(0, 2000) : String(e) });
    process.exit(1);
  },
);
