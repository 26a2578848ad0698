// One full garbage collection, on demand (V8's gc() without starting node with --expose-gc).
//
// Why: the start allocates ~100 MB at 10k services (LIST text and objects, the first plan) that is
// garbage once the first sync is done. Left to V8, it is collected by the memory reducer seconds
// later in a ~150-200 ms burst of main-thread GC, and a change arriving then waits behind it (the
// write → traffic p99 at 10k). Collected right after the start, while nothing waits, it costs the
// same once and never lands on a change.

import v8 from 'node:v8';
import vm from 'node:vm';
import { PerformanceObserver, constants } from 'node:perf_hooks';

let gcFn: (() => void) | null = null;

/** Runs a full GC; returns the used heap before and after, in bytes. */
export function collectGarbage(): { before: number; after: number } {
  if (!gcFn) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (exposed) gcFn = exposed;
    else {
      v8.setFlagsFromString('--expose-gc');
      // A new context gets the `gc` global the flag now exposes.
      gcFn = vm.runInNewContext('gc') as () => void;
    }
  }
  const before = process.memoryUsage().heapUsed;
  gcFn();
  return { before, after: process.memoryUsage().heapUsed };
}

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/**
 * Log each garbage-collection pause of at least `minMs` (main thread) with `log` (at -v=4 from
 * main.ts): where a slow change or start waited. Nothing is observed unless called.
 */
export function logGcPauses(log: (msg: string, fields: Record<string, unknown>) => void, minMs: number): void {
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.duration < minMs) continue;
      const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0;
      log('Garbage collection pause', { kind: GC_KINDS[kind] ?? String(kind), millis: Math.round(e.duration * 10) / 10 });
    }
  });
  obs.observe({ entryTypes: ['gc'] });
}
