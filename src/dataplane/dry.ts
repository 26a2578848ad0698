// Test-only dry dataplane (KPX_TEST_DRY_DATAPLANE=1): the nftables dataplane with a tool runner that
// starts no process. Every sync still builds the state, runs the planner and renders the transaction
// text (the nftables dataplane hands it to the runner as `nft -f -` input), so the sync metrics and
// kubeproxy_network_programming_duration_seconds are observed as usual; nothing reaches the kernel,
// the drift probe always answers "no drift", and no `nft -i` session is started.
//
// Why: a fleet of 100 proxies on one machine (test/reliability/fleet.manual.ts --dry) measures the API
// server's fan-out and each proxy's share of a change without 100 kernel rulesets and `nft` processes
// (~15 MB and the kernel's work per proxy). It is not an operating mode: the proxy warns at start,
// and only nftables is supported (the other modes parse their tools' output).

import type { ProxyMode } from '../config/types.js';
import type { ToolRunner } from '../kernel/runner.js';
import { createNftablesDataplane } from './nftables/dataplane.js';
import { DRY_DATAPLANE_ENV } from './registry.js';
import type { DataplaneFactory } from './types.js';

// Selected by registry.ts (loadDataplaneFactory), which holds the environment switch and loads this
// module only when it is set.

/** Answers every tool call with success and no output, without starting anything. */
export const dryRunner: ToolRunner = async () => ({ stdout: '', stderr: '', code: 0, millis: 0 });

export function dryDataplaneFactory(mode: ProxyMode): DataplaneFactory {
  if (mode !== 'nftables') throw new Error(`${DRY_DATAPLANE_ENV}=1 (test-only dry dataplane) supports --proxy-mode nftables only, not ${mode}`);
  return (cfg) => createNftablesDataplane(cfg, { runner: dryRunner, interactive: false });
}
