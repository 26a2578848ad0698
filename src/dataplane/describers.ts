// Mode -> its describe and rules-listing functions (explain, /debug/rules).

import type { ProxyMode } from '../config/types.js';
import type { Describer, RulesLister } from './describe.js';
import { describeIptables, listIptablesRules } from './iptables/describe.js';
import { describeIpvs, listIpvsRules } from './ipvs/describe.js';
import { describeNftables, listNftablesRules } from './nftables/describe.js';

export const DESCRIBERS: Readonly<Record<ProxyMode, { readonly describe: Describer; readonly listRules: RulesLister }>> = {
  nftables: { describe: describeNftables, listRules: listNftablesRules },
  iptables: { describe: describeIptables, listRules: listIptablesRules },
  ipvs: { describe: describeIpvs, listRules: listIpvsRules },
};
