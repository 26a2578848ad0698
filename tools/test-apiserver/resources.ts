// The resources the test API server serves, with what discovery and routing need to know about them.

export interface ResourceInfo {
  /** Plural resource name as in URLs ("services"). */
  readonly plural: string;
  readonly singular: string;
  readonly kind: string;
  /** "" for the core group. */
  readonly group: string;
  readonly version: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  /** Whether the resource has a /status subresource whose status survives main-resource writes. */
  readonly hasStatus: boolean;
}

export const RESOURCES: readonly ResourceInfo[] = [
  { plural: 'services', singular: 'service', kind: 'Service', group: '', version: 'v1', namespaced: true, shortNames: ['svc'], hasStatus: true },
  { plural: 'nodes', singular: 'node', kind: 'Node', group: '', version: 'v1', namespaced: false, shortNames: ['no'], hasStatus: true },
  { plural: 'namespaces', singular: 'namespace', kind: 'Namespace', group: '', version: 'v1', namespaced: false, shortNames: ['ns'], hasStatus: true },
  {
    plural: 'endpointslices',
    singular: 'endpointslice',
    kind: 'EndpointSlice',
    group: 'discovery.k8s.io',
    version: 'v1',
    namespaced: true,
    shortNames: [],
    hasStatus: false,
  },
  {
    plural: 'servicecidrs',
    singular: 'servicecidr',
    kind: 'ServiceCIDR',
    group: 'networking.k8s.io',
    version: 'v1',
    namespaced: false,
    shortNames: [],
    hasStatus: true,
  },
  // Events as upstream's recorder writes them. Only events.k8s.io/v1 is served (a real API server also
  // serves the same objects as core v1 Events): `kubectl get events` then resolves to this resource.
  { plural: 'events', singular: 'event', kind: 'Event', group: 'events.k8s.io', version: 'v1', namespaced: true, shortNames: ['ev'], hasStatus: false },
  // Served so that kubectl can map the kinds of deploy/ (e.g. `kubectl create --dry-run=client -f deploy/`)
  // and store them; the proxy never reads these.
  { plural: 'serviceaccounts', singular: 'serviceaccount', kind: 'ServiceAccount', group: '', version: 'v1', namespaced: true, shortNames: ['sa'], hasStatus: false },
  { plural: 'configmaps', singular: 'configmap', kind: 'ConfigMap', group: '', version: 'v1', namespaced: true, shortNames: ['cm'], hasStatus: false },
  { plural: 'daemonsets', singular: 'daemonset', kind: 'DaemonSet', group: 'apps', version: 'v1', namespaced: true, shortNames: ['ds'], hasStatus: true },
  { plural: 'clusterroles', singular: 'clusterrole', kind: 'ClusterRole', group: 'rbac.authorization.k8s.io', version: 'v1', namespaced: false, shortNames: [], hasStatus: false },
  {
    plural: 'clusterrolebindings',
    singular: 'clusterrolebinding',
    kind: 'ClusterRoleBinding',
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    namespaced: false,
    shortNames: [],
    hasStatus: false,
  },
];

export function apiVersionOf(r: ResourceInfo): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

export function findResource(group: string, version: string, plural: string): ResourceInfo | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

export function resourceForKind(kind: string): ResourceInfo | undefined {
  return RESOURCES.find((r) => r.kind === kind);
}

const VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

export function apiResourceList(group: string, version: string): unknown {
  const resources: unknown[] = [];
  for (const r of RESOURCES.filter((x) => x.group === group && x.version === version)) {
    resources.push({
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: VERBS,
      ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
    });
    if (r.hasStatus) resources.push({ name: `${r.plural}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] });
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
}

export function apiGroupList(): unknown {
  const groups = [...new Set(RESOURCES.filter((r) => r.group).map((r) => `${r.group}/${r.version}`))].map((gv) => {
    const [name, version] = gv.split('/') as [string, string];
    const v = { groupVersion: gv, version };
    return { name, versions: [v], preferredVersion: v };
  });
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

export function apiVersions(serverAddress: string): unknown {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

export const VERSION_INFO = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-kube-proxy-ts-test',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.23.0',
  compiler: 'gc',
  platform: 'linux/amd64',
};

// A minimal OpenAPI v3: only what kubectl's field-validation probe reads (a PATCH operation per kind that
// lists the fieldValidation parameter). kubectl then leaves validation to the server instead of needing
// full schemas for client-side validation.
export function openApiV3Root(): unknown {
  const paths: Record<string, unknown> = {};
  for (const gv of new Set(RESOURCES.map((r) => (r.group ? `apis/${r.group}/${r.version}` : `api/${r.version}`)))) {
    paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=0` };
  }
  return { paths };
}

export function openApiV3GroupVersion(gvPath: string): unknown | undefined {
  const rs = RESOURCES.filter((r) => (r.group ? `apis/${r.group}/${r.version}` : `api/${r.version}`) === gvPath);
  if (rs.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  for (const r of rs) {
    const base = `/${gvPath}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.plural}/{name}`;
    paths[base] = {
      patch: {
        operationId: `patch${r.kind}`,
        'x-kubernetes-group-version-kind': { group: r.group, version: r.version, kind: r.kind },
        parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } }],
        responses: { '200': { description: 'OK' } },
      },
    };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: VERSION_INFO.gitVersion }, paths, components: { schemas: {} } };
}
