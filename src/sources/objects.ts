// Small accessors for raw API objects (untrusted parsed JSON/YAML), and the kind table both sources share.

import type { ObjectKind } from './types.js';
import {
  PROXY_LABEL_SELECTOR,
  SERVICE_FIELD_SELECTOR,
  matchFields,
  matchLabels,
  nodeFieldSelector,
  parseFieldSelector,
  parseLabelSelector,
} from './selectors.js';

export interface Meta {
  readonly name: string;
  readonly namespace: string;
  readonly resourceVersion: string;
  readonly labels: Record<string, unknown> | undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function asRecord(v: unknown): Record<string, unknown> | undefined {
  return isRecord(v) ? v : undefined;
}

export function metaOf(obj: unknown): Meta {
  const m = isRecord(obj) && isRecord(obj.metadata) ? obj.metadata : {};
  return {
    name: typeof m.name === 'string' ? m.name : '',
    namespace: typeof m.namespace === 'string' ? m.namespace : '',
    resourceVersion: typeof m.resourceVersion === 'string' ? m.resourceVersion : '',
    labels: isRecord(m.labels) ? m.labels : undefined,
  };
}

/** Store key as client-go's MetaNamespaceKeyFunc: "ns/name", or "name" for cluster-scoped objects. */
export function objectKey(obj: unknown): string {
  const m = metaOf(obj);
  return m.namespace ? `${m.namespace}/${m.name}` : m.name;
}

export interface KindInfo {
  readonly kind: ObjectKind;
  readonly apiVersion: string;
  readonly namespaced: boolean;
  /** Collection path for all namespaces. */
  readonly path: string;
}

export const KINDS: Record<ObjectKind, KindInfo> = {
  Service: { kind: 'Service', apiVersion: 'v1', namespaced: true, path: '/api/v1/services' },
  EndpointSlice: {
    kind: 'EndpointSlice',
    apiVersion: 'discovery.k8s.io/v1',
    namespaced: true,
    path: '/apis/discovery.k8s.io/v1/endpointslices',
  },
  Node: { kind: 'Node', apiVersion: 'v1', namespaced: false, path: '/api/v1/nodes' },
};

export interface Selectors {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
}

/** Upstream kube-proxy's informer selectors for each kind. */
export function selectorsFor(kind: ObjectKind, nodeName: string): Selectors {
  switch (kind) {
    case 'Service':
      return { labelSelector: PROXY_LABEL_SELECTOR, fieldSelector: SERVICE_FIELD_SELECTOR };
    case 'EndpointSlice':
      return { labelSelector: PROXY_LABEL_SELECTOR };
    case 'Node':
      return { fieldSelector: nodeFieldSelector(nodeName) };
  }
}

/** The same filter applied locally (manifests source): true when the API server would have sent the object. */
export function selectorPredicate(sel: Selectors): (obj: unknown) => boolean {
  const labels = sel.labelSelector ? parseLabelSelector(sel.labelSelector) : [];
  const fields = sel.fieldSelector ? parseFieldSelector(sel.fieldSelector) : [];
  return (obj) => matchLabels(labels, metaOf(obj).labels) && matchFields(fields, obj);
}
