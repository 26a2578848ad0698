// The node-side inputs of one family's build: node IPs (Node object, --bind-address or loopback),
// the NodePort addresses resolved against this node's interfaces, and the dataplane settings.

import type { ProxyOptions } from '../config/types.js';
import type { DataplaneConfig } from '../dataplane/config.js';
import { createLogger } from '../log/logger.js';
import type { IPFamily, NodePortAddresses } from '../model/types.js';
import type { LocalAddressCache } from '../node/address-cache.js';
import { LOOPBACK_NODE_IP, nodePortAddressesNeedLocal, resolveNodeIPs, resolveNodePortAddresses, type LocalAddress } from '../node/addresses.js';
import { buildDataplaneConfig } from './dataplane-config.js';

const log = createLogger('proxier');

export interface FamilyInputs {
  readonly nodeIPs: string[];
  readonly nodePortAddresses: NodePortAddresses;
  readonly config: DataplaneConfig;
}

export class FamilyInputResolver {
  private readonly loopbackLogged = new Set<IPFamily>();

  constructor(
    private readonly options: ProxyOptions,
    private readonly addresses: LocalAddressCache,
    private readonly node: () => unknown,
  ) {}

  async resolve(family: IPFamily): Promise<FamilyInputs> {
    const o = this.options;
    let local: LocalAddress[] = [];
    // Listed (a process start, then again in the background every second of syncs) only when the
    // NodePort addresses depend on them: an idle proxy with the default `primary` starts no `ip`.
    if (nodePortAddressesNeedLocal(o.nodePortAddresses, family)) {
      try {
        local = await this.addresses.get();
      } catch (e) {
        log.error('Failed to list local addresses', { err: e });
      }
    }
    const node = this.node();
    const nodeIPs = resolveNodeIPs(node, family, o.config.bindAddress);
    if (nodeIPs[0] === LOOPBACK_NODE_IP[family] && !this.loopbackLogged.has(family)) {
      this.loopbackLogged.add(family);
      log.info("Can't determine this node's IP, assuming loopback; if this is incorrect, please set the --bind-address flag", { ipFamily: family });
    }
    const nodePortAddresses = resolveNodePortAddresses(o.nodePortAddresses, family, nodeIPs, local);
    return { nodeIPs, nodePortAddresses, config: buildDataplaneConfig(o, family, node) };
  }
}
