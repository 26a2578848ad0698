// Upstream's reference for "start → serving": its iptables layout for N services (our iptables
// planner writes it rule for rule) loaded with `iptables-legacy-restore --noflush` alone, in the
// fresh network namespace this worker runs in (bench/e2e.ts starts it with runPhasedWorker).
// Only the restore is timed: rendering happens before, into a temp file fed as stdin.

import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIptablesDataplane } from '../src/dataplane/iptables/index.js';
import { configureLogging } from '../src/log/logger.js';
import { ServiceModel } from '../src/model/tracker.js';
import { BUILD_CTX, DATAPLANE_CONFIG, range, serviceObject, sliceObject } from './fixtures.js';
import { emit, now } from './worker-phases.js';

export interface RestoreJob {
  readonly services: number;
  readonly endpoints: number;
}

async function main(job: RestoreJob): Promise<void> {
  configureLogging({ sink: () => undefined });
  emit({ phase: 'model-start' });
  const model = new ServiceModel({ nodeName: 'bench-node', onInvalid: () => undefined });
  for (let i = 0; i < job.services; i++) model.onEvent('Service', 'ADDED', serviceObject(i));
  for (let i = 0; i < job.services; i++) model.onEvent('EndpointSlice', 'ADDED', sliceObject(i, range(job.endpoints)));
  const state = model.build('IPv4', BUILD_CTX).state;
  const text = createIptablesDataplane(DATAPLANE_CONFIG, { backend: 'legacy', conntrackTCPLiberal: false }).render(state);
  const dir = mkdtempSync(join(tmpdir(), 'kpx-bench-restore-'));
  try {
    const file = join(dir, 'rules');
    writeFileSync(file, text);
    emit({ phase: 'model', lines: text.split('\n').length, bytes: text.length });
    emit({ phase: 'restore-start' });
    const fd = openSync(file, 'r');
    const t0 = now();
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn('iptables-legacy-restore', ['-w', '5', '--noflush'], { stdio: [fd, 'ignore', 'pipe'] });
      let err = '';
      p.stderr?.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-2000)));
      p.on('error', (e) => resolve({ code: -1, stderr: e.message }));
      p.on('close', (c) => resolve({ code: c, stderr: err }));
    });
    const wallMs = now() - t0;
    closeSync(fd);
    if (code !== 0) throw new Error(`iptables-legacy-restore exited ${code}: ${stderr.trim()}`);
    emit({ phase: 'restore', wallMs });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  emit({ phase: 'done' });
}

main(JSON.parse(process.argv[2] ?? '{}') as RestoreJob).then(
  () => process.exit(0),
  (e: unknown) => {
    emit({ phase: 'error', message: e instanceof Error ? e.message.slice(0, 2000) : String(e) });
    process.exit(1);
  },
);
