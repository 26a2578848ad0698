// Property tests (fast-check):
//  1. random garbage events never throw and never change the ServicePorts of valid services;
//  2. incremental builds after any event sequence equal a fresh build from the final objects,
//     changedKeys is exactly the set of structurally changed keys, and unchanged ServicePorts
//     keep their identity.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ServiceModel } from '../../src/model/tracker.js';
import { servicePortEqual } from '../../src/model/serviceport.js';
import type { ProxyState, ServicePort } from '../../src/model/types.js';
import type { EventType, ObjectKind } from '../../src/sources/types.js';
import { ctx4, ctx6, ep, node, slice, svc } from './fixtures.js';

function validWorld(m: ServiceModel): void {
  m.onEvent('Node', 'ADDED', node('node-a', { 'topology.kubernetes.io/zone': 'zone-a' }));
  m.onEvent('Service', 'ADDED', svc('web', { clusterIPs: ['198.19.0.1', '2001:db8:19::1'], ipFamilies: ['IPv4', 'IPv6'] }));
  m.onEvent('Service', 'ADDED', svc('dns', { clusterIP: '198.19.0.10', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] }));
  m.onEvent('EndpointSlice', 'ADDED', slice('web-a', { endpoints: [ep('198.18.100.1', { nodeName: 'node-a', zones: ['zone-a'] }), ep('198.18.100.2')] }));
  m.onEvent('EndpointSlice', 'ADDED', slice('web-b', { addressType: 'IPv6', endpoints: [ep('2001:db8:100::1')] }));
  m.onEvent('EndpointSlice', 'ADDED', slice('dns-a', { ports: [{ name: 'dns', port: 53, protocol: 'UDP' }], endpoints: [ep('198.18.100.9')] }));
}

function snapshot(s: ProxyState): [string, ServicePort][] {
  return [...s.services.entries()].filter(([k]) => k.startsWith('ns/'));
}

/** Every path (as a key list) inside a JSON value. */
function paths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

function setPath(root: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  const clone = structuredClone(root) as Record<string | number, unknown>;
  let cur = clone;
  for (let i = 0; i < path.length - 1; i++) cur = cur[path[i]!] as Record<string | number, unknown>;
  cur[path[path.length - 1]!] = value;
  return clone;
}

const templates: [ObjectKind, unknown][] = [
  ['Service', svc('g1', { ns: 'garbage', type: 'LoadBalancer', ports: [{ name: 'p', port: 80, nodePort: 30000 }], spec: { externalIPs: ['198.18.60.4'] } })],
  ['EndpointSlice', slice('g1-x', { ns: 'garbage', endpoints: [ep('198.18.109.1', { zones: ['z'], nodes: ['n'] })] })],
  ['Node', node('node-a', { 'topology.kubernetes.io/zone': 'zone-a' })],
];

const mutated = fc
  .tuple(fc.integer({ min: 0, max: templates.length - 1 }), fc.nat(), fc.anything({ withNullPrototype: true, withBigInt: true, withDate: true, withMap: true }))
  .map(([t, p, value]) => {
    const [kind, obj] = templates[t]!;
    const ps = paths(obj).filter((x) => !(kind !== 'Node' && x.length === 2 && x[0] === 'metadata' && x[1] === 'namespace'));
    return { kind, obj: setPath(obj, ps[p % ps.length]!, value) };
  });

const garbageEvent = fc.record({
  kind: fc.constantFrom<ObjectKind>('Service', 'EndpointSlice', 'Node'),
  type: fc.constantFrom<EventType>('ADDED', 'MODIFIED', 'DELETED'),
  obj: fc.oneof(fc.anything({ withBigInt: true, withNullPrototype: true, withDate: true, withMap: true, withSet: true }), mutated.map((x) => x.obj)),
});

test('garbage events never throw and never affect valid services', () => {
  const base = new ServiceModel({ nodeName: 'node-a', onInvalid: () => {} });
  validWorld(base);
  const want4 = snapshot(base.build('IPv4', ctx4).state);
  const want6 = snapshot(base.build('IPv6', ctx6).state);
  assert.equal(want4.length, 2);
  fc.assert(
    fc.property(fc.array(garbageEvent, { maxLength: 20 }), (events) => {
      const m = new ServiceModel({ nodeName: 'node-a', onInvalid: () => {} });
      validWorld(m);
      m.build('IPv4', ctx4);
      for (const e of events) {
        // Node garbage may legitimately change topology: only Service/EndpointSlice garbage here.
        if (e.kind === 'Node') continue;
        const r = m.onEvent(e.kind, e.type, e.obj);
        assert.equal(typeof r, 'boolean');
      }
      const got4 = snapshot(m.build('IPv4', ctx4).state);
      const got6 = snapshot(m.build('IPv6', ctx6).state);
      assert.equal(got4.length, want4.length);
      got4.forEach(([k, sp], i) => assert.ok(k === want4[i]![0] && servicePortEqual(sp, want4[i]![1]), k));
      got6.forEach(([k, sp], i) => assert.ok(k === want6[i]![0] && servicePortEqual(sp, want6[i]![1]), k));
    }),
    { numRuns: 300 },
  );
});

test('garbage Node events never throw', () => {
  fc.assert(
    fc.property(fc.array(garbageEvent, { maxLength: 10 }), (events) => {
      const m = new ServiceModel({ nodeName: 'node-a', onInvalid: () => {} });
      validWorld(m);
      for (const e of events) m.onEvent('Node', e.type, e.obj);
      m.build('IPv4', ctx4);
    }),
    { numRuns: 200 },
  );
});

// --- incremental == fresh ----------------------------------------------------------------

const svcNames = ['a', 'b', 'c'];
const svcArb = fc.record({
  name: fc.constantFrom(...svcNames),
  dual: fc.boolean(),
  udp: fc.boolean(),
  nodePort: fc.constantFrom(0, 30001),
  itp: fc.constantFrom('Cluster', 'Local'),
  etp: fc.constantFrom('Cluster', 'Local'),
  ip: fc.constantFrom(1, 2),
});
const epArb = fc.record({
  host: fc.integer({ min: 1, max: 4 }),
  ready: fc.option(fc.boolean(), { nil: undefined }),
  serving: fc.option(fc.boolean(), { nil: undefined }),
  terminating: fc.option(fc.boolean(), { nil: undefined }),
  nodeName: fc.constantFrom('node-a', 'node-b', ''),
  zones: fc.option(fc.subarray(['zone-a', 'zone-b'], { minLength: 1 }), { nil: undefined }),
  nodes: fc.option(fc.subarray(['node-a', 'node-b'], { minLength: 1 }), { nil: undefined }),
});
const sliceArb = fc.record({
  svc: fc.constantFrom(...svcNames),
  suffix: fc.constantFrom('x', 'y'),
  v6: fc.boolean(),
  port: fc.constantFrom(8080, 9090),
  udp: fc.boolean(),
  eps: fc.array(epArb, { maxLength: 4 }),
});

type Op =
  | { op: 'svc'; s: typeof svcArb extends fc.Arbitrary<infer T> ? T : never }
  | { op: 'delsvc'; name: string }
  | { op: 'slice'; s: typeof sliceArb extends fc.Arbitrary<infer T> ? T : never }
  | { op: 'delslice'; name: string }
  | { op: 'zone'; zone: string }
  | { op: 'build' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  svcArb.map((s) => ({ op: 'svc' as const, s })),
  fc.constantFrom(...svcNames).map((name) => ({ op: 'delsvc' as const, name })),
  sliceArb.map((s) => ({ op: 'slice' as const, s })),
  fc.constantFrom('a-x', 'a-y', 'b-x', 'c-y').map((name) => ({ op: 'delslice' as const, name })),
  fc.constantFrom('zone-a', 'zone-b').map((zone) => ({ op: 'zone' as const, zone })),
  fc.constant({ op: 'build' as const }),
);

function toEvent(o: Op): [ObjectKind, EventType, unknown] | null {
  switch (o.op) {
    case 'svc': {
      const s = o.s;
      const v4 = `198.19.${s.ip}.${svcNames.indexOf(s.name) + 1}`;
      return [
        'Service',
        'MODIFIED',
        svc(s.name, {
          type: s.nodePort ? 'NodePort' : 'ClusterIP',
          clusterIP: v4,
          ...(s.dual ? { clusterIPs: [v4, `2001:db8:19::${s.ip}:${svcNames.indexOf(s.name) + 1}`], ipFamilies: ['IPv4', 'IPv6'] } : {}),
          ports: [{ name: 'p', port: 80, protocol: s.udp ? 'UDP' : 'TCP', ...(s.nodePort ? { nodePort: s.nodePort } : {}) }],
          spec: { internalTrafficPolicy: s.itp, ...(s.nodePort ? { externalTrafficPolicy: s.etp } : {}) },
        }),
      ];
    }
    case 'delsvc':
      return ['Service', 'DELETED', svc(o.name)];
    case 'slice': {
      const s = o.s;
      return [
        'EndpointSlice',
        'MODIFIED',
        slice(`${s.svc}-${s.suffix}`, {
          service: s.svc,
          addressType: s.v6 ? 'IPv6' : 'IPv4',
          ports: [{ name: 'p', port: s.port, protocol: s.udp ? 'UDP' : 'TCP' }],
          endpoints: s.eps.map((e) =>
            ep(s.v6 ? `2001:db8:100::${e.host}` : `198.18.100.${e.host}`, {
              ready: e.ready,
              serving: e.serving,
              terminating: e.terminating,
              nodeName: e.nodeName,
              zones: e.zones,
              nodes: e.nodes,
            }),
          ),
        }),
      ];
    }
    case 'delslice':
      return ['EndpointSlice', 'DELETED', slice(o.name)];
    case 'zone':
      return ['Node', 'MODIFIED', node('node-a', { 'topology.kubernetes.io/zone': o.zone })];
    case 'build':
      return null;
  }
}

test('incremental builds equal a fresh build; changedKeys exact; unchanged keep identity', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
      const m = new ServiceModel({ nodeName: 'node-a', onInvalid: (k, key, r) => assert.fail(`${k} ${key} ${r}`) });
      const last = new Map<string, ProxyState>();
      const objects = new Map<string, [ObjectKind, unknown]>();
      const check = () => {
        for (const [fam, ctx] of [['IPv4', ctx4], ['IPv6', ctx6]] as const) {
          const prev = last.get(fam);
          const { state, change } = m.build(fam, ctx);
          if (prev) {
            const want = new Set<string>();
            for (const [k, sp] of state.services) {
              const old = prev.services.get(k);
              if (!old || !servicePortEqual(old, sp)) want.add(k);
              else assert.equal(sp, old, `identity kept for ${k}`);
            }
            for (const k of prev.services.keys()) if (!state.services.has(k)) want.add(k);
            assert.deepEqual([...change.changedKeys].sort(), [...want].sort());
          }
          const keys = [...state.services.keys()];
          assert.deepEqual(keys, [...keys].sort());
          last.set(fam, state);
        }
      };
      for (const o of [...ops, { op: 'build' as const }]) {
        const ev = toEvent(o);
        if (!ev) {
          check();
          continue;
        }
        const [kind, type, obj] = ev;
        m.onEvent(kind, type, obj);
        const id = `${kind}/${(obj as { metadata: { name: string } }).metadata.name}`;
        if (type === 'DELETED') objects.delete(id);
        else objects.set(id, [kind, obj]);
      }
      const fresh = new ServiceModel({ nodeName: 'node-a' });
      for (const [kind, obj] of objects.values()) fresh.onEvent(kind, 'ADDED', obj);
      for (const [fam, ctx] of [['IPv4', ctx4], ['IPv6', ctx6]] as const) {
        const a = last.get(fam)!;
        const b = fresh.build(fam, ctx).state;
        assert.deepEqual([...a.services.keys()], [...b.services.keys()]);
        for (const [k, sp] of a.services) assert.ok(servicePortEqual(sp, b.services.get(k)!), k);
        assert.deepEqual(a.node.labels, b.node.labels);
      }
    }),
    { numRuns: 400 },
  );
});
