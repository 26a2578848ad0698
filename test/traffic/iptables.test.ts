// Traffic tests of the iptables mode with the nft backend (iptables-nft): the whole scenario table.
import { runScenarioSuite } from './run-scenarios.js';

await runScenarioSuite('iptables', { env: { KPX_IPTABLES_BACKEND: 'nft' }, label: 'traffic: iptables (nft backend)' });
