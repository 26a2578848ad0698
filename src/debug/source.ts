// What the debug views (state.ts, handler.ts) read from a running proxier: the last programmed state
// of each family and the model for the views' extra detail. Built by Proxier.debugSource().

import type { DataplaneConfig } from '../dataplane/config.js';
import type { ProxyMode } from '../config/types.js';
import type { Endpoint, IPFamily, ProxyState } from '../model/types.js';

/** What the views read from the model (src/model/tracker.ts ServiceModel). */
export interface DebugModel {
  /** Merged endpoints of a Service's slices of one family, per slice port. */
  endpointsByPort?(namespace: string, name: string, family: IPFamily): ReadonlyMap<string, readonly Endpoint[]>;
}

export interface ProxierDebugSource {
  readonly mode: ProxyMode;
  readonly nodeName: string;
  readonly initialized: boolean;
  readonly healthCheckNodePorts: Iterable<[string, number]>;
  readonly model: DebugModel;
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
