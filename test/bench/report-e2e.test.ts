// The end-to-end part of docs/benchmarks.md from a synthetic results file: verdicts against the
// issue's targets, the legacy-restore ratio, and the "where the time goes" tables.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { e2eTargets, renderE2E } from '../../bench/report-e2e.js';
import type { BenchResults, E2EChangeSample, E2ERecord } from '../../bench/results.js';

const s3 = (median: number, min = median, max = median) => ({ count: 3, min, median, max });
const change = (w: number): E2EChangeSample => ({ writeToTrafficMs: w, putMs: 2, eventToKernelMs: w - 3, syncMs: 4, loggedSyncEndMs: w - 1, toolMs: 1 });

function results(e2e: E2ERecord[]): BenchResults {
  return {
    date: '2026-12-05', startedAt: '2026-12-05T08:00:00.000Z', finishedAt: '2026-12-05T08:15:00.000Z', command: 'x', quick: false,
    machine: { cores: 2, cpuModel: 'c', kernel: 'k', node: 'v20', nft: 'n', iptablesNft: 'i', iptablesLegacy: 'l', loadAvgStart: [1, 1, 1], loadAvgEnd: [1, 1, 1] },
    settings: {}, sync: [], conn: [], control: [], churn: [], e2e, notes: [],
  };
}

const base = { rssMB: null, peakMB: null, changes: [], churn: null, timeline: null, errors: [] };

test('e2e targets: start, ratio to the legacy restore, change p99, RSS flatness, manifests', () => {
  const r = results([
    { ...base, source: 'apiserver', mode: 'nftables', services: 10000, start: s3(1800, 1700, 2100), rssMB: s3(190), peakMB: s3(195),
      changes: Array.from({ length: 20 }, (_, i) => change(10 + i)), churn: { changes: 1000, seconds: 5, rssBeforeMB: 190, rssAfterMB: 215 },
      timeline: [{ event: 'Starting kube-proxy-ts', at: s3(100) }, { event: '[first connection answered by a pod]', at: s3(1800) }] },
    { ...base, source: 'legacy-restore', mode: 'iptables-legacy-restore', services: 10000, start: s3(8000) },
    { ...base, source: 'manifests-json', mode: 'nftables', services: 10000, start: null, errors: ['sample 1: no answer within 60 s'] },
  ]);
  const t = new Map(e2eTargets(r).map((x) => [x.what, x]));
  const get = (prefix: string) => [...t.values()].find((x) => x.what.startsWith(prefix))!;
  assert.match(get('process start → last service serving (API server, nftables) ≤ 2.00 s at 10k').verdict, /met/);
  assert.match(get('process start → last service serving (API server, nftables) ≤ 600.0 ms at 1k').verdict, /not measured/);
  const ratio = get("start → serving ≥ 4× faster than upstream's iptables layout restored by iptables-legacy-restore, 10k");
  assert.match(ratio.result, /^4\.44×/);
  assert.match(ratio.verdict, /met/);
  assert.match(get('one EndpointSlice change').result, /p99 29\.0 ms/);
  assert.match(get('event → kernel p99 ≤ 10 ms').verdict, /missed/);
  assert.match(get('RSS flat').verdict, /missed/); // +13 %
  assert.match(get('`--manifests` (JSON').result, /no answer within 60 s/);
  const md = renderE2E(r).join('\n');
  assert.match(md, /### Where the time goes: start at 10k/);
  assert.match(md, /\| Starting kube-proxy-ts \| 100\.0 ms/);
  assert.match(md, /### Where the time goes: one change at 10k/);
  assert.match(md, /\| 10k \| 1\.80 s \(1\.70 s – 2\.10 s, n=3\)/);
});

test('e2e report without end-to-end records says so', () => {
  assert.deepEqual(e2eTargets(results([])), []);
  assert.match(renderE2E(results([])).join('\n'), /Not measured in this run/);
});

test('a legacy restore stopped at its limit is a lower bound in the start table', () => {
  const r = results([
    { ...base, source: 'apiserver', mode: 'nftables', services: 50000, start: s3(9000) },
    { ...base, source: 'legacy-restore', mode: 'iptables-legacy-restore', services: 50000, start: null, errors: ['sample 1: over 60 s'], overMs: 60000 },
  ]);
  const row = renderE2E(r).join('\n').split('\n').find((l) => l.startsWith('| 50k |'))!;
  assert.match(row, /> 60\.0 s \(stopped at its limit\)/);
  assert.match(row, /> 6\.7×/);
  // The ratio target is the 10k one only: no 50k or 1k ratio row.
  assert.equal(e2eTargets(r).filter((x) => x.what.includes('4× faster')).length, 0);
});

test('a metric-derived 10 ms (10.000000000000002 from float sums) meets "≤ 10 ms"; 10.001 ms does not', () => {
  const at = (ms: number) => results([
    { ...base, source: 'apiserver', mode: 'nftables', services: 10000, start: s3(1800),
      changes: Array.from({ length: 18 }, (_, i) => ({ ...change(9), eventToKernelMs: i === 17 ? ms : 7 })) },
  ]);
  const verdict = (ms: number) => e2eTargets(at(ms)).find((x) => x.what.startsWith('event → kernel p99'))!.verdict;
  assert.match(verdict(10.000000000000002), /met/);
  assert.doesNotMatch(verdict(10.000000000000002), /missed/);
  assert.match(verdict(10.001), /missed/);
});
