// Demo: kube-proxy-ts in a throwaway network-namespace "cluster".
//
//   node --import tsx tools/demo.ts [--mode nftables|iptables|ipvs] [--requests N]
//   node dist/tools/demo.js ...           (after `npm run build`)
//
// Creates namespaces (prefix kpx-tr-<random>-: a node, pods p1..p5 answering with their name, a
// client outside the node), runs the proxy in the node namespace with --manifests examples/manifests,
// sends a bounded number of requests to a ClusterIP and a NodePort, prints how they spread over the
// pods and the ruleset the proxy programmed, then deletes everything (also on Ctrl-C or failure).
// Exit 0 when every request was answered and the no-endpoints Service was rejected; 1 otherwise.
// Needs root (network namespaces); touches nothing outside the namespaces it creates.

import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { summarize, type Attempt } from '../test/support/backend.js';
import { repoRoot, startProxy } from '../test/support/proxy-process.js';
import { Topology } from '../test/support/topology.js';

type Mode = 'nftables' | 'iptables' | 'ipvs';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'nftables' },
    requests: { type: 'string', default: '30' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  process.stdout.write('usage: demo [--mode nftables|iptables|ipvs] [--requests N (1-200)]\n');
  process.exit(0);
}
const mode = values.mode as Mode;
if (!['nftables', 'iptables', 'ipvs'].includes(mode)) {
  process.stderr.write(`demo: unknown --mode ${mode}\n`);
  process.exit(1);
}
const requests = Math.max(1, Math.min(200, Number(values.requests) || 30));
if (process.getuid?.() !== 0) {
  process.stderr.write('demo: needs root (it creates network namespaces)\n');
  process.exit(1);
}

const say = (s: string): void => void process.stdout.write(s + '\n');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function spread(attempts: readonly Attempt[]): { ok: boolean; text: string } {
  const counts = new Map<string, number>();
  for (const a of attempts) {
    const k = a.kind === 'answer' ? a.answeredBy : a.kind;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const rows = [...counts].sort().map(([k, n]) => `    ${k.padEnd(8)} ${String(n).padStart(4)}  ${'#'.repeat(Math.round((n / attempts.length) * 40))}`);
  return { ok: attempts.every((a) => a.kind === 'answer'), text: rows.join('\n') };
}

async function main(): Promise<number> {
  say(`== kube-proxy-ts demo, mode ${mode} ==`);
  const topo = await Topology.create({});
  let proxy: ChildProcess | undefined;
  const log: string[] = [];
  try {
    say(`namespaces: ${topo.prefix}-{node,client,client2,lan,p1..p5}`);
    const manifests = join(repoRoot, 'examples/manifests');
    proxy = startProxy(
      [
        `--manifests=${manifests}`,
        `--proxy-mode=${mode}`,
        '--hostname-override=node-a',
        '--cluster-cidr=198.18.100.0/24,2001:db8:100:1::/64',
        '--metrics-bind-address=127.0.0.1:10249',
        '--healthz-bind-address=0.0.0.0:10256',
        '--conntrack-max-per-core=0',
      ],
      { prefix: ['ip', 'netns', 'exec', topo.ns('node')] },
    );
    topo.track(proxy);
    proxy.stdout?.on('data', (b: Buffer) => log.push(b.toString()));
    proxy.stderr?.on('data', (b: Buffer) => log.push(b.toString()));
    say(`proxy: pid ${proxy.pid}, --manifests ${manifests}`);

    // Ready when both families have synced the demo's Services (3 IPv4 ports, 1 IPv6 port).
    const node = topo.agent('node');
    const deadline = Date.now() + 60_000;
    for (;;) {
      const st = await node.http('http://127.0.0.1:10249/debug/state', 1000).catch(() => null);
      if (st?.status === 200) {
        const fams = (JSON.parse(st.body) as { families?: Record<string, { lastSync?: string; services?: object }> }).families ?? {};
        const n = (f: string): number => Object.keys(fams[f]?.services ?? {}).length;
        if (fams.IPv4?.lastSync && fams.IPv6?.lastSync && n('IPv4') >= 4 && n('IPv6') >= 1) break;
      }
      if (proxy.exitCode !== null || Date.now() > deadline) throw new Error(`proxy did not become ready:\n${log.join('').slice(-3000)}`);
      await sleep(200);
    }
    say('proxy: rules programmed\n');

    const client = topo.agent('client');
    let ok = true;
    for (const [label, host, port] of [
      ['ClusterIP web 198.19.0.10:80', '198.19.0.10', 80],
      ['NodePort web-nodeport 198.18.0.1:30080', '198.18.0.1', 30080],
      ['NodePort web-nodeport [2001:db8::1]:30080', '2001:db8::1', 30080],
    ] as const) {
      const attempts = await client.probe({ proto: 'TCP', host, port, count: requests, concurrency: 4, timeoutMs: 2000 });
      const s = spread(attempts);
      ok &&= s.ok;
      say(`${requests} TCP requests from the client to ${label}:\n${s.text}`);
      const first = attempts.find((a) => a.kind === 'answer');
      if (first?.kind === 'answer') say(`    (the pods saw the client as ${first.seenSource}: masqueraded to the node IP)`);
      say('');
    }
    const dns = await client.probe({ proto: 'UDP', host: '198.19.0.10', port: 53, count: 10, concurrency: 2, timeoutMs: 2000 });
    say(`10 UDP requests to ClusterIP web 198.19.0.10:53:\n${spread(dns).text}\n`);
    ok &&= dns.every((a) => a.kind === 'answer');
    const rejected = await client.probe({ proto: 'TCP', host: '198.19.0.30', port: 80, count: 3, concurrency: 3, timeoutMs: 2000 });
    const rej = rejected.every((a) => a.kind === 'refused');
    say(`3 TCP requests to no-endpoints 198.19.0.30:80 (expected: rejected): ${summarize(rejected)}\n`);
    ok &&= rej;

    const dump =
      mode === 'nftables'
        ? ['nft', 'list', 'table', 'ip', 'kube-proxy']
        : mode === 'iptables'
          ? ['sh', '-c', 'iptables-save -t nat; iptables-save -t filter']
          : ['sh', '-c', 'ipvsadm -Ln; iptables-save -t nat'];
    say(`== programmed ruleset (${dump.join(' ')}) ==`);
    say(await topo.exec('node', dump));
    say(ok ? '== demo OK ==' : '== demo FAILED: some requests were not answered as expected ==');
    if (!ok) say(`proxy log (tail):\n${log.join('').slice(-3000)}`);
    return ok ? 0 : 1;
  } finally {
    if (proxy?.pid && proxy.exitCode === null) {
      const gone = new Promise((r) => proxy?.once('exit', r));
      process.kill(proxy.pid, 'SIGTERM');
      await Promise.race([gone, sleep(5000)]);
      if (proxy.exitCode === null) process.kill(proxy.pid, 'SIGKILL');
    }
    await topo.destroy();
    say(`cleaned up ${topo.prefix}-*`);
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
