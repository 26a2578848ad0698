// iptables mode (upstream kube-proxy's iptables mode, chain for chain): the factory. The mode's
// parts: layout.ts (names, jump rules), service.ts (per-service-port rules), planner.ts (pure
// plan), dataplane.ts (apply, probe, cleanup); the kernel side is src/kernel/iptables.

export { createIptablesDataplane, type IptablesOptions } from './dataplane.js';
