// Traffic tests of the iptables mode with the legacy backend (iptables-legacy), selected with
// KPX_IPTABLES_BACKEND=legacy: a subset of the table (the rules are the same text as with the nft
// backend; what differs is the tool and the kernel path), plus proof the rules landed in legacy.
import assert from 'node:assert/strict';
import { defaultsGroup } from './scenarios.js';
import { runScenarioSuite } from './run-scenarios.js';

const keep = /ClusterIP from|NodePort \(default|externalTrafficPolicy Local|no endpoints|loadBalancerSourceRanges|sessionAffinity|IPv6|added and removed|UDP/;

await runScenarioSuite('iptables', {
  env: { KPX_IPTABLES_BACKEND: 'legacy' },
  label: 'traffic: iptables (legacy backend)',
  groups: [defaultsGroup],
  filter: (_g, s) => keep.test(s.name),
  afterReady: async (exec) => {
    const legacy = await exec(['iptables-legacy-save', '-t', 'nat']);
    assert.match(legacy, /-A KUBE-SERVICES /, 'no KUBE-SERVICES rules in iptables-legacy');
    const nft = await exec(['iptables-nft-save', '-t', 'nat']);
    assert.doesNotMatch(nft, /-A KUBE-SERVICES /, 'KUBE-SERVICES rules found in iptables-nft with the legacy backend');
  },
});
