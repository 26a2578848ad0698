// Local traffic detection per family (upstream server_linux.go getLocalDetectors, localdetector.go).

import type { ProxyOptions } from '../config/types.js';
import { parseCIDRSloppy } from '../model/ip.js';
import type { IPFamily } from '../model/types.js';
import type { LocalDetector } from '../dataplane/config.js';
import { nodePodCIDRs } from '../node/addresses.js';

export function resolveLocalDetector(opts: ProxyOptions, family: IPFamily, node: unknown): LocalDetector {
  switch (opts.detectLocalMode) {
    case 'ClusterCIDR': {
      // The first CIDR of the family; none means no detection (no-op detector), as upstream.
      for (const c of opts.clusterCIDRs) {
        const p = parseCIDRSloppy(c);
        if (p && p.family === family) return { mode: 'cidr', cidr: p.text };
      }
      return { mode: 'none' };
    }
    case 'NodeCIDR': {
      const cidr = nodePodCIDRs(node, family)[0];
      return cidr ? { mode: 'cidr', cidr } : { mode: 'none' };
    }
    case 'BridgeInterface': {
      const iface = opts.config.detectLocal.bridgeInterface;
      return iface ? { mode: 'bridge', iface } : { mode: 'none' };
    }
    case 'InterfaceNamePrefix': {
      const prefix = opts.config.detectLocal.interfaceNamePrefix;
      return prefix ? { mode: 'prefix', prefix } : { mode: 'none' };
    }
    default:
      return { mode: 'none' };
  }
}
