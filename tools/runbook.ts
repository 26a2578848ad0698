// Regenerates the real command output of the troubleshooting runbook in docs/operations.md.
//
//   node dist/tools/runbook.js [--mode nftables|iptables|ipvs] > /tmp/runbook.md
//
// Builds the test topology (test/support/topology.ts: namespaces kpx-tr-<random>-…), runs the
// proxy in the node namespace from a temporary --manifests directory holding a few broken-on-purpose
// Services, runs `kube-proxy-ts get` / `explain` / `explain --trace` / curl /debug/* there exactly as
// an operator would, and prints each command with its output as Markdown. Then switches the mode
// (stop, start with the other mode) to show what a mode switch leaves behind. Deletes everything
// at the end, also on failure. Needs root; touches nothing outside its namespaces.

import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { proxyCommand, startProxy } from '../test/support/proxy-process.js';
import { ADDR, NODE_NAME, POD_PORT, Topology } from '../test/support/topology.js';
import { nodeObjects, serviceObjects, type ServiceDef } from '../test/traffic/scenarios.js';

type Mode = 'nftables' | 'iptables' | 'ipvs';
const { values } = parseArgs({ options: { mode: { type: 'string', default: 'nftables' } } });
const mode = values.mode as Mode;
if (!['nftables', 'iptables', 'ipvs'].includes(mode)) throw new Error(`unknown --mode ${mode}`);
const other: Mode = mode === 'nftables' ? 'iptables' : 'nftables';

const http = { name: 'http', protocol: 'TCP' as const, port: 80, targetPort: POD_PORT.tcp };
const ns = 'shop';
const SERVICES: ServiceDef[] = [
  { name: 'web', namespace: ns, type: 'NodePort', clusterIPs: ['198.19.0.10'], ports: [{ ...http, nodePort: 30080 }], endpoints: [{ pod: 'p1' }, { pod: 'p2' }, { pod: 'p3', ready: false, serving: false, terminating: true }] },
  { name: 'checkout', namespace: ns, clusterIPs: ['198.19.0.20'], ports: [http], endpoints: [{ pod: 'p4', ready: false, serving: false }] },
  {
    name: 'api', namespace: ns, type: 'LoadBalancer', clusterIPs: ['198.19.0.30'], ports: [{ ...http, nodePort: 30090 }],
    endpoints: [{ pod: 'p5', nodeName: NODE_NAME.node2 }], lbIngress: [{ ip: '198.19.200.1' }], externalTrafficPolicy: 'Local', healthCheckNodePort: 32090,
  },
  { name: 'dns', namespace: ns, clusterIPs: ['198.19.0.53'], ports: [{ name: 'dns', protocol: 'UDP', port: 53, targetPort: POD_PORT.udp }], endpoints: [{ pod: 'p2' }] },
];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const say = (s: string): void => void process.stdout.write(s + '\n');

async function main(): Promise<number> {
  const topo = await Topology.create({});
  const dir = mkdtempSync(join(tmpdir(), 'kpx-runbook-'));
  let proxy: ChildProcess | undefined;
  const log: string[] = [];
  const stop = async (): Promise<void> => {
    if (!proxy?.pid || proxy.exitCode !== null) return;
    const gone = new Promise((r) => proxy?.once('exit', r));
    process.kill(proxy.pid, 'SIGTERM');
    await Promise.race([gone, sleep(5000)]);
    if (proxy.exitCode === null) process.kill(proxy.pid, 'SIGKILL');
  };
  const start = async (m: Mode): Promise<void> => {
    proxy = startProxy(
      [`--manifests=${dir}`, `--proxy-mode=${m}`, `--hostname-override=${NODE_NAME.node}`, `--cluster-cidr=${ADDR.clusterCIDR}`, '--metrics-bind-address=127.0.0.1:10249', '--conntrack-max-per-core=0'],
      { prefix: ['ip', 'netns', 'exec', topo.ns('node')] },
    );
    topo.track(proxy);
    proxy.stdout?.on('data', (b: Buffer) => log.push(b.toString()));
    proxy.stderr?.on('data', (b: Buffer) => log.push(b.toString()));
    const deadline = Date.now() + 120_000;
    for (;;) {
      const r = await topo.agent('node').http('http://127.0.0.1:10249/debug/state', 1000).catch(() => null);
      const st = r?.status === 200 ? (JSON.parse(r.body) as { families?: { IPv4?: { lastSync?: string; services?: object } } }) : null;
      if (st?.families?.IPv4?.lastSync && Object.keys(st.families.IPv4.services ?? {}).length >= 4) break;
      if (proxy.exitCode !== null || Date.now() > deadline) throw new Error(`proxy not ready:\n${log.join('').slice(-3000)}`);
      await sleep(200);
    }
  };
  /** Run a command in the node namespace and print it as a shell session. */
  const show = async (argv: string[], shown?: string): Promise<string> => {
    const out = await topo.exec('node', argv);
    say('```console');
    say(`# ${shown ?? argv.join(' ')}`);
    say(out.trimEnd());
    say('```');
    return out;
  };
  const kpx = (args: string[], shown?: string): Promise<string> => {
    const { command, args: pre } = proxyCommand(args);
    return show([command, ...pre], shown ?? `kube-proxy-ts ${args.join(' ')}`);
  };
  try {
    writeFileSync(join(dir, 'nodes.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: nodeObjects() }));
    writeFileSync(join(dir, 'services.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: SERVICES.flatMap(serviceObjects) }));
    await start(mode);
    say(`<!-- generated by tools/runbook.ts --mode ${mode}; node ${ADDR.node.ipv4}, client ${ADDR.client.ipv4}, pods 198.18.100.1-5 -->`);

    say('\n#### 1. What is programmed\n');
    await kpx(['get', 'services']);
    await kpx(['get', 'endpoints', '-o', 'wide', '-n', ns]);

    say('\n#### 2. "My service does not answer"\n');
    await kpx(['explain', '--src', ADDR.client.ipv4, '--dst', '198.19.0.20:80']);
    await kpx(['explain', '--src', ADDR.client.ipv4, '--dst', '198.19.0.10:80']);
    await kpx(['explain', '--src', ADDR.node.ipv4, '--dst', '198.19.0.10:80', '--trace']);

    say('\n#### 3. NodePort not answering\n');
    await kpx(['explain', '--src', ADDR.client.ipv4, '--dst', `${ADDR.node.secondaryV4}:30080`]);
    await kpx(['explain', '--src', ADDR.client.ipv4, '--dst', `${ADDR.node.ipv4}:30080`, '--trace', '--probe-netns', topo.ns('client')], `kube-proxy-ts explain --src ${ADDR.client.ipv4} --dst ${ADDR.node.ipv4}:30080 --trace --probe-netns CLIENT_NETNS`);

    say('\n#### 4. externalTrafficPolicy: Local\n');
    await kpx(['explain', '--src', ADDR.client.ipv4, '--dst', '198.19.200.1:80']);
    await kpx(['explain', '--src', '198.18.100.1', '--dst', '198.19.200.1:80']);
    await show(['curl', '-s', '-m', '2', `http://${ADDR.node.ipv4}:32090/`]);

    say('\n#### 5. Stale UDP conntrack\n');
    await kpx(['explain', '--src', ADDR.node.ipv4, '--dst', '198.19.0.53:53/udp', '--trace']);
    await show(['conntrack', '-L', '-p', 'udp', '--orig-dst', '198.19.0.53']);

    say('\n#### 6. The ruleset as the kernel reports it\n');
    const rules = await topo.exec('node', ['curl', '-s', '-m', '5', 'http://127.0.0.1:10249/debug/rules?family=IPv4']);
    say('```console');
    say('# curl -s http://127.0.0.1:10249/debug/rules?family=IPv4 | head -25');
    say(rules.split('\n').slice(0, 25).join('\n'));
    say('```');

    say(`\n#### 7. Mode switch (${mode} -> ${other})\n`);
    await stop();
    await start(other);
    await kpx(['explain', '--src', ADDR.client.ipv4, '--dst', '198.19.0.10:80']);
    const leftovers = mode === 'nftables' ? ['nft', 'list', 'tables'] : ['sh', '-c', 'iptables-save | grep -c "^-A KUBE-" || true'];
    await show(leftovers);
    return 0;
  } finally {
    await stop();
    await topo.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`runbook failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
