// Child process for conntrack-kernel.test.ts, run inside the test's network namespace: reads
// {state, previous} (ServicePort arrays) as JSON from argv, runs the reconciler, prints the count.

import { cleanStaleUDPFlows } from '../../src/conntrack/cleanup.js';
import { configureLogging } from '../../src/log/logger.js';
import type { ProxyState, ServicePort } from '../../src/model/types.js';

configureLogging({ sink: (l) => process.stderr.write(l + '\n') });
const input = JSON.parse(process.argv[2]!) as { state: ServicePort[]; previous: ServicePort[] | null };

function toState(ports: ServicePort[]): ProxyState {
  return {
    family: 'IPv4',
    services: new Map(ports.map((p) => [p.key, p])),
    node: { name: 'node-a', ips: [], labels: {} },
    nodePortAddresses: { matchAll: true },
    serviceCIDRs: [],
    generation: 1,
  };
}

const n = await cleanStaleUDPFlows(toState(input.state), input.previous ? toState(input.previous) : null);
process.stdout.write(`${n}\n`);
