// nftables mode: the factory. The mode's parts: layout.ts (names + fixed table skeleton),
// service.ts (per-service-port objects), planner.ts (applied state + ProxyState -> transaction +
// next state, pure), dataplane.ts (apply, probe, cleanup: the only I/O).

export { createNftablesDataplane, type NftablesOptions } from './dataplane.js';
