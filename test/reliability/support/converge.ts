// Shared by the API server fault tests: "the proxy's view and the kernel's tables equal the server's
// objects" (0 lost updates), for every family the churn writes.

import assert from 'node:assert/strict';
import { clusterIPOf, diffState, expectedState, type Churn } from './churn.js';
import { kernelServiceTuples, type Mode } from './modes.js';
import { debugState, eventually } from './proxy.js';
import type { World } from './world.js';

/**
 * Wait until /debug/state of each family equals the churn's model, then check the kernel's VIP tuples
 * of each family (nft tables `ip`/`ip6 kube-proxy`, or iptables-save / ip6tables-save of the mode's
 * backend); returns the wait and the number of services checked per family.
 */
export async function converge(world: World, churn: Churn, what: string, mode: Mode = 'nftables', timeoutMs = 60_000): Promise<{ ms: number; checked: Record<string, number> }> {
  const t0 = Date.now();
  const wants = churn.families.map((f) => [f, expectedState(churn.services.values(), 'default', f)] as const);
  let lastDiff: string[] = [];
  try {
    await eventually(async () => {
      const st = await debugState(world);
      lastDiff = wants.flatMap(([f, want]) => diffState(want, st.families[f]?.services ?? {}).map((d) => `${f} ${d}`));
      return lastDiff.length === 0;
    }, `${what}: proxy state equals the server's`, timeoutMs, 250);
  } catch (e) {
    throw new Error(`${(e as Error).message}; ${lastDiff.length} differences, e.g. ${lastDiff.slice(0, 5).join('; ')}`);
  }
  const ms = Date.now() - t0;
  const checked: Record<string, number> = {};
  // The kernel agrees: exactly the expected VIP tuples are programmed, per family.
  for (const f of churn.families) {
    const tuples = await kernelServiceTuples(world, mode, f);
    const wantTuples = new Set([...churn.services.values()].map((s) => `${clusterIPOf(s, f)} . tcp . ${s.port}`));
    const missing = [...wantTuples].filter((t) => !tuples.has(t));
    const extra = [...tuples].filter((t) => !wantTuples.has(t));
    assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `${mode} ${f} kernel VIPs equal the server objects`);
    checked[f] = wantTuples.size;
  }
  return { ms, checked };
}
