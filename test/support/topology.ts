// Traffic-test topology, built only inside network namespaces this run creates (prefix
// kpx-tr-<random4>-): nothing is added to the root namespace.
//
//   client (198.18.0.2)  client2 (198.18.0.3)
//        \                  /
//         +---- lan (bridge br0, own namespace) ----+------------------+
//                  |                                                   |
//        node  198.18.0.1 (+ 198.18.0.11)                   node2 198.18.0.4
//        runs the proxy (node-a)                           optional proxy (node-b)
//        | routed veths, /32 per pod                       | routed veths
//   p1..p5 198.18.100.1..5                            q1..q2 198.18.101.1..2
//
// IPv6 alongside: lan 2001:db8::{1,11,2,3,4}, pods 2001:db8:100:1::N (node) / 2001:db8:100:2::N (node2).
// Service VIPs (ClusterIP, LoadBalancer, external IPs): 198.19.0.0/16 and 2001:db8:19::/64, routed by
// clients to the node. Each pod's default route points at the node's lan IP (a /32 on-link route), as
// routed CNIs do; the node answers ARP for it on every veth, and holds the IPv6 one on each veth.
//
// The node namespaces can be rebuilt between proxy runs (fresh rules, conntrack and sysctls) without
// restarting pods: `resetNodes()` deletes them and re-plumbs the pods' veths.

import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { run } from '../../src/util/exec.js';
import { Agent } from './backend.js';

export type NodeName = 'node' | 'node2';

export interface PodSpec {
  readonly name: string;
  readonly node: NodeName;
  readonly ipv4: string;
  readonly ipv6: string;
}

/** The fixed address plan (scenarios refer to these). */
export const ADDR = {
  node: { ipv4: '198.18.0.1', ipv6: '2001:db8::1', secondaryV4: '198.18.0.11', secondaryV6: '2001:db8::11' },
  client: { ipv4: '198.18.0.2', ipv6: '2001:db8::2' },
  client2: { ipv4: '198.18.0.3', ipv6: '2001:db8::3' },
  node2: { ipv4: '198.18.0.4', ipv6: '2001:db8::4', secondaryV4: '198.18.0.14', secondaryV6: '2001:db8::14' },
  podCIDR: { node: ['198.18.100.0/24', '2001:db8:100:1::/64'], node2: ['198.18.101.0/24', '2001:db8:100:2::/64'] },
  /** --cluster-cidr covering both nodes' pods. */
  clusterCIDR: '198.18.100.0/23,2001:db8:100::/48',
  serviceV4: '198.19.0.0/16',
  serviceV6: '2001:db8:19::/64',
} as const;

/** Kubernetes node names the proxies run as. */
export const NODE_NAME: Record<NodeName, string> = { node: 'node-a', node2: 'node-b' };

export const POD_PORT = { tcp: 8080, udp: 8080, sctp: 8080, tcpAlt: 9090 } as const;

function pod(name: string, node: NodeName, n: number): PodSpec {
  return node === 'node'
    ? { name, node, ipv4: `198.18.100.${n}`, ipv6: `2001:db8:100:1::${n}` }
    : { name, node, ipv4: `198.18.101.${n}`, ipv6: `2001:db8:100:2::${n}` };
}

export const PODS: readonly PodSpec[] = [
  pod('p1', 'node', 1),
  pod('p2', 'node', 2),
  pod('p3', 'node', 3),
  pod('p4', 'node', 4),
  pod('p5', 'node', 5),
  pod('q1', 'node2', 1),
  pod('q2', 'node2', 2),
];

export interface TopologyOptions {
  /** Build node2 and its pods (q1, q2). */
  readonly node2?: boolean;
  /** Serve SCTP in the pods (only when the kernel has SCTP). */
  readonly sctp?: boolean;
  /** Log each step to stderr. */
  readonly verbose?: boolean;
}

const live = new Set<Topology>();
let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // Synchronous last resort: runs on normal exit and on signals, so a crashed or interrupted run
  // leaves no namespaces behind.
  process.on('exit', () => {
    for (const t of live) t.destroySync();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const t of live) t.destroySync();
      process.exit(130);
    });
  }
}

/**
 * Is SCTP usable here, and if not, why? Node has no SCTP sockets, so ask socat to listen in a scratch
 * namespace: the socket call loads the sctp module if the kernel has one, and then /proc/net/sctp
 * exists. (Judging by socat still running after a short timeout alone said "yes" on a loaded machine,
 * where socat had not even started when the timeout hit.)
 */
export async function sctpSupport(): Promise<{ readonly ok: true } | { readonly ok: false; readonly reason: string }> {
  const which = await run('sh', ['-c', 'command -v socat'], { allowFailure: true });
  if (which.code !== 0) return { ok: false, reason: 'socat is not installed (the pods serve SCTP through socat)' };
  const ns = `kpx-tr-${randomBytes(2).toString('hex')}-sctp`;
  await run('ip', ['netns', 'add', ns]);
  try {
    const r = await run('ip', ['netns', 'exec', ns, 'timeout', '2', 'socat', 'SCTP-LISTEN:9', 'STDIO'], { allowFailure: true });
    const proc = await run('ip', ['netns', 'exec', ns, 'test', '-d', '/proc/net/sctp'], { allowFailure: true });
    if (proc.code === 0) return { ok: true };
    const kernel = (await run('uname', ['-r'], { allowFailure: true })).stdout.trim();
    // Read-only look for the module (modinfo loads nothing): says whether the kernel lacks it or it failed to load.
    // modinfo comes with kmod, which a minimal machine may lack: then say so rather than fail the run.
    const mod = await run('modinfo', ['-n', 'sctp'], { allowFailure: true }).catch(() => null);
    const modText = mod === null ? 'modinfo not installed' : mod.code === 0 ? `module ${mod.stdout.trim()} exists but did not load` : 'no sctp module for this kernel';
    const err = (r.stderr.trim().split('\n').pop() ?? '').replace(/^\S+ \S+ socat\[\d+\] /, '');
    return { ok: false, reason: `kernel ${kernel} has no usable SCTP (${modText}; socat SCTP-LISTEN: ${err || `exit ${r.code}`})` };
  } finally {
    await run('ip', ['netns', 'del', ns], { allowFailure: true });
  }
}

export class Topology {
  readonly prefix: string;
  readonly pods: PodSpec[];
  readonly agents = new Map<string, Agent>();
  private created = new Set<string>();
  private destroyed = false;
  /** Processes started inside our namespaces by callers (proxies): killed by PID before teardown. */
  private readonly tracked = new Set<ChildProcess>();

  private constructor(readonly opts: TopologyOptions) {
    this.prefix = `kpx-tr-${randomBytes(2).toString('hex')}`;
    this.pods = PODS.filter((p) => p.node === 'node' || opts.node2);
  }

  ns(role: string): string {
    return `${this.prefix}-${role}`;
  }

  agent(role: string): Agent {
    const a = this.agents.get(role);
    if (!a) throw new Error(`no agent for ${role} (known: ${[...this.agents.keys()].join(', ')})`);
    return a;
  }

  nodes(): NodeName[] {
    return this.opts.node2 ? ['node', 'node2'] : ['node'];
  }

  private log(msg: string): void {
    if (this.opts.verbose) process.stderr.write(`[topology ${this.prefix}] ${msg}\n`);
  }

  static async create(opts: TopologyOptions = {}): Promise<Topology> {
    installExitHandlers();
    const t = new Topology(opts);
    live.add(t);
    try {
      await t.build();
    } catch (e) {
      await t.destroy();
      throw e;
    }
    return t;
  }

  private async ip(nsRole: string, commands: string[]): Promise<void> {
    // One `ip -batch` process per namespace step: in the emulated IPVS guest every process start
    // costs 50-250 ms.
    await run('ip', ['-n', this.ns(nsRole), '-batch', '-'], { input: commands.join('\n') + '\n', timeoutMs: 30_000 });
  }

  private async addNs(role: string): Promise<void> {
    await run('ip', ['netns', 'add', this.ns(role)]);
    this.created.add(role);
  }

  private async sysctls(role: string, values: string[]): Promise<void> {
    await run('ip', ['netns', 'exec', this.ns(role), 'sysctl', '-q', '-w', ...values]);
  }

  private async build(): Promise<void> {
    const clients = ['client', 'client2'];
    await this.addNs('lan');
    for (const c of clients) await this.addNs(c);
    for (const p of this.pods) await this.addNs(p.name);
    await this.sysctls('lan', [
      'net.ipv6.conf.all.disable_ipv6=1',
      'net.ipv6.conf.default.disable_ipv6=1',
    ]);
    // br_netfilter may be loaded on the host: keep bridged frames out of the lan namespace's netfilter.
    await run('ip', ['netns', 'exec', this.ns('lan'), 'sh', '-c',
      'for f in /proc/sys/net/bridge/bridge-nf-call-*; do [ -e "$f" ] && echo 0 > "$f"; done; true'], { allowFailure: true });
    await this.ip('lan', ['link set lo up', 'link add br0 type bridge', 'link set br0 up']);
    for (const c of clients) {
      const a = ADDR[c as 'client' | 'client2'];
      await this.sysctls(c, ['net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
      await this.ip(c, [
        'link set lo up',
        `link add eth0 type veth peer name ${c} netns ${this.ns('lan')}`,
        `addr add ${a.ipv4}/24 dev eth0`,
        `addr add ${a.ipv6}/64 dev eth0 nodad`,
        'link set eth0 up',
      ]);
      await this.ip('lan', [`link set ${c} master br0`, `link set ${c} up`]);
      await this.ip(c, [
        // Service VIPs and pods are reached through the node that runs them.
        `route add ${ADDR.serviceV4} via ${ADDR.node.ipv4}`,
        `route add ${ADDR.podCIDR.node[0]} via ${ADDR.node.ipv4}`,
        `route add ${ADDR.podCIDR.node2[0]} via ${ADDR.node2.ipv4}`,
        `route add ${ADDR.serviceV6} via ${ADDR.node.ipv6}`,
        `route add ${ADDR.podCIDR.node[1]} via ${ADDR.node.ipv6}`,
        `route add ${ADDR.podCIDR.node2[1]} via ${ADDR.node2.ipv6}`,
      ]);
    }
    for (const p of this.pods) {
      await this.sysctls(p.name, ['net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
      await this.ip(p.name, ['link set lo up']);
    }
    await this.buildNodes();
    // Agents: one per client and pod; nodes get theirs in buildNodes().
    for (const role of [...clients, ...this.pods.map((p) => p.name)]) this.agents.set(role, new Agent(this.ns(role)));
    await Promise.all([...this.agents.values()].map((a) => a.whenReady()));
    const sctp = this.opts.sctp ? [POD_PORT.sctp] : [];
    await Promise.all(
      this.pods.map((p) =>
        this.agent(p.name).serve(p.name, { tcp: [POD_PORT.tcp, POD_PORT.tcpAlt], udp: [POD_PORT.udp], sctp }),
      ),
    );
    this.log('ready');
  }

  /** Create node namespaces, plumb them to the lan and to their pods, start the node agents. */
  private async buildNodes(): Promise<void> {
    for (const n of this.nodes()) {
      await this.addNs(n);
      const a = ADDR[n];
      const other: NodeName = n === 'node' ? 'node2' : 'node';
      const pods = this.pods.filter((p) => p.node === n);
      const cmds = [
        'link set lo up',
        // A fixed MAC: clients keep their neighbour entries valid across resetNodes().
        `link add lan0 address ${n === 'node' ? '02:00:c6:12:00:01' : '02:00:c6:12:00:04'} type veth peer name ${n} netns ${this.ns('lan')}`,
        `addr add ${a.ipv4}/24 dev lan0`,
        `addr add ${a.secondaryV4}/24 dev lan0`,
        `addr add ${a.ipv6}/64 dev lan0 nodad`,
        `addr add ${a.secondaryV6}/64 dev lan0 nodad`,
        'link set lan0 up',
      ];
      for (const p of pods) {
        const v = `veth-${p.name}`;
        cmds.push(
          `link add ${v} type veth peer name eth0 netns ${this.ns(p.name)}`,
          // The node's IPv6 address on each veth makes it answer neighbour solicitations for the
          // pods' gateway (IPv4 ARP answers for any local address without this).
          `addr add ${a.ipv6}/128 dev ${v} nodad`,
          `link set ${v} up`,
        );
      }
      await this.ip(n, cmds);
      await this.ip('lan', [`link set ${n} master br0`, `link set ${n} up`]);
      // After the links exist: some of these are per interface (neigh defaults are not per namespace).
      await this.sysctls(n, [
        'net.ipv4.ip_forward=1',
        'net.ipv6.conf.all.forwarding=1',
        'net.ipv6.conf.all.accept_dad=0',
        'net.ipv6.conf.default.accept_dad=0',
        'net.ipv4.conf.all.rp_filter=0',
        'net.ipv4.conf.default.rp_filter=0',
        // Reject checks send several ICMP errors to one client per second; the default per-peer
        // rate limit (1/s after a small burst) would turn later rejections into timeouts.
        'net.ipv4.icmp_ratelimit=0',
        'net.ipv6.icmp.ratelimit=0',
        // Un-NATed packets follow the default route onto the lan, where nothing answers ARP/ND: keep
        // resolving for 20 s so they stay "dropped" (timeout) for any attempt timeout, instead of
        // turning into a host-unreachable error after the default 3 s.
        'net.ipv4.neigh.lan0.mcast_solicit=20',
        'net.ipv6.neigh.lan0.mcast_solicit=20',
      ]);
      for (const p of pods) {
        await this.ip(p.name, [
          `addr add ${p.ipv4}/32 dev eth0`,
          `addr add ${p.ipv6}/128 dev eth0 nodad`,
          'link set eth0 up',
          `route add ${a.ipv4}/32 dev eth0 scope link`,
          `route add default via ${a.ipv4} dev eth0`,
          `route add ${a.ipv6}/128 dev eth0`,
          `route add default via ${a.ipv6} dev eth0`,
        ]);
      }
      const routes = pods.flatMap((p) => [`route add ${p.ipv4}/32 dev veth-${p.name}`, `route add ${p.ipv6}/128 dev veth-${p.name}`]);
      if (this.opts.node2) {
        routes.push(`route add ${ADDR.podCIDR[other][0]} via ${ADDR[other].ipv4}`, `route add ${ADDR.podCIDR[other][1]} via ${ADDR[other].ipv6}`);
      }
      // A default route, as real nodes have: host-originated ClusterIP traffic needs a route before
      // DNAT happens. Nothing answers on the lan for VIPs, so un-NATed packets die (dropped, not refused).
      routes.push('route add default dev lan0', 'route add ::/0 dev lan0');
      await this.ip(n, routes);
      const agent = new Agent(this.ns(n));
      this.agents.set(n, agent);
      await agent.whenReady();
    }
  }

  /**
   * Fresh node namespaces (no rules, no conntrack entries, default sysctls) for the next proxy run.
   * Callers stop their proxies first.
   */
  async resetNodes(): Promise<void> {
    for (const n of this.nodes()) {
      const agent = this.agents.get(n);
      if (agent) await agent.stop();
      this.agents.delete(n);
      if (this.created.has(n)) {
        await this.drainNamespace(this.ns(n));
        // Delete the node's veths first: that removes their peers in the lan and pod namespaces at
        // once, where a namespace deletion does it later, in the kernel's cleanup work. Under load
        // that lag made buildNodes() fail re-creating them ("RTNETLINK answers: File exists").
        const links = ['lan0', ...this.pods.filter((p) => p.node === n).map((p) => `veth-${p.name}`)];
        await run('ip', ['-n', this.ns(n), '-force', '-batch', '-'], { input: links.map((l) => `link del ${l}`).join('\n') + '\n', allowFailure: true });
        await run('ip', ['netns', 'del', this.ns(n)], { allowFailure: true });
        this.created.delete(n);
        await this.waitLinkGone('lan', n);
      }
    }
    await this.buildNodes();
  }

  /** Wait (bounded, 5 s) until `link` no longer exists in the namespace of `role`. */
  private async waitLinkGone(role: string, link: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const r = await run('ip', ['-n', this.ns(role), 'link', 'show', 'dev', link], { allowFailure: true });
      if (r.code !== 0) return;
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  /**
   * Wait until no process runs in `ns` (a stopped proxy's tool children, e.g. its `nft -i`, exit
   * a moment after it), then SIGKILL stragglers: a namespace deleted while a process still holds
   * it keeps its devices, and re-creating them fails with "File exists".
   */
  private async drainNamespace(ns: string): Promise<void> {
    const pids = async (): Promise<number[]> =>
      (await run('ip', ['netns', 'pids', ns], { allowFailure: true })).stdout.split(/\s+/).filter(Boolean).map(Number);
    for (let i = 0; i < 60; i++) {
      if ((await pids()).length === 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const pid of await pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }

  /** Kill `child` (by PID) on teardown and on exit/signals if it is still running then. */
  track(child: ChildProcess): void {
    this.tracked.add(child);
  }

  private killTracked(): void {
    for (const c of this.tracked) {
      if (c.exitCode === null && c.signalCode === null && c.pid) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    this.tracked.clear();
  }

  /** Run a command in a namespace (for ruleset dumps and debugging). */
  /**
   * Make `ip` (IPv4, in the Service range but no Service's) a plain routed address held by `pod` on its
   * lo, routed to it by its node: traffic a proxy does not drop reaches the pod, so a test can tell a
   * proxy's drop from the routing dead end every other unknown VIP meets. Redo after resetNodes().
   */
  async routeToPod(ip: string, podName: string): Promise<void> {
    const p = this.pods.find((x) => x.name === podName);
    if (!p) throw new Error(`unknown pod ${podName}`);
    await this.ip(p.name, [`addr replace ${ip}/32 dev lo`]);
    await this.ip(p.node, [`route replace ${ip}/32 dev veth-${p.name}`]);
  }

  async exec(role: string, argv: string[], allowFailure = true): Promise<string> {
    const r = await run('ip', ['netns', 'exec', this.ns(role), ...argv], { allowFailure, timeoutMs: 30_000 });
    return r.stdout + r.stderr;
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.killTracked();
    await Promise.all([...this.agents.values()].map((a) => a.stop().catch(() => a.killNow())));
    this.agents.clear();
    for (const role of [...this.created]) {
      await run('ip', ['netns', 'del', this.ns(role)], { allowFailure: true });
      this.created.delete(role);
    }
    this.destroyed = true;
    live.delete(this);
    this.log('destroyed');
  }

  /** Best-effort synchronous teardown for process exit handlers. */
  destroySync(): void {
    if (this.destroyed) return;
    this.killTracked();
    for (const a of this.agents.values()) a.killNow();
    for (const role of this.created) {
      try {
        execFileSync('ip', ['netns', 'del', this.ns(role)], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    }
    this.created.clear();
    this.destroyed = true;
    live.delete(this);
  }
}

/** Namespaces whose names start with `prefix` (default: any traffic-test namespace) that still exist. */
export function leakedNamespaces(prefix = 'kpx-tr-'): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(prefix));
}
