// Stale UDP flow selection (pure part of the reconciler) and `conntrack -L` parsing.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConntrackList, staleFlowFilters, udpFrontends } from '../../src/conntrack/cleanup.js';
import { durationSeconds } from '../../src/util/duration.js';
import type { Endpoint, ServicePort } from '../../src/model/types.js';
import { endpoint, stateOf, udpServicePort } from './fixtures.js';

function ep(ip: string, serving = true): Endpoint {
  return endpoint(ip, 5353, serving);
}

function sp(name: string, clusterIP: string, endpoints: Endpoint[], extra: Partial<ServicePort> = {}): ServicePort {
  return udpServicePort(name, clusterIP, 53, endpoints, extra);
}

const state = stateOf;

const LIST = `udp      17 29 src=198.18.0.2 dst=198.19.0.53 sport=40000 dport=53 src=198.18.100.9 dst=198.18.0.2 sport=5353 dport=40000 [ASSURED] mark=0 use=1
udp      17 29 src=198.18.0.2 dst=198.19.0.53 sport=40001 dport=53 src=198.18.100.4 dst=198.18.0.2 sport=5353 dport=40001 mark=0 use=1
ipv4     2 udp      17 20 src=198.18.0.2 dst=198.18.0.1 sport=40002 dport=30053 [UNREPLIED] src=198.18.100.9 dst=198.18.0.2 sport=5353 dport=40002 mark=0 use=1
udp      17 20 src=198.18.0.2 dst=198.18.0.1 sport=40003 dport=30053 src=198.18.0.1 dst=198.18.0.2 sport=30053 dport=40003 mark=0 use=1
tcp      6 431999 ESTABLISHED src=198.18.0.2 dst=198.19.0.53 sport=40004 dport=53 src=198.18.100.9 dst=198.18.0.2 sport=5353 dport=40004 [ASSURED] mark=0 use=1
conntrack v1.4.7 (conntrack-tools): 5 flow entries have been shown.
`;

test('parses original destination and reply source of UDP flows only', () => {
  const flows = parseConntrackList(LIST);
  assert.deepEqual(flows, [
    { origDst: '198.19.0.53', origDport: 53, replySrc: '198.18.100.9' },
    { origDst: '198.19.0.53', origDport: 53, replySrc: '198.18.100.4' },
    { origDst: '198.18.0.1', origDport: 30053, replySrc: '198.18.100.9' },
    { origDst: '198.18.0.1', origDport: 30053, replySrc: '198.18.0.1' },
  ]);
});

test('flows to a frontend whose reply source is not a serving endpoint are deleted (ClusterIP and NodePort)', () => {
  const s = state([sp('dns', '198.19.0.53', [ep('198.18.100.4'), ep('198.18.100.5', false)], { nodePort: 30053 })]);
  const filters = staleFlowFilters(parseConntrackList(LIST), udpFrontends(s, null));
  assert.deepEqual(filters, [
    { origDst: '198.19.0.53', origDport: 53, replySrc: '198.18.100.9' },
    { origDport: 30053, replySrc: '198.18.100.9' },
    // upstream semantics: with endpoints, any reply source that is not one of them at the NodePort
    { origDport: 30053, replySrc: '198.18.0.1' },
  ]);
});

test('better than upstream #139628: a UDP service with zero serving endpoints still has its DNATed flows cleared', () => {
  const s = state([sp('dns', '198.19.0.53', [ep('198.18.100.4', false)], { nodePort: 30053 })]);
  const filters = staleFlowFilters(parseConntrackList(LIST), udpFrontends(s, null));
  assert.deepEqual(filters, [
    { origDst: '198.19.0.53', origDport: 53, replySrc: '198.18.100.9' },
    { origDst: '198.19.0.53', origDport: 53, replySrc: '198.18.100.4' },
    { origDport: 30053, replySrc: '198.18.100.9' },
    // the non-DNATed flow to a host listener on that port is left alone
  ]);
});

test('flows of a removed UDP service are cleared; other services untouched', () => {
  const prev = state([sp('dns', '198.19.0.53', [ep('198.18.100.4')])]);
  const now = state([sp('other', '198.19.0.99', [ep('198.18.100.7')])]);
  const filters = staleFlowFilters(parseConntrackList(LIST), udpFrontends(now, prev));
  assert.deepEqual(filters.map((f) => f.replySrc).sort(), ['198.18.100.4', '198.18.100.9']);
  assert.deepEqual(staleFlowFilters(parseConntrackList(LIST), udpFrontends(now, null)), []);
});

test('conntrack timeouts read as Go durations in whole seconds', () => {
  assert.equal(durationSeconds('24h0m0s'), 86400);
  assert.equal(durationSeconds('1h0m0s'), 3600);
  assert.equal(durationSeconds('0s'), 0);
  assert.equal(durationSeconds(null), 0);
});
