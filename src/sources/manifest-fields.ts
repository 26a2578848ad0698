// Unknown fields in --manifests objects: a misspelt field (`externalTrafficPolcy`) is silently
// ignored by the API types, so the Service does something else than its author meant. Each object
// is checked against the fields of the Kubernetes API types (core/v1 Service and Node,
// discovery/v1 EndpointSlice) and every unknown one is reported with its path and a did-you-mean.
// Free-form maps (labels, annotations, selector, capacity, ...) are not checked. Pure.

import { suggest } from '../config/suggest.js';

/** A field's shape: nested fields, a list of such, or free-form ('*'). */
type Shape = '*' | { readonly [field: string]: Shape } | readonly [Shape];

const objectMeta: Shape = {
  name: '*', generateName: '*', namespace: '*', selfLink: '*', uid: '*', resourceVersion: '*', generation: '*',
  creationTimestamp: '*', deletionTimestamp: '*', deletionGracePeriodSeconds: '*', labels: '*', annotations: '*',
  ownerReferences: '*', finalizers: '*', managedFields: '*',
};
const typeMeta = { apiVersion: '*', kind: '*' } as const;

const servicePort: Shape = { name: '*', protocol: '*', appProtocol: '*', port: '*', targetPort: '*', nodePort: '*' };
const SERVICE: Shape = {
  ...typeMeta,
  metadata: objectMeta,
  spec: {
    ports: [servicePort], selector: '*', clusterIP: '*', clusterIPs: '*', type: '*', externalIPs: '*', sessionAffinity: '*',
    loadBalancerIP: '*', loadBalancerSourceRanges: '*', externalName: '*', externalTrafficPolicy: '*', healthCheckNodePort: '*',
    publishNotReadyAddresses: '*', sessionAffinityConfig: { clientIP: { timeoutSeconds: '*' } }, ipFamilies: '*', ipFamilyPolicy: '*',
    allocateLoadBalancerNodePorts: '*', loadBalancerClass: '*', internalTrafficPolicy: '*', trafficDistribution: '*',
  },
  status: { loadBalancer: { ingress: [{ ip: '*', hostname: '*', ipMode: '*', ports: '*' }] }, conditions: '*' },
};

const ENDPOINT_SLICE: Shape = {
  ...typeMeta,
  metadata: objectMeta,
  addressType: '*',
  endpoints: [
    {
      addresses: '*', conditions: { ready: '*', serving: '*', terminating: '*' }, hostname: '*', targetRef: '*', nodeName: '*',
      zone: '*', hints: { forZones: [{ name: '*' }], forNodes: [{ name: '*' }] }, deprecatedTopology: '*',
    },
  ],
  ports: [{ name: '*', protocol: '*', port: '*', appProtocol: '*' }],
};

const NODE: Shape = {
  ...typeMeta,
  metadata: objectMeta,
  spec: { podCIDR: '*', podCIDRs: '*', providerID: '*', unschedulable: '*', taints: '*', configSource: '*', externalID: '*' },
  status: {
    capacity: '*', allocatable: '*', phase: '*', conditions: '*', addresses: [{ type: '*', address: '*' }], daemonEndpoints: '*',
    nodeInfo: '*', images: '*', volumesInUse: '*', volumesAttached: '*', config: '*', runtimeHandlers: '*', features: '*',
  },
};

const SHAPES: Readonly<Record<string, Shape>> = { Service: SERVICE, EndpointSlice: ENDPOINT_SLICE, Node: NODE };

export interface UnknownField {
  /** e.g. "spec.externalTrafficPolcy", "spec.ports[0].nodeport". */
  readonly field: string;
  /** ' (did you mean "externalTrafficPolicy"?)' or ''. */
  readonly hint: string;
}

function walk(value: unknown, shape: Shape, path: string, out: UnknownField[]): void {
  if (shape === '*' || value === null || typeof value !== 'object') return;
  if (Array.isArray(shape)) {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, shape[0] as Shape, `${path}[${i}]`, out));
    return;
  }
  if (Array.isArray(value)) return; // a type error, reported by the model's validation
  const fields = shape as Readonly<Record<string, Shape>>;
  const known = Object.keys(fields);
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const sub = path === '' ? k : `${path}.${k}`;
    const s = Object.prototype.hasOwnProperty.call(fields, k) ? fields[k] : undefined;
    if (s === undefined) out.push({ field: sub, hint: suggest(k, known) });
    else walk(v, s, sub, out);
  }
}

/** Unknown fields of a Service, EndpointSlice or Node object ([] for other kinds). */
export function unknownFields(kind: string, object: unknown): UnknownField[] {
  const shape = SHAPES[kind];
  const out: UnknownField[] = [];
  if (shape) walk(object, shape, '', out);
  return out;
}
