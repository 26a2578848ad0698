// Long run (not part of the suite; root; namespaces only), issue #18's "30 minutes of mixed churn":
//   node dist/test/reliability/longrun.manual.js [services=5000] [minutes=30] [changes/s=20]
// The load scenario (support/load.ts: test API server in the node namespace, nftables proxy with
// --kubeconfig, bounded EndpointSlice churn, a client loop to 10 live services) run for that long,
// sampling every 5 s the proxy's RSS, open fds, child processes, mean sync time, CPU per sync and load. Prints the samples
// and a summary as JSON; exits 1 when a connection failed, it did not converge, or RSS / fds / sync
// time in the last fifth of the run are not within the bounds printed next to them of the second fifth
// (the first fifth is warm-up), or the number of child processes grew (one `nft -i` per family stays).

import { runLoad, type LoadSample } from './support/load.js';

const [services = '5000', minutes = '30', rate = '20'] = process.argv.slice(2);
const r = await runLoad({
  services: Number(services),
  endpointsPerService: 10,
  durationMs: Number(minutes) * 60_000,
  changesPerSecond: Number(rate),
  liveServices: 10,
  sampleLog: true,
  log: (l) => process.stderr.write(`[longrun ${new Date().toISOString()}] ${l}\n`),
});

const s = r.samples;
const fifth = (k: number): LoadSample[] => s.slice(Math.floor((s.length * k) / 5), Math.floor((s.length * (k + 1)) / 5));
const median = (xs: number[]): number => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length ? v[Math.floor(v.length / 2)]! : NaN;
};
const window = (w: LoadSample[]) => ({
  rssMB: median(w.map((x) => x.rssMB)),
  fds: median(w.map((x) => x.fds)),
  syncMeanMs: median(w.flatMap((x) => (x.syncMeanMs === null ? [] : [x.syncMeanMs]))),
  cpuMsPerSync: median(w.flatMap((x) => (x.cpuMsPerSync === null ? [] : [x.cpuMsPerSync]))),
  load1: median(w.map((x) => x.load1)),
  children: median(w.map((x) => x.children.length)),
});
const early = window(fifth(1));
const late = window(fifth(4));
const last = s[s.length - 1];
const checks = {
  noFailedConnections: r.failed === 0,
  converged: r.converged,
  // 10 % is the flatness bound for RSS; fds may differ by the nft -i session's few pipes.
  rssFlat: late.rssMB <= early.rssMB * 1.1,
  fdsFlat: late.fds <= early.fds + 4,
  // Flat means no trend beyond 1.5x. CPU per sync is the gate: wall-clock sync time on a shared 2-core
  // machine follows the other jobs' load, so its growth only fails the run when the load did not grow too.
  syncCpuFlat: !(late.cpuMsPerSync > early.cpuMsPerSync * 1.5 + 2),
  syncFlat: !(late.syncMeanMs > early.syncMeanMs * 1.5 + 2) || late.load1 > early.load1 * 1.5,
  // One `nft -i` per family stays; transient children (an `ip -j addr` listing, a drift check's nft -c)
  // come and go. A leak shows as a growing count.
  noLeakedProcesses: late.children <= early.children,
};
process.stdout.write(
  JSON.stringify({ services: r.services, minutes: Number(minutes), changes: r.changes, connections: r.connections, failed: r.failed, failures: r.failures, initialSyncMs: r.initialSyncMs, early, late, lastSample: last, checks, samples: s }) + '\n',
);
process.exit(Object.values(checks).every(Boolean) ? 0 : 1);
