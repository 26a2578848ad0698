// The mode-switch test body, shared by the host file (iptables <-> nftables) and the IPVS guest
// file (ipvs -> nftables / iptables): a client keeps opening new TCP connections to ClusterIP,
// NodePort and LoadBalancer services of both families while the proxy is stopped in one mode and
// started in another, and holds one connection per family opened before the switch.

import assert from 'node:assert/strict';
import { after, before, type TestContext } from 'node:test';
import type { LoopAttempt } from '../support/backend.js';
import { ADDR, Topology, leakedNamespaces } from '../support/topology.js';
import type { ServiceDef } from '../traffic/scenarios.js';
import { Manifests, NodeProxy, oursLeft, sleep, type RunMode } from './support.js';

const ECHO_PORT = 9091;
const eps = (...pods: string[]) => pods.map((pod) => ({ pod }));
const http = (nodePort?: number) => ({ name: 'http', protocol: 'TCP' as const, port: 80, targetPort: 8080, ...(nodePort ? { nodePort } : {}) });

export const SWITCH_SERVICES: readonly ServiceDef[] = [
  {
    name: 'sw-cip',
    clusterIPs: ['198.19.0.40', '2001:db8:19::40'],
    ports: [http(), { name: 'echo', protocol: 'TCP', port: ECHO_PORT, targetPort: ECHO_PORT }],
    endpoints: eps('p1', 'p2'),
  },
  { name: 'sw-np', type: 'NodePort', clusterIPs: ['198.19.0.41', '2001:db8:19::41'], ports: [http(30140)], endpoints: eps('p2', 'p3') },
  {
    name: 'sw-lb',
    type: 'LoadBalancer',
    clusterIPs: ['198.19.0.42', '2001:db8:19::42'],
    ports: [http(30141)],
    lbIngress: [{ ip: '198.19.200.42' }, { ip: '2001:db8:19::c8:42' }],
    endpoints: eps('p1', 'p3'),
  },
];

export const SWITCH_TARGETS: readonly { host: string; port: number; label: string }[] = [
  { host: '198.19.0.40', port: 80, label: 'ClusterIP v4' },
  { host: '2001:db8:19::40', port: 80, label: 'ClusterIP v6' },
  { host: ADDR.node.ipv4, port: 30140, label: 'NodePort v4' },
  { host: ADDR.node.ipv6, port: 30140, label: 'NodePort v6' },
  { host: '198.19.200.42', port: 80, label: 'LoadBalancer v4' },
  { host: '2001:db8:19::c8:42', port: 80, label: 'LoadBalancer v6' },
];

/** Pods p1, p2 also serve the echo port the held connections use. */
export async function serveEcho(topo: Topology): Promise<void> {
  for (const p of ['p1', 'p2']) await topo.agent(p).serve(p, { tcp: [ECHO_PORT], echo: true });
}

/**
 * The lifecycle suites' fixture, for a describe block: one topology with echo-serving pods, destroyed
 * afterwards with a check that no namespace leaked. Returns the topology's getter.
 */
export function useEchoTopology(): () => Topology {
  let topo: Topology | undefined;
  before(async () => {
    topo = await Topology.create();
    await serveEcho(topo);
  });
  after(async () => {
    const prefix = topo?.prefix;
    await topo?.destroy();
    if (prefix) assert.deepEqual(leakedNamespaces(prefix), []);
  });
  return () => {
    if (!topo) throw new Error('the lifecycle topology is not up');
    return topo;
  };
}

export interface SwitchFigures {
  readonly total: number;
  readonly failed: number;
  /** Attempts started while only the old rules were there (old proxy stopped, new not yet synced). */
  readonly oldOnly: number;
  /** Attempts started while both rule sets were there (new synced, old not yet removed). */
  readonly both: number;
  readonly after: number;
  readonly startToProgrammedMs: number;
  readonly programmedToCleanMs: number;
}

/** Added while the old proxy syncs (a restart at a random point of a sync). */
const LATE_SERVICES: readonly ServiceDef[] = [
  ...SWITCH_SERVICES.map((x) => (x.name === 'sw-np' ? { ...x, endpoints: eps('p2', 'p3', 'p4') } : x)),
  { name: 'sw-late', clusterIPs: ['198.19.0.43', '2001:db8:19::43'], ports: [http()], endpoints: eps('p4', 'p5') },
];

function gone(from: RunMode, left: readonly string[]): boolean {
  if (from === 'nftables') return !left.some((l) => l.startsWith('nft:'));
  // IPVS: sets and rules go at once; virtual servers and kube-ipvs0 wait for live connections.
  if (from === 'ipvs') return !left.some((l) => l.startsWith('ipset:') || /KUBE-(IPVS-FILTER|IPVS-OUT-FILTER|NODE-PORT|LOAD-BALANCER|SOURCE-RANGES-FIREWALL)\b/.test(l));
  const tools = from === 'iptables-legacy' ? /^ip6?tables-legacy-save/ : /^ip6?tables-nft-save/;
  return !left.some((l) => tools.test(l));
}

/**
 * One switch `from` -> `to` in fresh node namespaces. `periodMs` between connections per target;
 * `readyMs` for the emulated guest. Returns the figures; asserts 0 failures and live held connections.
 */
export async function runSwitch(
  t: TestContext,
  topo: Topology,
  from: RunMode,
  to: RunMode,
  o: {
    periodMs?: number;
    readyMs?: number;
    attemptTimeoutMs?: number;
    targets?: readonly { host: string; port: number; label: string }[];
    /** How the old process ends (default SIGTERM). */
    signal?: 'SIGTERM' | 'SIGKILL';
    /** Change the Services, then stop the old process after a random delay in [0, this) ms: mid-sync. */
    stopDuringSyncMs?: number;
    /** Kernel census poll period (each costs ~10 tool runs: slow in the emulated guest). */
    pollMs?: number;
  } = {},
): Promise<SwitchFigures> {
  const targets = o.targets ?? SWITCH_TARGETS;
  const readyMs = o.readyMs ?? 60_000;
  await topo.resetNodes();
  const m = new Manifests(SWITCH_SERVICES);
  const client = topo.agent('client');
  let a: NodeProxy | null = null;
  let b: NodeProxy | null = null;
  try {
    a = new NodeProxy(topo, from, m);
    await a.ready(readyMs);
    const held4 = await client.hold('h4', '198.19.0.40', ECHO_PORT);
    const held6 = await client.hold('h6', '2001:db8:19::40', ECHO_PORT);
    assert.ok((await client.holdPing('h4')).ok && (await client.holdPing('h6')).ok, 'held connections work before the switch');
    await client.loopStart(targets, { periodMs: o.periodMs ?? 20, timeoutMs: o.attemptTimeoutMs ?? 2000, maxMs: readyMs * 3 + 120_000 });
    await sleep(300);

    let delay = -1;
    if (o.stopDuringSyncMs !== undefined) {
      m.set(LATE_SERVICES);
      delay = Math.floor(Math.random() * o.stopDuringSyncMs);
      await sleep(delay);
    }
    const stopAt = Date.now();
    if (o.signal === 'SIGKILL') await a.kill();
    else assert.equal((await a.stop()).code, 0, 'SIGTERM exits 0, rules stay');
    const startAt = Date.now();
    b = new NodeProxy(topo, to, m);
    const programmedAt = await b.ready(readyMs);
    let cleanAt = 0;
    const deadline = Date.now() + readyMs;
    while (!cleanAt) {
      if (from === to || gone(from, await oursLeft(topo))) cleanAt = Date.now();
      else if (Date.now() > deadline) assert.fail(`${from} leftovers still there ${readyMs} ms after ${to} synced:\n${(await oursLeft(topo)).join('\n')}\n${b.log().slice(-3000)}`);
      else await sleep(o.pollMs ?? 50);
    }
    await sleep(1000);
    const attempts: LoopAttempt[] = await client.loopStop();
    const ping4 = await client.holdPing('h4');
    const ping6 = await client.holdPing('h6');

    const failed = attempts.filter((x) => !x.ok);
    const f: SwitchFigures = {
      total: attempts.length,
      failed: failed.length,
      oldOnly: attempts.filter((x) => x.at >= stopAt && x.at < programmedAt).length,
      both: attempts.filter((x) => x.at >= programmedAt && x.at < cleanAt).length,
      after: attempts.filter((x) => x.at >= cleanAt).length,
      startToProgrammedMs: programmedAt - startAt,
      programmedToCleanMs: cleanAt - programmedAt,
    };
    const how = `${o.signal ?? 'SIGTERM'}${delay >= 0 ? `, ${delay} ms after a Services change` : ''}`;
    t.diagnostic(
      `${from} -> ${to} (${how}): ${f.failed}/${f.total} new connections failed (${targets.length} targets, every ${o.periodMs ?? 20} ms each); ` +
        `old rules only ${f.oldOnly} (start -> programmed ${f.startToProgrammedMs} ms), both rule sets ${f.both} (${f.programmedToCleanMs} ms), new only ${f.after}; ` +
        `held connections (${held4}, ${held6}): v4 ${ping4.ok ? 'ok' : ping4.err}, v6 ${ping6.ok ? 'ok' : ping6.err}`,
    );
    const byTarget = (i: number) => failed.filter((x) => x.target === i).length;
    assert.equal(f.failed, 0, `failed: ${targets.map((x, i) => `${x.label} ${byTarget(i)}`).join(', ')}; first: ${JSON.stringify(failed.slice(0, 3))}`);
    assert.ok(f.oldOnly > 0 && f.after > 0, 'connections were attempted in every phase');
    for (const [i, x] of targets.entries()) assert.ok(attempts.some((y) => y.target === i && y.at >= cleanAt && y.ok), `${x.label} served by ${to} alone`);
    if (delay >= 0) {
      // The change made while the old process was stopping is programmed by the new one.
      for (const host of ['198.19.0.43', '2001:db8:19::43']) {
        const r = await client.probe({ proto: 'TCP', host, port: 80, count: 10, concurrency: 2, timeoutMs: o.attemptTimeoutMs ?? 2000 });
        assert.ok(r.every((x) => x.kind === 'answer' && ['p4', 'p5'].includes(x.answeredBy)), `service added during the sync answers on ${host}: ${JSON.stringify(r.slice(0, 3))}`);
      }
    }
    assert.ok(ping4.ok && ping6.ok, `connections established before the switch survive: v4 ${ping4.err ?? 'ok'}, v6 ${ping6.err ?? 'ok'}`);
    let drainMs = -1;
    if (from === 'ipvs' && to !== 'ipvs') {
      // The held connections were IPVS's last live ones: virtual servers and kube-ipvs0 go now.
      await client.unhold('h4');
      await client.unhold('h6');
      const t0 = Date.now();
      while ((await oursLeft(topo)).some((l) => l.startsWith('ipvs:') || l.startsWith('link:'))) {
        assert.ok(Date.now() - t0 < readyMs, `IPVS virtual servers / kube-ipvs0 still there ${readyMs} ms after the last connection closed`);
        await sleep(o.pollMs ?? 500);
      }
      drainMs = Date.now() - t0;
      t.diagnostic(`${from} -> ${to}: IPVS virtual servers and kube-ipvs0 removed ${drainMs} ms after the held connections closed`);
    }
    const cleanupLog = b.log().split('\n').filter((l) => /Cleanup failed|leftovers/.test(l));
    t.diagnostic(`${to} log: ${cleanupLog.map((l) => l.slice(0, 400)).join(' | ')}`);
    assert.ok(!cleanupLog.some((l) => l.includes('Cleanup failed')), 'removing the old mode raised no error');
    assert.equal((await b.stop()).code, 0);
    return f;
  } finally {
    await client.loopStop().catch(() => undefined);
    await a?.kill();
    await b?.kill();
    m.remove();
  }
}
