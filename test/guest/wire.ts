// ProxyState <-> JSON for the agent protocol (Maps are not JSON).

import type { ProxyState, ServicePort } from '../../src/model/types.js';

export type StateJSON = Omit<ProxyState, 'services'> & { services: ServicePort[] };

export function stateToJSON(s: ProxyState): StateJSON {
  return { ...s, services: [...s.services.values()] };
}

export function stateFromJSON(j: StateJSON): ProxyState {
  return { ...j, services: new Map(j.services.map((sp) => [sp.key, sp])) };
}
