// Timing of the model at scale (not a test): node --import tsx test/model/scale.manual.ts [services] [endpointsPerSlice]
// Prints ingest, first build, and rebuild-after-one-slice-change times and heap use.

import { ServiceModel } from '../../src/model/tracker.js';

const N = Number(process.argv[2] ?? 10000);
const E = Number(process.argv[3] ?? 10);
const ctx = { nodeIPs: ['198.18.0.1'], nodePortAddresses: { matchAll: true } as const };

function ip(i: number, base: number): string {
  return `${base}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

function service(i: number): unknown {
  return {
    metadata: { name: `svc-${i}`, namespace: 'bench', resourceVersion: String(i) },
    spec: { type: 'ClusterIP', clusterIP: ip(i, 10), clusterIPs: [ip(i, 10)], ipFamilies: ['IPv4'], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  };
}

function endpointSlice(i: number, gen: number): unknown {
  return {
    metadata: { name: `svc-${i}-abcde`, namespace: 'bench', labels: { 'kubernetes.io/service-name': `svc-${i}` } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: E }, (_, j) => ({
      addresses: [ip(i * E + j + gen, 100)],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: `node-${j % 7}`,
    })),
  };
}

// Wall time and this process's CPU time (the latter stays meaningful on a busy machine).
let cpu0 = process.cpuUsage();
function ms(t0: bigint): string {
  const c = process.cpuUsage(cpu0);
  cpu0 = process.cpuUsage();
  return `${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms wall / ${((c.user + c.system) / 1000).toFixed(1)} ms cpu`;
}
function start(): bigint {
  cpu0 = process.cpuUsage();
  return process.hrtime.bigint();
}

const objects = { services: Array.from({ length: N }, (_, i) => service(i)), slices: Array.from({ length: N }, (_, i) => endpointSlice(i, 0)) };
globalThis.gc?.();
const heap0 = process.memoryUsage().heapUsed;

const m = new ServiceModel({ nodeName: 'node-3' });
let t = start();
for (const s of objects.services) m.onEvent('Service', 'ADDED', s);
for (const s of objects.slices) m.onEvent('EndpointSlice', 'ADDED', s);
console.log(`ingest ${N} services + ${N} slices x ${E} endpoints: ${ms(t)}`);

t = start();
const first = m.build('IPv4', ctx);
console.log(`first build (${first.state.services.size} service ports): ${ms(t)}`);

globalThis.gc?.();
console.log(`heap held by the model: ${((process.memoryUsage().heapUsed - heap0) / 1048576).toFixed(1)} MiB${globalThis.gc ? '' : ' (run with --expose-gc for a precise figure)'}`);

for (let round = 1; round <= 3; round++) {
  t = start();
  m.onEvent('EndpointSlice', 'MODIFIED', endpointSlice((N >> 1) + round, round));
  const ev = ms(t);
  t = start();
  const second = m.build('IPv4', ctx);
  console.log(`one slice change #${round}: event ${ev}, rebuild ${ms(t)} (changed ${second.change.changedKeys.size})`);
}

t = start();
const third = m.build('IPv4', ctx);
console.log(`no-op rebuild: ${ms(t)} (changed ${third.change.changedKeys.size})`);
