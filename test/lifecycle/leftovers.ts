// Leftovers for the cleanup matrix: a real proxy run stopped with SIGTERM (its rules stay, as
// upstream's do), or a mode's `--print-rules` output loaded with the real tools (how a second
// mode's rules get onto a node at the same time; on the host, also the only way to get IPVS
// mode's ipsets and iptables chains, since the host kernel has no IPVS).

import { run } from '../../src/util/exec.js';
import { JUMP_RULES } from '../../src/dataplane/iptables/layout.js';
import { jumpArgs } from '../../src/kernel/iptables/jumps.js';
import { JUMPS as IPVS_JUMPS } from '../../src/dataplane/ipvs/layout.js';
import { runProxy } from '../support/proxy-process.js';
import type { Topology } from '../support/topology.js';
import { Manifests, NodeProxy, modeArgs, type RunMode } from './support.js';

export const inGuest = process.env.IPVS_VM_GUEST === '1';

/** Run the real proxy in `mode` until it programmed both families, then SIGTERM it. */
export async function leaveByRunning(topo: Topology, mode: RunMode, m: Manifests, readyMs = 60_000): Promise<void> {
  const p = new NodeProxy(topo, mode, m);
  try {
    await p.ready(readyMs);
    const r = await p.stop();
    if (r.code !== 0) throw new Error(`proxy (${mode}) exited ${JSON.stringify(r)}`);
  } finally {
    await p.kill();
  }
}

/** Load `mode`'s rendered ruleset (both families) into the node namespace with the real tools. */
export async function leaveByLoading(topo: Topology, mode: RunMode, m: Manifests): Promise<void> {
  const ns = topo.ns('node');
  const inNs = (argv: string[], input?: string) => run('ip', ['netns', 'exec', ns, ...argv], input === undefined ? {} : { input });
  const { mode: proxyMode } = modeArgs(mode);
  const r = await runProxy(['--print-rules', `--manifests=${m.dir}`, `--proxy-mode=${proxyMode}`, '--hostname-override=node-a'], { prefix: ['ip', 'netns', 'exec', ns] });
  if (r.code !== 0) throw new Error(`--print-rules ${proxyMode}: ${r.stderr}`);
  for (const family of ['IPv4', 'IPv6'] as const) {
    const text = r.stdout.split(new RegExp(`^# ${proxyMode} ${family}\\n`, 'm'))[1]!.split(/^# \S+ IPv6\n/m)[0]!;
    const v6 = family === 'IPv6' ? '6' : '';
    if (proxyMode === 'nftables') await inNs(['nft', '-f', '-'], text);
    else if (proxyMode === 'iptables') {
      const backend = mode === 'iptables-legacy' ? 'legacy' : 'nft';
      await inNs([`ip${v6}tables-${backend}-restore`, '--noflush'], text);
      for (const j of JUMP_RULES) await inNs([`ip${v6}tables-${backend}`, '-t', j.table, '-A', j.src, ...jumpArgs(j)]);
    } else {
      // IPVS: sections of renderIpvsText. The kernel parts only where the kernel has IPVS.
      const section = (name: string): string => text.split(`# ${name}\n`)[1]!.split(/^# /m)[0]!;
      if (inGuest) {
        await inNs(['ipvsadm', '-R'], section('ipvsadm -R'));
        await inNs(['ip', 'link', 'add', 'kube-ipvs0', 'type', 'dummy'], undefined).catch(() => undefined);
        for (const a of section('kube-ipvs0').split('\n').filter(Boolean)) await inNs(['ip', 'addr', 'add', a, 'dev', 'kube-ipvs0']);
      }
      await inNs(['ipset', 'restore', '-exist'], section('ipset restore'));
      await inNs([`ip${v6}tables-restore`, '--noflush'], section('iptables-restore --noflush'));
      for (const j of IPVS_JUMPS) await inNs([`ip${v6}tables`, '-t', j.table, '-A', j.src, ...jumpArgs(j)]);
    }
  }
}
