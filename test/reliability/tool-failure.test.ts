// Fault 3: the kernel tool fails. A wrapper injected with KPX_TOOL_* (src/util/exec.ts) makes the
// ruleset-writing call (`nft -f -`; `iptables-nft-restore`) fail on demand. The nft wrapper
// refuses `nft -i` like an nft built without CLI support, so the proxy applies every transaction
// with `nft -f -` (its documented fallback) and each one passes through the injection point; a
// persistent `nft -i` would be spawned once and never pass it again:
//   - once: the previous ruleset stays (existing services keep answering), the sync is retried with
//     backoff and succeeds, the failure counter shows it, /healthz stays 200;
//   - always: /healthz turns 503 only once a queued update is older than 2 x syncPeriod (upstream's
//     rule), existing services keep answering, and after the tool recovers /healthz is 200 again and the
//     pending change is programmed.

import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { svcIP } from './support/churn.js';
import { eventually, httpGet, metricValue, metricsText, sleep } from './support/proxy.js';
import { manifestObjects, servicesOverPods, trafficSetup, writeManifests, type Mode } from './support/scenario.js';

const isRoot = process.getuid?.() === 0;
const SYNC_PERIOD_MS = 2000;
const HEALTH_TIMEOUT_MS = 2 * SYNC_PERIOD_MS;

interface Case {
  readonly mode: Mode;
  /** The tool name as the proxy runs it (KPX_TOOL_<NAME>). */
  readonly tool: string;
  readonly real: string;
  /** Only calls whose first argument is this fail (nft: "-f" writes; the drift check lists). */
  readonly firstArg: string | null;
  readonly metric: string;
}

const cases: Case[] = [
  { mode: 'nftables', tool: 'nft', real: '/usr/sbin/nft', firstArg: '-f', metric: 'kubeproxy_sync_proxy_rules_nftables_sync_failures_total' },
  { mode: 'iptables', tool: 'iptables-nft-restore', real: '/usr/sbin/iptables-nft-restore', firstArg: null, metric: 'kubeproxy_sync_proxy_rules_iptables_restore_failures_total' },
];

/** A wrapper that fails while $ctl/fail-always exists, or once per $ctl/fail-once file; else runs the real tool. */
async function writeWrapper(dir: string, c: Case): Promise<{ path: string; ctl: string }> {
  const ctl = path.join(dir, 'ctl');
  await fsp.mkdir(ctl);
  const guard = c.firstArg ? `[ "$1" = "${c.firstArg}" ] && ` : '';
  const script = `#!/bin/sh
# Fault injection for kube-proxy-ts reliability tests (runs inside the test's namespace).
CTL='${ctl}'
${c.tool === 'nft' ? `[ "$1" = "-i" ] && { echo "kpx-rel: interactive CLI not supported by this wrapper" >&2; exit 1; }
` : ''}if ${guard}{ [ -e "$CTL/fail-always" ] || rm "$CTL/fail-once" 2>/dev/null; }; then
  cat >/dev/null
  echo x >> "$CTL/injected"
  echo "kpx-rel: injected ${c.tool} failure" >&2
  exit 1
fi
exec '${c.real}' "$@"
`;
  const p = path.join(dir, `wrap-${c.tool}`);
  await fsp.writeFile(p, script, { mode: 0o755 });
  return { path: p, ctl };
}

async function injected(ctl: string): Promise<number> {
  try {
    return (await fsp.readFile(path.join(ctl, 'injected'), 'utf8')).split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
}

for (const c of cases) {
  test(`${c.mode}: ${c.tool} failing once, then always: rules kept, retried, counted, /healthz 503 only after 2 x syncPeriod`, { skip: !isRoot && 'needs root', timeout: 150_000 }, async (t) => {
    const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'kpx-rel-tool-'));
    const wrap = await writeWrapper(tmp, c);
    const key = 'KPX_TOOL_' + c.tool.toUpperCase().replace(/[^A-Z0-9]/g, '_');
    const s = await trafficSetup({
      mode: c.mode,
      services: 2,
      extraArgs: ['--iptables-sync-period=2s', '--v=2'],
      env: { [key]: wrap.path, KPX_IPTABLES_BACKEND: 'nft' },
    });
    const health = async (): Promise<number> => (await httpGet(s.world, 'http://127.0.0.1:10256/healthz', 2)).status;
    try {
      await s.client.startLoop(s.targets, { periodMs: 50, timeoutMs: 1000, maxMs: 100_000 });

      // --- once ---
      await fsp.writeFile(path.join(wrap.ctl, 'fail-once'), '');
      const three = servicesOverPods(3, 2);
      const changeAt = Date.now();
      await writeManifests(s.dir, 'services.json', manifestObjects(three));
      const probe3 = { host: svcIP(3), port: 80 };
      const healthOnce: number[] = [];
      await eventually(async () => {
        healthOnce.push(await health());
        return (await s.client.probe(probe3, 500)).ok;
      }, 'new service programmed after the retry', 20_000, 100);
      const retriedMs = Date.now() - changeAt;
      assert.equal(await injected(wrap.ctl), 1, 'exactly one injected failure');
      const m1 = metricValue(await metricsText(s.world), c.metric);
      t.diagnostic(`${c.mode}: one ${c.tool} failure: new service served ${retriedMs} ms after the change; ${c.metric} = ${m1}; /healthz during: ${[...new Set(healthOnce)].join(',')}`);
      assert.ok(m1 >= 1, `${c.metric} counts the failure`);
      assert.ok(healthOnce.every((h) => h === 200), '/healthz stays 200 for a failure retried at once');
      assert.match(s.proxy.output(), /will retry/, 'the runner logged the retry');

      // --- always ---
      await fsp.writeFile(path.join(wrap.ctl, 'fail-always'), '');
      const four = servicesOverPods(4, 2);
      const queuedAt = Date.now();
      await writeManifests(s.dir, 'services.json', manifestObjects(four));
      let first503: number | null = null;
      const deadline = queuedAt + HEALTH_TIMEOUT_MS + 8000;
      while (Date.now() < deadline) {
        if ((await health()) === 503) {
          first503 = Date.now() - queuedAt;
          break;
        }
        await sleep(100);
      }
      const failuresWhileDown = await injected(wrap.ctl);
      t.diagnostic(`${c.mode}: tool failing: first /healthz 503 ${first503} ms after the queued change (timeout 2 x syncPeriod = ${HEALTH_TIMEOUT_MS} ms); ${failuresWhileDown - 1} failed attempts by then`);
      assert.notEqual(first503, null, '/healthz turned 503');
      // The change reaches the proxy within ~100-300 ms of the write (manifest debounce): allow for it.
      assert.ok(first503! >= HEALTH_TIMEOUT_MS - 200, `not before 2 x syncPeriod (${first503} ms)`);
      assert.ok(first503! <= HEALTH_TIMEOUT_MS + 3000, `soon after 2 x syncPeriod (${first503} ms)`);
      assert.equal((await httpGet(s.world, 'http://127.0.0.1:10256/livez', 2)).status, 503, '/livez follows the same staleness rule');

      await fsp.rm(path.join(wrap.ctl, 'fail-always'));
      const recoverAt = Date.now();
      await eventually(async () => (await health()) === 200, '/healthz 200 after recovery', 15_000, 100);
      const recoveredMs = Date.now() - recoverAt;
      await eventually(async () => (await s.client.probe({ host: svcIP(4), port: 80 }, 500)).ok, 'pending change programmed after recovery', 15_000);
      const m2 = metricValue(await metricsText(s.world), c.metric);
      t.diagnostic(`${c.mode}: /healthz back to 200 ${recoveredMs} ms after the tool recovered; ${c.metric} = ${m2}`);
      assert.ok(m2 > m1);

      // The previous ruleset stayed intact throughout: no existing service lost a connection.
      const attempts = await s.client.stopLoop();
      const failed = attempts.filter((a) => !a.ok);
      t.diagnostic(`${c.mode}: connections to existing services during the faults: ${attempts.length}, failed: ${failed.length}`);
      assert.equal(failed.length, 0, `existing services kept answering: ${JSON.stringify(failed.slice(0, 3))}`);
      const r = await s.proxy.stop();
      assert.equal(r.code, 0);
    } finally {
      await s.cleanup();
      await fsp.rm(tmp, { recursive: true, force: true });
    }
  });
}
