// What the debug views (state.ts, handler.ts) read from a running proxier: the last programmed state
// of each family and the model for the views' extra detail. Built by Proxier.debugSource().

import type { DataplaneConfig, ProxyMode } from '../dataplane/config.js';
import type { IPFamily, ProxyState } from '../model/types.js';
import type { ServiceModelLike } from '../proxy/event-intake.js';

export interface ProxierDebugSource {
  readonly mode: ProxyMode;
  readonly nodeName: string;
  readonly initialized: boolean;
  readonly healthCheckNodePorts: Iterable<[string, number]>;
  readonly model: ServiceModelLike;
  readonly families: readonly {
    readonly family: IPFamily;
    readonly applied: ProxyState | null;
    readonly appliedAt: Date | null;
    readonly appliedFull: boolean;
    readonly consecutiveFailures: number;
    /** The settings the last sync used (before any sync: what the options give now). */
    readonly config: DataplaneConfig;
  }[];
}
