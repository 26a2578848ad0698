// Proxy mode -> dataplane factory. Loaded with dynamic import so that one mode's module (or its
// absence) never affects start-up of another mode, and a missing mode fails with a clear error.

import type { ProxyMode } from '../config/types.js';
import type { DataplaneFactory } from './types.js';

// One literal import() per mode, so that a bundler (scripts/bundle.mjs) can follow each into a chunk
// of its own; the export is still checked at run time.
const modules: Record<ProxyMode, { readonly load: () => Promise<unknown>; readonly factory: string }> = {
  nftables: { load: () => import('./nftables/index.js'), factory: 'createNftablesDataplane' },
  iptables: { load: () => import('./iptables/index.js'), factory: 'createIptablesDataplane' },
  ipvs: { load: () => import('./ipvs/index.js'), factory: 'createIpvsDataplane' },
};

export const ALL_MODES: readonly ProxyMode[] = ['iptables', 'ipvs', 'nftables'];

/** Test-only: the dry dataplane (dry.ts) instead of the mode's own, for fleet measurements. */
export const DRY_DATAPLANE_ENV = 'KPX_TEST_DRY_DATAPLANE';

/** Whether the proxy's own environment asks for the dry dataplane (exactly "1"). */
export function dryDataplaneRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[DRY_DATAPLANE_ENV] === '1';
}

export async function loadDataplaneFactory(mode: ProxyMode, env: NodeJS.ProcessEnv = process.env): Promise<DataplaneFactory> {
  // Loaded only when asked for, like the modes: no start-up pays for the test-only module.
  if (dryDataplaneRequested(env)) return (await import('./dry.js')).dryDataplaneFactory(mode);
  const entry = modules[mode];
  if (!entry) throw new Error(`unknown proxy mode ${JSON.stringify(mode)}`);
  let mod: Record<string, unknown>;
  try {
    mod = (await entry.load()) as Record<string, unknown>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes(`${mode}`)) {
      throw new Error(`proxy mode ${mode} is not available in this build`);
    }
    throw e;
  }
  const f = mod[entry.factory];
  if (typeof f !== 'function') throw new Error(`proxy mode ${mode}: module does not export ${entry.factory}`);
  return f as DataplaneFactory;
}
