// Traffic tests of the iptables mode with the nft backend (iptables-nft): the whole scenario table.
import assert from 'node:assert/strict';
import { runScenarioSuite } from './run-scenarios.js';

await runScenarioSuite('iptables', {
  env: { KPX_IPTABLES_BACKEND: 'nft' },
  label: 'traffic: iptables (nft backend)',
  afterReady: async (exec) => {
    assert.match(await exec(['iptables-nft-save', '-t', 'nat']), /-A KUBE-SERVICES /, 'no KUBE-SERVICES rules in iptables-nft');
  },
});
