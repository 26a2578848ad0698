// Child process for conntrack-kernel.test.ts, run inside the test's network namespace: reads
// {state, previous} (ServicePort arrays) as JSON from argv, runs the reconciler, prints the count.

import { cleanStaleUDPFlows } from '../../src/conntrack/cleanup.js';
import { configureLogging } from '../../src/log/logger.js';
import type { ServicePort } from '../../src/model/types.js';
import { stateOf } from './fixtures.js';

configureLogging({ sink: (l) => process.stderr.write(l + '\n') });
const input = JSON.parse(process.argv[2]!) as { state: ServicePort[]; previous: ServicePort[] | null };

const n = await cleanStaleUDPFlows(stateOf(input.state), input.previous ? stateOf(input.previous) : null);
process.stdout.write(`${n}\n`);
