// explain --trace's judgement, pure: the IPVS connection-table parser and the exact lookup of the
// probe's own connection (real `ipvsadm -L -n -c` output from the IPVS guest, with near-miss lines),
// and the verdicts of judgeProbe for IPVS evidence: agreement, a real server outside the eligible
// set, a probe that IPVS never forwarded though explain predicted an endpoint, and the reverse.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChosenEndpoint, Explanation } from '../../src/explain/explain.js';
import { findProbeConnections, judgeIpvs, nearMisses, parseHostPort, parseIpvsConnections, type IpvsEvidence } from '../../src/explain/ipvs-conn.js';
import { judgeProbe, type ConntrackEntry, type JudgeInput, type ProbeResult } from '../../src/explain/trace.js';

// Captured in the IPVS guest (kernel 6.1, ipvsadm 1.31): four TCP probes and one UDP datagram
// through NAT virtual servers; 198.19.0.16:80 is persistent (its template has client port 0).
const SAMPLE = `IPVS connection entries
pro expire state       source             virtual            destination
TCP 00:06  CLOSE       198.18.0.2:40000   198.19.0.10:80     198.18.100.2:8080
TCP 00:06  CLOSE       198.18.0.2:4000    198.19.0.10:80     198.18.100.1:8080
TCP 00:06  CLOSE       198.18.0.2:40001   198.19.0.16:80     198.18.100.2:8080
TCP 09:56  NONE        198.18.0.2:0       198.19.0.16:80     198.18.100.2:8080
TCP 00:06  CLOSE       [2001:db8::2]:40000 [2001:db8:19::10]:80 [2001:db8:100::1]:8080
UDP 04:57  UDP         198.18.0.2:40002   198.19.0.10:53     198.18.100.1:5353
`;

describe('ipvsadm -L -n -c parsing', () => {
  test('every connection line, headers skipped, IPv6 brackets removed', () => {
    const c = parseIpvsConnections(SAMPLE);
    assert.equal(c.length, 6);
    assert.deepEqual(c[0], {
      protocol: 'TCP', expire: '00:06', state: 'CLOSE',
      client: { ip: '198.18.0.2', port: 40000 }, virtual: { ip: '198.19.0.10', port: 80 }, real: { ip: '198.18.100.2', port: 8080 },
      line: 'TCP 00:06  CLOSE       198.18.0.2:40000   198.19.0.10:80     198.18.100.2:8080',
    });
    assert.deepEqual(c[4]!.client, { ip: '2001:db8::2', port: 40000 });
    assert.deepEqual(c[4]!.real, { ip: '2001:db8:100::1', port: 8080 });
    assert.equal(c[5]!.protocol, 'UDP');
  });

  test('malformed lines are skipped, not guessed', () => {
    const c = parseIpvsConnections('TCP 00:06 CLOSE 198.18.0.2 198.19.0.10:80 198.18.100.2:8080\nTCP 00:06 CLOSE 198.18.0.2:70000 198.19.0.10:80 198.18.100.2:8080\nFOO 1 2 3 4 5\n\n');
    assert.deepEqual(c, []);
    assert.equal(parseHostPort('2001:db8::2:80'), null, 'an unbracketed IPv6 address has no port');
    assert.deepEqual(parseHostPort('[2001:0db8:0:0::2]:80'), { ip: '2001:db8::2', port: 80 });
  });
});

describe("finding the probe's own connection: exact match", () => {
  const all = parseIpvsConnections(SAMPLE);
  test('client port 4000 does not match the line of client port 40000 (same VIP, same client address)', () => {
    const m = findProbeConnections(all, { protocol: 'TCP', src: '198.18.0.2', sport: 4000, dst: '198.19.0.10', port: 80 });
    assert.equal(m.length, 1);
    assert.equal(m[0]!.real.ip, '198.18.100.1');
    assert.equal(nearMisses(all, { protocol: 'TCP', src: '198.18.0.2', sport: 4000, dst: '198.19.0.10', port: 80 }).length, 1);
  });
  test('a client port with no entry matches nothing, though the VIP has connections from the same address', () => {
    const probe = { protocol: 'TCP', src: '198.18.0.2', sport: 400, dst: '198.19.0.10', port: 80 };
    assert.deepEqual(findProbeConnections(all, probe), []);
    assert.equal(nearMisses(all, probe).length, 2);
  });
  test('the persistence template (client port 0) is not the probe', () => {
    const m = findProbeConnections(all, { protocol: 'TCP', src: '198.18.0.2', sport: 40001, dst: '198.19.0.16', port: 80 });
    assert.deepEqual(m.map((c) => c.state), ['CLOSE']);
  });
  test('protocol and virtual port must match too', () => {
    assert.deepEqual(findProbeConnections(all, { protocol: 'UDP', src: '198.18.0.2', sport: 40000, dst: '198.19.0.10', port: 80 }), []);
    assert.deepEqual(findProbeConnections(all, { protocol: 'TCP', src: '198.18.0.2', sport: 40000, dst: '198.19.0.10', port: 8080 }), []);
    assert.equal(findProbeConnections(all, { protocol: 'udp', src: '198.18.0.2', sport: 40002, dst: '198.19.0.10', port: 53 })[0]?.real.port, 5353);
  });
  test('IPv6: found whatever the spelling of the probe address; the IPv4 line with the same port is not it', () => {
    const m = findProbeConnections(all, { protocol: 'TCP', src: '2001:0db8:0::2', sport: 40000, dst: '2001:db8:19:0::10', port: 80 });
    assert.deepEqual(m.map((c) => c.real.ip), ['2001:db8:100::1']);
    assert.deepEqual(findProbeConnections(all, { protocol: 'TCP', src: '2001:db8::3', sport: 40000, dst: '2001:db8:19::10', port: 80 }), []);
  });
});

// --- judgeProbe with IPVS evidence ---

const chosen = (endpoint: string, masquerade = false): ChosenEndpoint => ({
  endpoint, nodeName: 'node-a', zone: '', local: true, ready: true, serving: true, terminating: false, masquerade, masqueradeReason: 'test',
});

function probeX(outcome: Explanation['outcome'], endpoints: string[], virtualServer?: string): JudgeInput['probeX'] {
  return {
    outcome,
    endpoints: endpoints.map((e) => chosen(e)),
    implementation: { mode: 'ipvs', objects: [], chains: [], ...(virtualServer ? { virtualServer } : {}) },
    packet: { src: '198.18.0.2', srcPort: null, dst: '198.19.0.10', port: 80, protocol: 'TCP', family: 'IPv4', from: 'external', fromReason: 'test' },
  };
}

function evidence(lines: string, sport: number, kernelReals?: string[] | null, missingSetEntries: string[] = []): IpvsEvidence {
  const all = parseIpvsConnections(lines);
  const probe = { protocol: 'TCP', src: '198.18.0.2', sport, dst: '198.19.0.10', port: 80 };
  return { connections: findProbeConnections(all, probe), nearMisses: nearMisses(all, probe).length, ...(kernelReals !== undefined ? { kernelReals } : {}), missingSetEntries };
}

function ctTo(ip: string, port: number): ConntrackEntry {
  return { origSrc: '198.18.0.2', origDst: '198.19.0.10', replySrc: ip, replySport: port, replyDst: '198.18.0.2' };
}

function judge(x: JudgeInput['probeX'], ipvs: IpvsEvidence, result: ProbeResult, conntrack: ConntrackEntry | null = null): ReturnType<typeof judgeProbe> {
  return judgeProbe({ probeX: x, traced: false, traceLines: [], conntrack, ipvs, result, src: '198.18.0.2', dst: '198.19.0.10', port: 80 });
}

const VS = 'TCP/198.19.0.10:80';
const TWO = ['198.18.100.1:8080', '198.18.100.2:8080'];

describe('judgeProbe, IPVS mode', () => {
  test("agrees: the probe's connection went to an eligible real server", () => {
    const j = judge(probeX('forward', TWO, VS), evidence(SAMPLE, 4000, TWO), 'connected', ctTo('198.18.100.1', 8080));
    assert.equal(j.agrees, true, j.disagreements.join('; '));
    assert.equal(j.observed.endpoint, '198.18.100.1:8080');
    assert.equal(j.observed.outcome, 'forward');
  });

  test('the near miss (same VIP, client port 40000) does not count as the probe (sport 4000) being forwarded', () => {
    const onlyNearMiss = SAMPLE.split('\n').filter((l) => !l.includes(':4000 ')).join('\n');
    const j = judge(probeX('forward', TWO, VS), evidence(onlyNearMiss, 4000, TWO), 'timeout');
    assert.equal(j.agrees, false);
    assert.equal(j.observed.outcome, 'drop');
    assert.match(j.disagreements.join('\n'), /did not forward \(drop, probe timeout\)/);
    assert.match(j.notes.join('\n'), /1 other connection\(s\) to the virtual service/);
  });

  test('disagrees: IPVS picked a real server outside the eligible set', () => {
    const j = judge(probeX('forward', ['198.18.100.2:8080'], VS), evidence(SAMPLE, 4000, ['198.18.100.2:8080']), 'connected');
    assert.equal(j.agrees, false);
    assert.match(j.disagreements.join('\n'), /the kernel picked 198\.18\.100\.1:8080, not one of 198\.18\.100\.2:8080/);
  });

  test("disagrees: the kernel's virtual server has other real servers than explain expects", () => {
    const j = judge(probeX('forward', TWO, VS), evidence(SAMPLE, 4000, ['198.18.100.1:8080']), 'connected');
    assert.equal(j.agrees, false);
    assert.match(j.disagreements.join('\n'), /has real servers 198\.18\.100\.1:8080 with weight > 0, explain expects 198\.18\.100\.1:8080, 198\.18\.100\.2:8080/);
    const gone = judge(probeX('forward', TWO, VS), evidence('', 4000, null), 'refused');
    assert.match(gone.disagreements.join('\n'), /no IPVS virtual server TCP\/198\.19\.0\.10:80/);
  });

  test('disagrees: explain predicted an endpoint, the probe was rejected without an IPVS connection', () => {
    const j = judge(probeX('forward', TWO, VS), evidence('', 4000, TWO), 'refused');
    assert.equal(j.agrees, false);
    assert.equal(j.observed.outcome, 'reject');
    assert.match(j.disagreements.join('\n'), /expected DNAT to one of .*; the kernel did not forward \(reject, probe refused\)/);
  });

  test('disagrees: explain predicted reject (no endpoints), IPVS forwarded the probe', () => {
    const j = judge(probeX('reject', [], VS), evidence(SAMPLE, 4000), 'connected');
    assert.equal(j.agrees, false);
    assert.match(j.disagreements.join('\n'), /expected reject; the kernel forwarded to 198\.18\.100\.1:8080/);
  });

  test('agrees: explain predicted reject, no connection and the probe was refused', () => {
    const j = judge(probeX('reject', [], VS), evidence(SAMPLE, 4001), 'refused');
    assert.equal(j.agrees, true, j.disagreements.join('; '));
    assert.equal(j.observed.outcome, 'reject');
  });

  test('agrees: explain predicted drop (source ranges), no connection, the probe timed out', () => {
    const j = judge(probeX('drop', [], VS), evidence(SAMPLE, 4001), 'timeout');
    assert.equal(j.agrees, true, j.disagreements.join('; '));
    assert.equal(j.observed.outcome, 'drop');
  });

  test('disagrees: conntrack and the IPVS connection name different real servers', () => {
    const j = judge(probeX('forward', TWO, VS), evidence(SAMPLE, 4000, TWO), 'connected', ctTo('198.18.100.2', 8080));
    assert.equal(j.agrees, false);
    assert.match(j.disagreements.join('\n'), /conntrack's reply comes from 198\.18\.100\.2:8080, but IPVS connected the probe to 198\.18\.100\.1:8080/);
  });

  test('disagrees: an ipset entry explain relies on is missing', () => {
    const j = judge(probeX('forward', TWO, VS), evidence(SAMPLE, 4000, TWO, ['KUBE-CLUSTER-IP entry 198.19.0.10,tcp:80']), 'connected');
    assert.equal(j.agrees, false);
    assert.match(j.disagreements.join('\n'), /ipset KUBE-CLUSTER-IP entry 198\.19\.0\.10,tcp:80 is missing/);
  });

  test('forwarded but unanswered: agreement, with a note', () => {
    const j = judge(probeX('forward', TWO, VS), evidence(SAMPLE, 4000, TWO), 'timeout');
    assert.equal(j.agrees, true, j.disagreements.join('; '));
    assert.match(j.notes.join('\n'), /IPVS forwarded the probe to 198\.18\.100\.1:8080, but the probe was timeout/);
  });
});

describe('judgeIpvs', () => {
  test('the same connection listed twice with different real servers is a disagreement', () => {
    const twice = `${SAMPLE}TCP 00:10  SYN_RECV    198.18.0.2:4000    198.19.0.10:80     198.18.100.2:8080\n`;
    const j = judgeIpvs({ outcome: 'forward', endpoints: TWO }, evidence(twice, 4000), null);
    assert.match(j.disagreements.join('\n'), /2 times with different real servers/);
  });
  test('IPv6 endpoints compare canonically', () => {
    const j = judgeIpvs({ outcome: 'forward', endpoints: ['[2001:db8:100::1]:8080'], virtualServer: 'TCP/[2001:db8:19::10]:80' }, { connections: [], nearMisses: 0, kernelReals: ['[2001:0db8:100:0::1]:8080'], missingSetEntries: [] }, null);
    assert.deepEqual(j.disagreements, []);
  });
});

// --- judgeProbe with an nftrace (line shapes as `nft monitor trace` prints them for iptables-nft) ---

const TR = 'inet kpx-trace-0a0b0c0d pre';
function packetLines(id: string, last: string): string[] {
  return [
    `trace id ${id} ${TR} packet: iif "veth-p3" ip saddr 198.18.0.2 ip daddr 198.19.0.10 tcp sport 4000 tcp dport 80 tcp flags == syn`,
    `trace id ${id} ${TR} rule ip saddr 198.18.0.2 ip daddr 198.19.0.10 meta l4proto tcp th sport 4000 th dport 80 meta nftrace set 1 (verdict continue)`,
    `trace id ${id} ${TR} policy accept`,
    `trace id ${id} ip filter FORWARD rule counter packets 0 bytes 0 jump KUBE-FORWARD (verdict jump KUBE-FORWARD)`,
    last,
  ];
}
const REJECT = (id: string): string => `trace id ${id} ip filter KUBE-SERVICES rule ip daddr 198.19.0.10 tcp dport 80 counter packets 0 bytes 0 reject (verdict drop)`;
const INVALID = (id: string): string => `trace id ${id} ip filter KUBE-FORWARD rule ct state invalid counter packets 0 bytes 0 drop (verdict drop)`;

function judgeTrace(outcome: Explanation['outcome'], lines: string[], result: ProbeResult): ReturnType<typeof judgeProbe> {
  const x = { ...probeX(outcome, []), implementation: { mode: 'iptables' as const, objects: [], chains: [] } };
  return judgeProbe({ probeX: x, traced: true, traceLines: lines, conntrack: null, ipvs: null, result, src: '198.18.0.2', dst: '198.19.0.10', port: 80 });
}

describe('judgeProbe, nftrace', () => {
  test('a rejected SYN: reject, agrees', () => {
    const j = judgeTrace('reject', packetLines('aa', REJECT('aa')), 'refused');
    assert.equal(j.observed.outcome, 'reject');
    assert.equal(j.agrees, true, j.disagreements.join('; '));
  });

  test('a dropped SYN and an unanswered probe: drop, disagrees with an expected reject', () => {
    const j = judgeTrace('reject', packetLines('aa', INVALID('aa')), 'timeout');
    assert.equal(j.observed.outcome, 'drop');
    assert.equal(j.agrees, false);
  });

  test('first SYN dropped, its retransmission rejected, probe refused: reject, with the drop noted', () => {
    const j = judgeTrace('reject', [...packetLines('aa', INVALID('aa')), ...packetLines('bb', REJECT('bb'))], 'refused');
    assert.equal(j.observed.outcome, 'reject');
    assert.equal(j.agrees, true, j.disagreements.join('; '));
    assert.match(j.notes.join('\n'), /first packet was dropped \(.*ct state invalid.*\); a retransmission was rejected/);
  });

  test('a traced drop but a refused probe and no traced reject: undecided, not a false disagreement', () => {
    const j = judgeTrace('reject', packetLines('aa', INVALID('aa')), 'refused');
    assert.equal(j.observed.outcome, 'unknown');
    assert.equal(j.agrees, null);
    assert.match(j.notes.join('\n'), /evidence contradicts itself/);
  });
});
