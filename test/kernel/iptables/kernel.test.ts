// Kernel tests: every iptables command runs inside a fresh `kpx-ipt-<random>` namespace, with
// both backends (iptables-nft-restore and iptables-legacy-restore). Test addresses are from
// 198.18.0.0/15 and 2001:db8::/32 only.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createIptablesDataplane } from '../../../src/dataplane/iptables/index.js';
import { detectBackend, netnsRunner, type Backend } from '../../../src/kernel/iptables/tools.js';
import { metrics } from '../../../src/metrics/metrics.js';
import type { ProxyState } from '../../../src/model/types.js';
import { canRunKernelTests, config, deleteNetns, inNs, makeNetns, sortRules, state, svc, withServices } from '../../iptables/helpers.js';

const skip = await canRunKernelTests();
const BACKENDS: Backend[] = ['nft', 'legacy'];

/** TestOverallIPTablesRules' shapes, with test-range addresses. */
function scenario(): ProxyState {
  return state(
    [
      svc({ ns: 'ns1', name: 'svc1', clusterIP: '198.19.0.41', endpoints: [{ ip: '198.18.100.1' }] }),
      svc({
        ns: 'ns2', name: 'svc2', clusterIP: '198.19.0.42', nodePort: 30001, lbIPs: ['198.18.200.4'],
        externalIPs: ['198.18.99.22'], eTPLocal: true, healthCheckNodePort: 30000, endpoints: [{ ip: '198.18.100.2' }],
      }),
      svc({ ns: 'ns3', name: 'svc3', clusterIP: '198.19.0.43', nodePort: 30003, endpoints: [{ ip: '198.18.100.3' }] }),
      svc({
        ns: 'ns4', name: 'svc4', clusterIP: '198.19.0.44', externalIPs: ['198.18.99.33'],
        endpoints: [{ ip: '198.18.100.4' }, { ip: '198.18.100.5', local: true }],
      }),
      svc({
        ns: 'ns5', name: 'svc5', clusterIP: '198.19.0.45', nodePort: 30002, lbIPs: ['198.18.200.8'],
        sourceRanges: ['198.18.113.0/25', '198.18.0.0/24'], affinity: 10800, endpoints: [{ ip: '198.18.100.3' }, { ip: '198.18.100.6' }],
      }),
      svc({ ns: 'ns6', name: 'svc6', clusterIP: '198.19.0.46', protocol: 'UDP', portName: 'dns', port: 53 }),
      svc({ ns: 'ns7', name: 'svc7', clusterIP: '198.19.0.47', iTPLocal: true, endpoints: [{ ip: '198.18.100.7', local: true }] }),
      svc({ ns: 'ns8', name: 'svc8', clusterIP: '198.19.0.48', protocol: 'SCTP', port: 9000, endpoints: [{ ip: '198.18.100.8' }] }),
    ],
    { nodeIPs: ['198.18.0.1'] },
  );
}

async function save(ns: string, backend: Backend, family: 'IPv4' | 'IPv6' = 'IPv4'): Promise<string> {
  const tool = family === 'IPv4' ? `iptables-${backend}-save` : `ip6tables-${backend}-save`;
  return sortRules(await inNs(ns, tool, []), { onlyKube: true });
}

async function withNs<T>(fn: (ns: string) => Promise<T>): Promise<T> {
  const ns = await makeNetns();
  try {
    return await fn(ns);
  } finally {
    await deleteNetns(ns);
  }
}

function count(text: string, re: RegExp): number {
  return text.split('\n').filter((l) => re.test(l)).length;
}

for (const backend of BACKENDS) {
  test(`[${backend}] full sync loads; jump rules inserted once; idempotent full resync`, { skip }, () =>
    withNs(async (ns) => {
      const dp = createIptablesDataplane(config(), { backend, netns: ns, conntrackTCPLiberal: false });
      const r = await dp.sync(scenario(), { full: true });
      assert.equal(r.full, true);
      const s1 = await save(ns, backend);
      assert.match(s1, /-A KUBE-SERVICES -d 198\.19\.0\.41\/32 -p tcp -m comment --comment "ns1\/svc1:p80 cluster IP" -m tcp --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O/);
      assert.match(s1, /-j MASQUERADE --random-fully/);
      assert.match(s1, /--mark 0x4000\/0x4000/);
      assert.match(s1, /-A KUBE-FW-\w+ -s 198\.18\.200\.8\/32 .*-j KUBE-EXT-/, 'node IP inside a source range allows the LB IP as source');
      assert.match(s1, /-p sctp .*-m sctp --dport 9000/);
      assert.equal(count(s1, /^-A PREROUTING .*-j KUBE-SERVICES$/), 1);
      assert.equal(count(s1, /^-A INPUT .*-j KUBE-FIREWALL$/), 1);
      const raw = await inNs(ns, `iptables-${backend}-save`, ['-t', 'filter']);
      // Upstream prepends each jump in list order: the last one listed ends up first.
      const input = raw.split('\n').filter((l) => l.startsWith('-A INPUT'));
      assert.deepEqual(
        input.map((l) => l.replace(/.* -j /, '')),
        ['KUBE-FIREWALL', 'KUBE-PROXY-FIREWALL', 'KUBE-NODEPORTS', 'KUBE-EXTERNAL-SERVICES'],
      );
      for (const t of ['mangle', 'nat', 'filter']) await inNs(ns, `iptables-${backend}`, ['-w', '5', '-t', t, '-S', 'KUBE-PROXY-CANARY']);

      await dp.sync(scenario(), { full: true });
      assert.equal(await save(ns, backend), s1, 'a second full sync changes nothing and adds no duplicate jumps');
      assert.equal(await dp.detectDrift(), false);
    }),
  );

  test(`[${backend}] incremental syncs end where a fresh full sync of the final state does`, { skip }, () =>
    withNs(async (nsA) =>
      withNs(async (nsB) => {
        const dp = createIptablesDataplane(config(), { backend, netns: nsA, conntrackTCPLiberal: false });
        let st = scenario();
        await dp.sync(st, { full: true });
        const steps: Array<(s: ProxyState) => ProxyState> = [
          // one endpoint added
          (s) => withServices(s, [svc({ ns: 'ns1', name: 'svc1', clusterIP: '198.19.0.41', endpoints: [{ ip: '198.18.100.1' }, { ip: '198.18.100.9' }] })]),
          // service removed
          (s) => withServices(s, [], ['ns3/svc3:p80/TCP']),
          // eTP Local gets a local endpoint (SVL appears), affinity dropped elsewhere
          (s) =>
            withServices(s, [
              svc({
                ns: 'ns2', name: 'svc2', clusterIP: '198.19.0.42', nodePort: 30001, lbIPs: ['198.18.200.4'], externalIPs: ['198.18.99.22'],
                eTPLocal: true, healthCheckNodePort: 30000, endpoints: [{ ip: '198.18.100.2' }, { ip: '198.18.100.12', local: true }],
              }),
              svc({ ns: 'ns5', name: 'svc5', clusterIP: '198.19.0.45', nodePort: 30002, lbIPs: ['198.18.200.8'], endpoints: [{ ip: '198.18.100.6' }] }),
            ]),
          // endpoints gone (REJECT), new service added
          (s) =>
            withServices(s, [
              svc({ ns: 'ns4', name: 'svc4', clusterIP: '198.19.0.44', externalIPs: ['198.18.99.33'] }),
              svc({ ns: 'ns9', name: 'svc9', clusterIP: '198.19.0.49', nodePort: 30009, endpoints: [{ ip: '198.18.100.90' }, { ip: '198.18.100.91' }] }),
            ]),
          // nothing changed
          (s) => ({ ...s, generation: s.generation + 1 }),
        ];
        for (const step of steps) {
          st = step(st);
          const r = await dp.sync(st, { full: false });
          assert.equal(r.full, false);
        }
        const fresh = createIptablesDataplane(config(), { backend, netns: nsB, conntrackTCPLiberal: false });
        await fresh.sync(st, { full: true });
        assert.equal(await save(nsA, backend), await save(nsB, backend));
        const final = await save(nsA, backend);
        assert.doesNotMatch(final, /ns3\/svc3/, 'removed service chains are gone');
        assert.doesNotMatch(final, /KUBE-SVC-4SW47YFZTEDKD3PK/, 'svc4 lost its endpoints: no SVC chain left');
        assert.match(final, /"ns4\/svc4:p80 has no endpoints" .*-j REJECT/);
      }),
    ),
  );

  test(`[${backend}] batched per-service restores give the same tables as one restore`, { skip }, () =>
    withNs(async (nsA) =>
      withNs(async (nsB) => {
        const batched = createIptablesDataplane(config(), { backend, netns: nsA, conntrackTCPLiberal: false, batchLines: 40 });
        const single = createIptablesDataplane(config(), { backend, netns: nsB, conntrackTCPLiberal: false, batchLines: 0 });
        let st = scenario();
        const r = await batched.sync(st, { full: true });
        assert.ok(r.operations > 0);
        await single.sync(st, { full: true });
        assert.equal(await save(nsA, backend), await save(nsB, backend));
        // and incrementally: a removal and a change, in batches too
        st = withServices(st, [svc({ ns: 'ns1', name: 'svc1', clusterIP: '198.19.0.41', endpoints: [{ ip: '198.18.100.77' }] })], ['ns4/svc4:p80/TCP']);
        await batched.sync(st, { full: false });
        await single.sync(st, { full: false });
        assert.equal(await save(nsA, backend), await save(nsB, backend));
        assert.doesNotMatch(await save(nsA, backend), /ns4\/svc4/);
      }),
    ),
  );

  test(`[${backend}] a failing restore keeps the previous rules and forces a full sync`, { skip }, () =>
    withNs(async (ns) => {
      const dp = createIptablesDataplane(config(), { backend, netns: ns, conntrackTCPLiberal: false });
      const st = scenario();
      await dp.sync(st, { full: true });
      const before = await save(ns, backend);
      const failures = async (): Promise<[number, number]> => {
        const a = (await metrics.iptablesRestoreFailuresTotal.get()).values.find((v) => v.labels.ip_family === 'IPv4')?.value ?? 0;
        const b = (await metrics.iptablesPartialRestoreFailuresTotal.get()).values.find((v) => v.labels.ip_family === 'IPv4')?.value ?? 0;
        return [a, b];
      };
      const [f0, p0] = await failures();
      // An address iptables cannot parse makes iptables-restore reject the whole input.
      const bad = withServices(st, [svc({ ns: 'ns1', name: 'svc1', clusterIP: '198.19.0.300', endpoints: [{ ip: '198.18.100.1' }] })]);
      await assert.rejects(dp.sync(bad, { full: false }), /iptables-restore failed/);
      assert.equal(await save(ns, backend), before);
      const [f1, p1] = await failures();
      assert.equal(f1, f0 + 1);
      assert.equal(p1, p0 + 1);
      const r = await dp.sync(st, { full: false });
      assert.equal(r.full, true, 'the sync after a failure is full');
      assert.equal(await save(ns, backend), before);
    }),
  );

  test(`[${backend}] drift: nat flush and filter flush are detected and repaired`, { skip }, () =>
    withNs(async (ns) => {
      const dp = createIptablesDataplane(config(), { backend, netns: ns, conntrackTCPLiberal: false });
      const st = scenario();
      await dp.sync(st, { full: true });
      const good = await save(ns, backend);
      assert.equal(await dp.detectDrift(), false);
      for (const table of ['nat', 'filter', 'mangle']) {
        await inNs(ns, `iptables-${backend}`, ['-w', '5', '-t', table, '-F']);
        if (table === 'mangle') await inNs(ns, `iptables-${backend}`, ['-w', '5', '-t', table, '-X']);
        assert.equal(await dp.detectDrift(), true, `flush of ${table} detected`);
        const r = await dp.sync(st, { full: false });
        assert.equal(r.full, true);
        assert.equal(await save(ns, backend), good, `rules repaired after flushing ${table}`);
        assert.equal(await dp.detectDrift(), false);
      }
    }),
  );

  test(`[${backend}] first sync deletes leftover service chains; cleanup removes ours`, { skip }, () =>
    withNs(async (ns) => {
      await inNs(ns, `iptables-${backend}-restore`, ['-w', '5', '--noflush'], '*nat\n:KUBE-SVC-LEFTOVER0000000 - [0:0]\n:KUBE-SEP-LEFTOVER0000000 - [0:0]\n-A KUBE-SVC-LEFTOVER0000000 -j KUBE-SEP-LEFTOVER0000000\n:OTHER-CHAIN - [0:0]\nCOMMIT\n');
      const dp = createIptablesDataplane(config(), { backend, netns: ns, conntrackTCPLiberal: false });
      await dp.sync(scenario(), { full: true });
      let all = await inNs(ns, `iptables-${backend}-save`, []);
      assert.doesNotMatch(all, /LEFTOVER/);
      assert.match(all, /:OTHER-CHAIN/, 'chains that are not ours stay');

      await dp.cleanup();
      all = await inNs(ns, `iptables-${backend}-save`, []);
      for (const c of ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ', 'KUBE-EXT-', 'KUBE-SVC-', 'KUBE-SEP-', 'KUBE-FORWARD', 'KUBE-PROXY-CANARY', 'KUBE-PROXY-FIREWALL', 'KUBE-EXTERNAL-SERVICES']) {
        assert.ok(!all.includes(c), `${c} removed`);
      }
      assert.match(all, /:KUBE-FIREWALL/, "kubelet's KUBE-FIREWALL is never deleted");
      assert.match(all, /:OTHER-CHAIN/);
    }),
  );

  test(`[${backend}] IPv6 full and partial syncs with ip6tables`, { skip }, () =>
    withNs(async (ns) => {
      const cfg = config({ family: 'IPv6' });
      const dp = createIptablesDataplane(cfg, { backend, netns: ns, conntrackTCPLiberal: false });
      let st = state(
        [
          svc({ ns: 'ns1', name: 'svc1', clusterIP: '2001:db8:1::20', nodePort: 30001, eTPLocal: true, endpoints: [{ ip: '2001:db8:2::c1' }, { ip: '2001:db8:2::c2', local: true }] }),
          svc({ ns: 'ns2', name: 'svc2', clusterIP: '2001:db8:1::21', affinity: 60, lbIPs: ['2001:db8:3::1'], sourceRanges: ['2001:db8::/64'], nodePort: 30002, endpoints: [{ ip: '2001:db8:2::d1' }] }),
        ],
        { family: 'IPv6', nodeIPs: ['2001:db8::1'] },
      );
      await dp.sync(st, { full: true });
      const s = await save(ns, backend, 'IPv6');
      assert.match(s, /-j DNAT --to-destination \[2001:db8:2::c1\]:80/);
      assert.match(s, /! -d ::1\/128 .*-j KUBE-NODEPORTS/);
      assert.match(s, /-A KUBE-FW-\w+ -s 2001:db8:3::1\/128 .*-j KUBE-EXT-/);
      assert.doesNotMatch(s, /KUBE-FIREWALL/);
      st = withServices(st, [], ['ns2/svc2:p80/TCP']);
      const r = await dp.sync(st, { full: false });
      assert.equal(r.full, false);
      assert.doesNotMatch(await save(ns, backend, 'IPv6'), /ns2\/svc2/);
    }),
  );
}

test('backend detection: kubelet canary / hint chain, then rule counts, default nft', { skip }, async () => {
  const saved = process.env.KPX_IPTABLES_BACKEND;
  delete process.env.KPX_IPTABLES_BACKEND;
  try {
    await withNs(async (ns) => {
      assert.equal(await detectBackend(netnsRunner(ns)), 'nft', 'empty: nft');
      await inNs(ns, 'iptables-legacy-restore', ['-w', '5', '--noflush'], '*mangle\n:KUBE-KUBELET-CANARY - [0:0]\nCOMMIT\n');
      assert.equal(await detectBackend(netnsRunner(ns)), 'legacy', "kubelet's canary in legacy");
      await inNs(ns, 'iptables-nft-restore', ['-w', '5', '--noflush'], '*mangle\n:KUBE-IPTABLES-HINT - [0:0]\nCOMMIT\n');
      assert.equal(await detectBackend(netnsRunner(ns)), 'nft', 'the nft hint wins, as in iptables-wrapper');
    });
    await withNs(async (ns) => {
      const rules = Array.from({ length: 12 }, (_, i) => `-A INPUT -s 198.18.0.${i + 1}/32 -j ACCEPT`).join('\n');
      await inNs(ns, 'iptables-legacy-restore', ['-w', '5', '--noflush'], `*filter\n${rules}\nCOMMIT\n`);
      assert.equal(await detectBackend(netnsRunner(ns)), 'legacy', 'more rules in legacy');
    });
    process.env.KPX_IPTABLES_BACKEND = 'legacy';
    assert.equal(await detectBackend(netnsRunner('kpx-ipt-unused')), 'legacy', 'environment override');
  } finally {
    if (saved === undefined) delete process.env.KPX_IPTABLES_BACKEND;
    else process.env.KPX_IPTABLES_BACKEND = saved;
  }
});

test('cleanup with auto backend removes leftovers from both backends and creates no legacy tables', { skip }, () =>
  withNs(async (ns) => {
    const legacy = createIptablesDataplane(config(), { backend: 'legacy', netns: ns, conntrackTCPLiberal: false });
    await legacy.sync(scenario(), { full: true });
    const auto = createIptablesDataplane(config(), { backend: 'auto', netns: ns, conntrackTCPLiberal: false });
    await auto.cleanup();
    const after = await inNs(ns, 'iptables-legacy-save', []);
    assert.doesNotMatch(after, /KUBE-(SERVICES|SVC-|SEP-|NODEPORTS|POSTROUTING|FORWARD|PROXY-CANARY)/);
    await withNs(async (ns2) => {
      const nft = createIptablesDataplane(config(), { backend: 'nft', netns: ns2, conntrackTCPLiberal: false });
      await nft.sync(scenario(), { full: true });
      await createIptablesDataplane(config(), { netns: ns2 }).cleanup();
      assert.equal((await inNs(ns2, 'iptables-legacy-save', [])).trim(), '', 'no legacy table was created');
      assert.doesNotMatch(await inNs(ns2, 'iptables-nft-save', []), /KUBE-SERVICES/);
    });
  }),
);

test('backend detection creates no legacy tables', { skip }, async () => {
  const saved = process.env.KPX_IPTABLES_BACKEND;
  delete process.env.KPX_IPTABLES_BACKEND;
  try {
    await withNs(async (ns) => {
      assert.equal(await detectBackend(netnsRunner(ns)), 'nft');
      assert.equal((await inNs(ns, 'iptables-legacy-save', [])).trim(), '');
    });
  } finally {
    if (saved !== undefined) process.env.KPX_IPTABLES_BACKEND = saved;
  }
});
