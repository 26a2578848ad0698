// The end-to-end part of docs/benchmarks.md (bench/e2e.ts's records): targets, start → serving,
// write → traffic, RSS, --manifests, and where the time goes for a start and for one change.

import { WARM_PUTS } from './e2e.js';
import { pct, stat3 } from './e2e-stats.js';
import { fmtMs, fmtN, table } from './format.js';
import type { BenchResults, E2EChangeSample, E2ERecord, E2ESource, Stat3 } from './results.js';

export interface TargetRow {
  readonly what: string;
  readonly result: string;
  readonly verdict: string;
  readonly limits: string;
}

const ok = (b: boolean): string => (b ? '**met**' : '**missed**');
const mmm = (s: Stat3 | null, f: (x: number) => string = fmtMs): string => (s ? `${f(s.median)} (${f(s.min)} – ${f(s.max)}, n=${s.count})` : '—');
const mb = (x: number): string => `${x.toFixed(0)} MB`;

function rec(r: BenchResults, source: E2ESource, mode: E2ERecord['mode'], n: number): E2ERecord | undefined {
  return r.e2e?.find((x) => x.source === source && x.mode === mode && x.services === n);
}

function why(x: E2ERecord | undefined): string {
  if (!x) return 'not measured';
  return x.errors.length ? `— (${x.errors[0]!.slice(0, 120).replace(/\|/g, '/').replace(/\n/g, ' ')})` : '—';
}

/**
 * Per-change values, rounded to 1 µs: the metric-derived ones are differences of float sums in
 * seconds (a 10 ms observation reads 10.000000000000002 ms), which must not decide a "≤ 10 ms" verdict.
 */
const changeValues = (cs: readonly E2EChangeSample[], k: keyof E2EChangeSample): number[] =>
  cs.map((c) => c[k]).filter((v): v is number => typeof v === 'number').map((v) => Math.round(v * 1000) / 1000);

function p5099(xs: readonly number[]): string {
  return xs.length ? `${fmtMs(pct(xs, 0.5))} / ${fmtMs(pct(xs, 0.99))}` : '—';
}

/** The issue's end-to-end targets, judged on this run. */
export function e2eTargets(r: BenchResults): TargetRow[] {
  if (!r.e2e?.length) return [];
  const out: TargetRow[] = [];
  const api = (n: number): E2ERecord | undefined => rec(r, 'apiserver', 'nftables', n);
  const legacy = (n: number): E2ERecord | undefined => rec(r, 'legacy-restore', 'iptables-legacy-restore', n);
  for (const [n, limit] of [[10000, 2000], [1000, 600], [50000, 10000]] as const) {
    const x = api(n);
    out.push({
      what: `process start → last service serving (API server, nftables) ≤ ${fmtMs(limit)} at ${fmtN(n)}`,
      result: x?.start ? `median ${fmtMs(x.start.median)} (max ${fmtMs(x.start.max)})` : why(x),
      verdict: x?.start ? ok(x.start.median <= limit) : 'not measured',
      limits: x?.timeline?.length ? 'see "Where the time goes"' : '',
    });
  }
  // The issue's ratio target is at 10k; the 1k and 50k ratios are in the start table.
  for (const n of [10000]) {
    const x = api(n);
    const l = legacy(n);
    if (!x?.start && !l?.start) continue;
    const q = x?.start && l?.start ? l.start.median / x.start.median : null;
    out.push({
      what: `start → serving ≥ 4× faster than upstream's iptables layout restored by iptables-legacy-restore, ${fmtN(n)} (same run)`,
      result: q !== null ? `${q.toFixed(2)}× (${fmtMs(l!.start!.median)} ÷ ${fmtMs(x!.start!.median)}, medians)` : `not measured (${x?.start ? why(l) : why(x)})`,
      verdict: q !== null ? ok(q >= 4) : 'not measured',
      limits: q !== null ? 'the restore alone is timed, with no process start, API list or model: a lower bound of what upstream needs' : '',
    });
  }
  const big = api(50000);
  if (big) {
    out.push({
      what: 'proxy RSS ≤ 1 GB at 50k services / 500k endpoints',
      result: big.rssMB ? `${mb(big.rssMB.median)} after start (peak ${mb(big.peakMB?.max ?? NaN)})` : why(big),
      verdict: big.rssMB ? ok((big.peakMB?.max ?? big.rssMB.max) <= 1024) : 'not measured',
      limits: '',
    });
  }
  const c10 = api(10000);
  /** A "p99 ≤ limit" target over the 10k run's per-change values. */
  const p99Row = (what: string, values: readonly number[], limitMs: number, limits: string): void => {
    out.push({
      what,
      result: values.length ? `p99 ${fmtMs(pct(values, 0.99))} (p50 ${fmtMs(pct(values, 0.5))}, max ${fmtMs(Math.max(...values))}, ${values.length} changes)` : why(c10),
      verdict: values.length ? ok(pct(values, 0.99) <= limitMs) : 'not measured',
      limits: values.length ? limits : '',
    });
  };
  p99Row('one EndpointSlice change, API write → traffic on the new pod, p99 ≤ 30 ms at 10k', c10 ? changeValues(c10.changes, 'writeToTrafficMs') : [], 30, 'see "Where the time goes: one change"');
  p99Row(
    'event → kernel p99 ≤ 10 ms at 10k (kubeproxy_network_programming_duration_seconds)',
    c10 ? changeValues(c10.changes, 'eventToKernelMs') : [],
    10,
    'per change: the delta of the histogram\'s sum over one observation; the trigger time is the PUT\'s send time (annotation), so this includes the API server and watch delivery',
  );
  out.push({
    what: 'proxy RSS ≤ 200 MB at 10k after start',
    result: c10?.rssMB ? `${mb(c10.rssMB.median)} (peak ${mb(c10.peakMB?.max ?? NaN)})` : why(c10),
    verdict: c10?.rssMB ? ok(c10.rssMB.median <= 200) : 'not measured',
    limits: '',
  });
  const ch = c10?.churn;
  out.push({
    what: 'RSS flat (within 10 %) after 1,000 changes at 10k',
    result: ch ? `${mb(ch.rssBeforeMB)} → ${mb(ch.rssAfterMB)} (${((100 * (ch.rssAfterMB - ch.rssBeforeMB)) / ch.rssBeforeMB).toFixed(1)} %) after ${ch.changes} changes` : why(c10),
    verdict: ch ? ok(ch.rssAfterMB <= ch.rssBeforeMB * 1.1) : 'not measured',
    limits: '',
  });
  for (const f of ['json', 'yaml'] as const) {
    const m = rec(r, `manifests-${f}`, 'nftables', 10000);
    out.push({
      what: `\`--manifests\` (${f.toUpperCase()} files) start → serving ≤ 3 s at 10k`,
      result: m?.start ? `median ${fmtMs(m.start.median)} (max ${fmtMs(m.start.max)})` : why(m),
      verdict: m?.start ? ok(m.start.median <= 3000) : 'not measured',
      limits: '',
    });
  }
  return out;
}

const SOURCES: readonly [E2ESource, E2ERecord['mode'], string][] = [
  ['apiserver', 'nftables', 'nftables, API server'],
  ['apiserver', 'iptables', 'iptables (nft backend), API server'],
  ['manifests-json', 'nftables', 'nftables, --manifests JSON'],
  ['manifests-yaml', 'nftables', 'nftables, --manifests YAML'],
  ['legacy-restore', 'iptables-legacy-restore', 'upstream iptables layout, iptables-legacy-restore alone'],
];

export function renderE2E(r: BenchResults): string[] {
  const L: string[] = [];
  const all = r.e2e ?? [];
  L.push('## End to end: start, change, memory', '');
  if (!all.length) {
    L.push('Not measured in this run.', '');
    return L;
  }
  const sizes = [...new Set(all.map((x) => x.services))].sort((a, b) => a - b);
  L.push(
    'What a cluster sees, measured from outside the proxy process. The project\'s test API server runs in the node namespace, preloaded (`--load`) with N Services × 10 endpoints and the Node; the proxy (`node dist/bundle/main.js --kubeconfig … --v=2`) is spawned there; a client namespace opens new TCP connections to the last service\'s ClusterIP (through the node, as from a pod on another node) until a pod answers. Each cell: median (min – max, number of samples), every sample a fresh process on a flushed ruleset.',
    '',
  );
  L.push('### Start → serving', '');
  const present = SOURCES.filter(([s, m]) => all.some((x) => x.source === s && x.mode === m));
  L.push(
    table(
      ['services × 10 endpoints', ...present.map(([, , label]) => label), 'restore ÷ ours (medians)'],
      sizes.map((n) => {
        const ours = rec(r, 'apiserver', 'nftables', n);
        const l = rec(r, 'legacy-restore', 'iptables-legacy-restore', n);
        return [
          fmtN(n),
          ...present.map(([s, m]) => {
            const x = rec(r, s, m, n);
            if (x?.overMs !== undefined) return `> ${fmtMs(x.overMs)} (stopped at its limit)`;
            return x?.start ? mmm(x.start) : x ? why(x) : '—';
          }),
          ours?.start && l?.start ? `${(l.start.median / ours.start.median).toFixed(2)}×` : ours?.start && l?.overMs !== undefined ? `> ${(l.overMs / ours.start.median).toFixed(1)}×` : '—',
        ];
      }),
    ),
    '',
  );
  L.push('The upstream column times only `iptables-legacy-restore --noflush` of upstream\'s layout for the same services (rendered beforehand) in a fresh namespace: no process start, no API list, no model — what upstream\'s iptables mode cannot go below. Above 10k it runs once with a 60 s limit (it took ~270 s at 50k in earlier runs): "> 60 s" and "> N×" are then lower bounds.', '');

  L.push('### Write → traffic (one EndpointSlice change)', '');
  L.push(
    `A long-lived client in the node namespace PUTs the last service's EndpointSlice with a new pod (annotation \`endpoints.kubernetes.io/last-change-trigger-time\` = the send time); the client namespace opens a new connection every millisecond until the new pod answers. Changes are 1.2 s apart (beyond the default min-sync-period of 1 s), spread over the start samples: each sample's first change is the first of a new proxy process (and counts). Before the first start the client PUTs another service's slice ${WARM_PUTS} times, so that the test API server's write path is warm like a cluster's long-running API server. p50 / p99 are nearest-rank over the row's changes (its own column): a p99 of fewer than 100 changes is their slowest, so nftables at 10k, where the targets are stated, takes more. "event → kernel" is the proxy's own \`kubeproxy_network_programming_duration_seconds\` for that change (the delta of the histogram between two scrapes with one observation), "sync" its \`kubeproxy_sync_proxy_rules_duration_seconds\`.`,
    '',
  );
  const chRows = all.filter((x) => x.changes.length > 0);
  if (chRows.length) {
    L.push(
      table(
        ['services', 'mode', 'changes', 'write → traffic p50 / p99', 'max', 'event → kernel p50 / p99', 'sync p50 / p99', 'PUT round trip p50'],
        chRows.map((x) => {
          const w = changeValues(x.changes, 'writeToTrafficMs');
          return [fmtN(x.services), x.mode, String(x.changes.length), p5099(w), fmtMs(Math.max(...w)), p5099(changeValues(x.changes, 'eventToKernelMs')), p5099(changeValues(x.changes, 'syncMs')), fmtMs(pct(changeValues(x.changes, 'putMs'), 0.5))];
        }),
      ),
      '',
    );
  } else L.push('No changes measured in this run.', '');

  L.push('### Memory', '');
  const memRows = all.filter((x) => x.rssMB);
  if (memRows.length) {
    L.push('VmRSS of the proxy 1 s after it serves, its peak (VmHWM) by then, and VmRSS again after a burst of EndpointSlice PUTs on services across the range (one endpoint dropped / restored), once a later change reached the kernel.', '');
    L.push(
      table(
        ['services', 'configuration', 'RSS after start', 'peak RSS', 'after the burst'],
        memRows.map((x) => [
          fmtN(x.services),
          SOURCES.find(([s, m]) => s === x.source && m === x.mode)?.[2] ?? `${x.source} ${x.mode}`,
          mmm(x.rssMB, mb),
          mmm(x.peakMB, mb),
          x.churn ? `${mb(x.churn.rssAfterMB)} after ${x.churn.changes} changes (${x.churn.rssAfterMB >= x.churn.rssBeforeMB ? '+' : ''}${((100 * (x.churn.rssAfterMB - x.churn.rssBeforeMB)) / x.churn.rssBeforeMB).toFixed(1)} % from ${mb(x.churn.rssBeforeMB)}; ${x.churn.seconds.toFixed(1)} s)` : '—',
        ]),
      ),
      '',
    );
  }

  // Where the time goes: the largest N with a timeline, preferring 10k.
  const withTl = all.filter((x) => x.source === 'apiserver' && x.mode === 'nftables' && x.timeline?.length);
  const tl = withTl.find((x) => x.services === 10000) ?? withTl[withTl.length - 1];
  if (tl?.timeline) {
    L.push(`### Where the time goes: start at ${fmtN(tl.services)} (nftables, API server)`, '');
    L.push('The first occurrence of each log line of the proxy (`--v=2`, klog timestamps) after its process was spawned, median over the samples (min – max); "since previous" is the difference of medians. The last row is the client seeing the first answer; a sync\'s "Synced rules" line is written after its rules are in the kernel, so the answer can come before it.', '');
    let prev = 0;
    L.push(
      table(
        ['event', 'at', 'since previous'],
        tl.timeline.map((row) => {
          const d = row.at.median - prev;
          prev = row.at.median;
          return [row.event.replace(/\|/g, '/'), `${fmtMs(row.at.median)} (${fmtMs(row.at.min)} – ${fmtMs(row.at.max)}${row.at.count < (tl.start?.count ?? 0) ? `, in ${row.at.count} samples` : ''})`, fmtMs(d)];
        }),
      ),
      '',
    );
  }
  const withCh = all.filter((x) => x.source === 'apiserver' && x.mode === 'nftables' && x.changes.length);
  const cx = withCh.find((x) => x.services === 10000) ?? withCh[withCh.length - 1];
  if (cx) {
    const med = (k: keyof E2EChangeSample): number => stat3(changeValues(cx.changes, k))?.median ?? NaN;
    const w = med('writeToTrafficMs');
    const logged = med('loggedSyncEndMs');
    const sync = med('syncMs');
    L.push(`### Where the time goes: one change at ${fmtN(cx.services)} (nftables, API server)`, '');
    L.push(`Medians over ${cx.changes.length} changes, each measured from the PUT being sent.`, '');
    L.push(
      table(
        ['step', 'median', 'how it is measured'],
        [
          ['PUT round trip (test API server stores it and answers)', fmtMs(med('putMs')), 'client side'],
          ['PUT → the proxy\'s sync of it has returned', fmtMs(logged), 'the proxy\'s next "Synced rules" log line (IPv4)'],
          ['… of which the sync itself (model build, plan, kernel)', fmtMs(sync), '`kubeproxy_sync_proxy_rules_duration_seconds` delta'],
          ['… of which writing to the kernel (socket or tool)', fmtMs(med('toolMs')), '`toolMillis` of that log line'],
          ['… so waiting before the sync started (watch delivery, event handling, min-sync-period)', fmtMs(logged - sync), 'difference of the two medians above'],
          ['PUT → rules programmed (proxy\'s own metric)', fmtMs(med('eventToKernelMs')), '`kubeproxy_network_programming_duration_seconds` delta'],
          ['PUT → a new connection answered by the new pod', fmtMs(w), 'client namespace, a new connection every 1 ms'],
        ],
      ),
      '',
    );
  }
  const errs = all.filter((x) => x.errors.length);
  if (errs.length) {
    L.push('Samples that failed or were skipped:', '');
    for (const x of errs) L.push(`- ${x.source} ${x.mode} at ${fmtN(x.services)}: ${x.errors.map((e) => e.replace(/\n/g, ' ').slice(0, 200)).join('; ')}`);
    L.push('');
  }
  return L;
}
