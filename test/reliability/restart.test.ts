// Fault 4: the proxy is stopped (SIGTERM, SIGKILL) and started again while a client keeps opening
// connections to several services. Rules stay in the kernel across the restart and the new process
// must not flush them before its first sync, so no connection may fail at any point; an established
// connection survives; afterwards the kernel holds exactly what a fresh render would program (no
// duplicate or stale rules: one service is deleted and one added while the proxy is down).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runProxy } from '../support/proxy-process.js';
import { debugState, eventually, sleep, startProxyIn } from './support/proxy.js';
import { manifestObjects, servicesOverPods, trafficSetup, writeManifests, type Mode } from './support/scenario.js';
import type { World } from './support/world.js';

const isRoot = process.getuid?.() === 0;
const DOWN_MS = 1500;

/** Order-insensitive token multiset of a ruleset text (counters zeroed), for comparing two listings. */
function tokens(text: string): string[] {
  return text
    .replace(/counter packets \d+ bytes \d+/g, 'counter')
    .replace(/\[\d+:\d+\]/g, '[0:0]')
    .split(/[\n,{}]/)
    .map((s) => s.trim())
    .filter((s) => s !== '' && !s.startsWith('#'))
    .sort();
}

function multisetDiff(a: readonly string[], b: readonly string[]): { onlyA: string[]; onlyB: string[] } {
  const m = new Map<string, number>();
  for (const x of a) m.set(x, (m.get(x) ?? 0) + 1);
  for (const x of b) m.set(x, (m.get(x) ?? 0) - 1);
  const onlyA: string[] = [];
  const onlyB: string[] = [];
  for (const [k, v] of m) {
    for (let i = 0; i < v; i++) onlyA.push(k);
    for (let i = 0; i < -v; i++) onlyB.push(k);
  }
  return { onlyA, onlyB };
}

/** The kernel's view of our rules (nft table, or the KUBE-* rules of iptables-save). */
async function kernelRules(world: World, role: string, mode: Mode): Promise<string> {
  if (mode === 'nftables') return world.exec(role, ['nft', 'list', 'table', 'ip', 'kube-proxy']);
  const save = await world.exec(role, ['iptables-nft-save']);
  // Our chains' rules only: the jumps from the built-in chains and the canary chains are added by
  // sync, not by the render.
  return save
    .split('\n')
    .filter((l) => (/^-A KUBE-/.test(l) || /^:KUBE-/.test(l)) && !l.includes('KUBE-PROXY-CANARY'))
    .join('\n');
}

/**
 * What a fresh render programs: `--print-rules` (no kernel access), loaded into a scratch namespace
 * with the real tool and listed back the same way, so formatting differences cannot hide anything.
 */
async function freshRender(world: World, dir: string, mode: Mode): Promise<string> {
  const r = await runProxy(['--print-rules', '--manifests', dir, '--proxy-mode', mode, '--hostname-override', 'node-a'], {
    prefix: ['ip', 'netns', 'exec', world.ns('node')],
    timeoutMs: 60_000,
  });
  assert.equal(r.code, 0, r.stderr);
  const text = r.stdout.split(/^# \S+ IPv6$/m)[0]!.replace(/^# \S+ IPv4\n/m, '');
  await world.addScratch('scratch');
  if (mode === 'nftables') await world.exec('scratch', ['nft', '-f', '-'], { input: text });
  else await world.exec('scratch', ['iptables-nft-restore', '--noflush'], { input: text });
  return kernelRules(world, 'scratch', mode);
}

const heavy = process.env.KPX_HEAVY === '1';
// iptables SIGTERM only with KPX_HEAVY=1: it adds nothing the other three do not cover, and the suite has a time budget.
const cases: { mode: Mode; signal: NodeJS.Signals }[] = [
  { mode: 'nftables', signal: 'SIGTERM' },
  { mode: 'nftables', signal: 'SIGKILL' },
  { mode: 'iptables', signal: 'SIGKILL' },
  ...(heavy ? [{ mode: 'iptables' as const, signal: 'SIGTERM' as const }] : []),
];

for (const c of cases) {
  test(`${c.mode}: restart (${c.signal}) under load: 0 failed connections, established connection survives, no stale or duplicate rules`, { skip: !isRoot && 'needs root', timeout: 150_000 }, async (t) => {
    const s = await trafficSetup({ mode: c.mode, services: 5, pods: 3, extraArgs: ['--v=2'] });
    try {
      const held = await s.client.call<string>('hold', { name: 'h', host: s.targets[0]!.host, port: s.targets[0]!.port });
      const ping = async (): Promise<boolean> => (await s.client.call<{ ok: boolean; err?: string }>('ping', { name: 'h', timeoutMs: 2000 })).ok;
      assert.ok(await ping(), `held connection to ${held} works`);
      // svc-5 is deleted while the proxy is down (its rules become stale); the loop uses svc-1..4.
      await s.client.startLoop(s.targets.slice(0, 4), { periodMs: 20, timeoutMs: 1000, maxMs: 60_000 });
      await sleep(500);

      const stopAt = Date.now();
      if (c.signal === 'SIGKILL') await s.proxy.kill();
      else {
        const r = await s.proxy.stop();
        assert.equal(r.code, 0, 'SIGTERM exits 0');
      }
      const next = servicesOverPods(6, 3).filter((x) => x.name !== 'svc-5');
      await writeManifests(s.dir, 'services.json', manifestObjects(next));
      await sleep(DOWN_MS);
      const pingWhileDown = await ping();
      const startAt = Date.now();
      const proxy = startProxyIn(s.world, s.args);
      s.proxy = proxy;
      const firstSync = await eventually(async () => {
        const st = await debugState(s.world);
        return st.families.IPv4?.lastSync ? Date.now() : null;
      }, 'first sync of the new process', 60_000, 50);
      await sleep(1000);
      const attempts = await s.client.stopLoop();
      const pingAfter = await ping();

      const inWindow = attempts.filter((a) => a.at >= stopAt && a.at < firstSync);
      const afterSync = attempts.filter((a) => a.at >= firstSync);
      const failed = attempts.filter((a) => !a.ok);
      t.diagnostic(
        `${c.mode} ${c.signal}: ${attempts.length} connections, ${failed.length} failed; ` +
          `${inWindow.length} opened between stop and the new process's first sync (${firstSync - stopAt} ms, start-up ${firstSync - startAt} ms), ` +
          `${inWindow.filter((a) => !a.ok).length} failed; after first sync ${afterSync.filter((a) => !a.ok).length}/${afterSync.length} failed`,
      );
      t.diagnostic(`${c.mode} ${c.signal}: established connection: while down ${pingWhileDown ? 'ok' : 'broken'}, after restart ${pingAfter ? 'ok' : 'broken'}`);
      assert.equal(failed.length, 0, `no failed connection: ${JSON.stringify(failed.slice(0, 3))}`);
      assert.ok(inWindow.length > 0, 'connections were attempted during the restart window');
      assert.ok(pingWhileDown && pingAfter, 'the established connection survived');

      // No duplicate or stale rules: the kernel equals a fresh render of the same objects.
      const kernel = tokens(await kernelRules(s.world, 'node', c.mode));
      const fresh = tokens(await freshRender(s.world, s.dir, c.mode));
      const d = multisetDiff(kernel, fresh);
      t.diagnostic(`${c.mode} ${c.signal}: kernel vs fresh render: ${kernel.length} tokens, ${d.onlyA.length} only in kernel, ${d.onlyB.length} only in the render`);
      assert.deepEqual(d, { onlyA: [], onlyB: [] }, 'kernel rules equal a fresh render');
      const k = await kernelRules(s.world, 'node', c.mode);
      assert.ok(k.includes('198.19.0.6') && !k.includes('198.19.0.5'), 'the service deleted while down is gone, the new one is there');
      const r = await proxy.stop();
      assert.equal(r.code, 0);
    } finally {
      await s.cleanup();
    }
  });
}
