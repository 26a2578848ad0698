// Manual micro-benchmark of the nftables planner's one-change plan (not part of the suite):
//   node dist/test/perf/plan-one-change.manual.js [services=10000] [repeats=30] [endpoints=10]
// Loads N Services × E endpoints into the model, plans them in full, then R times: changes one
// EndpointSlice (a different Service each time, one endpoint moved to a new address), builds the
// state and plans from the previous plan, as one sync does. Prints min/median/max millis of the
// plan alone (wall and CPU time), of the plan with its script rendered, and of the model build
// (one JSON line).
// The planner and model calls are the same before and after the #17 refactor: to compare with a
// checkout from before it (no test/support/state.ts there), copy this file and replace the
// dataplaneConfig(...) call with the literal config of that checkout's sync-profile.manual.ts.

import { plan, planFull } from '../../src/dataplane/nftables/planner.js';
import { ServiceModel } from '../../src/model/tracker.js';
import { nodeObject, perfObjects, sliceObj, fakeEndpoint } from '../support/perf-objects.js';
import { dataplaneConfig } from '../support/state.js';

const nums = process.argv.slice(2).filter((a) => /^\d+$/.test(a)).map(Number);
const N = nums[0] ?? 10_000;
const R = nums[1] ?? 30;
const E = nums[2] ?? 10;
const WARMUP = 5;
const cfg = dataplaneConfig({ family: 'IPv4', localDetector: { mode: 'none' } });
const ctx = { nodeIPs: ['198.18.0.1'], nodePortAddresses: { matchAll: true as const } };

const model = new ServiceModel({ nodeName: 'node-a' });
model.onEvent('Node', 'ADDED', nodeObject());
for (let i = 1; i <= N; i++) for (const o of perfObjects(i, N, E)) model.onEvent(String(o.kind) as 'Service', 'ADDED', o);
let prev = planFull(model.build('IPv4', ctx).state, cfg).next;

const planMs: number[] = [];
// CPU time of the process while planning (all threads, so GC helpers count): less disturbed than
// wall time when other work shares the machine.
const planCpuMs: number[] = [];
const withScriptMs: number[] = [];
const buildMs: number[] = [];
let ops = 0;
for (let r = 0; r < WARMUP + R; r++) {
  // A different Service each round, spread over the whole range; one endpoint gets a fresh address.
  const i = 1 + ((r * 7919) % (N - 1));
  const ips = Array.from({ length: E }, (_, k) => fakeEndpoint(i, k === 0 ? k + 1000 + r : k, E));
  let t = performance.now();
  model.onEvent('EndpointSlice', 'MODIFIED', sliceObj(i, ips));
  const { state } = model.build('IPv4', ctx);
  const b = performance.now() - t;
  const cpu0 = process.cpuUsage();
  t = performance.now();
  const p = plan(prev, state, cfg);
  const pm = performance.now() - t;
  const cpu = process.cpuUsage(cpu0);
  void p.script.length;
  const ps = performance.now() - t;
  if (p.full) throw new Error(`round ${r}: planned in full`);
  prev = p.next;
  ops = p.ops;
  if (r < WARMUP) continue;
  planMs.push(pm);
  planCpuMs.push((cpu.user + cpu.system) / 1000);
  withScriptMs.push(ps);
  buildMs.push(b);
}
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return { min: r2(s[0]!), median: r2(s[Math.floor(s.length / 2)]!), max: r2(s[s.length - 1]!) };
};
process.stdout.write(JSON.stringify({ services: N, endpoints: E, repeats: R, ops, plan: stats(planMs), planCpu: stats(planCpuMs), planAndScript: stats(withScriptMs), build: stats(buildMs) }) + '\n');
