// Child process in a namespace that GETs many proxies' /metrics and sums the named metrics, so the fleet
// test reads 100 proxies without this work landing in the API server's process (whose CPU is measured).
// JSON lines on stdin/stdout (test/support/rpc-child.ts).

import { createInterface } from 'node:readline';

function reply(id: number, ok: boolean, v: unknown): void {
  process.stdout.write(JSON.stringify(ok ? { id, ok, result: v } : { id, ok, error: String(v instanceof Error ? v.message : v) }) + '\n');
}

/** Per name, the sum of its samples whose labels include every `labels` pair (Prometheus text format). */
export function sumMetrics(text: string, names: readonly string[], labels: Record<string, string>): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || !Object.hasOwn(out, m[1]!)) continue;
    const lbl = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) out[m[1]!]! += Number(m[3]);
  }
  return out;
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
  createInterface({ input: process.stdin }).on('line', (line) => {
    let m: { id: number; op: string } & Record<string, unknown>;
    try {
      m = JSON.parse(line) as typeof m;
    } catch {
      return;
    }
    if (m.op !== 'scrape') return reply(m.id, false, `unknown op ${m.op}`);
    scrape(m as unknown as ScrapeArgs).then(
      (v) => reply(m.id, true, v),
      (e: unknown) => reply(m.id, false, e),
    );
  });
  process.stdin.on('end', () => process.exit(0));
  reply(0, true, 'ready');
}
