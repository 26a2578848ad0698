// IPVS mode (upstream kube-proxy's ipvs mode): the factory. The mode's parts: layout.ts (names,
// iptables skeleton, ipsets), service.ts (per-service-port objects), planner.ts (pure plan and
// diff), dataplane.ts (apply, probe, cleanup); the kernel side is src/kernel/ipvs and
// src/kernel/iptables (shared with iptables mode).

export { createIpvsDataplane, type IpvsDataplaneHandle, type IpvsDataplaneOptions } from './dataplane.js';
