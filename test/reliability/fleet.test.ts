// A small fleet on one API server (support/fleet.ts; the large one is fleet.manual.ts): 10 proxies, each
// in its own network namespace with real nftables, watch one test API server holding 200 services x 10
// endpoints. Checks behaviour, not speed:
//   - an EndpointSlice write is programmed by every proxy: its programming-latency observation arrives
//     and the new endpoint is in each proxy's kernel ruleset;
//   - an API-server restart with its history kept: every watch resumes from its resourceVersion, 0 LISTs;
//   - a restart whose history was compacted while down: exactly one LIST per reflector per proxy (no
//     storm of repeated relists), then every proxy programs the next change.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { changedIP, Fleet, REFLECTORS, stats } from './support/fleet.js';
import { leakedNamespaces } from './support/world.js';

const isRoot = process.getuid?.() === 0;
const P = 10;
const N = 200;

test(`fleet: ${P} proxies on one API server (${N} services): every proxy programs a change; restart resumes watches (0 LISTs); compaction: one LIST per reflector`, { skip: !isRoot && 'needs root', timeout: 240_000 }, async (t) => {
  const { fleet, startMs, apiServerStartCpuMs } = await Fleet.start({ proxies: P, services: N, endpoints: 10, startTimeoutMs: 180_000 });
  const prefix = fleet.world.prefix;
  try {
    t.diagnostic(`${P} proxies programmed ${N} services in ${startMs} ms; API server CPU ${Math.round(apiServerStartCpuMs)} ms`);
    // Each proxy listed each resource once at start.
    const initial = await fleet.srv.counts();
    for (const r of ['services', 'endpointslices', 'nodes', 'servicecidrs']) assert.equal(initial.lists[r], P, `initial LISTs of ${r}`);

    /** Every proxy's kernel ruleset holds change c's endpoint. */
    const inEveryKernel = async (c: number): Promise<void> => {
      for (let p = 1; p <= P; p++) assert.ok((await fleet.table(p)).includes(changedIP(c)), `proxy ${p}: endpoint ${changedIP(c)} of change ${c} in its nft table`);
    };

    const c1 = await fleet.change(5);
    t.diagnostic(`change → programmed (ms, across proxies): ${JSON.stringify(stats(c1.latenciesMs))}`);
    assert.equal(c1.latenciesMs.length, P);
    await inEveryKernel(1);

    const kept = await fleet.restart({ downMs: 2000, compact: false, settleMs: 2000, svc: 6 });
    t.diagnostic(`restart, history kept: ${kept.listsTotal} LISTs, ${kept.watchesTotal} WATCHes, reconnected in ${kept.reconnectedMs} ms`);
    assert.equal(kept.listsTotal, 0, `no LIST after a restart with history kept: ${JSON.stringify(kept.lists)}`);
    assert.equal(kept.watchesTotal, REFLECTORS * P, 'one resumed WATCH per reflector');
    await inEveryKernel(2);

    const compacted = await fleet.restart({ downMs: 2000, compact: true, settleMs: 3000, svc: 7 });
    t.diagnostic(`restart, history compacted: LISTs ${JSON.stringify(compacted.lists)}, ${compacted.watchesTotal} WATCHes, reconnected in ${compacted.reconnectedMs} ms`);
    for (const r of ['services', 'endpointslices', 'nodes', 'servicecidrs']) assert.equal(compacted.lists[r], P, `exactly one LIST of ${r} per proxy after compaction`);
    assert.equal(compacted.listsTotal, REFLECTORS * P);
    await inEveryKernel(3);
  } finally {
    await fleet.close();
  }
  assert.deepEqual(leakedNamespaces(prefix), [], 'no namespace left behind');
});
