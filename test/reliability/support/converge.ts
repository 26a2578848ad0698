// Shared by the API server fault tests: "the proxy's view and the kernel's table equal the server's
// objects" (0 lost updates).

import assert from 'node:assert/strict';
import { diffState, expectedState, nftServiceTuples, svcIP, type Churn } from './churn.js';
import { debugState, eventually } from './proxy.js';
import type { World } from './world.js';

/** Wait until /debug/state (IPv4) equals the churn's model, then check the nft table's VIP tuples; returns the wait. */
export async function converge(world: World, churn: Churn, what: string, timeoutMs = 60_000): Promise<{ ms: number }> {
  const t0 = Date.now();
  const want = expectedState(churn.services.values());
  let lastDiff: string[] = [];
  try {
    await eventually(async () => {
      const st = await debugState(world);
      lastDiff = diffState(want, st.families.IPv4?.services ?? {});
      return lastDiff.length === 0;
    }, `${what}: proxy state equals the server's`, timeoutMs, 250);
  } catch (e) {
    throw new Error(`${(e as Error).message}; ${lastDiff.length} differences, e.g. ${lastDiff.slice(0, 5).join('; ')}`);
  }
  const ms = Date.now() - t0;
  // The kernel agrees: exactly the expected VIP tuples are in the table.
  const table = await world.exec('node', ['nft', 'list', 'table', 'ip', 'kube-proxy']);
  const tuples = nftServiceTuples(table);
  const wantTuples = new Set([...churn.services.values()].map((s) => `${svcIP(s.index)} . tcp . ${s.port}`));
  const missing = [...wantTuples].filter((t) => !tuples.has(t));
  const extra = [...tuples].filter((t) => !wantTuples.has(t));
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, 'nft table VIPs equal the server objects');
  return { ms };
}
