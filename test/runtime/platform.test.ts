// Start-up platform checks with a fake host: supported IP families (upstream platformCheckSupported),
// the nftables preflight (nft >= 1.0.1, kernel >= 5.13 unless skipped), route_localnet in iptables
// mode (fatal when it cannot be set), the IPVS deprecation warning.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCommandLine } from '../../src/config/options.js';
import type { ProxyOptions } from '../../src/config/types.js';
import { containsIPv4Loopback } from '../../src/dataplane/config.js';
import { configureLogging } from '../../src/log/logger.js';
import { IPVS_DEPRECATION_MESSAGE } from '../../src/events/recorder.js';
import {
  chooseFamilies,
  detectFamilySupport,
  nftablesPreflight,
  platformSetup,
  setupRouteLocalnet,
  type PlatformHost,
} from '../../src/proxy/platform.js';
import type { ExecResult } from '../../src/util/exec.js';

const logged: string[] = [];
configureLogging({ sink: (line: string) => void logged.push(line) });

function result(code: number, stdout = '', stderr = ''): ExecResult {
  return { code, stdout, stderr, millis: 0 };
}

function host(over: Partial<PlatformHost> & { failing?: RegExp; nftVersion?: string; kernel?: string; noIPv6?: boolean } = {}) {
  const calls: string[] = [];
  const sysctls: string[] = [];
  const h: PlatformHost = {
    run: async (cmd, args) => {
      const line = [cmd, ...args].join(' ');
      calls.push(line);
      if (cmd === 'nft' && args[0] === '--version') return result(0, `${over.nftVersion ?? 'nftables v1.0.6 (Lester Gooch #5)'}\n`);
      if (over.failing?.test(line)) return result(1, '', 'Error: Could not process rule: Address family not supported by protocol\n');
      return result(0);
    },
    iptablesBackend: async () => 'nft',
    readFile: async (p) => {
      if (p === '/proc/sys/kernel/osrelease') return `${over.kernel ?? '6.1.0-18-amd64'}\n`;
      throw new Error(`unexpected ${p}`);
    },
    exists: async (p) => !(over.noIPv6 && p === '/proc/sys/net/ipv6'),
    ensureSysctl: async (n, v) => {
      sysctls.push(`${n}=${v}`);
      return true;
    },
    env: {},
    ...over,
  };
  return { h, calls, sysctls };
}

async function options(argv: string[]): Promise<ProxyOptions> {
  const r = await parseCommandLine(['--hostname-override=node-a', ...argv]);
  if (r.kind !== 'run') throw new Error(JSON.stringify(r));
  return r.options;
}

test('iptables modes probe each family with `iptables -S POSTROUTING -t nat` (upstream Present())', async () => {
  const { h, calls } = host({ failing: /^ip6tables-nft /, iptablesBackend: async () => 'nft' });
  const s = await detectFamilySupport('iptables', h);
  assert.deepEqual(s.supported, { IPv4: true, IPv6: false });
  assert.match(s.reasons.IPv6 ?? '', /ip6tables-nft: Error: Could not process rule/);
  assert.deepEqual(calls, ['iptables-nft -w 5 -S POSTROUTING -t nat', 'ip6tables-nft -w 5 -S POSTROUTING -t nat']);
});

test('nftables probes a NAT chain per family with nft --check; ipv6.disable=1 needs no probe', async () => {
  const { h, calls } = host({ failing: / ip6 / });
  assert.deepEqual((await detectFamilySupport('nftables', h)).supported, { IPv4: true, IPv6: false });
  assert.ok(calls.every((c) => c.startsWith('nft --check ')), calls.join('\n'));
  const off = host({ noIPv6: true });
  const s = await detectFamilySupport('nftables', off.h);
  assert.deepEqual(s.supported, { IPv4: true, IPv6: false });
  assert.match(s.reasons.IPv6 ?? '', /ipv6\.disable=1/);
  assert.equal(off.calls.length, 1, 'only IPv4 probed');
});

test('chooseFamilies: single-stack with upstream log lines; no family or an unsupported primary is fatal', () => {
  logged.length = 0;
  const v4only = { supported: { IPv4: true, IPv6: false }, reasons: { IPv6: 'nft: no' } };
  assert.deepEqual(chooseFamilies('nftables', v4only, null), ['IPv4']);
  assert.ok(logged.some((l) => /No nftables support for family/.test(l) && /IPv6/.test(l)));
  assert.ok(logged.some((l) => /kube-proxy running in single-stack mode/.test(l)));
  assert.deepEqual(chooseFamilies('iptables', { supported: { IPv4: true, IPv6: true }, reasons: {} }, null), ['IPv4', 'IPv6']);
  assert.throws(() => chooseFamilies('iptables', { supported: { IPv4: false, IPv6: false }, reasons: {} }, null), /^Error: iptables is not available on this host/);
  assert.throws(() => chooseFamilies('iptables', v4only, 'IPv6'), /no support for primary IP family "IPv6"/);
});

test('nftables preflight: nft >= 1.0.1 and kernel >= 5.13, with the upstream skip variable', async () => {
  await nftablesPreflight(host().h);
  await assert.rejects(nftablesPreflight(host({ nftVersion: 'nftables v0.9.8 (E.D.S.)' }).h), /^Error: nft version must be v1\.0\.1 or later \(got nftables v0\.9\.8 \(E\.D\.S\.\)\)$/);
  await assert.rejects(nftablesPreflight(host({ nftVersion: 'nftables v1.0.0 (Fearless Fosdick #2)' }).h), /nft version must be v1\.0\.1 or later/);
  await assert.rejects(nftablesPreflight(host({ kernel: '5.10.0-28-amd64' }).h), /^Error: kube-proxy in nftables mode requires kernel 5\.13 or later$/);
  await nftablesPreflight(host({ kernel: '5.10.0-28-amd64', env: { KUBE_PROXY_NFTABLES_SKIP_KERNEL_VERSION_CHECK: '1' } }).h);
  // Empty means not set (1.33 fix, PR #130401).
  await assert.rejects(nftablesPreflight(host({ kernel: '5.10.0', env: { KUBE_PROXY_NFTABLES_SKIP_KERNEL_VERSION_CHECK: '' } }).h), /requires kernel 5\.13/);
  await nftablesPreflight(host({ kernel: '5.13.0' }).h);
  // Wired into start-up: fatal with upstream's prefix.
  await assert.rejects(platformSetup(await options(['--proxy-mode=nftables']), host({ kernel: '4.19.0' }).h), /^Error: unable to create proxier: kube-proxy in nftables mode requires kernel 5\.13 or later$/);
});

test('route_localnet: iptables mode sets it when NodePorts may be on 127.x; a failure is fatal', async () => {
  const a = host();
  assert.equal(await setupRouteLocalnet(await options(['--proxy-mode=iptables']), ['IPv4', 'IPv6'], a.h), true);
  assert.deepEqual(a.sysctls, ['net/ipv4/conf/all/route_localnet=1']);
  const b = host();
  assert.equal(await setupRouteLocalnet(await options(['--proxy-mode=iptables', '--nodeport-addresses=198.18.0.0/24']), ['IPv4'], b.h), false);
  assert.equal(await setupRouteLocalnet(await options(['--proxy-mode=iptables', '--iptables-localhost-nodeports=false']), ['IPv4'], b.h), false);
  assert.equal(await setupRouteLocalnet(await options(['--proxy-mode=nftables']), ['IPv4'], b.h), false);
  assert.equal(await setupRouteLocalnet(await options(['--proxy-mode=iptables']), ['IPv6'], b.h), false);
  assert.deepEqual(b.sysctls, []);
  const failing = host({
    ensureSysctl: async () => {
      throw new Error("open /proc/sys/net/ipv4/conf/all/route_localnet: read-only file system");
    },
  });
  await assert.rejects(platformSetup(await options(['--proxy-mode=iptables']), failing.h), /route_localnet: read-only file system/);
  assert.equal(containsIPv4Loopback([]), true);
  assert.equal(containsIPv4Loopback(['2001:db8::/64']), true, 'no IPv4 CIDR matches all');
  assert.equal(containsIPv4Loopback(['127.0.0.0/8']), true);
  assert.equal(containsIPv4Loopback(['0.0.0.0/0']), true);
  assert.equal(containsIPv4Loopback(['198.18.0.0/15']), false);
});

test('ipvs mode logs the 1.35 deprecation warning at start', async () => {
  logged.length = 0;
  await platformSetup(await options(['--proxy-mode=ipvs']), host().h);
  assert.ok(logged.some((l) => l.includes(IPVS_DEPRECATION_MESSAGE)), logged.join('\n'));
});
