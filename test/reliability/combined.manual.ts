// Manual combined-fault run (not part of the suite; docs/reliability.md quotes its figures):
//   node dist/test/reliability/combined.manual.js [services=10000] [endpoints=10] [writes=1000] [slowFullSyncS=0] [downMs=3000] [mode=nftables|iptables]
// API server restart during the full sync (iptables mode, nft backend: during the first restore) that repairs an `nft flush ruleset`, during a burst of
// writes, with the kernel table sampled throughout (support/combined.ts). Prints the figures as JSON;
// exits 1 on an inconsistent sample, a lost update, or a restart that missed the full sync. Runs as
// root, inside namespaces only.

import { runCombined } from './support/combined.js';

const [services = '10000', endpoints = '10', writes = '1000', slow = '0', down = '3000', mode = 'nftables'] = process.argv.slice(2);
if (mode !== 'nftables' && mode !== 'iptables') throw new Error(`mode: nftables or iptables, not ${mode}`);
const r = await runCombined({
  mode,
  services: Number(services),
  endpointsPerService: Number(endpoints),
  writes: Number(writes),
  slowFullSyncS: Number(slow),
  downMs: Number(down),
  log: (l) => process.stderr.write(`[combined ${new Date().toISOString()}] ${l}\n`),
});
process.stdout.write(JSON.stringify(r, null, 2) + '\n');
const ok = r.samples.inconsistent === 0 && r.lostUpdates === 0 && r.restartInsideFullSync && r.proxyExit.code === 0;
process.exit(ok ? 0 : 1);
