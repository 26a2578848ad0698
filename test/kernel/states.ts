// Random ProxyState sequences for the "incremental equals full" properties of the kernel fakes:
// a few service keys, each step upserting (a new ServicePort object) or removing some of them
// while the others keep their identity, as the model does between syncs.

import fc from 'fast-check';
import type { IPFamily, ProxyState, ServicePort } from '../../src/model/types.js';
import { state, svc, withServices, type EpSpec, type SvcSpec } from '../iptables/helpers.js';

export const NODE_IP = '198.18.0.2';
const KEYS = 5;

const epArb: fc.Arbitrary<EpSpec> = fc.record({
  ip: fc.integer({ min: 1, max: 6 }).map((i) => `198.18.1.${i}`),
  local: fc.boolean(),
  ready: fc.boolean(),
  terminating: fc.boolean(),
});

/** A service port spec for key number `k` (name and cluster IP fixed per key). */
function specArb(k: number): fc.Arbitrary<SvcSpec> {
  return fc.record({
    protocol: fc.constantFrom('TCP' as const, 'UDP' as const),
    port: fc.constantFrom(80, 443),
    nodePort: fc.constantFrom(0, 30000 + k),
    externalIPs: fc.subarray([`198.19.2.${k + 1}`, '198.19.2.100']),
    lbIPs: fc.subarray([`198.19.1.${k + 1}`]),
    sourceRanges: fc.constantFrom([], ['198.18.0.0/16'], ['198.19.128.0/17']),
    affinity: fc.constantFrom(0, 10800),
    eTPLocal: fc.boolean(),
    iTPLocal: fc.boolean(),
    healthCheckNodePort: fc.constantFrom(0, 32000 + k),
    endpoints: fc.uniqueArray(epArb, { maxLength: 4, selector: (e) => e.ip }),
  }).map((r) => ({ ...r, ns: 'ns', name: `svc${k}`, clusterIP: `198.19.0.${k + 1}` }));
}

/** One step: for some keys, a new ServicePort (upsert) or null (remove). */
export type Step = readonly (readonly [number, SvcSpec | null])[];

const stepArb: fc.Arbitrary<Step> = fc.array(
  fc.integer({ min: 0, max: KEYS - 1 }).chain((k) => fc.option(specArb(k), { nil: null }).map((s) => [k, s] as const)),
  { minLength: 1, maxLength: 3 },
);

export const stepsArb: fc.Arbitrary<Step[]> = fc.array(stepArb, { minLength: 1, maxLength: 6 });

/** The states of applying `steps` from an empty state; unchanged ServicePorts keep identity. */
export function statesOf(steps: readonly Step[], family: IPFamily = 'IPv4'): ProxyState[] {
  let cur = state([], { family, nodeIPs: [NODE_IP] });
  const out: ProxyState[] = [];
  for (const step of steps) {
    const upsert = new Map<string, ServicePort>();
    const remove: string[] = [];
    for (const [, spec] of step) {
      if (spec === null) continue;
      const sp = svc(spec);
      upsert.set(sp.key, sp);
    }
    for (const [k, spec] of step) {
      if (spec !== null) continue;
      for (const key of cur.services.keys()) if (key.startsWith(`ns/svc${k}:`)) remove.push(key);
    }
    cur = withServices(cur, [...upsert.values()], remove);
    out.push(cur);
  }
  return out;
}
