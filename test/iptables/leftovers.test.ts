// The shared cleanup planner of iptables leftovers (src/kernel/iptables/cleanup.ts): pure, on
// iptables-save text. Kernel behaviour is covered by test/lifecycle/cleanup.test.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isOurChain, planLeftoverCleanup } from '../../src/dataplane/shared/iptables-cleanup.js';
import { iptablesOwnedBy } from '../../src/dataplane/ownership.js';

// What IPVS mode leaves in filter: its jump to KUBE-PROXY-FIREWALL has no ctstate match, unlike
// iptables mode's — the bug where iptables-mode cleanup removed only its own jumps and the chain
// delete failed with EBUSY.
const IPVS_FILTER = [
  '*filter',
  ':INPUT ACCEPT [0:0]',
  ':FORWARD ACCEPT [0:0]',
  ':OUTPUT ACCEPT [0:0]',
  ':KUBE-FIREWALL - [0:0]',
  ':KUBE-PROXY-FIREWALL - [0:0]',
  ':KUBE-SOURCE-RANGES-FIREWALL - [0:0]',
  ':KUBE-IPVS-FILTER - [0:0]',
  '-A INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL',
  '-A INPUT -j KUBE-FIREWALL',
  '-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER',
  '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -j DROP',
  '-A KUBE-PROXY-FIREWALL -m set --match-set KUBE-LOAD-BALANCER-FW dst,dst -j KUBE-SOURCE-RANGES-FIREWALL',
  'COMMIT',
];
const MIXED_NAT = [
  '*nat',
  ':PREROUTING ACCEPT [0:0]',
  ':POSTROUTING ACCEPT [0:0]',
  ':KUBE-SERVICES - [0:0]',
  ':KUBE-MARK-MASQ - [0:0]',
  ':KUBE-NODE-PORT - [0:0]',
  ':KUBE-SVC-ABCDEFGHIJKLMNOP - [0:0]',
  ':CNI-CHAIN - [0:0]',
  '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
  '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
  '-A PREROUTING -j CNI-CHAIN',
  '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT',
  '-A KUBE-NODE-PORT -p tcp -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ',
  'COMMIT',
];

test('ours: both modes\' chains and service chains; never kubelet\'s or foreign ones', () => {
  for (const [t, c] of [['nat', 'KUBE-MARK-MASQ'], ['nat', 'KUBE-LOAD-BALANCER'], ['filter', 'KUBE-IPVS-OUT-FILTER'], ['nat', 'KUBE-SEP-ABCDEFGHIJKLMNOP'], ['mangle', 'KUBE-PROXY-CANARY']] as const) {
    assert.ok(isOurChain(t, c), `${t}/${c}`);
  }
  for (const [t, c] of [['filter', 'KUBE-FIREWALL'], ['mangle', 'KUBE-KUBELET-CANARY'], ['mangle', 'KUBE-IPTABLES-HINT'], ['nat', 'KUBE-MARK-DROP'], ['nat', 'CNI-CHAIN']] as const) {
    assert.ok(!isOurChain(t, c), `${t}/${c}`);
  }
});

test('one block per table: flush ours, delete every jump to ours from built-in chains (duplicates too), delete ours', () => {
  const p = planLeftoverCleanup([...MIXED_NAT, ...IPVS_FILTER].join('\n'));
  assert.deepEqual(p.kept, []);
  assert.equal(
    p.restore,
    [
      '*nat',
      ':KUBE-SERVICES - [0:0]',
      ':KUBE-MARK-MASQ - [0:0]',
      ':KUBE-NODE-PORT - [0:0]',
      ':KUBE-SVC-ABCDEFGHIJKLMNOP - [0:0]',
      '-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-X KUBE-SERVICES',
      '-X KUBE-MARK-MASQ',
      '-X KUBE-NODE-PORT',
      '-X KUBE-SVC-ABCDEFGHIJKLMNOP',
      'COMMIT',
      '*filter',
      ':KUBE-PROXY-FIREWALL - [0:0]',
      ':KUBE-SOURCE-RANGES-FIREWALL - [0:0]',
      ':KUBE-IPVS-FILTER - [0:0]',
      '-D INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL',
      '-D INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER',
      '-X KUBE-PROXY-FIREWALL',
      '-X KUBE-SOURCE-RANGES-FIREWALL',
      '-X KUBE-IPVS-FILTER',
      'COMMIT',
      '',
    ].join('\n'),
  );
});

test('a chain of ours that a foreign chain jumps to is kept, with what it reaches', () => {
  const save = ['*nat', ':KUBE-MARK-MASQ - [0:0]', ':KUBE-SERVICES - [0:0]', ':KUBE-MARK-DROP - [0:0]', '-A KUBE-MARK-DROP -j KUBE-MARK-MASQ', 'COMMIT'].join('\n');
  const p = planLeftoverCleanup(save);
  assert.deepEqual(p.kept, ['nat/KUBE-MARK-MASQ']);
  assert.equal(p.restore, '*nat\n:KUBE-SERVICES - [0:0]\n-X KUBE-SERVICES\nCOMMIT\n');
});

test('nothing of ours (e.g. a second run, or only kubelet chains): empty plan', () => {
  assert.equal(planLeftoverCleanup(['*filter', ':INPUT ACCEPT [0:0]', ':KUBE-FIREWALL - [0:0]', '-A INPUT -j KUBE-FIREWALL', 'COMMIT'].join('\n')).restore, '');
  assert.equal(planLeftoverCleanup('').restore, '');
});

test('mode switch ipvs -> iptables: the running mode\'s chains and jumps stay, IPVS-only chains and IPVS-style jumps go', () => {
  const keep = iptablesOwnedBy('iptables')!;
  const save = [
    ...IPVS_FILTER.slice(0, -1),
    ':KUBE-SERVICES - [0:0]',
    '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    'COMMIT',
  ].join('\n');
  const p = planLeftoverCleanup(save, keep);
  // KUBE-PROXY-FIREWALL (iptables mode's now) still jumps to KUBE-SOURCE-RANGES-FIREWALL in this
  // text, so that one stays; in a real switch iptables mode's first sync has rewritten it already.
  assert.deepEqual(p.kept, ['filter/KUBE-SOURCE-RANGES-FIREWALL']);
  assert.equal(
    p.restore,
    [
      '*filter',
      ':KUBE-IPVS-FILTER - [0:0]',
      '-D INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL',
      '-D INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER',
      '-X KUBE-IPVS-FILTER',
      'COMMIT',
      '',
    ].join('\n'),
  );
});
