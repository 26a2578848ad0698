// Unknown fields in --manifests objects: a misspelt field (`externalTrafficPolcy`) is silently
// ignored by the API types, so the Service does something else than its author meant. Each object
// is checked against the fields of the Kubernetes API types (core/v1 Service and Node,
// discovery/v1 EndpointSlice, networking/v1 ServiceCIDR) and every unknown one is reported with its
// path and a did-you-mean.
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

const SERVICE_CIDR: Shape = { ...typeMeta, metadata: objectMeta, spec: { cidrs: '*' }, status: { conditions: '*' } };

const SHAPES: Readonly<Record<string, Shape>> = { Service: SERVICE, EndpointSlice: ENDPOINT_SLICE, Node: NODE, ServiceCIDR: SERVICE_CIDR };

export interface UnknownField {
  /** e.g. "spec.externalTrafficPolcy", "spec.ports[0].nodeport". */
  readonly field: string;
  /** ' (did you mean "externalTrafficPolicy"?)' or ''. */
  readonly hint: string;
}

/** A Shape's nested fields as a Map (looked up once per field of every object of every load). */
type Compiled = '*' | ReadonlyMap<string, Compiled> | readonly [Compiled];

function compile(shape: Shape): Compiled {
  if (shape === '*') return '*';
  if (Array.isArray(shape)) return [compile(shape[0] as Shape)];
  return new Map(Object.entries(shape as Readonly<Record<string, Shape>>).map(([k, v]) => [k, compile(v)]));
}

/** "spec.ports[1].nodeport" from the path's segments (built only for an unknown field). */
function pathOf(stack: readonly (string | number)[], last: string): string {
  let out = '';
  for (const s of stack) out += typeof s === 'number' ? `[${s}]` : out === '' ? s : `.${s}`;
  return out === '' ? last : `${out}.${last}`;
}

// Runs on every object of every (re)load, so the common case -- every field known -- allocates
// nothing: the path is kept as a stack of segments and turned into a string only for an unknown field.
function walk(value: unknown, shape: Compiled, stack: (string | number)[], out: UnknownField[]): void {
  if (shape === '*' || value === null || typeof value !== 'object') return;
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) return;
    const item = shape[0] as Compiled;
    if (item === '*') return;
    for (let i = 0; i < value.length; i++) {
      stack.push(i);
      walk(value[i], item, stack, out);
      stack.pop();
    }
    return;
  }
  if (Array.isArray(value)) return; // a type error, reported by the model's validation
  const fields = shape as ReadonlyMap<string, Compiled>;
  const rec = value as Record<string, unknown>;
  for (const k in rec) {
    if (!Object.prototype.hasOwnProperty.call(rec, k)) continue;
    const s = fields.get(k);
    if (s === undefined) out.push({ field: pathOf(stack, k), hint: suggest(k, [...fields.keys()]) });
    else if (s !== '*') {
      const v = rec[k];
      if (v === null || typeof v !== 'object') continue;
      stack.push(k);
      walk(v, s, stack, out);
      stack.pop();
    }
  }
}

const COMPILED: ReadonlyMap<string, Compiled> = new Map(Object.entries(SHAPES).map(([k, v]) => [k, compile(v)]));

/** Unknown fields of a Service, EndpointSlice or Node object ([] for other kinds). */
export function unknownFields(kind: string, object: unknown): UnknownField[] {
  const shape = COMPILED.get(kind);
  const out: UnknownField[] = [];
  if (shape) walk(object, shape, [], out);
  return out;
}
