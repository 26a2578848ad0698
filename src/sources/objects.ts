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
  ServiceCIDR: { kind: 'ServiceCIDR', apiVersion: 'networking.k8s.io/v1', namespaced: false, path: '/apis/networking.k8s.io/v1/servicecidrs' },
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
    case 'ServiceCIDR':
      return {};
  }
}

/** The same filter applied locally (manifests source): true when the API server would have sent the object. */
export function selectorPredicate(sel: Selectors): (obj: unknown) => boolean {
  const labels = sel.labelSelector ? parseLabelSelector(sel.labelSelector) : [];
  const fields = sel.fieldSelector ? parseFieldSelector(sel.fieldSelector) : [];
  return (obj) => matchLabels(labels, metaOf(obj).labels) && matchFields(fields, obj);
}

/**
 * What a store must remember of an object it already handed to the consumer: its identity (for a later
 * DELETED, which consumers key by kind/namespace/name) and resourceVersion (to tell MODIFIED from an
 * unchanged relist item). Keeping whole objects instead doubled the API path's memory at 10k services
 * (see docs/operations.md "Memory"): the model keeps its own parsed copy, never the raw object.
 */
export function tombstone(obj: Record<string, unknown>): Record<string, unknown> {
  const m = metaOf(obj);
  const metadata: Record<string, unknown> = { name: m.name, resourceVersion: m.resourceVersion };
  if (m.namespace) metadata.namespace = m.namespace;
  return { kind: obj.kind, apiVersion: obj.apiVersion, metadata };
}

/** The only annotation a consumer reads (EndpointSlice trigger time, src/model/endpointslice.ts). */
const KEPT_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';

/**
 * A copy of `obj` without the bulky fields no consumer reads: metadata.managedFields / ownerReferences,
 * annotations other than the trigger time (kubectl's last-applied-configuration alone repeats the whole
 * object), and EndpointSlice endpoints' targetRef / deprecatedTopology. For sources that must keep
 * objects to re-emit them later (manifests). Anything of an unexpected shape is kept as it is, so the
 * model's validation sees exactly what it would have seen.
 */
export function slimObject(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...obj };
  const md = asRecord(obj.metadata);
  if (md) {
    const m: Record<string, unknown> = { ...md };
    delete m.managedFields;
    delete m.ownerReferences;
    const ann = asRecord(md.annotations);
    if (ann) {
      if (Object.prototype.hasOwnProperty.call(ann, KEPT_ANNOTATION)) m.annotations = { [KEPT_ANNOTATION]: ann[KEPT_ANNOTATION] };
      else delete m.annotations;
    }
    out.metadata = m;
  }
  if (obj.kind === 'EndpointSlice' && Array.isArray(obj.endpoints)) {
    out.endpoints = obj.endpoints.map((e: unknown) => {
      const r = asRecord(e);
      if (!r || (!('targetRef' in r) && !('deprecatedTopology' in r))) return e;
      const { targetRef: _t, deprecatedTopology: _d, ...rest } = r;
      return rest;
    });
  }
  return out;
}
