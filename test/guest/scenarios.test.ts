// The shared traffic scenario table (test/traffic/scenarios.ts) in IPVS mode, inside the IPVS
// guest: the real proxy (--proxy-mode ipvs) in node namespaces, per-mode overrides where upstream
// IPVS behaves differently. Skips where the kernel has no IPVS.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { envScenarioFilter, runScenarioSuite } from '../traffic/run-scenarios.js';
import { ALL_GROUPS, type Check } from '../traffic/scenarios.js';
import { skipReason } from './topology.js';

const reason = skipReason();
if (reason) {
  console.log(`# IPVS scenario suite SKIPPED: ${reason}`);
  describe('traffic: ipvs', () => it('scenario table in IPVS mode', { skip: reason }, () => undefined));
} else {
  // KPX_SCENARIOS=<regex> / KPX_SCENARIOS_PART=i/n: a subset or a slice of the table, e.g. to
  // re-check one area in the slow guest, or to split the whole table over runs that each stay under
  // run-in-vm's timeout (docs/testing.md).
  const filter = envScenarioFilter();
  // Emulated guest: process starts are 10-20x slower than on the host. 5 s per attempt also lets
  // an SCTP INIT that IPVS dropped (its source port matched a still-listed old connection,
  // conn_reuse_mode) be retransmitted after SCTP's 3 s initial RTO.
  // explain --trace starts a CLI process per check, ~10 s each here (42 traces were 414 s of the
  // suite's 714 s in CI). By default: the first TCP/UDP check of each group and the first check of
  // each reject/drop kind; KPX_TRACE=scenario: the first check of each scenario (and of each step)
  // and every reject/drop check; KPX_TRACE=all: every check. The in-process explain comparison
  // covers every check regardless.
  const traceAll = process.env.KPX_TRACE === 'all';
  const traceScenarios = process.env.KPX_TRACE === 'scenario';
  const rulesChecked = new Set<string>();
  const firstTraced = new Set<Check>();
  const sampled = new Set<Check>();
  const kindsSampled = new Set<string>();
  for (const g of ALL_GROUPS) {
    let groupSampled = false;
    for (const s of g.scenarios) {
      for (const checks of [s.checks, ...(s.steps ?? []).map((st) => st.checks)]) {
        const first = checks.find((c) => typeof c.expect !== 'object' || !('health' in c.expect));
        if (first) firstTraced.add(first);
        if (first && !groupSampled) {
          sampled.add(first);
          groupSampled = true;
        }
        for (const c of checks) {
          if (typeof c.expect === 'string' && !kindsSampled.has(c.expect)) {
            kindsSampled.add(c.expect);
            sampled.add(c);
          }
        }
      }
    }
  }
  await runScenarioSuite('ipvs', {
    readyTimeoutMs: 240_000,
    attemptTimeoutMs: 5000,
    ...(filter ? { filter } : {}),
    ...(traceAll ? {} : { traceFilter: traceScenarios ? (_g, _s, check) => firstTraced.has(check) || typeof check.expect === 'string' : (_g, _s, check) => sampled.has(check) }),
    // /debug/rules in IPVS mode, once per family (the first group with services of that family):
    // the virtual servers, our ipsets and our iptables chains as the kernel lists them.
    afterReady: async (execInNode) => {
      for (const [family, vs, set] of [['IPv4', /^-A -[tu] \d+\.\d+\.\d+\.\d+:\d+ -s /m, /^add KUBE-CLUSTER-IP /m], ['IPv6', /^-A -[tu] \[[0-9a-f:]+\]:\d+ -s /m, /^add KUBE-6-CLUSTER-IP /m]] as const) {
        if (rulesChecked.has(family)) continue;
        const text = await execInNode(['curl', '-s', '-m', '30', `http://127.0.0.1:10249/debug/rules?family=${family}`]);
        const vsSection = text.slice(text.indexOf('ipvsadm -S -n'), text.indexOf('# ipvs', text.indexOf('ipvsadm -S -n')));
        // This group has no Service of the family: the sections must still be there; contents later.
        if (!/^-A /m.test(vsSection) && text.includes(`# ipvs ${family}: ipvsadm -S -n`)) continue;
        rulesChecked.add(family);
        for (const title of ['ipvsadm -S -n', 'ipset save', family === 'IPv4' ? 'iptables-save' : 'ip6tables-save']) {
          assert.ok(text.includes(`# ipvs ${family}: ${title}`), `/debug/rules?family=${family} lacks the "${title}" section:\n${text.slice(0, 3000)}`);
        }
        assert.match(text, vs, `/debug/rules?family=${family}: no ${family} virtual server`);
        assert.match(text, set, `/debug/rules?family=${family}: no ClusterIP ipset entry`);
        assert.match(text, /^-A KUBE-SERVICES /m, `/debug/rules?family=${family}: no KUBE-SERVICES rule`);
        assert.doesNotMatch(text, family === 'IPv4' ? /^-A -[tu] \[/m : /^-A -[tu] \d/m, `/debug/rules?family=${family} lists the other family's virtual servers`);
      }
    },
  });
}
