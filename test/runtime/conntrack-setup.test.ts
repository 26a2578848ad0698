// Start-up conntrack settings (upstream setupConntrack): failures are fatal; a read-only /sys when the
// hash size must grow is only a warning; machine-global knobs only from the initial namespace.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setupConntrack, sysfsWritable, type ConntrackHost } from '../../src/conntrack/setup.js';
import type { KubeProxyConntrackConfiguration } from '../../src/config/types.js';
import { configureLogging } from '../../src/log/logger.js';

configureLogging({ sink: () => undefined });

const CFG: KubeProxyConntrackConfiguration = {
  maxPerCore: 32768,
  min: 131072,
  tcpEstablishedTimeout: '24h0m0s',
  tcpCloseWaitTimeout: '1h0m0s',
  tcpBeLiberal: false,
  udpTimeout: '0s',
  udpStreamTimeout: '0s',
};

function fakeHost(over: Partial<ConntrackHost> & { mounts?: string; hashsize?: number } = {}) {
  const written: [string, string][] = [];
  const sysctls = new Map<string, string>([['net/netfilter/nf_conntrack_max', '65536']]);
  const host: Partial<ConntrackHost> = {
    readSysctl: async (n) => sysctls.get(n) ?? null,
    ensureSysctl: async (n, v) => {
      if (sysctls.get(n) === String(v)) return false;
      sysctls.set(n, String(v));
      written.push([n, String(v)]);
      return true;
    },
    readFile: async (p) => {
      if (p === '/proc/mounts') return over.mounts ?? 'sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\nproc /proc proc rw 0 0\n';
      if (p.endsWith('/hashsize')) return `${over.hashsize ?? 16384}\n`;
      throw new Error(`unexpected read ${p}`);
    },
    writeFile: async (p, d) => void written.push([p, d]),
    inInitialNetns: async () => true,
    cpuCount: async () => 2,
    ...over,
  };
  return { host, written, sysctls };
}

test('sets nf_conntrack_max, the hash size and the timeouts, in upstream order', async () => {
  const { host, written } = fakeHost();
  const r = await setupConntrack(CFG, host);
  assert.deepEqual(r, { readOnlySysfs: false });
  assert.deepEqual(written, [
    ['net/netfilter/nf_conntrack_max', '131072'],
    ['/sys/module/nf_conntrack/parameters/hashsize', '32768'],
    ['net/netfilter/nf_conntrack_tcp_timeout_established', '86400'],
    ['net/netfilter/nf_conntrack_tcp_timeout_close_wait', '3600'],
  ]);
});

test('a sysctl that cannot be written is fatal (upstream returns the error from setupConntrack)', async () => {
  const { host } = fakeHost({
    ensureSysctl: async (n) => {
      if (n.includes('tcp_timeout_established')) throw new Error(`open /proc/sys/${n}: read-only file system`);
      return true;
    },
  });
  await assert.rejects(setupConntrack(CFG, host), /read-only file system/);
});

test('read-only /sys when the hash size must grow: a warning result, start-up goes on', async () => {
  const { host, written } = fakeHost({ mounts: 'sysfs /sys sysfs ro,nosuid,nodev,noexec,relatime 0 0\n' });
  const r = await setupConntrack(CFG, host);
  assert.deepEqual(r, { readOnlySysfs: true });
  assert.ok(!written.some(([p]) => p.endsWith('hashsize')), 'hash size left alone');
  assert.ok(written.some(([p]) => p.endsWith('tcp_timeout_established')), 'the timeouts are still set');
});

test('hash size large enough: /sys is not even looked at', async () => {
  const { host } = fakeHost({ hashsize: 65536, mounts: 'none' });
  assert.deepEqual(await setupConntrack(CFG, host), { readOnlySysfs: false });
});

test('inside a network namespace the machine-global knobs are left alone (deliberate deviation)', async () => {
  const { host, written } = fakeHost({ inInitialNetns: async () => false });
  await setupConntrack(CFG, host);
  assert.deepEqual(written.map(([p]) => p), ['net/netfilter/nf_conntrack_tcp_timeout_established', 'net/netfilter/nf_conntrack_tcp_timeout_close_wait']);
});

test('sysfsWritable reads the first sysfs mount of /proc/mounts', () => {
  assert.equal(sysfsWritable('sysfs /sys sysfs rw,nosuid 0 0\n'), true);
  assert.equal(sysfsWritable('proc /proc proc rw 0 0\nsysfs /sys sysfs ro,nosuid 0 0\n'), false);
  assert.equal(sysfsWritable('proc /proc proc rw 0 0\n'), null);
});
