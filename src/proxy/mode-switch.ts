// Removing what other modes of ours left on the node: all of it for --cleanup, and, when the proxy
// starts in one mode on a node holding another mode's rules, the old mode's leftovers only AFTER
// the new mode has programmed every family (upstream removes them first, leaving every service
// dark for the list + first sync). Why both rule sets can coexist for that moment without harm:
// docs/operations.md "Switching --proxy-mode".

import type { ProxyOptions } from '../config/types.js';
import { ALL_MODES, loadDataplaneFactory } from '../dataplane/registry.js';
import { iptablesOwnedBy } from '../dataplane/ownership.js';
import type { CleanupOptions, DataplaneFactory } from '../dataplane/types.js';
import { createLogger } from '../log/logger.js';
import type { IPFamily } from '../model/types.js';
import type { ProxyMode } from '../config/types.js';
import { buildDataplaneConfig } from './dataplane-config.js';
import { IpvsUnavailableError } from '../kernel/ipvs/ipvsadm.js';

const log = createLogger('server');
const FAMILIES: readonly IPFamily[] = ['IPv4', 'IPv6'];
/**
 * How long a switch away from ipvs keeps IPVS virtual servers for established connections: IPVS's
 * default TCP established timeout (15 min); an idle connection is gone from IPVS by then anyway.
 */
export const IPVS_DRAIN_MS = 15 * 60_000;

/** Nothing of this mode can exist: its tool is not installed, or (IPVS) the kernel lacks the feature. */
function nothingToClean(mode: ProxyMode, e: unknown): boolean {
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
  // The IPVS cleanup says so when its only failure was a kernel without IPVS: no virtual servers to remove.
  return mode === 'ipvs' && e instanceof IpvsUnavailableError;
}

/**
 * Run cleanup() of `modes` for both families (families in parallel: an IPVS drain waits).
 * Missing tools and modes count as nothing to clean. Returns whether every cleanup succeeded.
 */
export async function cleanupModes(o: ProxyOptions, modes: readonly ProxyMode[], opts: CleanupOptions = {}): Promise<boolean> {
  let ok = true;
  for (const mode of modes) {
    let factory: DataplaneFactory;
    try {
      factory = await loadDataplaneFactory(mode);
    } catch (e) {
      log.warn('Skipping cleanup of unavailable mode', { mode, err: e });
      continue;
    }
    const run = async (family: IPFamily): Promise<void> => {
      try {
        await factory(buildDataplaneConfig(o, family, null)).cleanup(opts);
        log.v(2).info('Cleaned up rules', { mode, ipFamily: family });
      } catch (e) {
        if (nothingToClean(mode, e)) {
          log.v(2).info('Mode not supported here, nothing to clean up', { mode, ipFamily: family });
          return;
        }
        ok = false;
        log.error('Cleanup failed', { mode, ipFamily: family, err: e });
      }
    };
    // --cleanup: one family after the other (ipvsadm -C and kube-ipvs0 are shared by both).
    if (opts.drainMs === undefined) for (const f of FAMILIES) await run(f);
    else await Promise.all(FAMILIES.map(run));
  }
  return ok;
}

/** --cleanup: every mode, every family; any order works (see kernel/iptables/cleanup.ts). */
export function cleanupAll(o: ProxyOptions): Promise<boolean> {
  return cleanupModes(o, ALL_MODES);
}

/**
 * Once `programmed` resolves (every family of the running mode synced), remove the other modes'
 * leftovers, keeping the iptables objects the running mode owns. Not awaited by start-up.
 */
export async function removeOtherModesWhenProgrammed(o: ProxyOptions, programmed: Promise<void>, stopping: () => boolean): Promise<void> {
  await programmed;
  if (stopping()) return;
  const others = ALL_MODES.filter((m) => m !== o.mode);
  const t0 = Date.now();
  const ok = await cleanupModes(o, others, { keep: iptablesOwnedBy(o.mode), drainMs: IPVS_DRAIN_MS });
  log.info('Removed other modes\' leftovers after the first sync', { mode: o.mode, others, ok, millis: Date.now() - t0 });
}
