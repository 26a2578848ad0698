// Traffic tests of the nftables mode: the whole scenario table (see scenarios.ts, docs/testing.md).
import { runScenarioSuite } from './run-scenarios.js';

await runScenarioSuite('nftables');
