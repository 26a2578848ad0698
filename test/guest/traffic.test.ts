// IPVS dataplane against a real kernel (the IPVS guest): traffic from a client namespace through
// our virtual servers to pod namespaces. Skips where the kernel has no IPVS.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServicePort } from '../../src/model/types.js';
import type { DataplaneConfig } from '../../src/dataplane/config.js';
import type { SyncResult } from '../../src/dataplane/types.js';
import { config, ep, sp, state } from '../ipvs-plan/helpers.js';
import { stateToJSON } from './wire.js';
import { NODE_IP, NODE_POD_SIDE_IP, POD_IPS, Topology, skipReason } from './topology.js';

const reason = skipReason();
if (reason) console.log(`# IPVS guest tests SKIPPED: ${reason}`);

const [A, B, C] = POD_IPS;
const cfgFor = (o: Partial<DataplaneConfig> = {}): DataplaneConfig => config({ localDetector: { mode: 'cidr', cidr: '198.18.1.0/24' }, ...o });
const local = { isLocal: true, nodeName: 'node1' };

describe('IPVS dataplane in namespaces', { skip: reason ?? false }, () => {
  let topo: Topology;
  const agents = () => topo.agents!;

  before(async () => {
    topo = await Topology.create();
    await agents().pods.call('listen', { ips: POD_IPS, port: 8080 });
    await agents().pods.call('listen', { ips: POD_IPS, port: 5353, proto: 'UDP' });
  });
  after(async () => {
    if (topo) await topo.destroy();
  });

  async function sync(services: ServicePort[], full = false): Promise<SyncResult> {
    return agents().node.call<SyncResult>('sync', { state: stateToJSON(state(services, { nodeIPs: [NODE_IP] })), full });
  }
  /** Open n connections one after the other; returns "podIP seenSourceIP" per connection. */
  async function connect(host: string, port: number, n: number): Promise<{ pod: string; source: string }[]> {
    const out: { pod: string; source: string }[] = [];
    for (let i = 0; i < n; i++) {
      const r = await agents().client.call<{ reply?: string; error?: string }>('connect', { host, port });
      assert.ok(r.reply, `connection ${i + 1} to ${host}:${port} failed: ${r.error}`);
      const [pp, source] = r.reply.split(' ');
      out.push({ pod: pp!.split(':')[0]!, source: source! });
    }
    return out;
  }
  const count = (xs: { pod: string }[]): Record<string, number> => {
    const c: Record<string, number> = {};
    for (const x of xs) c[x.pod] = (c[x.pod] ?? 0) + 1;
    return c;
  };
  const ipvsList = (): Promise<string> => topo.inNode('ipvsadm', ['-L', '-n']);

  test('ClusterIP and NodePort TCP via IPVS: rr spread, masquerade, incremental change, drift repair, cleanup', async () => {
    await agents().node.call('create', { cfg: cfgFor() });
    const web = (eps: string[]): ServicePort =>
      sp({ name: 'web', clusterIP: '198.19.0.10', port: 80, nodePort: 30080, endpoints: eps.map((ip) => ep(ip, 8080, local)) });
    const first = await sync([web([A, B])], true);
    assert.equal(first.full, true);

    const list = await ipvsList();
    assert.match(list, /TCP {2}198\.19\.0\.10:80 rr/);
    assert.match(list, /-> 198\.18\.1\.2:8080 +Masq +1/);
    assert.match(list, /TCP {2}198\.18\.10\.1:30080 rr/);
    assert.match(await topo.inNode('ip', ['addr', 'show', 'dev', 'kube-ipvs0']), /inet 198\.19\.0\.10\/32/);

    const viaVip = await connect('198.19.0.10', 80, 4);
    assert.deepEqual(count(viaVip), { [A]: 2, [B]: 2 }, 'rr alternates between the two real servers');
    // The client is outside the pod CIDR: KUBE-MARK-MASQ + MASQUERADE, the pod sees the node.
    for (const r of viaVip) assert.equal(r.source, NODE_POD_SIDE_IP);
    const viaNodePort = await connect(NODE_IP, 30080, 2);
    assert.deepEqual(count(viaNodePort), { [A]: 1, [B]: 1 });

    // Incremental: one endpoint added -> only that real server (twice: ClusterIP and NodePort VS).
    const inc = await sync([web([A, B, C])]);
    assert.equal(inc.full, false);
    assert.ok(inc.operations <= 4, `incremental sync sent ${inc.operations} operations`);
    assert.match(await ipvsList(), /-> 198\.18\.1\.4:8080/);
    assert.deepEqual(Object.keys(count(await connect('198.19.0.10', 80, 6))).sort(), [A, B, C]);
    // Unchanged state: nothing sent.
    assert.equal((await sync([web([A, B, C])])).operations, 0);

    // Someone deletes kube-ipvs0: drift is seen, a full sync repairs it.
    assert.equal(await agents().node.call('drift'), false);
    await topo.inNode('ip', ['link', 'del', 'kube-ipvs0']);
    assert.equal(await agents().node.call('drift'), true);
    const repaired = await sync([web([A, B, C])], true);
    assert.ok(repaired.operations > 0);
    assert.equal((await connect('198.19.0.10', 80, 1)).length, 1);

    // Service removed: virtual servers, address and set entries go.
    await sync([]);
    assert.doesNotMatch(await ipvsList(), /198\.19\.0\.10/);
    assert.doesNotMatch(await topo.inNode('ip', ['addr', 'show', 'dev', 'kube-ipvs0']), /198\.19\.0\.10/);
    assert.doesNotMatch(await topo.inNode('ipset', ['list', 'KUBE-CLUSTER-IP']), /198\.19\.0\.10/);

    await agents().node.call('cleanup');
    assert.doesNotMatch(await topo.inNode('ip', ['link', 'show']), /kube-ipvs0/);
    assert.doesNotMatch(await topo.inNode('ipset', ['list', '-n']), /KUBE-/);
    assert.doesNotMatch(await topo.inNode('iptables-save', []), /KUBE-SERVICES|KUBE-IPVS/);
  });

  test('lc scheduler: new connections go to the real server with fewer active connections', async () => {
    await agents().node.call('create', { cfg: cfgFor({ ipvsScheduler: 'lc' }) });
    const svc = (eps: string[]): ServicePort => sp({ name: 'lc', clusterIP: '198.19.0.20', port: 80, endpoints: eps.map((ip) => ep(ip, 8080, local)) });
    await sync([svc([A])], true);
    assert.match(await ipvsList(), /TCP {2}198\.19\.0\.20:80 lc/);
    const heldHandles: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await agents().client.call<{ reply: string; handle: number }>('connect', { host: '198.19.0.20', port: 80, hold: true });
      assert.ok(r.reply.startsWith(`${A}:`));
      heldHandles.push(r.handle);
    }
    await sync([svc([A, B])]);
    // A holds 3 active connections; under rr half of these would land on A.
    assert.deepEqual(count(await connect('198.19.0.20', 80, 4)), { [B]: 4 });
    for (const h of heldHandles) await agents().client.call('close', { handle: h });
    await agents().node.call('cleanup');
  });

  test('ClientIP affinity: persistent virtual server keeps the client on one pod', async () => {
    await agents().node.call('create', { cfg: cfgFor() });
    await sync([sp({ name: 'sticky', clusterIP: '198.19.0.30', port: 80, affinityTimeoutSeconds: 600, endpoints: [A, B, C].map((ip) => ep(ip, 8080, local)) })], true);
    assert.match(await ipvsList(), /TCP {2}198\.19\.0\.30:80 rr persistent 600/);
    const c = count(await connect('198.19.0.30', 80, 5));
    assert.equal(Object.keys(c).length, 1, `all connections to one pod, got ${JSON.stringify(c)}`);
    await agents().node.call('cleanup');
  });

  test('graceful termination: a removed TCP real server drains (weight 0), its connection lives on, then it is deleted', async () => {
    await agents().node.call('create', { cfg: cfgFor() });
    const svc = (eps: string[]): ServicePort => sp({ name: 'gt', clusterIP: '198.19.0.40', port: 80, endpoints: eps.map((ip) => ep(ip, 8080, local)) });
    await sync([svc([A])], true);
    const held = await agents().client.call<{ reply: string; handle: number }>('connect', { host: '198.19.0.40', port: 80, hold: true });
    assert.ok(held.reply.startsWith(`${A}:`));

    await sync([svc([B])]);
    assert.match(await ipvsList(), /-> 198\.18\.1\.2:8080 +Masq +0 +1/, 'A kept with weight 0 and its active connection');
    assert.deepEqual(await agents().node.call('draining'), ['TCP/198.19.0.40:80/198.18.1.2:8080']);
    const e = await agents().client.call<{ reply?: string; error?: string }>('echo', { handle: held.handle, text: 'still there' });
    assert.equal(e.reply, 'echo still there', `established connection broke: ${e.error}`);
    assert.deepEqual(count(await connect('198.19.0.40', 80, 3)), { [B]: 3 });

    // Closed (RST): IPVS forgets the connection after its CLOSE timeout (10 s); a sync then deletes A.
    await agents().client.call('close', { handle: held.handle });
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && (await agents().node.call<string[]>('draining')).length > 0) {
      await new Promise((r) => setTimeout(r, 2000));
      await sync([svc([B])]);
    }
    assert.deepEqual(await agents().node.call('draining'), []);
    assert.doesNotMatch(await ipvsList(), /198\.18\.1\.2:8080/);
    await agents().node.call('cleanup');
  });

  test('UDP: datagrams reach a pod; a removed UDP real server is deleted at once', async () => {
    await agents().node.call('create', { cfg: cfgFor() });
    const svc = (eps: string[]): ServicePort => sp({ name: 'dns', clusterIP: '198.19.0.50', port: 53, protocol: 'UDP', endpoints: eps.map((ip) => ep(ip, 5353, local)) });
    await sync([svc([A, B])], true);
    const r = await agents().client.call<{ reply?: string; error?: string }>('udp', { host: '198.19.0.50', port: 53 });
    assert.ok(r.reply && /^198\.18\.1\.[23]:5353 /.test(r.reply), `no UDP answer: ${r.error}`);
    await sync([svc([B])]);
    assert.doesNotMatch(await ipvsList(), /198\.18\.1\.2:5353/);
    assert.deepEqual(await agents().node.call('draining'), []);
    await agents().node.call('cleanup');
  });
});
