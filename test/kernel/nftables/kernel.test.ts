// Kernel tests: real `nft -f` inside a throw-away network namespace (never the root one).
// The Dataplane is pointed at the namespace through the KPX_TOOL_NFT wrapper hook of util/exec.

import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNftablesDataplane } from '../../../src/dataplane/nftables/index.js';
import { planFull } from '../../../src/dataplane/nftables/planner.js';
import { metrics } from '../../../src/metrics/metrics.js';
import type { ProxyState, ServicePort } from '../../../src/model/types.js';
import type { DataplaneConfig } from '../../../src/dataplane/config.js';
import { cases } from '../../nftables/cases.js';
import { config, ep, sp, state } from '../../nftables/fixtures.js';
import { canRunKernelTests, createNetns, type Netns } from '../../nftables/netns.js';
import { normalizeTable } from '../../../src/dryrun/nftables.js';
import { type ToolRunner, realRunner } from '../../../src/kernel/runner.js';
import { nftSessionFactory, type NftStreamFactory } from '../../../src/kernel/nftables/session.js';

const skip = canRunKernelTests() ? false : 'needs root for network namespaces';

describe('nftables in the kernel', { skip }, () => {
  let ns: Netns;
  let fresh: Netns;
  let dir: string;

  before(async () => {
    ns = await createNetns('nft');
    fresh = await createNetns('nftf');
    dir = mkdtempSync(join(tmpdir(), 'kpx-nft-'));
    const wrapper = join(dir, 'nft');
    // Every nft the Dataplane runs goes into the test namespace.
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns.name} nft "$@"\n`);
    chmodSync(wrapper, 0o755);
    process.env.KPX_TOOL_NFT = wrapper;
  });
  after(async () => {
    delete process.env.KPX_TOOL_NFT;
    await ns?.destroy();
    await fresh?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function listing(n: Netns, fam = 'ip'): Promise<string> {
    return (await n.nft(['list', 'table', fam, 'kube-proxy'])).stdout;
  }

  /** The kernel table of `ns` equals a fresh full load of `st` in another namespace. */
  async function assertEqualsFresh(st: ProxyState, cfg: DataplaneConfig, what: string): Promise<void> {
    await fresh.nft(['-f', '-'], planFull(st, cfg).script);
    const fam = st.family === 'IPv6' ? 'ip6' : 'ip';
    assert.equal(normalizeTable(await listing(ns, fam)), normalizeTable(await listing(fresh, fam)), what);
  }

  for (const c of cases) {
    test(`golden case loads: ${c.name}`, async () => {
      await fresh.nft(['-f', '-'], planFull(c.state, c.cfg).script);
      // Loading twice replaces the table in one transaction.
      await fresh.nft(['-f', '-'], planFull(c.state, c.cfg).script);
      const fam = c.state.family === 'IPv6' ? 'ip6' : 'ip';
      const out = await listing(fresh, fam);
      assert.match(out, /chain nat-prerouting/);
      assert.doesNotMatch(normalizeTable(out), /MISSING/);
    });
  }

  test('incremental sequence leaves the kernel equal to a fresh full load', async () => {
    const cfg = config();
    const dp = createNftablesDataplane(cfg);
    await dp.cleanup();
    const local = { isLocal: true, nodeName: 'node-a' };
    const a0 = sp('ns', 'a', { endpoints: [ep('198.18.100.2'), ep('198.18.100.3')] });
    const b0 = sp('ns', 'b', { clusterIP: '198.19.0.2', nodePort: 30001, endpoints: [ep('198.18.100.4')] });
    const steps: [string, ServicePort[]][] = [
      ['initial', [a0]],
      ['add service', [a0, b0]],
      ['add endpoint', [sp('ns', 'a', { endpoints: [ep('198.18.100.2'), ep('198.18.100.3'), ep('198.18.100.5')] }), b0]],
      ['remove endpoint', [sp('ns', 'a', { endpoints: [ep('198.18.100.5'), ep('198.18.100.3')] }), b0]],
      ['grow beyond capacity', [sp('ns', 'a', { endpoints: ['2', '3', '5', '6', '7'].map((x) => ep(`198.18.100.${x}`)) }), b0]],
      ['no endpoints', [sp('ns', 'a', {}), b0]],
      ['endpoints back', [a0, b0]],
      ['eTP Local', [a0, sp('ns', 'b', { clusterIP: '198.19.0.2', nodePort: 30001, externalPolicyLocal: true, endpoints: [ep('198.18.100.4', local)] })]],
      ['eTP Local, no local endpoints', [a0, sp('ns', 'b', { clusterIP: '198.19.0.2', nodePort: 30001, externalPolicyLocal: true, endpoints: [ep('198.18.100.4')] })]],
      ['affinity on', [sp('ns', 'a', { affinityTimeoutSeconds: 100, endpoints: [ep('198.18.100.2'), ep('198.18.100.3')] }), b0]],
      ['affinity timeout', [sp('ns', 'a', { affinityTimeoutSeconds: 200, endpoints: [ep('198.18.100.2'), ep('198.18.100.9')] }), b0]],
      ['affinity off', [a0, b0]],
      ['LB with source ranges', [a0, sp('ns', 'b', { clusterIP: '198.19.0.2', loadBalancerIPs: ['198.18.50.1'], loadBalancerSourceRanges: ['198.18.0.0/24'], endpoints: [ep('198.18.100.4')] })]],
      ['remove service', [a0]],
      ['remove all', []],
    ];
    let first = true;
    for (const [what, svcs] of steps) {
      const st = state(svcs);
      const r = await dp.sync(st, { full: false });
      assert.equal(r.full, first, what);
      first = false;
      await assertEqualsFresh(st, cfg, what);
    }
  });

  test('every service port is findable by name in `nft list ruleset` (element comments), also after an endpoint change', async () => {
    const cfg = config();
    const dp = createNftablesDataplane(cfg);
    await dp.cleanup();
    const a = sp('web-ns', 'frontend', { portName: 'http', endpoints: [ep('198.18.100.2')] });
    const b = sp('db-ns', 'postgres', { clusterIP: '198.19.0.2', nodePort: 30002, endpoints: [ep('198.18.100.4')] });
    await dp.sync(state([a, b]), { full: true });
    const grep = async (needle: string): Promise<string[]> => (await ns.nft(['list', 'ruleset'])).stdout.split('\n').filter((l) => l.includes(needle));
    assert.match((await grep('web-ns/frontend')).join('\n'), /198\.19\.0\.1 \. tcp \. 80 comment "web-ns\/frontend:http" : goto dnat-tcp-1/);
    assert.match((await grep('db-ns/postgres')).join('\n'), /tcp \. 30002 comment "db-ns\/postgres:p" : goto np-dnat-tcp-1/);
    // Endpoint count changes move the dispatch element to another shared chain: the comment moves along.
    const r = await dp.sync(state([sp('web-ns', 'frontend', { portName: 'http', endpoints: [ep('198.18.100.2'), ep('198.18.100.3')] }), b]), { full: false });
    assert.equal(r.full, false);
    assert.match((await grep('web-ns/frontend')).join('\n'), /comment "web-ns\/frontend:http" : goto dnat-tcp-2/);
    await dp.close?.();
  });

  test('ServiceCIDRs: the drop rule for unallocated ClusterIPs follows the ranges', async () => {
    const cfg = config();
    const dp = createNftablesDataplane(cfg);
    await dp.cleanup();
    const a = sp('ns', 'a', { endpoints: [ep('198.18.100.2')] });
    const rule = async (): Promise<string> => (await listing(ns)).split('\n').filter((l) => l.includes('unallocated')).join('\n').trim();
    await dp.sync(state([a]), { full: false });
    assert.equal(await rule(), '', 'no ServiceCIDRs known: no drop rule (as upstream)');
    await dp.sync(state([a], { serviceCIDRs: ['198.19.0.0/16', '198.18.64.0/24'] }), { full: false });
    assert.match(await rule(), /ip daddr \{ 198\.18\.64\.0\/24, 198\.19\.0\.0\/16 \} drop comment "Drop traffic to unallocated ClusterIPs"/);
    await dp.sync(state([a]), { full: false });
    assert.equal(await rule(), '', 'ranges gone: rule gone');
    await dp.close?.();
  });

  test('1000 services: built incrementally equals a fresh full load', async () => {
    const cfg = config();
    const dp = createNftablesDataplane(cfg);
    const mk = (i: number, n: number): ServicePort =>
      sp('ns', `s${i}`, {
        clusterIP: `198.19.${i >> 8}.${i & 255}`,
        nodePort: i % 10 === 0 ? 30000 + i : 0,
        endpoints: Array.from({ length: n }, (_, j) => ep(`198.18.${100 + j}.${i & 255}`, { port: 8000 + (i >> 8) })),
      });
    let svcs = Array.from({ length: 500 }, (_, i) => mk(i, 1 + (i % 4)));
    await dp.sync(state(svcs), { full: true });
    // Add 500 more in batches, then churn endpoints and delete some.
    for (let batch = 0; batch < 5; batch++) {
      svcs = [...svcs, ...Array.from({ length: 100 }, (_, k) => mk(500 + batch * 100 + k, 2))];
      const r = await dp.sync(state(svcs), { full: false });
      assert.equal(r.full, false);
    }
    svcs = svcs.map((s, i) => (i % 7 === 0 ? mk(i, 1 + ((i + 3) % 6)) : s)).filter((_, i) => i % 13 !== 5);
    const r = await dp.sync(state(svcs), { full: false });
    assert.equal(r.full, false);
    assert.equal(svcs.length, 1000 - 77);
    await assertEqualsFresh(state(svcs), cfg, '1000 services');
  });

  test('a service growing past a map page and shrinking back, incrementally', async () => {
    const cfg = config();
    const dp = createNftablesDataplane(cfg);
    const other = sp('ns', 'other', { clusterIP: '198.19.0.9', protocol: 'UDP', endpoints: [ep('198.18.100.9')] });
    const eps = (n: number) => Array.from({ length: n }, (_, j) => ep(`198.18.${200 + (j >> 8)}.${j & 255}`, { port: 53 }));
    const big = (n: number) => sp('ns', 'big', { clusterIP: '198.19.0.1', protocol: 'UDP', endpoints: eps(n) });
    await dp.sync(state([big(3), other]), { full: true });
    for (const n of [1500, 1501, 40, 2]) {
      const st = state([big(n), other]);
      assert.equal((await dp.sync(st, { full: false })).full, false);
      await assertEqualsFresh(st, cfg, `${n} endpoints`);
    }
  });

  test('a broken transaction leaves the previous ruleset untouched and forces a full sync', async () => {
    const cfg = config();
    const dp = createNftablesDataplane(cfg);
    const good = state([sp('ns', 'a', { endpoints: [ep('198.18.100.2')] })]);
    await dp.sync(good, { full: true });
    const before = await listing(ns);
    const failuresBefore = (await metrics.nftablesSyncFailuresTotal.get()).values.find((v) => v.labels.ip_family === 'IPv4')?.value ?? 0;
    const bad = state([sp('ns', 'a', { endpoints: [ep('198.18.100.2')] }), sp('ns', 'bad', { clusterIP: '198.19.0.300', endpoints: [ep('198.18.100.3')] })]);
    await assert.rejects(dp.sync(bad, { full: false }), /nftables sync failed \(IPv4\): .*198\.19\.0\.300/s);
    assert.equal(await listing(ns), before);
    const failuresAfter = (await metrics.nftablesSyncFailuresTotal.get()).values.find((v) => v.labels.ip_family === 'IPv4')?.value ?? 0;
    assert.equal(failuresAfter, failuresBefore + 1);
    const r = await dp.sync(good, { full: false });
    assert.equal(r.full, true);
    await assertEqualsFresh(good, cfg, 'after recovery');
  });

  test('incremental syncs use one persistent nft -i; a killed one is replaced; close() ends it', async () => {
    const cfg = config();
    const dp = createNftablesDataplane(cfg);
    const one = state([sp('ns', 'a', { endpoints: [ep('198.18.100.2')] })]);
    const two = state([sp('ns', 'a', { endpoints: [ep('198.18.100.2'), ep('198.18.100.3')] })]);
    await dp.sync(one, { full: true });
    assert.equal((await dp.sync(two, { full: false })).full, false);
    // Only this file's Dataplanes run processes in the test namespace: their idle sessions.
    for (const pid of ns.pidsSync()) process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(ns.pidsSync(), []);
    // An idle session that died costs nothing but a restart: the next change is still incremental.
    const r = await dp.sync(one, { full: false });
    assert.equal(r.full, false);
    await assertEqualsFresh(one, cfg, 'after the session was replaced');
    const pids = ns.pidsSync();
    assert.equal(pids.length, 1, 'one nft -i');
    assert.match(readFileSync(`/proc/${pids[0]}/cmdline`, 'utf8'), /nft\0-i\0/);
    await dp.close?.();
    assert.deepEqual(ns.pidsSync(), [], 'close() waits for nft to exit');
    assert.equal((await dp.sync(two, { full: false })).full, false, 'a closed Dataplane starts a new session when used again');
    await dp.close?.();
  });

  test('drift: flush ruleset, flush table and delete table are detected', async () => {
    const cfg = config();
    const dp = createNftablesDataplane(cfg);
    const st = state([sp('ns', 'a', { endpoints: [ep('198.18.100.2')] })]);
    for (const breakIt of [
      ['flush', 'ruleset'],
      ['flush', 'table', 'ip', 'kube-proxy'],
      ['delete', 'table', 'ip', 'kube-proxy'],
      ['flush', 'chain', 'ip', 'kube-proxy', 'canary'],
    ]) {
      await dp.sync(st, { full: false });
      assert.equal(await dp.detectDrift(), false, 'no drift right after a sync');
      assert.equal(await dp.detectDrift(), false, 'the check-only probe changes nothing');
      assert.match((await ns.nft(['-a', 'list', 'chain', 'ip', 'kube-proxy', 'canary'])).stdout, /drift canary" # handle 2\n/);
      await ns.nft(breakIt);
      assert.equal(await dp.detectDrift(), true, breakIt.join(' '));
      const r = await dp.sync(st, { full: false });
      assert.equal(r.full, true, 'sync after drift is full');
      await assertEqualsFresh(st, cfg, `repaired after ${breakIt.join(' ')}`);
    }
  });

  test('the full sync repairing a flush commits one table and no table deletion, and no other table is visible while the kernel applies it', async () => {
    // The kernel makes objects visible at the commit, but a table created *and* deleted in one
    // transaction (`add table; delete table; add table …` on a namespace without the table) is shown
    // in the current generation from its deletion until the commit: an empty `kube-proxy` table
    // (docs/reliability.md section 10). Two checks: (1) `nft monitor tables` reports each committed
    // table addition and deletion, so the repair's commit must announce one table and no deletion
    // (deterministic; check-only transactions announce nothing); (2) listed back to back (`nft -j
    // list tables`: tables only, with handles), every table seen while the repair runs is the one it
    // leaves (what the combined-fault sampler tripped on; a window of tens of ms, so this alone may
    // miss it).
    const cfg = config();
    const dp = createNftablesDataplane(cfg, { interactive: false });
    const svcs: ServicePort[] = [];
    for (let i = 0; i < 2000; i++) {
      const eps = Array.from({ length: 10 }, (_, k) => ep(`198.18.${128 + ((i * 10 + k) >> 8) % 120}.${(i * 10 + k) & 255}`));
      svcs.push(sp('ns', `s${i}`, { clusterIP: `198.19.${(i >> 8) & 255}.${i & 255}`, endpoints: eps }));
    }
    const st = state(svcs);
    const handle = async (): Promise<number | null> => {
      const items = (JSON.parse((await ns.nft(['-j', 'list', 'tables', 'ip'])).stdout) as { nftables: { table?: { name: string; handle: number } }[] }).nftables;
      return items.find((x) => x.table?.name === 'kube-proxy')?.table?.handle ?? null;
    };
    const monitor = spawn('ip', ['netns', 'exec', ns.name, 'nft', 'monitor', 'tables'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let events = '';
    monitor.stdout.setEncoding('utf8').on('data', (d: string) => (events += d));
    // A marker table brackets what the monitor has seen (it subscribes asynchronously).
    const mark = async (m: string): Promise<void> => {
      for (let k = 0; k < 100 && !events.includes(`table ip ${m}\n`); k++) {
        await ns.nft(['-f', '-'], `add table ip ${m}\ndelete table ip ${m}\n`);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(events.includes(`table ip ${m}\n`), `nft monitor saw ${m}`);
    };
    const seen: string[] = [];
    try {
      for (let round = 0; round < 2; round++) {
        await ns.nft(['flush', 'ruleset']);
        await mark(`kpx-mark-a${round}`);
        const from = events.length;
        assert.equal(await dp.detectDrift(), true, 'the flush is noticed');
        let done = false;
        const sync = dp.sync(st, { full: false }).finally(() => {
          done = true;
        });
        const during: number[] = [];
        for (let k = 0; k < 5000 && !done; k++) {
          const h = await handle();
          if (h !== null) during.push(h);
        }
        assert.equal((await sync).full, true);
        await mark(`kpx-mark-b${round}`);
        const committed = events.slice(from, events.indexOf(`table ip kpx-mark-b${round}\n`)).split('\n').filter((l) => l.includes('kube-proxy'));
        assert.deepEqual(committed, ['create table ip kube-proxy'], `round ${round}: what the repair committed`);
        const final = await handle();
        for (const h of during) if (h !== final) seen.push(`round ${round}: handle ${h} seen, ${final} left`);
      }
    } finally {
      monitor.kill();
    }
    assert.deepEqual(seen, [], 'only the table the full sync leaves is ever visible');
    await assertEqualsFresh(st, cfg, 'repaired');
    await dp.close?.();
  });

  test('a first full sync of many elements is applied in stages: no hook until the last one, then equal to one transaction', async () => {
    const cfg = config();
    // Which chains carry a hook after each `nft -f` the Dataplane runs (through the real tool).
    const hooked: { elements: number; hooks: number }[] = [];
    const runner: ToolRunner = async (command, args, o) => {
      const r = await realRunner(command, args, o);
      if (command === 'nft' && args.includes('-f') && !args.includes('-c')) {
        const items = (JSON.parse((await ns.nft(['-j', 'list', 'chains', 'ip'])).stdout) as { nftables: { chain?: { table: string; hook?: string } }[] }).nftables;
        hooked.push({ elements: (o?.input?.match(/^add element/gm) ?? []).length, hooks: items.filter((x) => x.chain?.table === 'kube-proxy' && x.chain.hook).length });
      }
      return r;
    };
    const dp = createNftablesDataplane(cfg, { interactive: false, runner, stagedMinElements: 100, stagedParts: 3 });
    await dp.cleanup();
    hooked.length = 0;
    const svcs = Array.from({ length: 300 }, (_, i) => sp('ns', `s${i}`, { clusterIP: `198.19.${i >> 8}.${i & 255}`, nodePort: i % 3 === 0 ? 30000 + i : 0, endpoints: Array.from({ length: 1 + (i % 5) }, (_, k) => ep(`198.18.${100 + k}.${i & 255}`)) }));
    const r = await dp.sync(state(svcs), { full: true });
    assert.equal(r.full, true);
    assert.equal(hooked.length, 5, 'skeleton, three element parts, hooks');
    assert.deepEqual(hooked.map((h) => h.hooks), [0, 0, 0, 0, 8], 'the table is hooked only by the last stage');
    assert.ok(hooked.slice(1, 4).every((h) => h.elements > 0), 'every part carries elements');
    await assertEqualsFresh(state(svcs), cfg, 'staged load');
    // The table now exists: the next full sync replaces it in one transaction.
    hooked.length = 0;
    await dp.sync(state(svcs.slice(1)), { full: true });
    assert.equal(hooked.length, 1, 'a table that serves traffic is replaced in one transaction');
    await assertEqualsFresh(state(svcs.slice(1)), cfg, 'replaced');
    await dp.close?.();
  });

  test('a staged first sync starts the nft -i session once the table exists, during the element stages: a change queued behind the start does not wait for it', async () => {
    const cfg = config();
    const log: string[] = [];
    const runner: ToolRunner = async (command, args, o) => {
      const input = o?.input ?? '';
      if (command === 'nft' && args.includes('-f') && !args.includes('-c')) {
        log.push(/\bhook (prerouting|input|forward|output|postrouting)\b/.test(input) ? 'hooks' : /^add element/m.test(input) ? 'elements' : 'skeleton');
      }
      return realRunner(command, args, o);
    };
    const streams: NftStreamFactory = (f, t, m) => {
      const s = nftSessionFactory(f, t, m);
      return {
        get alive() {
          return s.alive;
        },
        warm: () => {
          log.push('warm');
          s.warm();
        },
        apply: (c) => {
          log.push('apply');
          return s.apply(c);
        },
        close: () => s.close(),
      };
    };
    const dp = createNftablesDataplane(cfg, { runner, streams, stagedMinElements: 100, stagedParts: 2 });
    await dp.cleanup();
    log.length = 0;
    const svcs = Array.from({ length: 300 }, (_, i) => sp('ns', `s${i}`, { clusterIP: `198.19.${i >> 8}.${i & 255}`, endpoints: Array.from({ length: 1 + (i % 5) }, (_, k) => ep(`198.18.${100 + k}.${i & 255}`)) }));
    await dp.sync(state(svcs), { full: true });
    assert.deepEqual(log, ['skeleton', 'warm', 'elements', 'elements', 'hooks']);
    const r = await dp.sync(state(svcs.slice(1)), { full: false });
    assert.equal(r.full, false);
    assert.deepEqual(log.slice(5), ['apply'], 'the change went through the session started during the load');
    await assertEqualsFresh(state(svcs.slice(1)), cfg, 'after the first change');
    await dp.close?.();
  });

  test('IPv6 dataplane syncs incrementally and cleanup removes both tables', async () => {
    const c6 = config({ family: 'IPv6' });
    const dp6 = createNftablesDataplane(c6);
    const dp4 = createNftablesDataplane(config());
    await dp4.sync(state([sp('ns', 'a', { endpoints: [ep('198.18.100.2')] })]), { full: true });
    const s1 = state([sp('ns', 'v6', { clusterIP: '2001:db8:ffff::1', endpoints: [ep('2001:db8:100::2')] })], { family: 'IPv6' });
    await dp6.sync(s1, { full: true });
    const s2 = state(
      [sp('ns', 'v6', { clusterIP: '2001:db8:ffff::1', nodePort: 30080, affinityTimeoutSeconds: 10, endpoints: [ep('2001:db8:100::2'), ep('2001:db8:100::3')] })],
      { family: 'IPv6' },
    );
    assert.equal((await dp6.sync(s2, { full: false })).full, false);
    await assertEqualsFresh(s2, c6, 'ipv6 incremental');
    await dp6.cleanup();
    await dp6.cleanup(); // not-found is fine
    const tables = (await ns.nft(['list', 'tables'])).stdout;
    assert.doesNotMatch(tables, /kube-proxy/);
  });

  test('a full sync replaces an upstream-shaped table in one transaction', async () => {
    // A leftover of upstream's layout: per-service chain referenced by a vmap element.
    await ns.nft(['-f', '-'], [
      'add table ip kube-proxy',
      'add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80',
      'add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }',
      'add element ip kube-proxy service-ips { 198.19.0.1 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }',
      '',
    ].join('\n'));
    const cfg = config();
    const dp = createNftablesDataplane(cfg);
    const st = state([sp('ns', 'a', { endpoints: [ep('198.18.100.2')] })]);
    await dp.sync(st, { full: true });
    await assertEqualsFresh(st, cfg, 'replaced upstream table');
  });
});
