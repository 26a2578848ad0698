// The opening both benchmark workers share (bench/worker.ts on the host, bench/guest/worker.ts in
// the IPVS guest): the JSON phase records the parent reads (bench/spawn-worker.ts), and the
// 'model' and 'full' phases — N Services × E endpoints into a fresh ServiceModel, the first
// build, one full sync into the empty namespace.

import type { SyncOptions, SyncResult } from '../src/dataplane/types.js';
import { ServiceModel } from '../src/model/tracker.js';
import type { ProxyState } from '../src/model/types.js';
import { BUILD_CTX, range, serviceObject, sliceObject } from './fixtures.js';

export interface Syncer {
  sync(state: ProxyState, o: SyncOptions): Promise<SyncResult>;
}

/** One phase record on stdout. */
export const emit = (o: Record<string, unknown>): void => void process.stdout.write(JSON.stringify(o) + '\n');
export const now = (): number => performance.now();

/** Phases 'model' and 'full'; returns the loaded model and the dataplane holding the full state. */
export async function loadAndFullSync<S extends Syncer>(services: number, endpoints: number, makeSyncer: () => S): Promise<{ model: ServiceModel; dp: S }> {
  emit({ phase: 'model-start' });
  const model = new ServiceModel({ nodeName: 'bench-node', onInvalid: (k, key, why) => emit({ phase: 'invalid', k, key, why }) });
  let t = now();
  for (let i = 0; i < services; i++) model.onEvent('Service', 'ADDED', serviceObject(i));
  for (let i = 0; i < services; i++) model.onEvent('EndpointSlice', 'ADDED', sliceObject(i, range(endpoints)));
  const ingestMs = now() - t;
  t = now();
  const first = model.build('IPv4', BUILD_CTX);
  emit({ phase: 'model', ingestMs, buildMs: now() - t, servicePorts: first.state.services.size });

  const dp = makeSyncer();
  emit({ phase: 'full-start' });
  t = now();
  const r = await dp.sync(first.state, { full: true });
  emit({ phase: 'full', wallMs: now() - t, toolMs: r.toolMillis, operations: r.operations });
  return { model, dp };
}
