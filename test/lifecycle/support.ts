// Shared pieces of the lifecycle tests (mode switch, cleanup matrix, UDP across restarts): the real
// proxy in the traffic topology's node namespace (test/support/topology.ts) fed from a --manifests
// directory, readiness through /debug/state, and a census of everything of ours left in the kernel.

import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/util/exec.js';
import { startProxy } from '../support/proxy-process.js';
import { ADDR, NODE_NAME, type Topology } from '../support/topology.js';
import { nodeObjects, serviceObjects, servicePortCount, type ServiceDef } from '../traffic/scenarios.js';

export type RunMode = 'nftables' | 'iptables' | 'iptables-legacy' | 'ipvs';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** --proxy-mode and environment of a run mode (iptables-legacy = iptables on the legacy backend). */
export function modeArgs(m: RunMode): { mode: string; env: Record<string, string> } {
  return m === 'iptables-legacy' ? { mode: 'iptables', env: { KPX_IPTABLES_BACKEND: 'legacy' } } : { mode: m, env: {} };
}

/** A --manifests directory holding `services` (one file) and the Node objects. */
export class Manifests {
  readonly dir = mkdtempSync(join(tmpdir(), 'kpx-life-'));
  constructor(public services: readonly ServiceDef[]) {
    this.write('nodes.json', nodeObjects());
    this.set(services);
  }
  set(services: readonly ServiceDef[]): void {
    this.services = services;
    this.write('services.json', services.flatMap(serviceObjects));
  }
  private write(name: string, items: readonly unknown[]): void {
    const tmp = join(this.dir, `.${name}.tmp`);
    writeFileSync(tmp, JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    renameSync(tmp, join(this.dir, name));
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

interface DebugState {
  initialized?: boolean;
  families?: Record<string, { lastSync?: string | null; services?: Record<string, unknown> }>;
}

/** One proxy process in the node namespace. */
export class NodeProxy {
  readonly child: ChildProcess;
  private out = '';
  exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private readonly done: Promise<void>;

  constructor(
    private readonly topo: Topology,
    readonly mode: RunMode,
    private readonly m: Manifests,
    extra: readonly string[] = [],
  ) {
    const { mode: proxyMode, env } = modeArgs(mode);
    const args = [
      `--manifests=${m.dir}`,
      `--proxy-mode=${proxyMode}`,
      `--hostname-override=${NODE_NAME.node}`,
      `--cluster-cidr=${ADDR.clusterCIDR}`,
      '--metrics-bind-address=127.0.0.1:10249',
      '--healthz-bind-address=127.0.0.1:10256',
      '--conntrack-max-per-core=0',
      '--v=2',
      ...extra,
    ];
    this.child = startProxy(args, { prefix: ['ip', 'netns', 'exec', topo.ns('node')], env: { ...process.env, ...env } });
    topo.track(this.child);
    const keep = (b: Buffer): void => {
      if (this.out.length < 4_000_000) this.out += b.toString();
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.done = new Promise((r) =>
      this.child.on('close', (code, signal) => {
        this.exited = { code, signal };
        r();
      }),
    );
  }

  log(): string {
    return this.out;
  }

  /** Wait until both families programmed every service port of the manifests. */
  async ready(timeoutMs = 60_000): Promise<number> {
    const want = { IPv4: servicePortCount(this.m.services, 'IPv4'), IPv6: servicePortCount(this.m.services, 'IPv6') };
    const deadline = Date.now() + timeoutMs;
    let last: DebugState | null = null;
    for (;;) {
      if (this.exited) throw new Error(`proxy (${this.mode}) exited during start-up: ${JSON.stringify(this.exited)}\n${this.out.slice(-3000)}`);
      const st = await this.state().catch(() => null);
      last = st;
      const ok = st?.initialized && (['IPv4', 'IPv6'] as const).every((f) => st.families?.[f]?.lastSync && Object.keys(st.families[f]!.services ?? {}).length >= want[f]);
      if (ok) return Date.now();
      if (Date.now() > deadline) {
        const fams = Object.entries(last?.families ?? {}).map(([f, v]) => `${f}: lastSync ${v.lastSync ?? 'never'}, ${Object.keys(v.services ?? {}).length} services`);
        throw new Error(`proxy (${this.mode}) not ready after ${timeoutMs} ms (want ${JSON.stringify(want)}; /debug/state: ${last ? `initialized ${String(last.initialized)}; ${fams.join('; ')}` : 'no answer'}); log (${this.out.length} bytes):\n${this.out.slice(-3000)}`);
      }
      await sleep(50);
    }
  }

  async state(): Promise<DebugState> {
    const r = await this.topo.agent('node').http('http://127.0.0.1:10249/debug/state', 2000);
    return JSON.parse(r.body) as DebugState;
  }

  /** SIGTERM (rules stay), SIGKILL after 15 s. */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.exited && this.child.pid) process.kill(this.child.pid, 'SIGTERM');
    const t = setTimeout(() => {
      if (!this.exited && this.child.pid) process.kill(this.child.pid, 'SIGKILL');
    }, 15_000);
    await this.done;
    clearTimeout(t);
    return this.exited!;
  }

  async kill(): Promise<void> {
    if (!this.exited && this.child.pid) process.kill(this.child.pid, 'SIGKILL');
    await this.done;
  }
}

/** Kubelet's chains: upstream's cleanup leaves them, and so must ours. */
const KUBELET = /KUBE-(FIREWALL|KUBELET-CANARY|IPTABLES-HINT)\b/;

/**
 * Everything of ours in the node namespace, one line per object: KUBE-* chains and rules (other
 * than kubelet's) in both iptables backends and families, our nft tables, our ipsets, IPVS virtual
 * servers and kube-ipvs0 (the last two only where the kernel has IPVS). Empty when clean.
 */
export async function oursLeft(topo: Topology): Promise<string[]> {
  const out: string[] = [];
  for (const tool of ['iptables-nft-save', 'ip6tables-nft-save', 'iptables-legacy-save', 'ip6tables-legacy-save']) {
    for (const l of (await topo.exec('node', [tool])).split('\n')) {
      if (/KUBE-/.test(l) && !KUBELET.test(l)) out.push(`${tool}: ${l}`);
    }
  }
  for (const l of (await topo.exec('node', ['nft', 'list', 'tables'])).split('\n')) if (/kube-proxy/.test(l)) out.push(`nft: ${l}`);
  for (const l of (await topo.exec('node', ['ipset', 'list', '-n'])).split('\n')) if (/^KUBE-/.test(l)) out.push(`ipset: ${l}`);
  if (process.env.IPVS_VM_GUEST === '1') {
    for (const l of (await topo.exec('node', ['ipvsadm', '-S', '-n'])).split('\n')) if (l.trim().startsWith('-A')) out.push(`ipvs: ${l}`);
    if (!/does not exist|Cannot find/.test(await topo.exec('node', ['ip', 'link', 'show', 'dev', 'kube-ipvs0']))) out.push('link: kube-ipvs0');
  }
  return out;
}

/** Kubelet's KUBE-FIREWALL with a rule and its INPUT jump, in both backends (must survive cleanup). */
export async function plantKubelet(topo: Topology): Promise<void> {
  const text = '*filter\n:KUBE-FIREWALL - [0:0]\n-A INPUT -j KUBE-FIREWALL\n-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP\nCOMMIT\n';
  for (const tool of ['iptables-nft-restore', 'iptables-legacy-restore']) {
    await run('ip', ['netns', 'exec', topo.ns('node'), tool, '--noflush'], { input: text });
  }
}

export async function kubeletIntact(topo: Topology): Promise<boolean> {
  for (const tool of ['iptables-nft-save', 'iptables-legacy-save']) {
    const s = await topo.exec('node', [tool, '-t', 'filter']);
    if (!s.includes('-A INPUT -j KUBE-FIREWALL') || !s.includes('-A KUBE-FIREWALL ! -s 127.0.0.0/8')) return false;
  }
  return true;
}
