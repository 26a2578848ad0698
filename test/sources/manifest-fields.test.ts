// Unknown fields in --manifests objects, by path, with a did-you-mean; free-form maps unchecked.
// And an invalid object's report carries the file it came from.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unknownFields } from '../../src/sources/manifest-fields.js';
import { ServiceModel } from '../../src/model/tracker.js';

test('Service: misspelt fields at any depth, with suggestions; labels, selector, annotations free-form', () => {
  const svc = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'a', labels: { anything: 'x' }, annotations: { 'a/b': 'c' }, nmae: 'typo' },
    spec: { selector: { app: 'x' }, externalTrafficPolcy: 'Local', ports: [{ port: 80 }, { port: 81, nodeport: 30001 }], sessionAffinityConfig: { clientIP: { timeoutSecond: 3 } } },
    status: { loadBalancer: { ingress: [{ ip: '198.19.200.1', ipmode: 'VIP' }] } },
    extra: 1,
  };
  assert.deepEqual(unknownFields('Service', svc), [
    { field: 'metadata.nmae', hint: ' (did you mean "name"?)' },
    { field: 'spec.externalTrafficPolcy', hint: ' (did you mean "externalTrafficPolicy"?)' },
    { field: 'spec.ports[1].nodeport', hint: ' (did you mean "nodePort"?)' },
    { field: 'spec.sessionAffinityConfig.clientIP.timeoutSecond', hint: ' (did you mean "timeoutSeconds"?)' },
    { field: 'status.loadBalancer.ingress[0].ipmode', hint: ' (did you mean "ipMode"?)' },
    { field: 'extra', hint: '' },
  ]);
});

test('EndpointSlice and Node: known fields pass, unknown ones are named', () => {
  const slice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 's' },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['198.18.100.2'], conditions: { ready: true, servng: true }, hints: { forZones: [{ name: 'z' }] } }],
    ports: [{ port: 8080, protocl: 'TCP' }],
  };
  assert.deepEqual(
    unknownFields('EndpointSlice', slice).map((u) => u.field),
    ['endpoints[0].conditions.servng', 'ports[0].protocl'],
  );
  assert.deepEqual(unknownFields('Node', { kind: 'Node', metadata: { name: 'n' }, status: { addresses: [{ type: 'InternalIP', address: '198.18.0.1' }], capacity: { cpu: '2' } } }), []);
  assert.deepEqual(unknownFields('ConfigMap', { data: { x: 1 } }), [], 'other kinds are not checked');
  assert.deepEqual(unknownFields('Service', { spec: 'not an object', metadata: null }), [], 'type errors are the validator\'s');
});

test('an invalid object is reported with the origin (file) of its event', () => {
  const seen: unknown[][] = [];
  const m = new ServiceModel({ nodeName: 'n', onInvalid: (...a) => seen.push(a) });
  m.onEvent('Service', 'ADDED', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'bad', namespace: 'default' }, spec: { clusterIP: '198.19.0.1', ports: [{ port: 70000 }] } }, 'svc.yaml');
  assert.equal(seen.length, 1);
  assert.deepEqual(seen[0]!.slice(0, 2), ['Service', 'default/bad']);
  assert.equal(seen[0]![3], 'svc.yaml');
});
