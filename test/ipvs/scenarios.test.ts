// The shared traffic scenario table (test/traffic/scenarios.ts) in IPVS mode, inside the IPVS
// guest: the real proxy (--proxy-mode ipvs) in node namespaces, per-mode overrides where upstream
// IPVS behaves differently. Skips where the kernel has no IPVS.

import { describe, it } from 'node:test';
import { runScenarioSuite } from '../traffic/run-scenarios.js';
import { skipReason } from './topology.js';

const reason = skipReason();
if (reason) {
  console.log(`# IPVS scenario suite SKIPPED: ${reason}`);
  describe('traffic: ipvs', () => it('scenario table in IPVS mode', { skip: reason }, () => undefined));
} else {
  // KPX_SCENARIOS=<regex>: run only the scenarios whose name (or group name) matches, e.g. to
  // re-check one area in the slow guest without the whole table.
  const only = process.env.KPX_SCENARIOS ? new RegExp(process.env.KPX_SCENARIOS, 'i') : null;
  // Emulated guest: process starts are 10-20x slower than on the host. 5 s per attempt also lets
  // an SCTP INIT that IPVS dropped (its source port matched a still-listed old connection,
  // conn_reuse_mode) be retransmitted after SCTP's 3 s initial RTO.
  // explain --trace starts a CLI process per check (slow here): the first TCP/UDP check of each
  // scenario, and every reject/drop check; the in-process explain comparison still covers them all.
  await runScenarioSuite('ipvs', {
    readyTimeoutMs: 240_000,
    attemptTimeoutMs: 5000,
    ...(only ? { filter: (g, s) => only.test(s.name) || only.test(g.name) } : {}),
    traceFilter: (_g, scenario, check) => scenario.checks.find((c) => typeof c.expect !== 'object' || !('health' in c.expect)) === check || typeof check.expect === 'string',
  });
}
