// Manual measurement of the --manifests source's first load alone (not part of the suite; no root):
//   node --expose-gc dist/test/perf/manifests-load.manual.js [services=10000] [--format=json|yaml] [--model] [--dist=DIR/dist]
// Writes the files test/perf/e2e.manual.ts writes (100 Services × 10 endpoints and their slices per file:
// one `List` per .json file, or JSON documents between `---` lines per .yaml file, plus the Node) to a
// temporary directory, then starts createManifestsSource on it in this process into a no-op handler
// (--model: into a ServiceModel) and prints one JSON line: CPU and wall time of start(), GC time, and
// heap/RSS after a forced GC. --dist runs another build's source (before/after figures).

import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fromDist, repoRoot } from '../support/proxy-process.js';
import { nodeObject, perfObjects } from '../support/perf-objects.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const N = Number(args.find((a) => /^\d+$/.test(a)) ?? 10_000);
const JSON_FILES = opt('format', 'json') === 'json';
const DIST = opt('dist', fromDist ? path.join(repoRoot, 'dist') : '');

async function main(): Promise<void> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'kpx-mload-'));
  try {
    for (let f = 0; f * 100 < N; f++) {
      const objs: Record<string, unknown>[] = [];
      for (let i = f * 100 + 1; i <= Math.min(N, f * 100 + 100); i++) objs.push(...perfObjects(i, N, 10));
      const text = JSON_FILES ? JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objs }) : objs.map((o) => JSON.stringify(o)).join('\n---\n') + '\n';
      await fsp.writeFile(path.join(dir, `svc-${f}.${JSON_FILES ? 'json' : 'yaml'}`), text);
    }
    await fsp.writeFile(path.join(dir, `node.${JSON_FILES ? 'json' : 'yaml'}`), JSON.stringify(nodeObject()) + '\n');
    const base = DIST ? (p: string): string => path.join(DIST, 'src', `${p}.js`) : (p: string): string => path.join(repoRoot, 'src', `${p}.ts`);
    const { createManifestsSource } = (await import(base('sources/manifests'))) as typeof import('../../src/sources/manifests.js');
    const { ServiceModel } = (await import(base('model/tracker'))) as typeof import('../../src/model/tracker.js');
    const { configureLogging } = (await import(base('log/logger'))) as typeof import('../../src/log/logger.js');
    configureLogging({ sink: () => undefined, verbosity: 0 });
    const model = args.includes('--model') ? new ServiceModel({ nodeName: 'node-a', onInvalid: () => undefined }) : undefined;
    let gcMs = 0;
    const obs = new PerformanceObserver((l) => {
      for (const e of l.getEntries()) gcMs += e.duration;
    });
    obs.observe({ entryTypes: ['gc'] });
    const src = createManifestsSource(dir, { nodeName: 'node-a', rescanMs: 3_600_000 });
    let events = 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await src.start({
      onEvent: (kind, type, object, origin) => {
        events++;
        model?.onEvent(kind, type, object, origin);
      },
      onSynced: () => undefined,
    });
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    await new Promise((r) => setTimeout(r, 50)); // the GC observer's last entries
    obs.disconnect();
    (globalThis as { gc?: () => void }).gc?.();
    const mem = process.memoryUsage();
    await src.stop();
    const mb = (b: number): number => Math.round(b / 1e6);
    console.log(JSON.stringify({ services: N, format: JSON_FILES ? 'json' : 'yaml', dist: DIST || 'src (tsx)', model: !!model, events, wallMs: Math.round(wallMs), cpuMs: Math.round((cpu.user + cpu.system) / 1000), gcMs: Math.round(gcMs), heapMB: mb(mem.heapUsed), externalMB: mb(mem.external), rssMB: mb(mem.rss) }));
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

await main();
