// Random churn of a large services map for property tests of what diffs successive maps
// (nftables planner, AppliedIndex): changes by key range, so one step can add, rewrite or remove
// hundreds of service ports (chunk splits and dropped chunks in SortedMap) or a single one, and a
// port's attributes (policies, NodePort, health check NodePort, endpoints: none, remote, local,
// local but not ready) follow from (index, variant) without fast-check generating each one.

import fc from 'fast-check';
import { SortedMap } from '../../src/model/sortedmap.js';
import type { ServicePort } from '../../src/model/types.js';
import { endpoint, servicePort } from './state.js';

/** Service ports are (service i, port a|b): keys `ns/s<i>:a/TCP`, `ns/s<i>:b/UDP`. */
export const CHURN_SERVICES = 700;

export interface ChurnOp {
  /** set: write new ServicePort objects for a range; remove: delete a range; touch: one port, same content, new object. */
  readonly kind: 'set' | 'remove' | 'touch';
  readonly start: number;
  readonly len: number;
  readonly variant: number;
}

export const churnOp: fc.Arbitrary<ChurnOp> = fc.record({
  kind: fc.constantFrom<ChurnOp['kind']>('set', 'set', 'set', 'remove', 'touch'),
  start: fc.integer({ min: 0, max: CHURN_SERVICES - 1 }),
  // Mostly small ranges (one change), sometimes hundreds of services.
  len: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 400 })),
  variant: fc.integer({ min: 0, max: 1 << 16 }),
});

/** A first state: a range of services large enough for several SortedMap chunks. */
export const churnBase: fc.Arbitrary<ChurnOp> = fc.record({
  kind: fc.constant<'set'>('set'),
  start: fc.integer({ min: 0, max: 100 }),
  len: fc.integer({ min: 200, max: CHURN_SERVICES }),
  variant: fc.integer({ min: 0, max: 1 << 16 }),
});

function mix(i: number, v: number): number {
  let h = Math.imul(i + 1, 2654435761) ^ Math.imul(v + 7, 40503);
  h ^= h >>> 15;
  h = Math.imul(h, 2246822519);
  h ^= h >>> 13;
  return h >>> 0;
}

/** Service port `port` (0: a/TCP, 1: b/UDP) of service `i`, attributes from `variant`. */
export function churnPort(i: number, port: 0 | 1, variant: number, family: 'IPv4' | 'IPv6' = 'IPv4'): ServicePort {
  const h = mix(i * 2 + port, variant);
  const v6 = family === 'IPv6';
  const ip = (net: number, n: number): string => (v6 ? `2001:db8:${net.toString(16)}::${n.toString(16)}` : `198.${18 + (net >> 8)}.${net & 255}.${n & 255}`);
  const internalPolicyLocal = (h & 1) !== 0;
  const nodePort = (h & 2) !== 0 ? 30000 + ((i * 2 + port) % 2700) : 0;
  const externalPolicyLocal = (h & 4) !== 0;
  const healthCheckNodePort = externalPolicyLocal && nodePort > 0 && (h & 8) !== 0 ? 32700 + (i % 60) : 0;
  const epKind = (h >>> 4) & 3;
  const n = 1 + ((h >>> 6) & 3);
  const endpoints = Array.from({ length: epKind === 0 ? 0 : n }, (_, k) =>
    endpoint(ip(100 + (k & 3), (i % 250) + 1 + ((h >>> 8) & 1)), {
      port: 8080 + port,
      // 1: remote; 2: the first one local; 3: local but not ready (serving, terminating).
      isLocal: epKind >= 2 && k === 0,
      nodeName: epKind >= 2 && k === 0 ? 'node-a' : 'other',
      ready: !(epKind === 3 && k === 0),
      terminating: epKind === 3 && k === 0,
    }),
  );
  return servicePort('ns', `s${i.toString().padStart(4, '0')}`, {
    family,
    portName: port === 0 ? 'a' : 'b',
    protocol: port === 0 ? 'TCP' : 'UDP',
    clusterIP: v6 ? `2001:db8:ff::${(i + 1).toString(16)}` : `198.19.${(i + 1) >> 8}.${(i + 1) & 255}`,
    port: 80 + port,
    nodePort,
    internalPolicyLocal,
    externalPolicyLocal,
    healthCheckNodePort,
    affinityTimeoutSeconds: (h >>> 10) % 5 === 0 ? 10800 : 0,
    endpoints,
  });
}

/** The next version of `m` after `op` (untouched ports keep their objects and chunks). */
export function applyChurn(m: SortedMap<ServicePort>, op: ChurnOp, family: 'IPv4' | 'IPv6' = 'IPv4'): SortedMap<ServicePort> {
  const set = new Map<string, ServicePort>();
  const remove = new Set<string>();
  const end = Math.min(CHURN_SERVICES, op.start + (op.kind === 'touch' ? 1 : op.len));
  for (let i = op.start; i < end; i++) {
    for (const port of [0, 1] as const) {
      // Some services have one port only (h & 32 of variant 0 decides, stable per service).
      if (port === 1 && (mix(i, 0) & 32) !== 0) continue;
      if (op.kind === 'remove') {
        remove.add(churnPort(i, port, 0, family).key);
      } else if (op.kind === 'touch') {
        const cur = m.get(churnPort(i, port, 0, family).key);
        if (cur) set.set(cur.key, { ...cur });
      } else {
        const sp = churnPort(i, port, op.variant, family);
        set.set(sp.key, sp);
      }
    }
  }
  return m.withChanges(set, remove);
}
