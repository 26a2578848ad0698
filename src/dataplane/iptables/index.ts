// iptables dataplane: upstream kube-proxy's iptables mode, chain for chain.

export { createIptablesDataplane, type IptablesOptions } from './dataplane.js';
export {
  plan,
  needsRouteLocalnet,
  probability,
  LARGE_CLUSTER_ENDPOINTS_THRESHOLD,
  type Applied,
  type Plan,
  type PlanCounts,
  type PlanOptions,
} from './planner.js';
export { endpointChainName, portProtoHash, serviceChainNames, servicePortChainName, isServiceChainName } from './hash.js';
export { masqueradeMark, masqueradeMarkValue, type MarkSpelling } from '../shared/masquerade.js';
export { JUMP_RULES, KUBELET_JUMP_RULES, type JumpRule } from './chains.js';
export { detectBackend, toolName, type Backend, type BackendChoice } from './tools.js';
