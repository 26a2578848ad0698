// The process-wide event recorder of a run against an API server (upstream server.go creates its
// events broadcaster from the same client). With --manifests there is no API server: no events.

import os from 'node:os';
import type { ProxyOptions } from '../config/types.js';
import { createLogger } from '../log/logger.js';
import { EventRecorder, setEventRecorder } from './recorder.js';

const log = createLogger('events');

export async function installEventRecorder(o: ProxyOptions): Promise<void> {
  if (o.manifestsDir !== null) return;
  try {
    // Loaded only here: the API client is large and irrelevant to --manifests runs.
    const { apiServerEventSink } = await import('../sources/apiserver.js');
    setEventRecorder(new EventRecorder({ sink: apiServerEventSink(o.kubeconfig, o.master), nodeName: o.hostname, hostname: os.hostname() }));
  } catch (e) {
    // The source reports the same kubeconfig problem as a fatal error a moment later.
    log.warn('Not recording events: no usable kubeconfig', { err: e as Error });
  }
}
