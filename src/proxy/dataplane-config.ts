// Options -> the static dataplane settings of one family (src/dataplane/config.ts). The local
// detector may depend on the Node object (detect-local-mode NodeCIDR).

import type { ProxyOptions } from '../config/types.js';
import { localhostNodePortsEnabled, type DataplaneConfig } from '../dataplane/config.js';
import type { IPFamily } from '../model/types.js';
import { durationSeconds } from '../util/duration.js';
import { resolveLocalDetector } from './local-detector.js';

function secondsOr0(d: string): number {
  try {
    return durationSeconds(d);
  } catch {
    return 0; // validated by the options parser; never fatal here
  }
}

export function buildDataplaneConfig(o: ProxyOptions, family: IPFamily, node: unknown): DataplaneConfig {
  const ipvs = o.config.ipvs;
  return {
    family,
    masqueradeBit: o.masqueradeBit,
    masqueradeAll: o.masqueradeAll,
    localDetector: resolveLocalDetector(o, family, node),
    localhostNodePorts: localhostNodePortsEnabled(o.mode, family, o.config.iptables.localhostNodePorts),
    ipvsScheduler: ipvs.scheduler,
    ipvsExcludeCIDRs: ipvs.excludeCIDRs ?? [],
    ipvsStrictARP: ipvs.strictARP,
    ipvsTimeouts: { tcp: secondsOr0(ipvs.tcpTimeout), tcpFin: secondsOr0(ipvs.tcpFinTimeout), udp: secondsOr0(ipvs.udpTimeout) },
  };
}
