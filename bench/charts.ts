// SVG charts of one run with vega-lite (rendered headless, no browser): full sync time,
// incremental p99 and connection-setup cost per mode over the number of services (log x).

import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { MODE_SHORT } from './modes.js';
import type { BenchResults } from './results.js';

interface Point {
  readonly mode: string;
  readonly services: number;
  readonly value: number;
  /** 'measured' or '> limit' (a lower bound drawn at the limit). */
  readonly kind: string;
}

/** What every chart shares: size, white background, the data, the log x axis of service counts. */
function frame(title: string, points: readonly object[]): { $schema: string; title: string; width: number; height: number; background: string; data: { values: Record<string, unknown>[] } } {
  return { $schema: 'https://vega.github.io/schema/vega-lite/v5.json', title, width: 520, height: 300, background: 'white', data: { values: points as unknown as Record<string, unknown>[] } };
}

const X_SERVICES = { field: 'services', type: 'quantitative', scale: { type: 'log' }, title: 'services (10 endpoints each)' } as const;

function spec(title: string, yTitle: string, points: readonly Point[]): TopLevelSpec {
  return {
    ...frame(title, points),
    encoding: {
      x: X_SERVICES,
      y: { field: 'value', type: 'quantitative', scale: { type: 'log' }, title: yTitle },
      color: { field: 'mode', type: 'nominal', title: 'mode', legend: { labelLimit: 400 } },
    },
    layer: [
      { mark: { type: 'line' }, transform: [{ filter: "datum.kind === 'measured'" }] },
      { mark: { type: 'point', filled: true, size: 60 }, encoding: { shape: { field: 'kind', type: 'nominal', title: '' } } },
    ],
  };
}

interface RangePoint {
  readonly series: string;
  readonly services: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** Median per N with a min–max bar, log–log (sizes span decades). */
function rangeSpec(title: string, yTitle: string, points: readonly RangePoint[], yLog = true): TopLevelSpec {
  return {
    ...frame(title, points),
    encoding: {
      x: X_SERVICES,
      color: { field: 'series', type: 'nominal', title: '', legend: { labelLimit: 400, orient: 'bottom', columns: 1 } },
    },
    layer: [
      { mark: { type: 'rule' }, encoding: { y: { field: 'min', type: 'quantitative', scale: { type: yLog ? 'log' : 'linear' }, title: yTitle }, y2: { field: 'max' } } },
      { mark: { type: 'line', point: { filled: true, size: 50 } }, encoding: { y: { field: 'median', type: 'quantitative' } } },
    ],
  };
}

function e2eCharts(r: BenchResults): [string, TopLevelSpec][] {
  const e2e = r.e2e ?? [];
  if (!e2e.length) return [];
  const label: Record<string, string> = {
    'apiserver/nftables': 'nftables, API server',
    'apiserver/iptables': 'iptables (nft backend), API server',
    'manifests-json/nftables': 'nftables, --manifests JSON',
    'manifests-yaml/nftables': 'nftables, --manifests YAML',
    'legacy-restore/iptables-legacy-restore': 'upstream iptables layout, iptables-legacy-restore alone',
  };
  const start: RangePoint[] = [];
  const rss: RangePoint[] = [];
  const change: RangePoint[] = [];
  for (const x of e2e) {
    const series = label[`${x.source}/${x.mode}`] ?? `${x.source} ${x.mode}`;
    if (x.start) start.push({ series, services: x.services, median: x.start.median / 1000, min: x.start.min / 1000, max: x.start.max / 1000 });
    if (x.rssMB) rss.push({ series, services: x.services, median: x.rssMB.median, min: x.rssMB.min, max: x.rssMB.max });
    const w = x.changes.map((c) => c.writeToTrafficMs).sort((a, b) => a - b);
    if (w.length) change.push({ series: `${series}: p50, bar to p99`, services: x.services, median: w[Math.ceil(0.5 * w.length) - 1]!, min: w[0]!, max: w[Math.ceil(0.99 * w.length) - 1]! });
  }
  const out: [string, TopLevelSpec][] = [];
  if (start.length) out.push(['e2e-start.svg', rangeSpec('Process start → last service answers (median, bar: min–max)', 'seconds (log)', start)]);
  if (change.length) out.push(['e2e-change.svg', rangeSpec('EndpointSlice PUT → new connection lands on the new pod', 'milliseconds (log); bar: min to p99', change)]);
  if (rss.length) out.push(['e2e-rss.svg', rangeSpec('Proxy RSS 1 s after serving (median, bar: min–max)', 'MB (log)', rss)]);
  return out;
}

async function toSvg(s: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(s).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Writes the SVGs into `dir`; returns their file names. */
export async function renderCharts(r: BenchResults, dir: string): Promise<string[]> {
  const full: Point[] = [];
  const inc: Point[] = [];
  for (const s of r.sync) {
    const mode = MODE_SHORT[s.mode];
    if (s.full.kind === 'ok') full.push({ mode, services: s.services, value: s.full.ms / 1000, kind: 'measured' });
    else if (s.full.kind === 'timeout') full.push({ mode, services: s.services, value: s.full.limitMs / 1000, kind: '> limit (lower bound)' });
    if (s.incremental && 'wall' in s.incremental) inc.push({ mode, services: s.services, value: s.incremental.wall.p99, kind: 'measured' });
  }
  const conn: Point[] = [];
  for (const c of r.conn) {
    if (!('usPerConn' in c.result) || c.services === 0) continue;
    conn.push({ mode: MODE_SHORT[c.mode as keyof typeof MODE_SHORT] ?? c.mode, services: c.services, value: c.result.usPerConn, kind: 'measured' });
  }
  // No rules: the mean of the paired no-rules figures taken in the same namespaces before each load.
  for (const n of [...new Set(conn.map((p) => p.services))]) {
    const b = r.conn.filter((c) => c.services === n && c.baselineUs !== undefined).map((c) => c.baselineUs!);
    if (b.length) conn.push({ mode: 'no rules (paired baseline)', services: n, value: b.reduce((x, y) => x + y, 0) / b.length, kind: 'measured' });
  }
  const charts: [string, TopLevelSpec][] = [
    ...e2eCharts(r),
    ...(full.length ? [['full-sync.svg', spec('Full sync (dataplane only): desired state → kernel (wall time)', 'seconds (log)', full)] as [string, TopLevelSpec]] : []),
    ...(inc.length ? [['incremental-p99.svg', spec('One endpoint change (dataplane only): event → sync returned, p99', 'milliseconds (log)', inc)] as [string, TopLevelSpec]] : []),
    ...(conn.length ? [['connection-setup.svg', spec('New TCP connection to the last service, through the node', 'µs per connection (log)', conn)] as [string, TopLevelSpec]] : []),
  ];
  const written: string[] = [];
  // No stale points: charts this run has no data for are removed, not left from an earlier run.
  for (const f of readdirSync(dir)) if (f.endsWith('.svg') && !charts.some(([name]) => name === f)) rmSync(join(dir, f));
  for (const [name, s] of charts) {
    writeFileSync(join(dir, name), await toSvg(s));
    written.push(name);
  }
  return written;
}
