// /debug/services JSON back into the model's own types (ServicePort, ProxyState), so explain and
// the dataplanes' describe functions work on exactly what the proxy programmed.

import { joinHostPort } from '../model/ip.js';
import type { Endpoint, ProxyState, ServicePort } from '../model/types.js';
import { SNAPSHOT_KIND, type DebugSnapshot, type FamilySnapshot, type ServicePortJSON } from '../debug/types.js';

export interface FamilyView {
  readonly snap: FamilySnapshot;
  readonly state: ProxyState;
  /** key -> endpoints the model left out of that port (other family, other port name). */
  readonly excluded: ReadonlyMap<string, ServicePortJSON['excluded']>;
}

function pickByKey(all: readonly Endpoint[], keys: readonly string[]): Endpoint[] {
  const byKey = new Map(all.map((e) => [joinHostPort(e.ip, e.port), e]));
  const out: Endpoint[] = [];
  for (const k of keys) {
    const e = byKey.get(k);
    if (e) out.push(e);
  }
  return out;
}

export function servicePortFromJSON(j: ServicePortJSON): ServicePort {
  const { excluded: _excluded, ...rest } = j;
  return {
    ...rest,
    clusterEndpoints: pickByKey(j.endpoints, j.clusterEndpoints),
    localEndpoints: pickByKey(j.endpoints, j.localEndpoints),
    allReachableEndpoints: pickByKey(j.endpoints, j.allReachableEndpoints),
  };
}

export function familyView(snap: FamilySnapshot): FamilyView {
  const services = new Map<string, ServicePort>();
  const excluded = new Map<string, ServicePortJSON['excluded']>();
  for (const j of snap.services) {
    services.set(j.key, servicePortFromJSON(j));
    excluded.set(j.key, j.excluded);
  }
  return {
    snap,
    excluded,
    state: {
      family: snap.family,
      services,
      node: snap.node,
      nodePortAddresses: snap.nodePortAddresses,
      serviceCIDRs: snap.serviceCIDRs,
      generation: snap.generation,
    },
  };
}

/** Throws a readable error when `body` is not a /debug/services document. */
export function parseSnapshot(body: string): DebugSnapshot {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    throw new Error('the debug endpoint did not answer JSON (is this kube-proxy-ts?)');
  }
  const s = v as Partial<DebugSnapshot> | null;
  if (!s || s.kind !== SNAPSHOT_KIND || !Array.isArray(s.families)) throw new Error(`unexpected /debug/services document (kind ${JSON.stringify(s?.kind)})`);
  return s as DebugSnapshot;
}
