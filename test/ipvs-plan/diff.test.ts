// IPVS diff, parsers and applier (with a fake tool runner): incremental changes, graceful
// termination bookkeeping, excludeCIDRs, operation order, failure -> full resync.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planIpvs } from '../../src/dataplane/ipvs/planner.js';
import { diffIpvs, dropDrained, type PendingRS } from '../../src/dataplane/ipvs/planner.js';
import type { IpvsState } from '../../src/kernel/ipvs/types.js';
import { parseIpAddrJson, parseIpvsadmConnCounts, parseIpvsadmSave } from '../../src/kernel/ipvs/parse.js';
import { normaliseSetEntry, parseIpsetSave } from '../../src/kernel/ipset/parse.js';
import { ipsetLine } from '../../src/kernel/ipset/ipset.js';
import { connReuseModeWanted, createIpvsDataplane } from '../../src/dataplane/ipvs/dataplane.js';
import { missingJumpsInSave } from '../../src/kernel/iptables/jumps.js';
import type { ToolRunner as Runner } from '../../src/kernel/runner.js';
import { JUMPS } from '../../src/dataplane/ipvs/layout.js';
import { IpvsUnavailableError } from '../../src/kernel/ipvs/ipvsadm.js';
import { ExecError } from '../../src/util/exec.js';
import { createIptablesDataplane } from '../../src/dataplane/iptables/dataplane.js';
import { setSpecs } from '../../src/dataplane/ipvs/layout.js';
import type { ExecOptions, ExecResult } from '../../src/util/exec.js';
import { config, ep, sp, state } from './helpers.js';

const cfg = config();
const svc = (eps: string[], o: Partial<Parameters<typeof sp>[0]> = {}) =>
  sp({ name: 'web', clusterIP: '198.19.0.10', port: 80, endpoints: eps.map((ip) => ep(ip, 8080)), ...o });
const empty: IpvsState = { family: 'IPv4', addresses: new Set(), virtualServers: new Map(), sets: new Map() };
const opts = (pending: ReadonlyMap<string, PendingRS> = new Map(), excludeCIDRs: string[] = []) => ({
  createSets: false,
  sets: [],
  excludeCIDRs,
  pending,
});

test('diff from nothing: add VS and RS, bind address, add set entries; nothing to delete', () => {
  const ops = diffIpvs(empty, planIpvs(state([svc(['198.18.1.2'])]), cfg), opts());
  assert.deepEqual(ops.ipvs, ['-A -t 198.19.0.10:80 -s rr', '-a -t 198.19.0.10:80 -r 198.18.1.2:8080 -m -w 1']);
  assert.deepEqual(ops.addrAdds, ['addr add 198.19.0.10/32 dev kube-ipvs0']);
  assert.deepEqual(ops.setAdds.map(ipsetLine).sort(), ['add KUBE-CLUSTER-IP 198.19.0.10,tcp:80', 'add KUBE-IPVS-IPS 198.19.0.10']);
  assert.deepEqual([ops.addrDels, ops.setDels], [[], []]);
});

test('diff of an unchanged state is empty', () => {
  const plan = planIpvs(state([svc(['198.18.1.2'])]), cfg);
  const first = diffIpvs(empty, plan, opts());
  const again = diffIpvs(first.next, planIpvs(state([svc(['198.18.1.2'])]), cfg), opts());
  assert.deepEqual([again.ipvs, again.setAdds, again.setDels, again.addrAdds, again.addrDels], [[], [], [], [], []]);
});

test('TCP endpoint removed: weight 0 and pending; re-added: weight 1 and no longer pending; drained: deleted', () => {
  const s1 = diffIpvs(empty, planIpvs(state([svc(['198.18.1.2', '198.18.1.3'])]), cfg), opts());
  const s2 = diffIpvs(s1.next, planIpvs(state([svc(['198.18.1.3', '198.18.1.4'])]), cfg), opts(s1.pending));
  assert.deepEqual(s2.ipvs, ['-a -t 198.19.0.10:80 -r 198.18.1.4:8080 -m -w 1', '-e -t 198.19.0.10:80 -r 198.18.1.2:8080 -m -w 0']);
  assert.deepEqual([...s2.pending.keys()], ['TCP/198.19.0.10:80/198.18.1.2:8080']);
  // Still draining on the next sync: nothing re-sent.
  const s3 = diffIpvs(s2.next, planIpvs(state([svc(['198.18.1.3', '198.18.1.4'])]), cfg), opts(s2.pending));
  assert.deepEqual(s3.ipvs, []);
  assert.equal(s3.pending.size, 1);
  // Back: weight 1 again, not pending.
  const s4 = diffIpvs(s3.next, planIpvs(state([svc(['198.18.1.2', '198.18.1.3', '198.18.1.4'])]), cfg), opts(s3.pending));
  assert.deepEqual(s4.ipvs, ['-e -t 198.19.0.10:80 -r 198.18.1.2:8080 -m -w 1']);
  assert.equal(s4.pending.size, 0);
  // Drained path.
  const d = dropDrained(s3.next, s3.pending, ['TCP/198.19.0.10:80/198.18.1.2:8080']);
  assert.deepEqual(d.lines, ['-d -t 198.19.0.10:80 -r 198.18.1.2:8080']);
  assert.equal(d.pending.size, 0);
  assert.ok(!d.next.virtualServers.get('TCP/198.19.0.10:80')!.reals.has('198.18.1.2:8080'));
});

test('UDP endpoint removed: deleted at once, after additions', () => {
  const u = (eps: string[]) => svc(eps, { protocol: 'UDP', port: 53 });
  const s1 = diffIpvs(empty, planIpvs(state([u(['198.18.1.2'])]), cfg), opts());
  const s2 = diffIpvs(s1.next, planIpvs(state([u(['198.18.1.3'])]), cfg), opts());
  assert.deepEqual(s2.ipvs, ['-a -u 198.19.0.10:53 -r 198.18.1.3:8080 -m -w 1', '-d -u 198.19.0.10:53 -r 198.18.1.2:8080']);
  assert.equal(s2.pending.size, 0);
});

test('service removed: VS deleted, address unbound, entries deleted; excludeCIDRs VS kept; pending dropped with its VS', () => {
  const s1 = diffIpvs(empty, planIpvs(state([svc(['198.18.1.2'])]), cfg), opts());
  const foreign: IpvsState = {
    ...s1.next,
    virtualServers: new Map([
      ...s1.next.virtualServers,
      ['TCP/198.18.250.1:80', { protocol: 'TCP', ip: '198.18.250.1', port: 80, scheduler: 'rr', persistence: 0, flags: [], reals: new Map() }],
    ]),
  };
  const pend = new Map<string, PendingRS>([['TCP/198.19.0.10:80/198.18.1.9:8080', { vsKey: 'TCP/198.19.0.10:80', protocol: 'TCP', vip: '198.19.0.10', vport: 80, rs: { ip: '198.18.1.9', port: 8080, weight: 0 } }]]);
  const s2 = diffIpvs(foreign, planIpvs(state([]), cfg), opts(pend, ['198.18.250.0/24']));
  assert.deepEqual(s2.ipvs, ['-D -t 198.19.0.10:80']);
  assert.deepEqual(s2.addrDels, ['addr del 198.19.0.10/32 dev kube-ipvs0']);
  assert.deepEqual(s2.setDels.map(ipsetLine).sort(), ['del KUBE-CLUSTER-IP 198.19.0.10,tcp:80', 'del KUBE-IPVS-IPS 198.19.0.10']);
  assert.equal(s2.pending.size, 0);
});

test('VS property change (affinity added) -> -E; weight drift from a restart reset to 1', () => {
  const s1 = diffIpvs(empty, planIpvs(state([svc(['198.18.1.2'])]), cfg), opts());
  const odd: IpvsState = {
    ...s1.next,
    virtualServers: new Map([...s1.next.virtualServers].map(([k, v]) => [k, { ...v, reals: new Map([...v.reals].map(([rk, r]) => [rk, { ...r, weight: 5 }])) }])),
  };
  const s2 = diffIpvs(odd, planIpvs(state([svc(['198.18.1.2'], { affinityTimeoutSeconds: 30 })]), cfg), opts());
  assert.deepEqual(s2.ipvs, ['-E -t 198.19.0.10:80 -s rr -p 30', '-e -t 198.19.0.10:80 -r 198.18.1.2:8080 -m -w 1']);
});

test('parsers: ipvsadm -S -n, ipvsadm -L -n, ipset save, ip -j addr, iptables-save jumps', () => {
  const save = [
    '-A -t 198.19.0.10:80 -s rr -p 600',
    '-a -t 198.19.0.10:80 -r 198.18.1.2:8080 -m -w 1',
    '-a -t 198.19.0.10:80 -r 198.18.1.3:8080 -m -w 0',
    '-A -u 198.19.0.11:53 -s mh -b mh-port',
    '-A -t [2001:db8::1]:80 -s rr',
    '-A -f 7 -s rr',
    '',
  ].join('\n');
  const vs = parseIpvsadmSave(save, 'IPv4');
  assert.deepEqual([...vs.keys()], ['TCP/198.19.0.10:80', 'UDP/198.19.0.11:53']);
  assert.equal(vs.get('TCP/198.19.0.10:80')!.persistence, 600);
  assert.equal(vs.get('TCP/198.19.0.10:80')!.reals.get('198.18.1.3:8080')!.weight, 0);
  assert.deepEqual(vs.get('UDP/198.19.0.11:53')!.flags, ['mh-port']);
  assert.deepEqual([...parseIpvsadmSave(save, 'IPv6').keys()], ['TCP/[2001:db8::1]:80']);

  const list = [
    'IP Virtual Server version 1.2.1 (size=4096)',
    'Prot LocalAddress:Port Scheduler Flags',
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
    'TCP  198.19.0.10:80 rr persistent 600',
    '  -> 198.18.1.2:8080              Masq    1      2          3',
    '  -> 198.18.1.3:8080              Masq    0      0          0',
  ].join('\n');
  assert.deepEqual([...parseIpvsadmConnCounts(list)], [
    ['TCP/198.19.0.10:80/198.18.1.2:8080', 5],
    ['TCP/198.19.0.10:80/198.18.1.3:8080', 0],
  ]);

  const ipset = [
    'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 comment bucketsize 12 initval 0x1',
    'add KUBE-CLUSTER-IP 198.19.0.10,tcp:80',
    'create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 65536 comment',
    'add KUBE-LOAD-BALANCER-SOURCE-CIDR 198.18.200.1,tcp:80,198.18.99.7',
    'create OTHER hash:ip',
    'add OTHER 198.18.250.4',
  ].join('\n');
  const sets = parseIpsetSave(ipset, new Set(['KUBE-CLUSTER-IP', 'KUBE-LOAD-BALANCER-SOURCE-CIDR', 'KUBE-NODE-PORT-TCP']));
  assert.deepEqual([...sets.keys()], ['KUBE-CLUSTER-IP', 'KUBE-LOAD-BALANCER-SOURCE-CIDR']);
  assert.equal(normaliseSetEntry('198.18.200.1,tcp:80,198.18.99.7/32'), '198.18.200.1,tcp:80,198.18.99.7');
  assert.equal(normaliseSetEntry('2001:db8::1,tcp:80,2001:db8::5/128'), '2001:db8::1,tcp:80,2001:db8::5');
  assert.equal(normaliseSetEntry('2001:db8::1,tcp:80,2001:db8::/64'), '2001:db8::1,tcp:80,2001:db8::/64');

  const addr = JSON.stringify([{ ifname: 'kube-ipvs0', addr_info: [{ family: 'inet', local: '198.19.0.10' }, { family: 'inet6', local: '2001:db8::1' }, { family: 'inet6', local: 'fe80::1' }] }]);
  assert.deepEqual([...parseIpAddrJson(addr, 'IPv4')], ['198.19.0.10']);
  assert.deepEqual([...parseIpAddrJson(addr, 'IPv6')], ['2001:db8::1']);

  const ipt = ['*nat', ':PREROUTING ACCEPT [0:0]', '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES', 'COMMIT', '*filter', 'COMMIT'].join('\n');
  const miss = missingJumpsInSave(ipt, JUMPS);
  assert.equal(miss.length, 8);
  assert.ok(!miss.some((m) => m.line.includes('PREROUTING')));
  assert.ok(miss.some((m) => m.line === '-I OUTPUT 1 -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER'));
});

test('conn_reuse_mode is set only on 4.1 <= kernel < 5.9 (upstream #93297)', () => {
  assert.equal(connReuseModeWanted('4.19.0-1-amd64'), true);
  assert.equal(connReuseModeWanted('5.8.3'), true);
  assert.equal(connReuseModeWanted('5.9.0'), false);
  assert.equal(connReuseModeWanted('6.1.0-56-amd64'), false);
  assert.equal(connReuseModeWanted('3.10.0'), false);
});

/** A fake kernel: records every tool call; reads return an empty kernel; `fail` makes one tool fail. */
function fakeKernel() {
  const calls: { cmd: string; args: readonly string[]; input?: string }[] = [];
  let fail: string | null = null;
  const runner: Runner = async (cmd: string, args: readonly string[], o: ExecOptions = {}): Promise<ExecResult> => {
    calls.push({ cmd, args, ...(o.input !== undefined ? { input: o.input } : {}) });
    const res: ExecResult = { stdout: '', stderr: '', code: 0, millis: 1 };
    if (fail === cmd) {
      fail = null;
      const r = { ...res, code: 1, stderr: 'boom' };
      if (o.allowFailure) return r;
      throw new ExecError(cmd, args, r);
    }
    if (cmd === 'ip' && args[0] === '-j') return { ...res, stdout: '[]' };
    return res;
  };
  return { calls, runner, failNext: (cmd: string) => (fail = cmd) };
}

test('applier: full sync reads the kernel then writes in order; incremental writes only the change; a failure forces a full resync', async () => {
  const k = fakeKernel();
  const sysctls: string[] = [];
  const dp = createIpvsDataplane(config({ ipvsTimeouts: { tcp: 900, tcpFin: 120, udp: 300 } }), {
    run: k.runner,
    backend: 'legacy',
    drainCheckMs: 0,
    sysctl: async (n, v) => sysctls.push(`${n}=${v}`),
  });
  const r1 = await dp.sync(state([svc(['198.18.1.2'])]), { full: false });
  assert.equal(r1.full, true, 'first sync is always full');
  assert.deepEqual(sysctls, ['net/ipv4/vs/conntrack=1', 'net/ipv4/vs/expire_nodest_conn=1', 'net/ipv4/vs/expire_quiescent_template=1', 'net/ipv4/ip_forward=1']);
  const seq = k.calls.map((c) => `${c.cmd} ${c.args.join(' ')}`);
  assert.deepEqual(seq, [
    'ipvsadm --set 900 120 300',
    'ip -j addr show dev kube-ipvs0',
    'ipvsadm -S -n',
    'ipset save',
    'iptables-legacy-save ',
    'ipset restore -exist',
    'ipvsadm -R',
    'ip -batch -',
    'iptables-legacy-restore -w 5 --noflush',
  ]);
  const restore = k.calls.find((c) => c.cmd === 'iptables-legacy-restore')!.input!;
  assert.match(restore, /^-I PREROUTING 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES$/m);
  assert.match(k.calls.find((c) => c.cmd === 'ipset' && c.args[0] === 'restore')!.input!, /^create KUBE-CLUSTER-IP hash:ip,port family inet/m);

  k.calls.length = 0;
  const r2 = await dp.sync(state([svc(['198.18.1.2', '198.18.1.3'])]), { full: false });
  assert.equal(r2.full, false);
  assert.deepEqual(k.calls.map((c) => `${c.cmd} ${c.args.join(' ')}`), ['ipvsadm -R']);
  assert.equal(k.calls[0]!.input, '-a -t 198.19.0.10:80 -r 198.18.1.3:8080 -m -w 1\n');

  k.calls.length = 0;
  k.failNext('ipvsadm');
  await assert.rejects(dp.sync(state([svc(['198.18.1.3'])]), { full: false }));
  k.calls.length = 0;
  const r3 = await dp.sync(state([svc(['198.18.1.3'])]), { full: false });
  assert.equal(r3.full, true, 'after a failure the next sync is full');
  assert.equal(k.calls[0]!.args.join(' '), '-j addr show dev kube-ipvs0');
});

test('applier: kube-ipvs0 missing on a full sync is created; render shows every part', async () => {
  const k = fakeKernel();
  k.failNext('ip');
  const dp = createIpvsDataplane(config(), { run: k.runner, drainCheckMs: 0, sysctl: async () => undefined });
  await dp.sync(state([svc(['198.18.1.2'])]), { full: true });
  assert.ok(k.calls.some((c) => c.cmd === 'ip' && c.args.join(' ') === 'link add kube-ipvs0 type dummy'));
  const text = dp.render(state([svc(['198.18.1.2'])]));
  for (const part of ['# ipvsadm -R', '-A -t 198.19.0.10:80 -s rr', '# kube-ipvs0', '# ipset restore', '# iptables-restore --noflush', '*nat']) assert.ok(text.includes(part), part);
  assert.equal(setSpecs('IPv6').length, 17);
});

test('unchanged ServicePort objects reuse their VirtualServer objects; the diff skips them by identity', () => {
  const a = svc(['198.18.1.2']);
  const b = sp({ name: 'other', clusterIP: '198.19.0.11', port: 80, endpoints: [ep('198.18.1.5', 8080)] });
  const p1 = planIpvs(state([a, b]), cfg);
  const s1 = diffIpvs(empty, p1, opts());
  const p2 = planIpvs(state([a, b]), cfg);
  assert.equal(p2.virtualServers.get('TCP/198.19.0.10:80'), p1.virtualServers.get('TCP/198.19.0.10:80'));
  assert.equal(s1.next.virtualServers.get('TCP/198.19.0.10:80'), p1.virtualServers.get('TCP/198.19.0.10:80'));
  // Replace one ServicePort (new object): only it is re-planned and diffed.
  const b2 = sp({ name: 'other', clusterIP: '198.19.0.11', port: 80, endpoints: [ep('198.18.1.6', 8080)] });
  const p3 = planIpvs(state([a, b2]), cfg);
  assert.equal(p3.virtualServers.get('TCP/198.19.0.10:80'), p1.virtualServers.get('TCP/198.19.0.10:80'));
  const s3 = diffIpvs(s1.next, p3, opts());
  assert.deepEqual(s3.ipvs, ['-a -t 198.19.0.11:80 -r 198.18.1.6:8080 -m -w 1', '-e -t 198.19.0.11:80 -r 198.18.1.5:8080 -m -w 0']);
  // A different config (scheduler) is not served from another config's cache.
  const lc = planIpvs(state([a, b]), config({ ipvsScheduler: 'lc' }));
  assert.equal(lc.virtualServers.get('TCP/198.19.0.10:80')!.scheduler, 'lc');
});

/**
 * A host whose iptables state points at one backend, as iptables-wrapper reads it: `kubelet` puts
 * kubelet's KUBE-IPTABLES-HINT in that backend's mangle table; `rules` gives it more rules.
 */
function backendHost(kind: 'kubelet-nft' | 'kubelet-legacy' | 'rules-legacy' | 'empty') {
  const calls: { cmd: string; args: readonly string[] }[] = [];
  const hint = '*mangle\n:KUBE-IPTABLES-HINT - [0:0]\nCOMMIT\n';
  const rules = '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n';
  const saves: Record<string, string> = {
    'iptables-nft-save': kind === 'kubelet-nft' ? hint : '',
    'iptables-legacy-save': kind === 'kubelet-legacy' ? hint : kind === 'rules-legacy' ? rules : '',
  };
  const runner: Runner = async (cmd, args) => {
    calls.push({ cmd, args });
    const res: ExecResult = { stdout: saves[cmd] ?? '', stderr: '', code: 0, millis: 1 };
    if (cmd === 'ip' && args[0] === '-j') return { ...res, stdout: '[]' };
    return res;
  };
  return { calls, runner };
}

test('IPVS mode detects the iptables backend as iptables mode does, and writes to the same one', async () => {
  const saved = process.env.KPX_IPTABLES_BACKEND;
  delete process.env.KPX_IPTABLES_BACKEND; // the override would decide for both modes
  try {
    const cases = [
      { kind: 'kubelet-nft', want: 'nft' },
      { kind: 'kubelet-legacy', want: 'legacy' },
      { kind: 'rules-legacy', want: 'legacy' },
      { kind: 'empty', want: 'nft' },
    ] as const;
    for (const c of cases) {
      const restoreBins = async (mode: 'ipvs' | 'iptables'): Promise<string[]> => {
        const h = backendHost(c.kind);
        const dp =
          mode === 'ipvs'
            ? createIpvsDataplane(config(), { run: h.runner, drainCheckMs: 0, sysctl: async () => undefined })
            : createIptablesDataplane(config(), { run: h.runner, conntrackTCPLiberal: true });
        await dp.sync(state([svc(['198.18.1.2'])]), { full: true });
        await dp.detectDrift();
        // The writes and the drift check's rule check (detection only reads, with *-save).
        return [...new Set(h.calls.map((x) => x.cmd).filter((cmd) => /^ip6?tables-(nft|legacy)(-restore)?$/.test(cmd)))].sort();
      };
      const ipvs = await restoreBins('ipvs');
      const iptables = await restoreBins('iptables');
      const b = c.want;
      assert.deepEqual(iptables, [`iptables-${b}`, `iptables-${b}-restore`], `${c.kind}: iptables mode's writes`);
      assert.deepEqual(ipvs, iptables, `${c.kind}: IPVS mode writes to the same backend`);
    }
  } finally {
    if (saved === undefined) delete process.env.KPX_IPTABLES_BACKEND;
    else process.env.KPX_IPTABLES_BACKEND = saved;
  }
});

test('IPVS drift check: a wiped virtual server table (ipvsadm -C) or a flushed ClusterIP set (ipset flush) forces a full sync', async () => {
  // What the kernel "holds": everything present unless a case removes it.
  const cases = [
    { name: 'nothing missing', gone: '', drift: false },
    { name: 'ipvsadm -C', gone: 'ipvsadm -L', drift: true },
    { name: 'ipset flush', gone: 'ipset test', drift: true },
    { name: 'ipset destroy', gone: 'ipset list', drift: true },
    { name: 'iptables -t nat -F', gone: 'iptables-nft -w', drift: true },
    { name: 'ip link del kube-ipvs0', gone: 'ip link', drift: true },
  ];
  for (const c of cases) {
    const probes: string[] = [];
    const runner: Runner = async (cmd, args) => {
      const line = `${cmd} ${args.join(' ')}`;
      if (cmd === 'ip' && args[0] === '-j') return { stdout: '[]', stderr: '', code: 0, millis: 1 };
      probes.push(line);
      const code = c.gone !== '' && line.startsWith(c.gone) ? 1 : 0;
      return { stdout: '', stderr: '', code, millis: 1 };
    };
    const dp = createIpvsDataplane(config(), { run: runner, drainCheckMs: 0, sysctl: async () => undefined, backend: 'nft' });
    await dp.sync(state([svc(['198.18.1.2'])]), { full: true });
    probes.length = 0;
    assert.equal(await dp.detectDrift(), c.drift, c.name);
    if (!c.drift) {
      // One virtual server and one ClusterIP set entry of what was applied are probed.
      assert.ok(probes.some((p) => /^ipvsadm -L -n -t 198\.19\.\d+\.\d+:\d+$/.test(p)), probes.join('\n'));
      assert.ok(probes.some((p) => /^ipset test KUBE-CLUSTER-IP 198\.19\.\d+\.\d+,tcp:\d+$/.test(p)), probes.join('\n'));
    }
  }
});

test('IPVS cleanup on a kernel without IPVS: a typed "nothing to clean" error only when that was the only failure', async () => {
  const noIpvs = "Can't initialize ipvs: Protocol not available\nAre you sure that IP Virtual Server is built in the kernel or as module?";
  for (const [extraFailure, drainMs] of [[false, undefined], [true, undefined], [false, 0], [true, 0]] as const) {
    const runner: Runner = async (cmd, args, opts) => {
      const fail = (stderr: string, code: number): Promise<ExecResult> => {
        const r = { stdout: '', stderr, code, millis: 1 };
        return opts?.allowFailure ? Promise.resolve(r) : Promise.reject(new ExecError(cmd, args, r));
      };
      if (cmd === 'ipvsadm') return fail(noIpvs, 2);
      if (extraFailure && cmd === 'ipset') return fail('ipset v7.17: Kernel error', 1);
      if (cmd === 'ip' && args.includes('show')) return { stdout: '', stderr: 'Device "kube-ipvs0" does not exist.', code: 1, millis: 1 };
      return { stdout: '', stderr: '', code: 0, millis: 1 };
    };
    const dp = createIpvsDataplane(config(), { run: runner, drainCheckMs: 0, sysctl: async () => undefined, backend: 'nft' });
    // drainMs: a mode switch's cleanup, which removes virtual servers after a drain instead of ipvsadm -C.
    const err = await dp.cleanup(drainMs === undefined ? {} : { drainMs }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof Error, 'cleanup reports the failure');
    assert.equal(err instanceof IpvsUnavailableError, !extraFailure, `drainMs=${drainMs}: ${String(err)}`);
  }
});
