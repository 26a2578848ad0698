// Network namespaces for the IPVS guest tests. Nothing is changed in the root namespace:
// devices are created straight inside the test namespaces. Addresses: 198.18.0.0/15 only.
//
//   client (198.18.10.2) --- (198.18.10.1) node [kube-ipvs0, IPVS] (198.18.1.1) --- pods (198.18.1.2, .3, .4)
//
// One agent process per namespace (test/guest/agent.ts) does the work there.

import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/util/exec.js';
import { RpcChild } from '../support/rpc-child.js';

export const NODE_IP = '198.18.10.1';
export const CLIENT_IP = '198.18.10.2';
export const NODE_POD_SIDE_IP = '198.18.1.1';
export const POD_IPS = ['198.18.1.2', '198.18.1.3', '198.18.1.4'] as const;

/** Why the kernel tests cannot run here, or null. */
export function skipReason(): string | null {
  if (process.getuid?.() !== 0) return 'IPVS tests need root (network namespaces)';
  if (process.env.IPVS_VM_GUEST !== '1' && !existsSync('/proc/net/ip_vs')) {
    return 'no IPVS in this kernel: these tests run in the IPVS guest (scripts/test-ipvs.sh, ../shared/ipvs-vm/run-in-vm)';
  }
  return null;
}

/** One agent process in a namespace (JSON-lines RPC, test/support/rpc-child.ts). */
export class Agent extends RpcChild {
  constructor(readonly ns: string, agentJs: string) {
    super(`agent ${ns}`, ['ip', 'netns', 'exec', ns, process.execPath, agentJs]);
  }

  /** Waits for the agent first; generous limits, since under TCG a sync can take minutes. */
  override async call<T = unknown>(op: string, args: Record<string, unknown> = {}, timeoutMs = 600_000): Promise<T> {
    await this.whenReady(600_000);
    return super.call<T>(op, args, timeoutMs);
  }

  stop(): void {
    this.child.stdin!.end();
    setTimeout(() => this.kill(), 2000).unref();
  }
}

export class Topology {
  readonly node: string;
  readonly client: string;
  readonly pods: string;
  agents: { node: Agent; client: Agent; pods: Agent } | null = null;

  private constructor(readonly prefix: string) {
    this.node = `${prefix}-node`;
    this.client = `${prefix}-client`;
    this.pods = `${prefix}-pods`;
  }

  static async create(): Promise<Topology> {
    const t = new Topology(`kpx-ipvs-${randomBytes(3).toString('hex')}`);
    try {
      await run('ip', ['-batch', '-'], { input: [t.node, t.client, t.pods].map((n) => `netns add ${n}`).join('\n') + '\n' });
      await run('ip', ['-batch', '-'], {
        input: [`link add c0 netns ${t.client} type veth peer name nc netns ${t.node}`, `link add p0 netns ${t.pods} type veth peer name np netns ${t.node}`].join('\n') + '\n',
      });
      const nsBatch = (ns: string, lines: string[]): Promise<unknown> => run('ip', ['-n', ns, '-batch', '-'], { input: lines.join('\n') + '\n' });
      await nsBatch(t.node, ['link set lo up', `addr add ${NODE_IP}/24 dev nc`, 'link set nc up', `addr add ${NODE_POD_SIDE_IP}/24 dev np`, 'link set np up']);
      await nsBatch(t.client, ['link set lo up', `addr add ${CLIENT_IP}/24 dev c0`, 'link set c0 up', `route add default via ${NODE_IP}`]);
      await nsBatch(t.pods, ['link set lo up', ...POD_IPS.map((ip) => `addr add ${ip}/24 dev p0`), 'link set p0 up', `route add default via ${NODE_POD_SIDE_IP}`]);
      const agentJs = join(dirname(fileURLToPath(import.meta.url)), 'agent.js');
      const start = (ns: string): Agent => new Agent(ns, agentJs);
      t.agents = { node: start(t.node), client: start(t.client), pods: start(t.pods) };
      return t;
    } catch (e) {
      await t.destroy();
      throw e;
    }
  }

  /** Run a tool inside the node namespace (ipvsadm -Ln and the like). */
  async inNode(cmd: string, args: string[]): Promise<string> {
    return (await run('ip', ['netns', 'exec', this.node, cmd, ...args])).stdout;
  }

  async destroy(): Promise<void> {
    if (this.agents) for (const a of Object.values(this.agents)) a.stop();
    await run('ip', ['-batch', '-'], { input: [this.node, this.client, this.pods].map((n) => `netns del ${n}`).join('\n') + '\n', allowFailure: true });
  }
}
