// Traffic tests of the iptables mode with the legacy backend (iptables-legacy): a subset covering
// the rule shapes that differ per backend only in the tool used (ClusterIP, NodePort, eTP Local,
// no endpoints, source ranges, affinity, IPv6, run-time changes).
import { defaultsGroup } from './scenarios.js';
import { runScenarioSuite } from './run-scenarios.js';

const keep = /ClusterIP from|NodePort \(default|externalTrafficPolicy Local|no endpoints|loadBalancerSourceRanges|sessionAffinity|IPv6|added and removed/;

await runScenarioSuite('iptables', {
  env: { KPX_IPTABLES_BACKEND: 'legacy' },
  label: 'traffic: iptables (legacy backend)',
  groups: [defaultsGroup],
  filter: (_g, s) => keep.test(s.name),
});
