// Traffic smoke test: a node namespace running our nftables rules, two pod namespaces on veth
// pairs, TCP servers that answer with their name and the peer address they saw.
// (The full scenario table lives in test/traffic; this only proves the layout forwards.)

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNftablesDataplane } from '../../src/dataplane/nftables/index.js';
import { run } from '../../src/util/exec.js';
import { config, ep, sp, state } from './fixtures.js';
import { canRunKernelTests, createNetns, type Netns } from './netns.js';

const skip = canRunKernelTests() ? false : 'needs root for network namespaces';

const SERVER = `
const net = require('node:net');
const [name, port] = process.argv.slice(1);
net.createServer((s) => { s.on('error', () => {}); s.end(name + ' ' + String(s.remoteAddress).replace(/^::ffff:/, '') + '\\n'); })
  .listen(Number(port), () => console.log('ready'));
`;
const CLIENT = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port), timeout: 2000 });
let out = '';
s.on('data', (d) => (out += d));
s.on('end', () => { console.log(out.trim()); process.exit(0); });
s.on('timeout', () => { console.log('ERR timeout'); process.exit(0); });
s.on('error', (e) => { console.log('ERR ' + e.code); process.exit(0); });
`;

describe('nftables traffic smoke', { skip }, () => {
  let node: Netns;
  const pods: Netns[] = [];
  const servers: ChildProcess[] = [];
  let dir = '';

  async function startServer(ns: Netns, name: string): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '-e', SERVER, name, '8080'], { stdio: ['ignore', 'pipe', 'inherit'] });
    servers.push(child);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('server did not start')), 10_000);
      child.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
  }

  async function connect(from: Netns, host: string, port: number): Promise<string> {
    const r = await from.exec(process.execPath, ['-e', CLIENT, host, String(port)], { timeoutMs: 10_000 });
    return r.stdout.trim();
  }

  before(async () => {
    node = await createNetns('nftn');
    await node.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    await node.exec('ip', ['link', 'set', 'lo', 'up']);
    for (let i = 1; i <= 2; i++) {
      const pod = await createNetns(`nftp${i}`);
      pods.push(pod);
      const podIP = `198.18.100.${i + 1}`;
      await node.exec('ip', ['link', 'add', `vp${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.name]);
      await node.exec('ip', ['addr', 'add', '198.18.0.1/32', 'dev', `vp${i}`]);
      await node.exec('ip', ['link', 'set', `vp${i}`, 'up']);
      await node.exec('ip', ['route', 'add', `${podIP}/32`, 'dev', `vp${i}`]);
      await pod.exec('ip', ['link', 'set', 'lo', 'up']);
      await pod.exec('ip', ['addr', 'add', `${podIP}/32`, 'dev', 'eth0']);
      await pod.exec('ip', ['link', 'set', 'eth0', 'up']);
      await pod.exec('ip', ['route', 'add', '198.18.0.1/32', 'dev', 'eth0']);
      await pod.exec('ip', ['route', 'add', 'default', 'via', '198.18.0.1']);
      await startServer(pod, `pod${i}`);
    }
    // Locally generated packets are routed before nat-output DNATs them: like any real node,
    // ours needs a route covering the service range (a default route in a cluster).
    await node.exec('ip', ['route', 'add', '198.19.0.0/16', 'dev', 'vp1']);
    dir = mkdtempSync(join(tmpdir(), 'kpx-nft-'));
    const wrapper = join(dir, 'nft');
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${node.name} nft "$@"\n`);
    chmodSync(wrapper, 0o755);
    process.env.KPX_TOOL_NFT = wrapper;
  });

  after(async () => {
    delete process.env.KPX_TOOL_NFT;
    for (const s of servers) s.kill('SIGKILL');
    for (const p of pods) await p.destroy();
    await node?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await run('true', []);
  });

  test('ClusterIP, NodePort, hairpin, no-endpoint reject, endpoint change', async () => {
    const dp = createNftablesDataplane(config());
    const both = sp('ns', 'web', { clusterIP: '198.19.0.1', nodePort: 30080, endpoints: [ep('198.18.100.2'), ep('198.18.100.3')] });
    const self = sp('ns', 'self', { clusterIP: '198.19.0.2', endpoints: [ep('198.18.100.2')] });
    const none = sp('ns', 'none', { clusterIP: '198.19.0.3' });
    await dp.sync(state([both, self, none]), { full: false });

    // From the node itself: both pods answer over some attempts.
    const seen = new Set<string>();
    for (let i = 0; i < 30 && seen.size < 2; i++) seen.add(await connect(node, '198.19.0.1', 80).then((o) => (o.startsWith('ERR') ? o : o.split(' ')[0]!)));
    assert.deepEqual([...seen].sort(), ['pod1', 'pod2']);

    // NodePort from pod2 on the node IP: external traffic (eTP Cluster) is masqueraded.
    const viaNodePort = await connect(pods[1]!, '198.18.0.1', 30080);
    assert.match(viaNodePort, /^pod[12] 198\.18\.0\.1$/);

    // Hairpin: pod1 -> service whose only endpoint is pod1 works, and arrives masqueraded.
    assert.equal(await connect(pods[0]!, '198.19.0.2', 80), 'pod1 198.18.0.1');
    // pod2 -> same service: pod source kept (pod-to-service traffic is not masqueraded).
    assert.equal(await connect(pods[1]!, '198.19.0.2', 80), 'pod1 198.18.100.3');

    // No endpoints: rejected (refused), not a timeout; an invalid port of a ClusterIP too.
    assert.equal(await connect(pods[1]!, '198.19.0.3', 80), 'ERR ECONNREFUSED');
    assert.equal(await connect(pods[1]!, '198.19.0.1', 81), 'ERR ECONNREFUSED');

    // Endpoint change (incremental): only pod2 remains behind web.
    const web2 = sp('ns', 'web', { clusterIP: '198.19.0.1', nodePort: 30080, endpoints: [ep('198.18.100.3')] });
    const r = await dp.sync(state([web2, self, none]), { full: false });
    assert.equal(r.full, false);
    for (let i = 0; i < 10; i++) assert.match(await connect(node, '198.19.0.1', 80), /^pod2 /);
  });
});
