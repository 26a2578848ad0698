// Upstream checkBadConfig / checkBadIPConfig messages and fatality.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aggregateMessages, checkBadConfig, checkBadIPConfig, type CheckContext } from '../../src/config/checks.js';
import { defaultConfiguration } from '../../src/config/defaults.js';
import type { KubeProxyConfiguration } from '../../src/config/types.js';

function ctx(over: Partial<CheckContext> & { cfg?: (c: KubeProxyConfiguration) => void } = {}): CheckContext {
  const config = defaultConfiguration();
  config.detectLocalMode = 'ClusterCIDR';
  over.cfg?.(config);
  return { config, primary: 'IPv4', nodePortAddresses: [], podCIDRs: [], clusterCIDRs: [], ...over };
}

test('checkBadConfig: nodePortAddresses unset, or only of one family', () => {
  assert.deepEqual(checkBadConfig(ctx()), ['nodePortAddresses is unset; NodePort connections will be accepted on all local IPs. Consider using `--nodeport-addresses primary`']);
  assert.deepEqual(checkBadConfig(ctx({ nodePortAddresses: ['198.18.0.1/32'] })), []);
  assert.deepEqual(checkBadConfig(ctx({ nodePortAddresses: ['198.18.0.1/32'], clusterCIDRs: ['198.18.100.0/23', '2001:db8:100::/48'] })), [
    'cluster appears to be dual-stack but nodePortAddresses contains only IPv4 addresses; NodePort connections will be accepted on all local IPv6 IPs',
  ]);
  assert.deepEqual(checkBadConfig(ctx({ nodePortAddresses: ['2001:db8::1/128'] })), [
    'cluster appears to be IPv4-primary but nodePortAddresses contains only IPv6 addresses; NodePort connections will be accepted on all local IPv4 IPs',
  ]);
});

test('checkBadIPConfig: wrong-family cluster CIDRs are fatal only on a single-stack node in ClusterCIDR mode', () => {
  const v6 = { primary: 'IPv4' as const, clusterCIDRs: ['2001:db8:100::/48'] };
  assert.deepEqual(checkBadIPConfig(ctx(v6), false), { errors: ['cluster is IPv4-only but clusterCIDRs contains only IPv6 addresses'], fatal: true });
  assert.deepEqual(checkBadIPConfig(ctx(v6), true), { errors: ['cluster is IPv4-primary but clusterCIDRs contains only IPv6 addresses'], fatal: false });
  assert.deepEqual(checkBadIPConfig(ctx({ ...v6, cfg: (c) => (c.detectLocalMode = 'BridgeInterface') }), false).fatal, false);
  assert.deepEqual(checkBadIPConfig(ctx({ clusterCIDRs: ['198.18.100.0/23', '2001:db8:100::/48'] }), false), { errors: [], fatal: false });
});

test('checkBadIPConfig: podCIDRs of the wrong family are fatal in NodeCIDR mode; bind addresses warned when single-stack', () => {
  const r = checkBadIPConfig(ctx({ podCIDRs: ['2001:db8:100::/64'], cfg: (c) => (c.detectLocalMode = 'NodeCIDR') }), true);
  assert.deepEqual(r, { errors: ['cluster is IPv4-primary but node.spec.podCIDRs contains only IPv6 addresses'], fatal: true });
  const b = checkBadIPConfig(ctx({ cfg: (c) => ((c.healthzBindAddress = '[2001:db8::1]:10256'), (c.metricsBindAddress = '[::]:10249'), (c.ipvs.excludeCIDRs = ['2001:db8::/64'])) }), false);
  assert.deepEqual(b, {
    errors: ['cluster is IPv4-only but ipvs.excludeCIDRs contains only IPv6 addresses', 'cluster is IPv4-only but healthzBindAddress is IPv6'],
    fatal: false,
  });
  assert.equal(aggregateMessages(b.errors), '[cluster is IPv4-only but ipvs.excludeCIDRs contains only IPv6 addresses, cluster is IPv4-only but healthzBindAddress is IPv6]');
});
