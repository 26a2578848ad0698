// The /debug/* routes of the metrics server (metricsBindAddress, default 127.0.0.1:10249):
//   /debug/state     compact summary (src/debug/state.ts debugStateView)
//   /debug/services  programmed service ports with endpoints and conditions (JSON; ?namespace= &name=)
//   /debug/rules     the kernel's current view of our rules in the active mode (text; ?family=IPv4|IPv6)
// Read-only; they expose what upstream's /configz and /metrics already allow anyone on the
// address to learn plus Service/endpoint addresses (see docs/security.md before widening it).

import type { ProxierDebugSource } from './source.js';
import { listLocalAddresses, type LocalAddress } from '../node/addresses.js';
import type { IPFamily } from '../model/types.js';
import { debugStateView, servicesSnapshot } from './state.js';

export interface DebugResponse {
  readonly status: number;
  readonly type: string;
  readonly body: string;
}

export type DebugRoutes = (path: string, query: URLSearchParams) => Promise<DebugResponse> | null;

const JSON_TYPE = 'application/json';
const TEXT_TYPE = 'text/plain; charset=utf-8';

export function debugRoutes(source: () => ProxierDebugSource, deps: { localAddresses?: () => Promise<LocalAddress[]> } = {}): DebugRoutes {
  const local = deps.localAddresses ?? listLocalAddresses;
  return (path, query) => {
    switch (path) {
      case '/debug/state':
        return Promise.resolve({ status: 200, type: JSON_TYPE, body: JSON.stringify(debugStateView(source()), null, 2) + '\n' });
      case '/debug/services':
        return (async () => {
          const addrs = await local().catch(() => [] as LocalAddress[]);
          const filter = { ...(query.get('namespace') ? { namespace: query.get('namespace')! } : {}), ...(query.get('name') ? { name: query.get('name')! } : {}) };
          return { status: 200, type: JSON_TYPE, body: JSON.stringify(servicesSnapshot(source(), addrs, filter)) + '\n' };
        })();
      case '/debug/rules':
        return rules(source(), query.get('family'));
      default:
        return null;
    }
  };
}

async function rules(src: ProxierDebugSource, family: string | null): Promise<DebugResponse> {
  if (family !== null && family !== 'IPv4' && family !== 'IPv6') return { status: 400, type: TEXT_TYPE, body: 'family must be IPv4 or IPv6\n' };
  // Loaded on first use: the describers pull in every dataplane's planner.
  const { DESCRIBERS } = await import('../dataplane/describers.js');
  const families = src.families.map((f) => f.family).filter((f): f is IPFamily => family === null || f === family);
  const parts: string[] = [];
  for (const f of families) {
    try {
      for (const s of await DESCRIBERS[src.mode].listRules(f)) parts.push(`# ${src.mode} ${f}: ${s.title}\n${s.text}`);
    } catch (e) {
      parts.push(`# ${src.mode} ${f}: listing failed: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
  return { status: 200, type: TEXT_TYPE, body: parts.join('') };
}
