// The incremental planner finds the changed ports by diffing the SortedMap it last planned from
// against the new one (SortedMap.forEachChange, only the chunks not shared). Property: over random
// sequences of changes (one port or hundreds; adds, rewrites, deletes, same content in a new
// object), with full syncs, failed syncs that keep the previous applied state (the next plan then
// spans several versions) and failed syncs that drop it (the dataplane's case: the next plan is
// full), that path gives exactly the transaction, changed list and next state of the per-key lookup
// over plain Maps, step after step; the applied state holds exactly the planned map's ports; and
// the transactions that succeeded, applied to the fake nftables, leave the table a full plan of
// the last applied state writes from scratch.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type Applied, type Plan, plan, planFull } from '../../src/dataplane/nftables/planner.js';
import { normalizeTable } from '../../src/dryrun/nftables.js';
import { FakeNftables } from '../../src/kernel/nftables/fake.js';
import { SortedMap } from '../../src/model/sortedmap.js';
import type { ServicePort } from '../../src/model/types.js';
import { applyChurn, churnBase, churnOp } from '../support/port-churn.js';
import { config, state } from './fixtures.js';

const outcome = fc.constantFrom('ok', 'ok', 'ok', 'full', 'fail-keep', 'fail-drop');
const step = fc.record({ op: churnOp, outcome });

/** `next` holds exactly the ports of the map it was planned from, each record built from that map's object. */
function assertSourceInvariant(next: Applied, services: ReadonlyMap<string, ServicePort>): void {
  assert.equal(next.source, services);
  assert.equal(next.services.size, services.size);
  for (const [key, sp] of services) assert.equal(next.services.get(key)?.rec.sp, sp, key);
}

test('nftables plan: the chunk diff plans exactly what the per-key lookup over plain Maps plans, after full and failed syncs', () => {
  const cfg = config({ localDetector: { mode: 'none' } });
  const seen = { incremental: 0, multiVersion: 0, removals: 0 };
  fc.assert(
    fc.property(churnBase, fc.array(step, { minLength: 1, maxLength: 10 }), (base, steps) => {
      let desired = applyChurn(SortedMap.empty(), base);
      // a: the model's SortedMaps (chunk diff); b: the same states as plain Maps (per-key lookup).
      let a: Applied | null = null;
      let b: Applied | null = null;
      let behind = 0;
      // The kernel, as the transactions of chain a that succeeded left it.
      const kernel = new FakeNftables();
      let appliedMap = desired;
      const both = (full: boolean): [Plan, Plan] => {
        const sa = { ...state([]), services: desired };
        const sb = { ...state([]), services: new Map(desired) };
        const pa = plan(a, sa, cfg, { full });
        const pb = plan(b, sb, cfg, { full });
        assert.equal(pa.full, pb.full);
        assert.deepEqual(pa.changed, pb.changed);
        assert.equal(pa.script, pb.script);
        assert.equal(pa.ops, pb.ops);
        assert.equal(pa.next.seq, pb.next.seq);
        assertSourceInvariant(pa.next, desired);
        assertSourceInvariant(pb.next, sb.services);
        if (!pa.full) {
          seen.incremental++;
          if (behind > 1) seen.multiVersion++;
          if (pa.changed.some((k) => !desired.has(k))) seen.removals++;
        }
        return [pa, pb];
      };
      const first = both(false);
      kernel.apply(first[0].tx);
      [a, b] = first.map((p) => p.next) as [Applied, Applied];
      behind = 0;
      for (const s of steps) {
        desired = applyChurn(desired, s.op);
        behind++;
        const [pa, pb] = both(s.outcome === 'full');
        if (s.outcome === 'fail-keep') continue;
        if (s.outcome === 'fail-drop') {
          a = b = null;
        } else {
          kernel.apply(pa.tx);
          appliedMap = desired;
          a = pa.next;
          b = pb.next;
        }
        behind = 0;
      }
      const fresh = new FakeNftables();
      fresh.apply(planFull({ ...state([]), services: appliedMap }, cfg).tx);
      const got = normalizeTable(kernel.dump('ip', 'kube-proxy')!);
      assert.doesNotMatch(got, /MISSING|HOLE/);
      assert.equal(got, normalizeTable(fresh.dump('ip', 'kube-proxy')!));
    }),
    { numRuns: 40 },
  );
  assert.ok(seen.incremental > 50 && seen.multiVersion > 0 && seen.removals > 0, JSON.stringify(seen));
});
