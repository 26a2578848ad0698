// Manual load run (not part of the suite):
//   node --import tsx test/reliability/load.manual.ts [services=10000] [endpoints=10] [seconds=60] [changes/s=20]
// Prints the figures as JSON (docs/reliability.md quotes them). Runs as root, inside namespaces only.

import { runLoad } from './support/load.js';

const [services = '10000', endpoints = '10', seconds = '60', rate = '20'] = process.argv.slice(2);
const r = await runLoad({
  services: Number(services),
  endpointsPerService: Number(endpoints),
  durationMs: Number(seconds) * 1000,
  changesPerSecond: Number(rate),
  liveServices: 10,
  log: (l) => process.stderr.write(`[load] ${l}\n`),
});
process.stdout.write(JSON.stringify(r, null, 2) + '\n');
process.exit(r.failed === 0 && r.converged ? 0 : 1);
