// The --cleanup matrix body, shared by the host file and the IPVS guest file: build leftovers of
// one or several modes (optionally half cleaned), plant kubelet's KUBE-FIREWALL, run --cleanup
// twice: both exit 0, nothing of ours remains anywhere, kubelet's chain is intact.

import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { run } from '../../src/util/exec.js';
import { runProxy } from '../support/proxy-process.js';
import type { Topology } from '../support/topology.js';
import { inGuest, leaveByLoading, leaveByRunning } from './leftovers.js';
import { Manifests, kubeletIntact, oursLeft, plantKubelet, type RunMode } from './support.js';
import { SWITCH_SERVICES } from './switch.js';

export interface CleanupCase {
  readonly name: string;
  /** Modes whose leftovers are built: the first by a real run (unless IPVS on the host), the rest loaded. */
  readonly modes: readonly RunMode[];
  /** Interrupt an earlier cleanup half-way before --cleanup runs. */
  readonly halfDone?: boolean;
}

/** Every mode alone, every pair, and a half-finished cleanup of several modes. */
export function matrix(modes: readonly RunMode[]): CleanupCase[] {
  const out: CleanupCase[] = modes.map((m) => ({ name: m, modes: [m] }));
  for (let i = 0; i < modes.length; i++) for (let j = i + 1; j < modes.length; j++) out.push({ name: `${modes[i]} + ${modes[j]}`, modes: [modes[i]!, modes[j]!] });
  out.push({ name: `${modes.join(' + ')}, half cleaned`, modes, halfDone: true });
  return out;
}

/** What a cleanup killed half-way leaves: jumps unlinked (both backends, both families), one nft family gone. */
async function halfClean(topo: Topology): Promise<void> {
  const ns = topo.ns('node');
  for (const tool of ['iptables-nft', 'ip6tables-nft', 'iptables-legacy', 'ip6tables-legacy']) {
    const save = (await run('ip', ['netns', 'exec', ns, `${tool}-save`], { allowFailure: true })).stdout;
    let table = '';
    const dels: string[] = [];
    for (const l of save.split('\n')) {
      if (l.startsWith('*')) table = l.slice(1);
      if (/^-A (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) .*-j KUBE-/.test(l) && !l.includes('KUBE-FIREWALL')) dels.push(`${table}|${l.replace(/^-A /, '-D ')}`);
    }
    const byTable = new Map<string, string[]>();
    for (const d of dels) {
      const [t, r] = d.split('|') as [string, string];
      byTable.set(t, [...(byTable.get(t) ?? []), r]);
    }
    const input = [...byTable].map(([t, rs]) => `*${t}\n${rs.join('\n')}\nCOMMIT\n`).join('');
    if (input) await run('ip', ['netns', 'exec', ns, `${tool}-restore`, '--noflush'], { input });
  }
  await run('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'ip6', 'kube-proxy'], { allowFailure: true });
}

export async function runCleanupCase(t: TestContext, topo: Topology, c: CleanupCase, readyMs = 60_000): Promise<void> {
  await topo.resetNodes();
  const m = new Manifests(SWITCH_SERVICES);
  try {
    await plantKubelet(topo);
    for (const [i, mode] of c.modes.entries()) {
      if (i === 0 && (mode !== 'ipvs' || inGuest)) await leaveByRunning(topo, mode, m, readyMs);
      else await leaveByLoading(topo, mode, m);
    }
    if (c.halfDone) await halfClean(topo);
    const before = await oursLeft(topo);
    assert.ok(before.length > 0, 'there were leftovers to clean');
    const codes: (number | null)[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await runProxy(['--cleanup', '--v=2'], { prefix: ['ip', 'netns', 'exec', topo.ns('node')], timeoutMs: readyMs });
      codes.push(r.code);
      assert.equal(r.code, 0, `--cleanup run ${i + 1} exits 0:\n${r.stderr.slice(-3000)}`);
    }
    const left = await oursLeft(topo);
    t.diagnostic(`${c.name}: ${before.length} objects of ours before, ${left.length} after; --cleanup exit codes ${codes.join(', ')}`);
    assert.deepEqual(left, [], 'nothing of ours remains');
    assert.ok(await kubeletIntact(topo), "kubelet's KUBE-FIREWALL and its jump stay in both backends");
  } finally {
    m.remove();
  }
}
