// Child process for metrics-server.test.ts: registers one mode's metrics in a fresh registry and
// prints the metric family names, one per line.

import { registerMetrics, registry } from '../../src/metrics/metrics.js';
import type { ProxyMode } from '../../src/config/types.js';

registerMetrics(process.argv[2] as ProxyMode);
const text = await registry.metrics();
const names = new Set<string>();
for (const line of text.split('\n')) {
  const m = /^# TYPE (\S+) /.exec(line);
  if (m) names.add(m[1]!);
}
process.stdout.write([...names].sort().join('\n') + '\n');
