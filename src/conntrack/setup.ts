// Start-up conntrack sysctls (upstream cmd/kube-proxy/app/conntrack.go + server_linux.go setupConntrack).
// The timeouts and be_liberal are per network namespace and always safe to set. nf_conntrack_max and
// the hash size are machine-global: they are written only from the initial network namespace, never
// from inside a namespace (tests, `ip netns exec`), where doing so would change the host.

import { promises as fsp } from 'node:fs';
import os from 'node:os';
import { NS_PER_SECOND, parseDuration } from '../config/duration.js';
import type { KubeProxyConntrackConfiguration } from '../config/types.js';
import { READ_ONLY_SYSFS_MESSAGE, recordEvent } from '../events/recorder.js';
import { createLogger } from '../log/logger.js';
import { inInitialNetns } from '../node/netns.js';
import { ensureSysctl, readSysctl } from '../node/sysctl.js';

const log = createLogger('conntrack');

/** A configured Go duration in whole seconds; null/empty/invalid -> 0 (unset). */
export function durationSeconds(d: string | null | undefined): number {
  if (!d) return 0;
  return Number(parseDuration(d) / NS_PER_SECOND);
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

async function setGlobalConntrackMax(max: number): Promise<void> {
  if (!(await inInitialNetns())) {
    log.info('Not in the initial network namespace: leaving nf_conntrack_max and hashsize alone', { wanted: max });
    return;
  }
  const cur = Number(await readSysctl('net/netfilter/nf_conntrack_max'));
  if (cur < max) {
    await ensureSysctl('net/netfilter/nf_conntrack_max', max);
    log.info('Setting nf_conntrack_max', { value: max });
  }
  const hashFile = '/sys/module/nf_conntrack/parameters/hashsize';
  const hash = Number((await fsp.readFile(hashFile, 'utf8')).trim());
  const want = Math.floor(max / 4);
  if (hash < want) {
    try {
      await fsp.writeFile(hashFile, String(want));
      log.info('Setting conntrack hashsize', { value: want });
    } catch (e) {
      log.warn('Could not raise conntrack hashsize (read-only sysfs?)', { err: e });
      if ((e as NodeJS.ErrnoException).code === 'EROFS') recordEvent('readOnlySysFS', 'Warning', READ_ONLY_SYSFS_MESSAGE);
    }
  }
}

/** Apply the conntrack section of the configuration. Failures are logged; none is fatal. */
export async function setupConntrack(cfg: KubeProxyConntrackConfiguration): Promise<void> {
  const perCore = cfg.maxPerCore ?? 0;
  if (perCore > 0) {
    const max = Math.max(perCore * (await cpuCount()), cfg.min ?? 0);
    try {
      await setGlobalConntrackMax(max);
    } catch (e) {
      log.warn('Could not set nf_conntrack_max', { err: e });
    }
  }
  const timeouts: [string, string | null][] = [
    ['nf_conntrack_tcp_timeout_established', cfg.tcpEstablishedTimeout],
    ['nf_conntrack_tcp_timeout_close_wait', cfg.tcpCloseWaitTimeout],
    ['nf_conntrack_udp_timeout', cfg.udpTimeout],
    ['nf_conntrack_udp_timeout_stream', cfg.udpStreamTimeout],
  ];
  const writes: [string, number][] = [];
  for (const [name, d] of timeouts) {
    let secs = 0;
    try {
      secs = durationSeconds(d);
    } catch (e) {
      log.warn('Ignoring invalid conntrack timeout', { sysctl: name, err: e });
    }
    if (secs > 0) writes.push([name, secs]);
  }
  if (cfg.tcpBeLiberal) writes.push(['nf_conntrack_tcp_be_liberal', 1]);
  for (const [name, value] of writes) {
    try {
      if (await ensureSysctl(`net/netfilter/${name}`, value)) log.info('Set sysctl', { name: `net/netfilter/${name}`, value });
    } catch (e) {
      log.warn('Could not set conntrack sysctl', { name: `net/netfilter/${name}`, err: e });
    }
  }
}
