// Manual measurement (not a test): a fleet of P proxies on one test API server holding N services x E
// endpoints (support/fleet.ts). Each proxy runs in its own network namespace with real nftables (one
// proxy per node), or with --dry the test-only dry dataplane (plans and renders every transaction,
// programs nothing: src/dataplane/dry.ts). Prints one JSON document: start, change → programmed on
// every proxy (per change: min / median / p99 / max across proxies; the proxies' CPU per change), LIST/
// WATCH counts and API server CPU across a restart with history kept and one with the history
// compacted, idle CPU of the API server and the proxies, RSS.
//   node --import tsx test/reliability/fleet.manual.ts [P=100] [N=1000] [E=10] [changes=10] [wave=10] [--dry] [--no-restarts]
// Proxies start in waves of `wave`, each programmed before the next starts (all at once thrashes 2 cores).
//   node dist/test/reliability/fleet.manual.js 20 10000 10 10          # after `npm run build`
//   node dist/test/reliability/fleet.manual.js 100 10000 10 10 10 --dry
// Root only. Bounded: every wait has a deadline; all processes and namespaces are removed at the end
// (and on SIGINT/SIGTERM: World's exit handlers).

import { Fleet, REFLECTORS, stats, type ChangeResult } from './support/fleet.js';
import { sleep } from './support/proxy.js';
import { memAvailableMB } from './support/fleet.js';

const nums = process.argv.slice(2).filter((a) => /^\d+$/.test(a)).map(Number);
const [P = 100, N = 1000, E = 10, K = 10, WAVE = 10] = nums;
const DRY = process.argv.includes('--dry');
const RESTARTS = !process.argv.includes('--no-restarts');
const log = (l: string): void => void process.stderr.write(`[fleet ${new Date().toISOString().slice(11, 19)}] ${l}\n`);

function summary(c: ChangeResult): Record<string, unknown> {
  return { ...stats(c.latenciesMs), allSeenMs: c.allSeenMs, proxiesCpuMs: c.proxiesCpuMs, scrapes: c.scrapes };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces)');
  if (K > 200) throw new Error('at most 200 changes');
  const memBefore = await memAvailableMB();
  // Diagnostics: KPX_FLEET_PROXY_ARGS (extra proxy flags, space-separated), KPX_FLEET_DUMP=1 (proxy 1's output at the end, on stderr).
  const proxyArgs = (process.env.KPX_FLEET_PROXY_ARGS ?? '').split(' ').filter(Boolean);
  const { fleet, startMs, apiServerStartCpuMs } = await Fleet.start({ proxies: P, services: N, endpoints: E, log, proxyArgs, startTimeoutMs: 1_500_000, wave: WAVE, dry: DRY, minMemAvailableMB: Number(process.env.KPX_FLEET_MIN_AVAIL_MB ?? 4000) });
  try {
    const memAfterStart = await fleet.memory();
    // Let the start settle (nft -i sessions warm, first periodic work done) before timing changes.
    await sleep(5000);
    const changes: ChangeResult[] = [];
    const cpu0 = (await fleet.srv.usage()).cpuMicros;
    for (let k = 0; k < K; k++) {
      changes.push(await fleet.change(1 + ((k * 7919) % N)));
      log(`change ${k + 1}: ${JSON.stringify(summary(changes[k]!))}`);
      await sleep(1000);
    }
    const changeCpuMs = ((await fleet.srv.usage()).cpuMicros - cpu0) / 1000;
    const idleCpuMs = await fleet.idleCpu(30_000);
    log(`idle CPU in 30 s: ${JSON.stringify(idleCpuMs)}`);
    const scrapeRoundCpuMs = await fleet.scrapeCost(3);
    log(`proxies' CPU per /metrics scrape round: ${scrapeRoundCpuMs} ms`);
    const kept = RESTARTS ? await fleet.restart({ downMs: 3000, compact: false, settleMs: 5000, svc: 2 }) : null;
    if (kept) log(`restart, history kept: ${JSON.stringify({ ...kept, changeAfter: summary(kept.changeAfter) })}`);
    const compacted = RESTARTS ? await fleet.restart({ downMs: 3000, compact: true, settleMs: 5000, svc: 3 }) : null;
    if (compacted) log(`restart, history compacted: ${JSON.stringify({ ...compacted, changeAfter: summary(compacted.changeAfter) })}`);
    const mem = await fleet.memory();
    const perChange = changes.map(summary);
    const all = changes.flatMap((c) => c.latenciesMs);
    // The proxies' CPU for one change: what they used from the write to the last poll, less what they
    // use idle in that time and what the polls' /metrics renders cost them.
    const idlePerMs = idleCpuMs.proxiesMs / 30_000;
    const perProxyPerChange = changes.map((c) => Math.round(((c.proxiesCpuMs - idlePerMs * c.allSeenMs - (scrapeRoundCpuMs / P) * c.scrapes) / P) * 10) / 10);
    const out = {
      proxies: P,
      services: N,
      endpointsPerService: E,
      dataplane: DRY ? 'dry (KPX_TEST_DRY_DATAPLANE=1: planned and rendered, not programmed), one network namespace per proxy' : 'nftables, one network namespace per proxy (real kernel rulesets)',
      start: { wave: WAVE, allProgrammedMs: startMs, apiServerCpuMs: Math.round(apiServerStartCpuMs) },
      changeToProgrammedMs: {
        allChanges: stats(all),
        p99AcrossProxiesPerChange: stats(changes.map((c) => stats(c.latenciesMs).p99)),
        maxAcrossProxiesPerChange: stats(changes.map((c) => stats(c.latenciesMs).max)),
        perChange,
      },
      proxyCpuMsPerChangePerProxy: stats(perProxyPerChange),
      scrapeRoundCpuMs: Math.round(scrapeRoundCpuMs),
      apiServerCpuMs: { duringChanges: Math.round(changeCpuMs), changes: K },
      idleCpuMsIn30s: { apiServer: Math.round(idleCpuMs.apiServerMs), allProxies: idleCpuMs.proxiesMs, perProxyPerSecond: Math.round((idleCpuMs.proxiesMs / P / 30) * 100) / 100 },
      restartHistoryKept: kept ? { ...kept, changeAfter: summary(kept.changeAfter), expectedLists: 0 } : 'not run',
      restartHistoryCompacted: compacted ? { ...compacted, changeAfter: summary(compacted.changeAfter), expectedLists: REFLECTORS * P } : 'not run',
      memory: { atStart: memAfterStart, atEnd: mem, machineMemAvailableDropMB: memBefore - mem.memAvailableMB },
    };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    if (process.env.KPX_FLEET_DUMP === '1') process.stderr.write(`--- proxy 1 output ---\n${fleet.proxies[0]!.output().slice(-200_000)}\n`);
  } finally {
    await fleet.close();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`fleet.manual: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
