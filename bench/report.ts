// docs/benchmarks.md (and bench/results/<date>.md) from one run's results: machine, every
// figure, ratios against the upstream layouts measured in the same run, and the issue's targets.

import { MODES, MODE_LABEL, MODE_SHORT, type Mode } from './modes.js';
import { fmtMs, fmtN, table } from './format.js';
import { e2eTargets, renderE2E } from './report-e2e.js';
import type { BenchResults, ConnRecord, SyncRecord, Timed } from './results.js';

export { fmtMs };

export interface ReportOptions {
  readonly chartPaths: readonly string[];
  readonly resultsPath: string;
}

function fmtTimed(t: Timed): string {
  switch (t.kind) {
    case 'ok':
      return fmtMs(t.ms);
    case 'timeout':
      return `> ${t.limitMs / 1000} s`;
    case 'skipped':
      return `— (${t.why})`;
    case 'error':
      return `error (${t.message.slice(0, 80).replace(/\|/g, '/').replace(/\n/g, ' ')})`;
  }
}


/** A mode not run at N because it was over its limit at a smaller N is (at least) over that limit at N. */
function effective(t: Timed | undefined): Timed | undefined {
  const m = t?.kind === 'skipped' ? /^full sync was already > (\d+(?:\.\d+)?) s at/.exec(t.why) : null;
  return m ? { kind: 'timeout', limitMs: Number(m[1]) * 1000 } : t;
}

/** Ratio slow/fast as text; a timed-out numerator makes it a lower bound. */
export function ratio(slowIn: Timed | undefined, fast: Timed | undefined): { text: string; value: number; lowerBound: boolean } | null {
  const slow = effective(slowIn);
  if (!slow || !fast || fast.kind !== 'ok') return null;
  if (slow.kind === 'ok') return { text: `${(slow.ms / fast.ms).toFixed(1)}×`, value: slow.ms / fast.ms, lowerBound: false };
  if (slow.kind === 'timeout') return { text: `> ${(slow.limitMs / fast.ms).toFixed(0)}×`, value: slow.limitMs / fast.ms, lowerBound: true };
  return null;
}

function syncOf(r: BenchResults, mode: Mode, n: number): SyncRecord | undefined {
  return r.sync.find((s) => s.mode === mode && s.services === n);
}

function connOf(r: BenchResults, mode: Mode | 'none', n: number): number | null {
  const c: ConnRecord | undefined = r.conn.find((x) => x.mode === mode && x.services === n);
  return c && 'usPerConn' in c.result ? c.result.usPerConn : null;
}

/** The no-rules figure to compare a record with: its paired one (same trio, just before), else the run's. */
function baselineOf(r: BenchResults, mode: Mode, n: number): number | null {
  const c = r.conn.find((x) => x.mode === mode && x.services === n);
  return c?.baselineUs ?? connOf(r, 'none', 0);
}

interface Target {
  readonly what: string;
  readonly result: string;
  readonly verdict: string;
  /** What the figure is made of / what bounds it (computed from this run). */
  readonly limits: string;
}

function targets(r: BenchResults): Target[] {
  const out: Target[] = [];
  const sizes = [...new Set(r.sync.map((s) => s.services))].sort((a, b) => a - b);
  const largest = sizes[sizes.length - 1] ?? 0;
  const N = sizes.includes(10000) ? 10000 : largest;
  const at = N === 10000 ? '10k' : `${fmtN(N)} (10k not measured in this run)`;
  const ours = syncOf(r, 'nftables', N)?.full;
  const ok = (b: boolean): string => (b ? '**met**' : '**missed**');
  out.push({
    what: 'nftables full sync of 10k services ≤ 1 s',
    result: ours ? `${fmtTimed(ours)} at ${at}` : 'not measured',
    verdict: ours?.kind === 'ok' && N === 10000 ? ok(ours.ms <= 1000) : 'not measured',
    limits: ((): string => {
      const s = syncOf(r, 'nftables', N);
      if (!s || s.full.kind !== 'ok' || s.fullToolMs === null) return '';
      return `writing to the kernel (\`nft -f\` for the table, chains and rules, the element socket for the elements) ${fmtMs(s.fullToolMs)} = ${Math.round((100 * s.fullToolMs) / s.full.ms)} %; planning, rendering ${s.fullOperations ?? '?'} operations and spawning: ${fmtMs(s.full.ms - s.fullToolMs)}`;
    })(),
  });
  const big = syncOf(r, 'nftables', 100000)?.full;
  out.push({
    what: 'nftables full sync of 100k services ≤ 1 s',
    result: big ? fmtTimed(big) : 'not measured in this run',
    verdict: big?.kind === 'ok' ? ok(big.ms <= 1000) : 'not measured',
    limits: ((): string => {
      const b = syncOf(r, 'nftables', 100000);
      if (!b || b.full.kind !== 'ok' || b.fullToolMs === null) return 'run with `--sizes 100000 --only sync,nftables` (the default run stays within 20 minutes)';
      return `\`nft -f\` ${fmtMs(b.fullToolMs)} = ${Math.round((100 * b.fullToolMs) / b.full.ms)} % for ${b.fullOperations ?? '?'} operations (1M map elements); planning and rendering ${fmtMs(b.full.ms - b.fullToolMs)}`;
    })(),
  });
  for (const [base, need] of [['upstream-iptables-nft', 15], ['iptables-legacy', 15], ['upstream-nft', 100]] as const) {
    const q = ratio(syncOf(r, base, N)?.full, ours);
    out.push({
      what: `nftables full sync ≥ ${need}× faster than ${MODE_SHORT[base]} at 10k`,
      result: q ? `${q.text} at ${at}` : `not measured (${syncOf(r, base, N) ? fmtTimed(syncOf(r, base, N)!.full) : 'no figure'})`,
      verdict: q && N === 10000 ? (q.value >= need ? '**met**' : q.lowerBound ? `lower bound only (${q.text})` : '**missed**') : 'not measured',
      limits: q?.lowerBound
        ? `the baseline was stopped at its time limit (or not run at 10k because it was already over it at a smaller N), so the true ratio is higher`
        : q
          ? `our time ${ours && ours.kind === 'ok' ? fmtMs(ours.ms) : ''} vs ${fmtTimed(syncOf(r, base, N)!.full)}${base === 'iptables-legacy' ? '; legacy restore is linear and fast (8.3 s at 10k on an idle machine of this kind), so ≥ 15× would need our 10k sync ≤ 0.55 s' : ''}`
          : '',
    });
  }
  for (const [n, limit] of [[5000, 6000], [10000, 10000]] as const) {
    const s = syncOf(r, 'iptables-nft', n);
    out.push({
      what: `iptables mode on the nft backend: full sync ≤ ${limit / 1000} s at ${fmtN(n)}`,
      result: s ? fmtTimed(s.full) : 'not measured',
      verdict: s?.full.kind === 'ok' ? ok(s.full.ms <= limit) : 'not measured',
      limits: s?.full.kind === 'ok' && s.fullToolMs !== null ? `iptables tools (restores, -C checks, iptables-save) ${fmtMs(s.fullToolMs)} = ${Math.round((100 * s.fullToolMs) / s.full.ms)} %; planning and rendering the rest` : '',
    });
  }
  const inc = syncOf(r, 'nftables', N)?.incremental;
  out.push({
    what: 'one endpoint change ≤ 20 ms p99 at 10k (nftables, event → sync returned)',
    result: inc && 'wall' in inc ? `p99 ${fmtMs(inc.wall.p99)} (p50 ${fmtMs(inc.wall.p50)}, ${inc.wall.count} changes) at ${at}` : 'not measured',
    verdict: inc && 'wall' in inc && N === 10000 ? ok(inc.wall.p99 <= 20) : 'not measured',
    limits:
      inc && 'wall' in inc
        ? `writing to the kernel (the element socket; \`nft -i\` for a change that writes a chain) is ${fmtMs(inc.tool.p50)} of the ${fmtMs(inc.wall.p50)} median and ${fmtMs(inc.tool.p99)} at p99; model build + plan is the rest. A change that writes a chain makes nft re-read its cache of the table, which grows with the table (see below)`
        : '',
  });
  const connSizes = [...new Set(r.conn.map((c) => c.services))];
  const CN = connSizes.includes(10000) ? 10000 : Math.max(0, ...connSizes);
  const c10 = connOf(r, 'nftables', CN);
  const c0 = baselineOf(r, 'nftables', CN);
  const cl0 = connOf(r, 'nftables', 0);
  out.push({
    what: 'connection setup at 10k services ≤ 1.15× baseline (nftables)',
    result:
      c10 && c0
        ? `${(c10 / c0).toFixed(2)}× vs no rules in the same namespaces (${c10.toFixed(1)} vs ${c0.toFixed(1)} µs)${cl0 ? `; ${(c10 / cl0).toFixed(2)}× vs the same layout with 0 services` : ''} at ${CN === 10000 ? '10k' : fmtN(CN)}`
        : 'not measured',
    verdict: c10 && c0 && CN === 10000 ? `${ok(c10 / c0 <= 1.15)} vs no rules${cl0 ? `, ${ok(c10 / cl0 <= 1.15)} vs 0-service layout` : ''}` : 'not measured',
    limits: ((): string => {
      const z = r.conn.find((c) => c.mode === 'nftables' && c.services === 0);
      if (!z || !('usPerConn' in z.result) || !z.baselineUs) return '';
      return `the layout with no services already costs ${(z.result.usPerConn / z.baselineUs).toFixed(2)}× no rules (conntrack + NAT hooks + DNAT); per-service matching is map lookups, flat in N`;
    })(),
  });
  const ctl = r.control.find((c) => c.services === 10000) ?? r.control[r.control.length - 1];
  out.push({
    what: 'proxy RSS ≤ 200 MB at 10k services (list + model + nftables plan)',
    result: ctl && 'maxRssMB' in ctl.result ? `${ctl.result.maxRssMB.toFixed(0)} MB max RSS at ${fmtN(ctl.services)}` : 'not measured',
    verdict: ctl && 'maxRssMB' in ctl.result && ctl.services === 10000 ? ok(ctl.result.maxRssMB <= 200) : 'not measured',
    limits: ((): string => {
      const small = r.control.find((c) => c.services === 100);
      if (!ctl || !('maxRssMB' in ctl.result)) return '';
      const floor = small && 'maxRssMB' in small.result ? `a process with the same modules and 100 services peaks at ${small.result.maxRssMB.toFixed(0)} MB; ` : '';
      return `${floor}JS heap after the list + build + plan is ${ctl.result.heapUsedMB.toFixed(0)} MB; the peak comes from LIST pages (JSON text + parsed objects) and the reflector's object cache alive at once with the model and the rendered plan`;
    })(),
  });
  return out;
}

export function renderMarkdown(r: BenchResults, o: ReportOptions): string {
  const m = r.machine;
  const modes = MODES.filter((x) => r.sync.some((s) => s.mode === x) || r.conn.some((c) => c.mode === x));
  const sizes = [...new Set(r.sync.map((s) => s.services))].sort((a, b) => a - b);
  const L: string[] = [];
  L.push('# Benchmarks', '');
  L.push(
    `Generated by \`${r.command}\` (${r.quick ? '\`make bench-quick\`' : '\`make bench\`'}) on ${r.date}, ${r.startedAt.slice(11, 16)}–${r.finishedAt.slice(11, 16)} UTC. Raw figures: [${o.resultsPath.split('/').pop()}](${o.resultsPath}).`,
    '',
    `**Machine:** ${m.cores} cores, ${m.cpuModel}, kernel ${m.kernel}, Node ${m.node}, ${m.nft}, ${m.iptablesNft}, ${m.iptablesLegacy}. ` +
      `Load average at start ${m.loadAvgStart.map((x) => x.toFixed(1)).join(' / ')}, at end ${m.loadAvgEnd.map((x) => x.toFixed(1)).join(' / ')}` +
      ` — absolute times on a shared machine are noisy; the ratios below compare modes measured side by side in the same run.`,
    '',
  );
  if (r.quick) L.push('> **Quick run** (`--quick`): small N only, fewer repetitions. A smoke test, not the reference figures.', '');
  for (const n of r.notes) L.push(`> ${n}`, '');

  L.push('## Targets', '');
  L.push(table(['target', 'this run', 'verdict', 'what it is made of / what limits it'], [...e2eTargets(r), ...targets(r)].map((t) => [t.what, t.result, t.verdict, t.limits])), '');
  L.push('IPVS full sync against nftables in the same (emulated) guest: [benchmarks-guest.md](benchmarks-guest.md).', '');
  L.push(...renderE2E(r));

  L.push('## Full sync', '');
  L.push('Desired state → kernel in a fresh namespace per measurement: wall time of `dataplane.sync(state, {full: true})`, and in brackets the share spent writing to the kernel (`nft` and nftables mode\'s element socket / `iptables-restore` / `iptables`).', '');
  L.push(
    table(
      ['services × 10 endpoints', ...modes.map((x) => MODE_SHORT[x])],
      sizes.map((n) => [
        fmtN(n),
        ...modes.map((x) => {
          const s = syncOf(r, x, n);
          if (!s) return '—';
          const share = s.full.kind === 'ok' && s.fullToolMs !== null ? ` (tool ${Math.round((100 * s.fullToolMs) / s.full.ms)} %)` : '';
          return fmtTimed(s.full) + share;
        }),
      ]),
    ),
    '',
  );
  L.push('Ratios (upstream layout ÷ our nftables mode, same run; `>` = the upstream load hit its time limit, so the ratio is a lower bound):', '');
  L.push(
    table(
      ['services', 'upstream iptables-nft ÷ nftables', 'iptables-legacy ÷ nftables', 'upstream nftables ÷ nftables', 'upstream iptables-nft ÷ our iptables-nft (batched)'],
      sizes.map((n) => {
        const ours = syncOf(r, 'nftables', n)?.full;
        const q = (b: Mode, f: Timed | undefined): string => ratio(syncOf(r, b, n)?.full, f)?.text ?? '—';
        return [fmtN(n), q('upstream-iptables-nft', ours), q('iptables-legacy', ours), q('upstream-nft', ours), q('upstream-iptables-nft', syncOf(r, 'iptables-nft', n)?.full)];
      }),
    ),
    '',
  );
  L.push(
    'Planner overhead: wall − tool time is everything in our process (planning, rendering, spawning the tool). For the iptables modes the tool share above is the raw `iptables-restore` (+ `iptables -C` / `iptables-save` on full syncs) cost; the rest is our planner.',
    '',
  );

  L.push('## Incremental (one endpoint changed)', '');
  L.push('From `ServiceModel.onEvent` with the changed EndpointSlice to `dataplane.sync` returning (model build + plan + kernel), no minSyncPeriod: the network-programming latency the proxy adds. One endpoint is removed from a service and added back, alternately, on services spread over the range. p50 / p99 (nearest rank) of wall time; tool time in brackets.', '');
  L.push(
    table(
      ['services', ...modes.map((x) => MODE_SHORT[x])],
      sizes.map((n) => [
        fmtN(n),
        ...modes.map((x) => {
          const s = syncOf(r, x, n);
          if (!s?.incremental) return '—';
          if ('skipped' in s.incremental) return `— (${s.incremental.skipped})`;
          const w = s.incremental.wall;
          return `${fmtMs(w.p50)} / ${fmtMs(w.p99)} (tool ${fmtMs(s.incremental.tool.p50)}; n=${w.count}${s.incremental.forcedFull ? `, ${s.incremental.forcedFull} upgraded to full and left out` : ''}${s.incremental.budgetHit ? ', time budget hit' : ''}${s.incremental.failures?.length ? `, ${s.incremental.failures.length} failed: ${s.incremental.failures[0]!.slice(0, 60).replace(/\n/g, ' ')}` : ''})`;
        }),
      ]),
    ),
    '',
  );
  const partialRows: string[][] = [];
  for (const x of ['iptables-nft', 'iptables-legacy', 'nftables', 'upstream-nft'] as Mode[]) {
    for (const n of sizes) {
      const s = syncOf(r, x, n);
      if (s?.full.kind === 'ok' && s.incremental && 'wall' in s.incremental) {
        partialRows.push([MODE_SHORT[x], fmtN(n), fmtMs(s.incremental.wall.p50), fmtMs(s.full.ms), `${(s.full.ms / s.incremental.wall.p50).toFixed(1)}×`]);
      }
    }
  }
  if (partialRows.length) L.push('Partial vs full sync (full ÷ incremental p50):', '', table(['mode', 'services', 'incremental p50', 'full', 'full ÷ partial'], partialRows), '');
  const incRatioRows = sizes.flatMap((n) => {
    const ours = syncOf(r, 'nftables', n)?.incremental;
    if (!ours || !('wall' in ours)) return [];
    return [[fmtN(n), ...(['iptables-nft', 'iptables-legacy', 'upstream-nft'] as Mode[]).map((x) => {
      const s = syncOf(r, x, n)?.incremental;
      return s && 'wall' in s ? `${(s.wall.p99 / ours.wall.p99).toFixed(1)}×` : '—';
    })]];
  });
  if (incRatioRows.length) L.push('Incremental p99 ratios (mode ÷ our nftables):', '', table(['services', 'iptables-nft (= upstream iptables-nft) ÷ nftables', 'iptables-legacy ÷ nftables', 'upstream nftables ÷ nftables'], incRatioRows), '');

  L.push('## Connection setup', '');
  L.push('New TCP connections from a client namespace through the node namespace (router, proxy rules) to a pod namespace, to the last-created service\'s ClusterIP; a C client (connect, RST close) pinned to CPU 0 and a C accept loop pinned to the other CPU. µs per connection of the fastest of several rounds (other load on a shared machine only adds time; medians are in the JSON). "no rules" connects straight to the pod IP with no proxy rules in the node (the physical baseline); "0 services" is each layout loaded with no services, connecting to the pod IP.', '');
  const connSizes = [...new Set(r.conn.filter((c) => c.services > 0).map((c) => c.services))].sort((a, b) => a - b);
  const base = connOf(r, 'none', 0);
  const connModes = modes.filter((x) => r.conn.some((c) => c.mode === x));
  if (base !== null || connModes.length) {
    if (base !== null) L.push(`No rules at all (first measurement of the run): ${base.toFixed(1)} µs per connection (${(1e6 / base).toFixed(0)} connections/s).`, '');
    const cell = (x: Mode, n: number): string => {
      const c = r.conn.find((y) => y.mode === x && y.services === n);
      if (!c) return '—';
      if ('skipped' in c.result) return `— (${c.result.skipped})`;
      const b = c.baselineUs;
      return `${c.result.usPerConn.toFixed(1)} µs${b ? ` (${(c.result.usPerConn / b).toFixed(2)}× no rules: ${b.toFixed(1)} µs)` : ''}`;
    };
    L.push(
      table(
        ['mode', '0 services (layout only)', ...connSizes.map((n) => `${fmtN(n)} services`), ...connSizes.map((n) => `${fmtN(n)} ÷ 0 services`)],
        connModes.map((x) => {
          const z = connOf(r, x, 0);
          return [
            MODE_SHORT[x],
            cell(x, 0),
            ...connSizes.map((n) => cell(x, n)),
            ...connSizes.map((n) => {
              const v = connOf(r, x, n);
              return v !== null && z ? `${(v / z).toFixed(2)}×` : '—';
            }),
          ];
        }),
      ),
      '',
    );
    L.push('Each figure is paired with a no-rules measurement in the same namespaces taken just before the rules were loaded (in brackets), because the load of a shared machine drifts between measurements.', '');
  } else L.push('Not measured in this run.', '');

  L.push('## Churn', '');
  if (r.churn.length) {
    L.push('A bounded stream of endpoint changes fed through a `BoundedFrequencyRunner` like the proxy\'s (minSyncPeriod coalescing): latency from each change\'s event to the end of the sync that contained it, and CPU used by the process (`process.cpuUsage`) and by the kernel tools it ran (reaped children).', '');
    L.push(
      table(
        ['mode', 'services', 'stream', 'changes', 'syncs', 'latency p50 / p99', 'CPU (process)', 'CPU (tools)'],
        r.churn.map((c) => {
          const head = [MODE_SHORT[c.mode], fmtN(c.services), `${c.ratePerSec}/s for ${c.seconds} s, minSyncPeriod ${c.minSyncMs / 1000} s`];
          if ('skipped' in c.result) return [...head, `— (${c.result.skipped})`, '', '', '', ''];
          const x = c.result;
          const pct = (ms: number): string => `${fmtMs(ms)} (${((100 * ms) / x.wallMs).toFixed(0)} % of a core)`;
          return [...head, String(x.changes), String(x.syncs), `${fmtMs(x.latency.p50)} / ${fmtMs(x.latency.p99)}`, pct(x.cpuSelfMs), pct(x.cpuToolsMs)];
        }),
      ),
      '',
    );
  } else L.push('Not measured in this run.', '');

  L.push('## Control plane', '');
  if (r.control.length) {
    L.push('Initial LIST of N Services + N EndpointSlices (10 endpoints each) from the test API server (a separate process) through the real reflector, then `ServiceModel.build` and the nftables plan of that state, in a child process whose peak RSS is its own.', '');
    L.push(
      table(
        ['services', 'list (reflector → model)', 'build', 'nftables plan', 'total', 'peak RSS', 'heap after'],
        r.control.map((c) =>
          'skipped' in c.result
            ? [fmtN(c.services), `— (${c.result.skipped})`, '', '', '', '', '']
            : [fmtN(c.services), fmtMs(c.result.listMs), fmtMs(c.result.buildMs), fmtMs(c.result.planMs), fmtMs(c.result.totalMs), `${c.result.maxRssMB.toFixed(0)} MB`, `${c.result.heapUsedMB.toFixed(0)} MB`],
        ),
      ),
      '',
    );
  } else L.push('Not measured in this run.', '');

  if (o.chartPaths.length) {
    L.push('## Charts', '');
    for (const p of o.chartPaths) L.push(`![${p.split('/').pop()!.replace('.svg', '')}](${p})`, '');
  }

  L.push('## Method', '');
  L.push(
    ...[
      '- Modes: ' + MODES.map((x) => `**${MODE_SHORT[x]}** — ${MODE_LABEL[x]}`).join('; ') + '.',
      '- Our iptables mode writes upstream\'s iptables layout chain for chain, so it is the upstream iptables baseline. Upstream writes the whole table in one `iptables-restore --noflush`; "upstream iptables-nft" does exactly that. Our iptables-nft mode splits a full sync into restores of about 5000 lines, because iptables-nft 1.8.9\'s `--noflush` restore is quadratic in its input, and runs those per-service restores up to two per CPU (at most 4) at once before the main restore; its tool time is the wall time of that phase, not the sum of the restores; partial syncs are one small restore either way, so the incremental figure of "iptables-nft (ours)" is also upstream\'s.',
      '- The upstream nftables layout is produced by `bench/baselines/upstream-nft.ts` (per-service chains ending in an anonymous `numgen random mod N vmap`, per-endpoint chains, the `service-ips` map; chain names per upstream `hashAndTruncate`) and loaded with `nft -f`. Its incremental sync rewrites the changed service\'s chains and map element and flushes stale endpoint chains (deleted > 1 s later in a separate transaction), as upstream\'s partial sync does. It is never used by the product.',
      '- Synthetic cluster: N ClusterIP services with one TCP port, one EndpointSlice of 10 ready endpoints each, none on this node; local traffic detector by pod CIDR. Objects go through the real `ServiceModel` (validation, slice merge, build).',
      '- Every measurement runs in network namespaces created for it (`kpx-bench-…`): the worker process itself runs inside the node namespace (`ip netns exec`), as the proxy does, so tool start-up costs are the real ones. Namespaces are deleted afterwards and on SIGINT.',
      `- Time limits: each full sync ${(r.settings.fullSyncLimitSeconds as number) ?? '?'} s, ${(r.settings.upstreamNftLimitSeconds as number) ?? '?'} s for the upstream nftables layout (its 10k figure is needed for a target; upstream iptables-nft at ≥ 5k is known to take minutes and is not waited for) (reported as "> limit"; a mode over its limit is not run at larger N); the incremental phase stops early after its time budget (reported as "time budget hit"); the whole run has a budget of ${(r.settings.budgetMinutes as number) ?? '?'} minutes, after which remaining measurements are reported as skipped.`,
      `- Running it: \`make bench\` — one command, one run: builds, measures everything above in order (end to end first, then control plane, connection baselines, dataplane sync, churn) and rewrites this page, its charts (\`docs/benchmarks/*.svg\`, charts without data in the run are deleted) and \`bench/results/<date>.json\`. It stops starting new measurements after its budget (${(r.settings.budgetMinutes as number) ?? '?'} minutes; remaining ones are listed as skipped), so it ends within 20 minutes on 2 cores${r.quick ? '' : ` (this run: ${Math.round((Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 60_000)} minutes)`}. \`make bench-quick\` (CI smoke test after the tests: N = 1k end to end, 100 / 1k dataplane, 2-minute budget, writes to a temp dir, never fails for slowness). Options: \`--only e2e,sync,conn,control,churn\` and/or mode names, \`--sizes\`, \`--e2e-sizes\`, \`--samples\`, \`--limit\`, \`--budget\`, \`--out DIR\`, \`--from-json FILE\` (re-render this page from a results file). Root is needed for the namespaces.`,
      '- End to end: every process (test API server, proxy, agents) runs in namespaces created for the configuration and is killed by process group in `finally`; namespaces are deleted in `finally` and on SIGINT; every wait and loop has a time bound (start: 120 s or 10 ms per service, 20 ms for iptables; the upstream restore: 120 s or 10 ms per service up to 10k, one sample of at most 60 s above; all capped by what is left of the run budget; a change: 20 s; the 1,000-change burst: 120 s). A probe connection that fails before the rules exist gets an ICMP unreachable from the node at once (its ICMP rate limit is lifted in the node namespace), and attempts that get none time out after 50 ms: the start figure has 2–50 ms resolution. The proxy runs with its defaults plus `--v=2` (for the timeline), `--conntrack-max-per-core=0` (the conntrack table size is not per-namespace) and metrics/healthz on loopback; the iptables mode uses its backend auto-detection (nft on this machine) and is measured for changes and the burst at 1k only (start alone at 10k: its syncs there take seconds, see the dataplane section).',
      '- IPVS is not measured here: this host kernel has no IPVS (it is tested in a guest, see `ipvs-vm/`).',
    ],
    '',
  );
  L.push('## What limits it', '');
  L.push(
    ...[
      '- nftables full sync: dominated by `nft` parsing and the kernel transaction (see the tool share); the ruleset is one global map keyed by address, port and endpoint slot, so the cost is linear in elements.',
      '- nftables incremental: a one-endpoint change is 2–3 operations (flush + rewrite one service chain, one map element), but every `nft -f` first loads its cache of the table from the kernel, which grows with the table: measured aside (2026-11-25, 10k services, load ≈ 9) a lone `add element` took 33–59 ms against 6–8 ms for a trivial transaction, and `flush chain` + `add rule` 62–72 ms. Our planner adds 8–34 ms per change at 10k (the model build < 1 ms). The levers, both taken since: a long-lived `nft -i` for changes that write chains, element-only changes over the proxy\'s own netlink socket, and planner work per change independent of N.',
      '- iptables: every partial sync still rewrites KUBE-SERVICES and the filter chains (upstream semantics), and iptables-legacy replaces the whole table in the kernel on every restore, so partial syncs grow with N; iptables-nft `--noflush` is quadratic in user space.',
      '- Upstream nftables layout: each per-service anonymous vmap makes the kernel walk the pending transaction, so its full load is quadratic in services.',
      '- Connection setup: our nftables layout matches a packet with one hash lookup per map, so cost is flat in N; iptables walks KUBE-SERVICES linearly.',
    ],
    '',
  );
  return L.join('\n');
}
