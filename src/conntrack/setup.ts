// Start-up conntrack sysctls (upstream cmd/kube-proxy/app/conntrack.go + server_linux.go setupConntrack).
// As upstream, every failure is fatal except a read-only /sys when the hash size would have to grow
// (a known container-runtime problem, docker #24000): that one is logged as a warning, recorded as a
// Node event, and start-up goes on. The timeouts and be_liberal are per network namespace and always safe to set.
// nf_conntrack_max and the hash size are machine-global: they are written only from the initial
// network namespace, never from inside a namespace (tests, `ip netns exec`), where doing so would
// change the host (deliberate deviation: upstream writes them from any namespace).

import { promises as fsp } from 'node:fs';
import os from 'node:os';
import type { KubeProxyConntrackConfiguration } from '../config/types.js';
import { durationSeconds } from '../util/duration.js';
import { READ_ONLY_SYSFS_MESSAGE, recordEvent } from '../events/recorder.js';
import { createLogger } from '../log/logger.js';
import { inInitialNetns } from '../node/netns.js';
import { ensureSysctl, readSysctl } from '../node/sysctl.js';

const log = createLogger('conntrack');

const HASHSIZE_FILE = '/sys/module/nf_conntrack/parameters/hashsize';

/** What setupConntrack touches; tests inject fakes. */
export interface ConntrackHost {
  readSysctl(name: string): Promise<string | null>;
  /** Write if different; throws when the sysctl is missing or not writable. */
  ensureSysctl(name: string, value: number): Promise<boolean>;
  readFile(path: string): Promise<string>;
  writeFile(path: string, data: string): Promise<void>;
  inInitialNetns(): Promise<boolean>;
  cpuCount(): Promise<number>;
}

/** CPU count as upstream's cadvisor topology would see it (issue #99225: not the cgroup quota). */
async function cpuCount(): Promise<number> {
  try {
    const online = (await fsp.readFile('/sys/devices/system/cpu/online', 'utf8')).trim();
    let n = 0;
    for (const part of online.split(',')) {
      const [a, b] = part.split('-').map(Number);
      n += b === undefined ? 1 : b - a! + 1;
    }
    if (n > 0) return n;
  } catch {
    /* fall back below */
  }
  return os.cpus().length || 1;
}

const realHost: ConntrackHost = {
  readSysctl,
  ensureSysctl,
  readFile: (p) => fsp.readFile(p, 'utf8'),
  writeFile: (p, d) => fsp.writeFile(p, d),
  inInitialNetns,
  cpuCount,
};

/**
 * Upstream isSysFSWritable: the first sysfs mount in /proc/mounts decides; its first option must be
 * "rw". Returns null when no sysfs is mounted (an error upstream).
 */
export function sysfsWritable(procMounts: string): boolean | null {
  for (const line of procMounts.split('\n')) {
    const f = line.split(' ');
    if (f[2] !== 'sysfs') continue;
    return (f[3] ?? '').split(',')[0] === 'rw';
  }
  return null;
}

/** Upstream getConntrackMax: maxPerCore × CPUs, but at least min; 0 leaves the limit alone. */
export async function conntrackMax(cfg: KubeProxyConntrackConfiguration, cpus: () => Promise<number>): Promise<number> {
  const perCore = cfg.maxPerCore ?? 0;
  if (perCore <= 0) return 0;
  return Math.max(perCore * (await cpus()), cfg.min ?? 0);
}

export interface ConntrackSetupResult {
  /** Set when /sys was read-only and the hash size could not be raised (upstream emits a Node event). */
  readonly readOnlySysfs: boolean;
}

async function setMax(h: ConntrackHost, max: number): Promise<ConntrackSetupResult> {
  if (!(await h.inInitialNetns())) {
    log.info('Not in the initial network namespace: leaving nf_conntrack_max and hashsize alone', { wanted: max });
    return { readOnlySysfs: false };
  }
  // Upstream setIntSysCtl: written whenever it differs (also when that lowers it).
  if (await h.ensureSysctl('net/netfilter/nf_conntrack_max', max)) log.info('Setting nf_conntrack_max', { nfConntrackMax: max });
  const hash = Number((await h.readFile(HASHSIZE_FILE)).trim());
  const want = Math.floor(max / 4);
  if (hash >= want) return { readOnlySysfs: false };
  const writable = sysfsWritable(await h.readFile('/proc/mounts'));
  if (writable === null) throw new Error('no sysfs mounted');
  if (!writable) {
    log.warn(READ_ONLY_SYSFS_MESSAGE, { reason: 'readOnlySysFS', wantedHashsize: want });
    // Upstream records a Warning Node event with the error ("readOnlySysFS") as its reason.
    recordEvent('readOnlySysFS', 'Warning', READ_ONLY_SYSFS_MESSAGE);
    return { readOnlySysfs: true };
  }
  log.info('Setting conntrack hashsize', { conntrackHashsize: want });
  await h.writeFile(HASHSIZE_FILE, String(want));
  return { readOnlySysfs: false };
}

/**
 * Apply the conntrack section of the configuration (upstream setupConntrack). Throws on any failure
 * but a read-only /sys, which is reported in the result instead.
 */
export async function setupConntrack(cfg: KubeProxyConntrackConfiguration, host: Partial<ConntrackHost> = {}): Promise<ConntrackSetupResult> {
  const h: ConntrackHost = { ...realHost, ...host };
  const max = await conntrackMax(cfg, () => h.cpuCount());
  const result = max > 0 ? await setMax(h, max) : { readOnlySysfs: false };
  const writes: [string, number][] = [];
  const timeout = (name: string, d: string | null): void => {
    const secs = durationSeconds(d);
    if (secs > 0) writes.push([name, secs]);
  };
  // Upstream's order.
  timeout('nf_conntrack_tcp_timeout_established', cfg.tcpEstablishedTimeout);
  timeout('nf_conntrack_tcp_timeout_close_wait', cfg.tcpCloseWaitTimeout);
  if (cfg.tcpBeLiberal) writes.push(['nf_conntrack_tcp_be_liberal', 1]);
  timeout('nf_conntrack_udp_timeout', cfg.udpTimeout);
  timeout('nf_conntrack_udp_timeout_stream', cfg.udpStreamTimeout);
  for (const [name, value] of writes) {
    if (await h.ensureSysctl(`net/netfilter/${name}`, value)) log.info('Set sysctl', { entry: `net/netfilter/${name}`, value });
  }
  return result;
}
