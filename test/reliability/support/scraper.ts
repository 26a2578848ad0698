// Child process in a namespace that GETs many proxies' /metrics and sums the named metrics, so the fleet
// test reads 100 proxies without this work landing in the API server's process (whose CPU is measured).
// JSON lines on stdin/stdout (test/support/rpc-child.ts).

import { serveRpc } from '../../support/rpc-child.js';
import { metricValue } from './proxy.js';

/** Per name, the sum of its samples whose labels include every `labels` pair. */
function sumMetrics(text: string, names: readonly string[], labels: Record<string, string>): Record<string, number> {
  return Object.fromEntries(names.map((n) => [n, metricValue(text, n, labels)]));
}

interface ScrapeArgs {
  readonly urls: string[];
  readonly names: string[];
  readonly labels?: Record<string, string>;
  readonly timeoutMs?: number;
}

async function scrape(a: ScrapeArgs): Promise<({ values: Record<string, number> } | { error: string })[]> {
  return Promise.all(
    a.urls.map(async (u) => {
      try {
        const r = await fetch(u, { signal: AbortSignal.timeout(a.timeoutMs ?? 10_000) });
        if (!r.ok) return { error: `HTTP ${r.status}` };
        return { values: sumMetrics(await r.text(), a.names, a.labels ?? {}) };
      } catch (e) {
        return { error: (e as Error).message };
      }
    }),
  );
}

if (process.argv.includes('--serve')) {
  serveRpc({ scrape: (a) => scrape(a as unknown as ScrapeArgs) }, 'ready', () => process.exit(0));
}
