// Network namespaces for the benchmark. Every kernel rule the benchmark programs lives in a
// namespace created here and deleted in finally / on SIGINT (never the root namespace).
//
// Topology for the connection test (no link ever touches the root namespace):
//   client (198.18.0.2) ── node (198.18.0.1 | 198.18.1.1, router, proxy rules) ── pod (198.18.1.2,
//   answers on the whole pod CIDR 198.18.128.0/17 via an AnyIP local route)

import { randomBytes } from 'node:crypto';
import { run } from '../src/util/exec.js';
import { CLIENT_IP, NODE_IP, NODE_POD_SIDE_IP, POD_CIDR, POD_NS_IP } from './fixtures.js';

const RUN_TAG = randomBytes(3).toString('hex');
const live = new Set<string>();
let seq = 0;

export function newNsName(role: string): string {
  return `kpx-bench-${RUN_TAG}-${seq++}-${role}`;
}

export async function addNs(name: string): Promise<string> {
  if (!name.startsWith('kpx-bench-')) throw new Error(`refusing namespace name ${name}`);
  live.add(name);
  await run('ip', ['netns', 'add', name]);
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

export async function delNs(name: string): Promise<void> {
  if (!live.has(name)) return;
  live.delete(name);
  await run('ip', ['netns', 'del', name], { allowFailure: true, timeoutMs: 30_000 });
}

/** Delete every namespace this run created (finally / SIGINT). */
export async function delAllNs(): Promise<void> {
  await Promise.all([...live].map(delNs));
}

export interface Trio {
  readonly node: string;
  readonly client: string;
  readonly pod: string;
}

export async function makeTrio(): Promise<Trio> {
  const node = await addNs(newNsName('node'));
  const client = await addNs(newNsName('client'));
  const pod = await addNs(newNsName('pod'));
  const ipn = (ns: string, ...args: string[]): Promise<unknown> => run('ip', ['-n', ns, ...args]);
  await ipn(node, 'link', 'add', 'to-client', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client);
  await ipn(node, 'link', 'add', 'to-pod', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod);
  await ipn(node, 'addr', 'add', `${NODE_IP}/30`, 'dev', 'to-client');
  await ipn(node, 'addr', 'add', `${NODE_POD_SIDE_IP}/30`, 'dev', 'to-pod');
  await ipn(node, 'link', 'set', 'to-client', 'up');
  await ipn(node, 'link', 'set', 'to-pod', 'up');
  await ipn(node, 'route', 'add', POD_CIDR, 'via', POD_NS_IP);
  await ipn(client, 'addr', 'add', `${CLIENT_IP}/30`, 'dev', 'eth0');
  await ipn(client, 'link', 'set', 'eth0', 'up');
  await ipn(client, 'route', 'add', 'default', 'via', NODE_IP);
  await ipn(pod, 'addr', 'add', `${POD_NS_IP}/30`, 'dev', 'eth0');
  await ipn(pod, 'link', 'set', 'eth0', 'up');
  await ipn(pod, 'route', 'add', 'default', 'via', NODE_POD_SIDE_IP);
  await ipn(pod, 'route', 'add', 'local', POD_CIDR, 'dev', 'lo');
  await run('ip', ['netns', 'exec', node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  return { node, client, pod };
}

export async function delTrio(t: Trio): Promise<void> {
  await Promise.all([delNs(t.node), delNs(t.client), delNs(t.pod)]);
}
