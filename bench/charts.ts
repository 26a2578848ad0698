// SVG charts of one run with vega-lite (rendered headless, no browser): full sync time,
// incremental p99 and connection-setup cost per mode over the number of services (log x).

import { writeFileSync } from 'node:fs';
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

function spec(title: string, yTitle: string, points: readonly Point[]): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 520,
    height: 300,
    background: 'white',
    data: { values: points as unknown as Record<string, unknown>[] },
    encoding: {
      x: { field: 'services', type: 'quantitative', scale: { type: 'log' }, title: 'services (10 endpoints each)' },
      y: { field: 'value', type: 'quantitative', scale: { type: 'log' }, title: yTitle },
      color: { field: 'mode', type: 'nominal', title: 'mode', legend: { labelLimit: 400 } },
    },
    layer: [
      { mark: { type: 'line' }, transform: [{ filter: "datum.kind === 'measured'" }] },
      { mark: { type: 'point', filled: true, size: 60 }, encoding: { shape: { field: 'kind', type: 'nominal', title: '' } } },
    ],
  };
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
    ['full-sync.svg', spec('Full sync: desired state → kernel (wall time)', 'seconds (log)', full)],
    ['incremental-p99.svg', spec('One endpoint change: event → sync returned, p99', 'milliseconds (log)', inc)],
    ['connection-setup.svg', spec('New TCP connection to the last service, through the node', 'µs per connection (log)', conn)],
  ];
  const written: string[] = [];
  for (const [name, s] of charts) {
    writeFileSync(join(dir, name), await toSvg(s));
    written.push(name);
  }
  return written;
}
