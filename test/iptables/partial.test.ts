// Partial-sync planning: only changed services' per-service chains are written; stale ones are
// flushed and deleted; the filter table and nat top-level chains are always rewritten.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plan } from '../../src/dataplane/iptables/planner.js';
import { JUMP_RULES, serviceChainNames } from '../../src/dataplane/iptables/layout.js';
import { config, state, svc, withServices } from './helpers.js';

const TOP_NAT = ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ'];
const TOP_FILTER = ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FORWARD', 'KUBE-NODEPORTS', 'KUBE-PROXY-FIREWALL', 'KUBE-FIREWALL'];

function tables(input: string): { filter: string[]; nat: string[] } {
  const [, filter = '', nat = ''] = input.split(/^\*(?:filter|nat)$/m);
  return { filter: filter.split('\n'), nat: nat.split('\n') };
}
const declared = (lines: string[]): string[] => lines.filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]!);
const appendedChains = (lines: string[]): Set<string> => new Set(lines.filter((l) => l.startsWith('-A ')).map((l) => l.split(' ')[1]!));

function base() {
  const services = Array.from({ length: 20 }, (_, i) =>
    svc({
      ns: 'ns', name: `s${i}`, clusterIP: `198.19.0.${i + 1}`, nodePort: 30000 + i,
      endpoints: [{ ip: `198.18.1.${i + 1}` }, { ip: `198.18.2.${i + 1}`, local: true }],
    }),
  );
  return state(services);
}

test('one endpoint change: only that service\'s per-service chains are written', () => {
  const cfg = config();
  const s0 = base();
  const p0 = plan(null, s0, cfg, { full: true });
  const changed = svc({ ns: 'ns', name: 's7', clusterIP: '198.19.0.8', nodePort: 30007, endpoints: [{ ip: '198.18.1.8' }, { ip: '198.18.3.8' }] });
  const s1 = withServices(s0, [changed]);
  const p1 = plan(p0.next, s1, cfg, { full: false });
  assert.equal(p1.counts.full, false);
  assert.equal(p1.counts.servicesWritten, 1);
  const { filter, nat } = tables(p1.restoreInput);
  assert.deepEqual(declared(filter), TOP_FILTER, 'filter is always rewritten completely');
  const names = serviceChainNames('ns/s7:p80', 'tcp');
  const written = declared(nat).filter((c) => !TOP_NAT.includes(c));
  // SVC, EXT and the two new SEPs; the SEP of the removed endpoint 198.18.2.8 is deleted.
  assert.ok(written.includes(names.svc) && written.includes(names.ext));
  const deleted = nat.filter((l) => l.startsWith('-X ')).map((l) => l.slice(3));
  assert.equal(deleted.length, 1);
  assert.ok(deleted[0]!.startsWith('KUBE-SEP-'));
  assert.ok(!appendedChains(nat).has(deleted[0]!));
  assert.equal(written.length, 2 + 2 + 1, 'SVC, EXT, 2 SEPs, plus the stale SEP declaration');
  for (const c of appendedChains(nat)) {
    assert.ok(TOP_NAT.includes(c) || written.includes(c), `${c} is top-level or belongs to the changed service`);
  }
  // The top-level chains still list every service.
  assert.equal(nat.filter((l) => l.startsWith('-A KUBE-SERVICES') && l.includes('cluster IP')).length, 20);
  assert.equal(nat.filter((l) => l.startsWith('-A KUBE-NODEPORTS')).length, 20);
  // Rule metrics equal those of a full sync of the same state.
  const full = plan(null, s1, cfg, { full: true });
  assert.equal(p1.counts.natRulesTotal, full.counts.natRulesTotal);
  assert.ok(p1.counts.natRulesWritten < full.counts.natRulesWritten);
});

test('a removed service: its chains are flushed and deleted, nothing else per-service', () => {
  const cfg = config();
  const s0 = base();
  const p0 = plan(null, s0, cfg, { full: true });
  const s1 = withServices(s0, [], ['ns/s3:p80/TCP']);
  const p1 = plan(p0.next, s1, cfg, { full: false });
  const { nat } = tables(p1.restoreInput);
  const own = p0.next.serviceChains.get('ns/s3:p80/TCP')!;
  assert.equal(own.length, 1 + 1 + 2); // EXT, SVC, 2 SEP (local endpoint, eTP Cluster: no SVL)
  const deleted = nat.filter((l) => l.startsWith('-X ')).map((l) => l.slice(3));
  assert.deepEqual(deleted.sort(), [...own].sort());
  assert.deepEqual(declared(nat).filter((c) => !TOP_NAT.includes(c)).sort(), [...own].sort());
  assert.equal(p1.counts.servicesWritten, 0);
  assert.ok(!p1.next.serviceChains.has('ns/s3:p80/TCP'));
  assert.doesNotMatch(p1.restoreInput, /ns\/s3:p80/);
  // Nothing left to delete on the next partial sync.
  const p2 = plan(p1.next, s1, cfg, { full: false });
  assert.doesNotMatch(p2.restoreInput, /^-X /m);
  assert.equal(declared(tables(p2.restoreInput).nat).length, TOP_NAT.length);
});

test('a chain a changed service no longer uses is deleted (SVL gone when eTP becomes Cluster)', () => {
  const cfg = config();
  const local = svc({ ns: 'a', name: 'b', clusterIP: '198.19.0.1', nodePort: 30000, eTPLocal: true, endpoints: [{ ip: '198.18.1.1', local: true }] });
  const p0 = plan(null, state([local]), cfg, { full: true });
  const names = serviceChainNames('a/b:p80', 'tcp');
  assert.match(p0.restoreInput, new RegExp(`^:${names.svl} `, 'm'));
  const cluster = svc({ ns: 'a', name: 'b', clusterIP: '198.19.0.1', nodePort: 30000, endpoints: [{ ip: '198.18.1.1', local: true }] });
  const p1 = plan(p0.next, state([cluster]), cfg, { full: false });
  assert.match(p1.restoreInput, new RegExp(`^-X ${names.svl}$`, 'm'));
  assert.doesNotMatch(p1.restoreInput, new RegExp(`^-X ${names.svc}$`, 'm'));
});

test('partial requests are upgraded to full when needed', () => {
  const cfg = config();
  const s0 = base();
  assert.equal(plan(null, s0, cfg, { full: false }).counts.full, true, 'no previous state');
  const p0 = plan(null, s0, cfg, { full: true });
  // crossing the large-cluster threshold changes every SEP chain's comments
  const big = svc({ ns: 'ns', name: 'big', clusterIP: '198.19.1.1', endpoints: Array.from({ length: 1000 }, (_, i) => ({ ip: `198.18.${10 + (i >> 8)}.${i & 255}` })) });
  const p1 = plan(p0.next, withServices(s0, [big]), cfg, { full: false });
  assert.equal(p1.counts.largeClusterMode, true);
  assert.equal(p1.counts.full, true);
  // a layout-affecting setting changed
  const p2 = plan(p0.next, s0, config({ masqueradeAll: true }), { full: false });
  assert.equal(p2.counts.full, true);
});

test('full sync: stale chains of the previous state and leftovers in the kernel are deleted', () => {
  const cfg = config();
  const s0 = base();
  const p0 = plan(null, s0, cfg, { full: true, existingNatChains: ['KUBE-SVC-AAAAAAAAAAAAAAAA', 'KUBE-SERVICES', 'DOCKER', 'KUBE-MARK-DROP'] });
  const deleted = p0.restoreInput.split('\n').filter((l) => l.startsWith('-X ')).map((l) => l.slice(3));
  assert.deepEqual(deleted, ['KUBE-SVC-AAAAAAAAAAAAAAAA'], 'only unknown service chains, never top-level or foreign chains');
  const s1 = withServices(s0, [], ['ns/s0:p80/TCP', 'ns/s1:p80/TCP']);
  const p1 = plan(p0.next, s1, cfg, { full: true });
  assert.equal(p1.counts.deletedChains, 8);
  assert.equal(p1.counts.servicesWritten, 18);
});

test('missing jump rules are inserted at position 1 inside the restore; canary declared on request', () => {
  const missing = JUMP_RULES.filter((j) => j.src === 'INPUT' || j.src === 'PREROUTING');
  const p = plan(null, base(), config(), { full: true, missingJumps: missing, canary: true });
  const { filter, nat } = tables(p.restoreInput);
  assert.deepEqual(filter.filter((l) => l.startsWith('-I ')), [
    '-I INPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
    '-I INPUT 1 -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
    '-I INPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
  ]);
  assert.deepEqual(nat.filter((l) => l.startsWith('-I ')), ['-I PREROUTING 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES']);
  assert.ok(declared(filter).includes('KUBE-PROXY-CANARY') && declared(nat).includes('KUBE-PROXY-CANARY'));
  assert.match(p.restoreInput, /\*mangle\n:KUBE-PROXY-CANARY - \[0:0\]\nCOMMIT\n$/);
});

test('partial sync at 10k services plans in well under a second', () => {
  const cfg = config();
  const services = Array.from({ length: 10000 }, (_, i) =>
    svc({ ns: 'ns', name: `s${i}`, clusterIP: `198.19.${i >> 8}.${i & 255}`, endpoints: Array.from({ length: 10 }, (_, j) => ({ ip: `198.18.${i >> 8}.${(i * 10 + j) & 255}`, port: 8000 + j })) }),
  );
  const s0 = state(services);
  const p0 = plan(null, s0, cfg, { full: true });
  const s1 = withServices(s0, [svc({ ns: 'ns', name: 's5', clusterIP: '198.19.0.5', endpoints: [{ ip: '198.18.0.1' }] })]);
  const t0 = performance.now();
  const p1 = plan(p0.next, s1, cfg, { full: false });
  const ms = performance.now() - t0;
  assert.equal(p1.counts.servicesWritten, 1);
  assert.ok(p1.restoreInput.length < p0.restoreInput.length / 5);
  assert.ok(ms < 3000, `partial plan took ${ms} ms`);
});

test('batching: per-service chains split into nat-only restores, one service never split', () => {
  const cfg = config();
  const p = plan(null, base(), cfg, { full: true, batchLines: 30 });
  assert.ok(p.batches.length > 1);
  const mainNat = tables(p.restoreInput).nat;
  assert.deepEqual(declared(mainNat), TOP_NAT, 'the main restore declares only top-level chains');
  const seen = new Set<string>();
  for (const b of p.batches) {
    const lines = b.split('\n');
    assert.equal(lines[0], '*nat');
    assert.equal(lines[1], ':KUBE-MARK-MASQ - [0:0]');
    const decl = declared(lines);
    for (const l of lines.filter((x) => x.startsWith('-A '))) {
      const target = / -j (KUBE-\S+)/.exec(l)?.[1];
      if (target && target !== 'KUBE-MARK-MASQ') assert.ok(decl.includes(target), `${target} jumped to from its own batch`);
    }
    for (const c of decl) if (c !== 'KUBE-MARK-MASQ') {
      assert.ok(!seen.has(c));
      seen.add(c);
    }
  }
  const single = plan(null, base(), cfg, { full: true });
  assert.equal(seen.size, single.counts.natChainsWritten);
  assert.equal(p.counts.natRulesTotal, single.counts.natRulesTotal);
  assert.equal(p.counts.natRulesWritten, single.counts.natRulesWritten);
  // Small enough for one batch: inlined, no extra restore.
  assert.equal(plan(null, base(), cfg, { full: true, batchLines: 100000 }).batches.length, 0);
});
