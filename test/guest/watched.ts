// For test/guest/faults.test.ts: a dual-stack world, the test API server with a seeded churn, and an
// IPVS proxy watching it, converged (support/faults.ts's setupWatched with the guest's bounds). The
// world is destroyed again if the setup fails; otherwise the caller destroys it.

import type { NsApiServer } from '../reliability/support/apiserver.js';
import type { Churn } from '../reliability/support/churn.js';
import { setupWatched } from '../reliability/support/faults.js';
import type { RunningProxy } from '../reliability/support/proxy.js';
import { World } from '../reliability/support/world.js';

export interface WatchedIpvs {
  readonly world: World;
  readonly srv: NsApiServer;
  readonly churn: Churn;
  readonly proxy: RunningProxy;
}

/** 20 seeded services and a 5-minute start bound, as the restart case: the guest is emulated. */
export async function watchedIpvs(seed: number, syncPeriodMs: number): Promise<WatchedIpvs> {
  const world = await World.create({ dualStack: true });
  try {
    return { world, ...(await setupWatched(world, seed, 'ipvs', { seedServices: 20, readyTimeoutMs: 300_000, extraArgs: [`--ipvs-sync-period=${syncPeriodMs / 1000}s`] })) };
  } catch (e) {
    await world.destroy();
    throw e;
  }
}
