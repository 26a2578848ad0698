// Property, without root: any sequence of ProxyStates applied as incremental transactions to the
// fake nftables (kernel/nftables/fake.ts, nft's semantics) ends in the same table as the full
// transaction of the final state applied to a fresh fake. Endpoint-block placement depends on
// history, so both tables are compared in canonical form (canonical.ts, as the kernel test does).
// Every transaction must also apply: the fake refuses what nft would refuse (deleting a chain still
// jumped to, an element twice, a set still referenced …), so ordering bugs fail here too. Each
// incremental plan is made twice from the same previous state: the planner must not change it.
//
// KPX_PROPERTY_RUNS overrides the run count (default 150).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeNftables } from '../../../src/kernel/nftables/fake.js';
import { type Applied, plan, planFull } from '../../../src/dataplane/nftables/planner.js';
import type { Endpoint, IPFamily, ProxyState, ServicePort } from '../../../src/model/types.js';
import { normalizeTable } from '../../../src/dryrun/nftables.js';
import { config, ep, sp, state } from '../../nftables/fixtures.js';

const RUNS = Number(process.env.KPX_PROPERTY_RUNS ?? 150);

interface EpSpec {
  readonly i: number;
  readonly ready: boolean;
  readonly terminating: boolean;
  readonly local: boolean;
  readonly port: number;
}

interface SvcSpec {
  readonly i: number;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
  readonly port: number;
  readonly nodePort: boolean;
  readonly externalIP: boolean;
  readonly lb: boolean;
  readonly sourceRanges: boolean;
  readonly affinity: number;
  readonly iLocal: boolean;
  readonly eLocal: boolean;
  readonly endpoints: readonly EpSpec[];
}

const epSpec: fc.Arbitrary<EpSpec> = fc.record({
  i: fc.integer({ min: 1, max: 8 }),
  ready: fc.boolean(),
  terminating: fc.boolean(),
  local: fc.boolean(),
  port: fc.constantFrom(8080, 9090),
});

const svcSpec = (i: number): fc.Arbitrary<SvcSpec> =>
  fc.record({
    i: fc.constant(i),
    protocol: fc.constantFrom('TCP', 'UDP', 'SCTP'),
    port: fc.constantFrom(80, 443),
    nodePort: fc.boolean(),
    externalIP: fc.boolean(),
    lb: fc.boolean(),
    sourceRanges: fc.boolean(),
    affinity: fc.constantFrom(0, 0, 60, 10800),
    iLocal: fc.boolean(),
    eLocal: fc.boolean(),
    endpoints: fc.uniqueArray(epSpec, { maxLength: 5, selector: (e) => `${e.i}:${e.port}` }),
  });

/** One state: a subset of 6 service slots, each with its own spec (or absent). */
const stateSpec: fc.Arbitrary<readonly (SvcSpec | null)[]> = fc.tuple(
  ...Array.from({ length: 6 }, (_, i) => fc.option(svcSpec(i), { freq: 3 })),
);

function addr(family: IPFamily, v4: string, v6: string): string {
  return family === 'IPv6' ? v6 : v4;
}

/**
 * ServicePorts interned by spec, as the model keeps unchanged ServicePort objects across states:
 * an unchanged port is the same object, which the planner relies on to skip it.
 */
function builder(family: IPFamily): (specs: readonly (SvcSpec | null)[], gen: number) => ProxyState {
  const interned = new Map<string, ServicePort>();
  const endpoint = (e: EpSpec): Endpoint =>
    ep(addr(family, `198.18.100.${e.i}`, `2001:db8:100::${e.i}`), {
      port: e.port,
      ready: e.ready,
      serving: e.ready || e.terminating,
      terminating: e.terminating,
      isLocal: e.local,
      nodeName: e.local ? 'node-a' : 'other',
    });
  const build = (s: SvcSpec): ServicePort => {
    const id = JSON.stringify(s);
    let p = interned.get(id);
    if (p) return p;
    p = sp('ns', `s${s.i}`, {
      family,
      protocol: s.protocol,
      port: s.port,
      clusterIP: addr(family, `198.19.0.${s.i + 1}`, `2001:db8:19::${s.i + 1}`),
      nodePort: s.nodePort ? 30000 + s.i : 0,
      // Addresses unique per service: two ports claiming one address . port is a conflict whose
      // winner depends on claim order (first claim in the kernel), not a planner property.
      externalIPs: s.externalIP ? [addr(family, `198.18.200.${s.i + 1}`, `2001:db8:200::${s.i + 1}`)] : [],
      loadBalancerIPs: s.lb ? [addr(family, `198.18.201.${s.i + 1}`, `2001:db8:201::${s.i + 1}`)] : [],
      loadBalancerSourceRanges: s.lb && s.sourceRanges ? [addr(family, '198.18.64.0/24', '2001:db8:64::/64')] : [],
      affinityTimeoutSeconds: s.affinity,
      internalPolicyLocal: s.iLocal,
      externalPolicyLocal: s.eLocal,
      endpoints: s.endpoints.map(endpoint),
    });
    interned.set(id, p);
    return p;
  };
  return (specs, gen) =>
    state(
      specs.filter((s): s is SvcSpec => s !== null).map(build),
      { family, generation: gen },
    );
}

function check(family: IPFamily, seq: readonly (readonly (SvcSpec | null)[])[]): void {
  const cfg = config({ family });
  const fam = family === 'IPv6' ? 'ip6' : 'ip';
  const build = builder(family);
  const states = seq.map((s, i) => build(s, i + 1));
  const inc = new FakeNftables();
  let prev: Applied | null = null;
  states.forEach((st, i) => {
    const p = plan(prev, st, cfg);
    assert.equal(p.full, i === 0, `sync ${i} full`);
    // The planner does not change its input: planning again from the same `prev` gives the same.
    if (prev !== null) assert.equal(plan(prev, st, cfg).script, p.script, `sync ${i} re-planned from the same prev`);
    inc.apply(p.tx);
    prev = p.next;
  });
  const fresh = new FakeNftables();
  fresh.apply(planFull(states[states.length - 1]!, cfg).tx);
  const got = normalizeTable(inc.dump(fam, 'kube-proxy')!);
  assert.doesNotMatch(got, /MISSING|HOLE/);
  assert.equal(got, normalizeTable(fresh.dump(fam, 'kube-proxy')!));
}

test('incremental transactions applied to the fake equal the full transaction of the final state (IPv4)', () => {
  fc.assert(
    fc.property(fc.array(stateSpec, { minLength: 2, maxLength: 6 }), (seq) => check('IPv4', seq)),
    { numRuns: RUNS },
  );
});

test('incremental transactions applied to the fake equal the full transaction of the final state (IPv6)', () => {
  fc.assert(
    fc.property(fc.array(stateSpec, { minLength: 2, maxLength: 4 }), (seq) => check('IPv6', seq)),
    { numRuns: Math.ceil(RUNS / 3) },
  );
});

test('the property can fail: a transaction that drops one endpoint element is caught', () => {
  const build = builder('IPv4');
  const s0 = build([{ i: 0, protocol: 'TCP', port: 80, nodePort: false, externalIP: false, lb: false, sourceRanges: false, affinity: 0, iLocal: false, eLocal: false, endpoints: [] }], 1);
  const eps: EpSpec[] = [1, 2].map((i) => ({ i, ready: true, terminating: false, local: false, port: 8080 }));
  const s1 = build([{ i: 0, protocol: 'TCP', port: 80, nodePort: false, externalIP: false, lb: false, sourceRanges: false, affinity: 0, iLocal: false, eLocal: false, endpoints: eps }], 2);
  const inc = new FakeNftables();
  const p0 = planFull(s0, config());
  inc.apply(p0.tx);
  const p1 = plan(p0.next, s1, config());
  // Leave out the last operation (the endpoint elements' add): the tables must differ.
  inc.apply(p1.tx.ops.slice(0, -1));
  const fresh = new FakeNftables();
  fresh.apply(planFull(s1, config()).tx);
  assert.notEqual(normalizeTable(inc.dump('ip', 'kube-proxy')!), normalizeTable(fresh.dump('ip', 'kube-proxy')!));
});
