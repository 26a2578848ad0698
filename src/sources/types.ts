// What a source (API server list/watch, or a --manifests directory) hands to the proxy.
// Sources own their object cache: after a relist they emit the ADDED/MODIFIED/DELETED events
// that turn the old view into the new one, so consumers only ever see events.

export type ObjectKind = 'Service' | 'EndpointSlice' | 'Node' | 'ServiceCIDR';
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface SourceHandler {
  /**
   * One object changed. `object` is the raw API object (parsed JSON/YAML), never trusted.
   * `origin`: where it came from when that helps a reader of the logs (--manifests: its file).
   */
  onEvent(kind: ObjectKind, type: EventType, object: unknown, origin?: string): void;
  /** The initial list of `kind` has been delivered (upstream OnServiceSynced / OnEndpointSlicesSynced). */
  onSynced(kind: ObjectKind): void;
}

export interface Source {
  start(handler: SourceHandler): Promise<void>;
  stop(): Promise<void>;
}
