// Generic traffic-suite runner: builds the namespace topology once, then for each scenario group
// starts the proxy (and node2's proxy) with the group's flags in fresh node namespaces, loads the
// group's objects through --manifests, and turns every check of the scenario table into a node:test
// test. The same runner serves nftables, iptables (nft and legacy) and IPVS (inside the IPVS guest):
// it needs only network namespaces, veths and a bridge, and starts one process per namespace.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { summarize, type Attempt } from '../support/backend.js';
import { explainCheck, explainable, traceCheck, type ExplainHarness } from './explain-check.js';
import { startProxy } from '../support/proxy-process.js';
import { ADDR, NODE_NAME, Topology, leakedNamespaces, sctpSupport, type NodeName } from '../support/topology.js';
import {
  ALL_GROUPS,
  effectiveExpect,
  expectedSource,
  nodeObjects,
  resolveTarget,
  scenarioObjects,
  servicePortCount,
  type Check,
  type Expect,
  type Family,
  type From,
  type Group,
  type Mode,
  type Scenario,
  type ServiceDef,
} from './scenarios.js';

export interface SuiteOptions {
  /** Groups to run (default: the whole table). */
  readonly groups?: readonly Group[];
  /** Keep only these scenarios (by group and scenario). */
  readonly filter?: (group: Group, scenario: Scenario) => boolean;
  /** Extra environment for the proxy processes (e.g. KPX_IPTABLES_BACKEND=legacy). */
  readonly env?: Readonly<Record<string, string>>;
  /** Name shown in the top-level describe (default `traffic: <mode>`). */
  readonly label?: string;
  /** Per-attempt timeout; a 'dropped' check costs one of these (default 2000 ms). */
  readonly attemptTimeoutMs?: number;
  /** How long to wait for the proxy's first sync (default 60 s; the emulated IPVS guest needs more). */
  readonly readyTimeoutMs?: number;
  /** Extra proxy flags for every group. */
  readonly extraFlags?: readonly string[];
  /**
   * Runs once per group after the proxies are ready, with a command runner in the node namespace;
   * throw to fail the group (e.g. prove the rules went into the expected iptables backend).
   */
  readonly afterReady?: (execInNode: (argv: string[]) => Promise<string>) => Promise<void>;
  /**
   * Which checks also run `explain --trace` against the kernel (default: every TCP/UDP check);
   * every check runs the in-process explain comparison regardless.
   */
  readonly traceFilter?: (group: Group, scenario: Scenario, check: Check) => boolean;
}

/**
 * The scenario selection the environment asks for (every mode's suite applies it; the slow IPVS
 * guest splits its run with it):
 *   KPX_SCENARIOS=<regex>   scenarios whose name or group name matches (case-insensitive);
 *   KPX_SCENARIOS_PART=i/n  the i-th of n contiguous slices (1-based) of the (matching) scenarios in
 *                           table order, so that n guest runs, each under its timeout, cover the table.
 * undefined: everything. Throws on a malformed value (a typo must not silently run nothing or all).
 */
export function envScenarioFilter(env: NodeJS.ProcessEnv = process.env, groups: readonly Group[] = ALL_GROUPS): ((g: Group, s: Scenario) => boolean) | undefined {
  const only = env.KPX_SCENARIOS ? new RegExp(env.KPX_SCENARIOS, 'i') : null;
  const matches = (g: Group, s: Scenario): boolean => !only || only.test(s.name) || only.test(g.name);
  const part = env.KPX_SCENARIOS_PART;
  if (!part) return only ? matches : undefined;
  const m = /^(\d+)\/(\d+)$/.exec(part);
  const i = Number(m?.[1]);
  const n = Number(m?.[2]);
  if (!m || n < 1 || i < 1 || i > n) throw new Error(`KPX_SCENARIOS_PART=${JSON.stringify(part)}: expected i/n with 1 <= i <= n, e.g. 2/3`);
  const all = groups.flatMap((g) => g.scenarios.filter((s) => matches(g, s)));
  const keep = new Set(all.slice(Math.floor(((i - 1) * all.length) / n), Math.floor((i * all.length) / n)));
  return (_g, s) => keep.has(s);
}

const METRICS_ADDR = '127.0.0.1:10249';

interface ProxyRun {
  readonly node: NodeName;
  readonly child: ChildProcess;
  readonly log: string[];
  exited: boolean;
}

interface DebugFamily {
  generation?: number;
  lastSync?: string | null;
  services?: Record<string, unknown>;
  serviceCIDRs?: string[];
}
interface DebugState {
  initialized?: boolean;
  families?: Record<string, DebugFamily>;
}

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function writeAtomic(file: string, objects: readonly unknown[]): void {
  // Rename into place so the proxy's watcher never reads a half-written file.
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 1));
  renameSync(tmp, file);
}

function defaultTries(e: Expect): number {
  if (e === 'rejected' || e === 'dropped') return 3;
  if ('sticky' in e) return 20;
  if ('health' in e) return 1;
  if ('affinityExpires' in e) return 6;
  return Math.min(60, Math.max(10, 10 * e.answeredBy.length));
}

/** null when `attempts` satisfy `e`, else the reason. */
export function judge(attempts: readonly Attempt[], e: Expect, from: From, family: Family): string | null {
  const got = summarize(attempts);
  if (e === 'rejected') {
    return attempts.every((a) => a.kind === 'refused') ? null : `expected every attempt rejected (fast failure), got ${got}`;
  }
  if (e === 'dropped') {
    return attempts.every((a) => a.kind === 'timeout') ? null : `expected every attempt dropped (timeout), got ${got}`;
  }
  if ('health' in e) return 'health expectations are judged by judgeHealth';
  if ('affinityExpires' in e) return 'affinity expiry is judged by runCheck';
  const answers = attempts.filter((a): a is Extract<Attempt, { kind: 'answer' }> => a.kind === 'answer');
  if (answers.length !== attempts.length) return `expected every attempt answered, got ${got}`;
  const allowed = 'sticky' in e ? e.sticky : e.answeredBy;
  const stray = answers.filter((a) => !allowed.includes(a.answeredBy));
  if (stray.length) return `answered by unexpected pods (allowed ${allowed.join(',')}): ${got}`;
  if (e.source) {
    const want = expectedSource(e.source, from, family);
    const wrong = answers.filter((a) => a.seenSource !== want);
    if (wrong.length) return `pods saw source ${[...new Set(wrong.map((a) => a.seenSource))].join(',')}, expected ${want} (${e.source}): ${got}`;
  }
  if ('sticky' in e) {
    const pods = new Set(answers.map((a) => a.answeredBy));
    return pods.size === 1 ? null : `expected one sticky endpoint, got ${got}`;
  }
  const min = e.minEach ?? 1;
  const short = e.answeredBy.filter((p) => answers.filter((a) => a.answeredBy === p).length < min);
  return short.length ? `pods ${short.join(',')} answered fewer than ${min} times: ${got}` : null;
}

function judgeHealth(r: { status: number; body: string } | string, e: { health: number; localEndpoints: number }): string | null {
  if (typeof r === 'string') return `health check request failed: ${r}`;
  if (r.status !== e.health) return `health check status ${r.status}, expected ${e.health}; body ${r.body}`;
  let body: { localEndpoints?: unknown; service?: unknown };
  try {
    body = JSON.parse(r.body) as typeof body;
  } catch {
    return `health check body is not JSON: ${r.body}`;
  }
  if (body.localEndpoints !== e.localEndpoints) return `localEndpoints ${String(body.localEndpoints)}, expected ${e.localEndpoints}; body ${r.body}`;
  if (!body.service) return `health check body lacks "service": ${r.body}`;
  return null;
}

/** Register the traffic suite of `mode` with node:test. Await it at module top level. */
export async function runScenarioSuite(mode: Mode, opts: SuiteOptions = {}): Promise<void> {
  const label = opts.label ?? `traffic: ${mode}`;
  if (process.getuid?.() !== 0) {
    describe(label, () => it('needs root (network namespaces)', { skip: 'not root' }, () => undefined));
    return;
  }
  // Without an explicit filter the environment's selection applies in every mode (KPX_SCENARIOS, ...).
  const filter = opts.filter ?? envScenarioFilter();
  const groups = (opts.groups ?? ALL_GROUPS)
    .map((g) => ({ ...g, scenarios: g.scenarios.filter((s) => !filter || filter(g, s)) }))
    .filter((g) => g.scenarios.length > 0);
  const sctp = await sctpSupport();
  const hasSctp = sctp.ok;
  const noSctp = sctp.ok ? '' : `SCTP not available: ${sctp.reason}`;
  if (!sctp.ok && groups.some((g) => g.scenarios.some((s) => s.needs?.includes('sctp')))) {
    process.stderr.write(`\n*** ${label}: SCTP scenarios are SKIPPED: ${sctp.reason} ***\n\n`);
  }
  const timeoutMs = opts.attemptTimeoutMs ?? 2000;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  let topo: Topology | undefined;
  let manifestsRoot = '';

  describe(label, { concurrency: false }, () => {
    before(async () => {
      manifestsRoot = mkdtempSync(join(tmpdir(), 'kpx-tr-manifests-'));
      const t0 = Date.now();
      topo = await Topology.create({ node2: groups.some((g) => g.node2), sctp: hasSctp });
      slow(`${label}: building the topology`, t0);
    });
    after(async () => {
      const prefix = topo?.prefix;
      await topo?.destroy();
      if (manifestsRoot) rmSync(manifestsRoot, { recursive: true, force: true });
      if (prefix) assert.deepEqual(leakedNamespaces(prefix), [], 'namespaces leaked');
    });

    let firstGroup = true;
    for (const group of groups) {
      describe(group.name, { concurrency: false }, () => {
        let dir = ''; // set when the group starts (the suite's temp dir exists only then)
        const proxies: ProxyRun[] = [];
        let dumped = false;
        const nodes: NodeName[] = group.node2 ? ['node', 'node2'] : ['node'];
        const T = (): Topology => {
          if (!topo) throw new Error('topology not built');
          return topo;
        };

        const fileOf = (s: Scenario): string => join(dir, `${slug(s.name)}.json`);

        const debugState = async (node: NodeName): Promise<DebugState | null> => {
          try {
            const r = await T().agent(node).http(`http://${METRICS_ADDR}/debug/state`, 1000);
            return r.status === 200 ? (JSON.parse(r.body) as DebugState) : null;
          } catch {
            return null;
          }
        };

        const servicesView = async (): Promise<string> => {
          const views = await Promise.all(nodes.map(async (n) => JSON.stringify(Object.values((await debugState(n))?.families ?? {}).map((f) => [f.services ?? {}, f.serviceCIDRs ?? []]))));
          return views.join('|');
        };

        const waitReady = async (services: readonly ServiceDef[]): Promise<void> => {
          const want: Record<Family, number> = { IPv4: servicePortCount(services, 'IPv4'), IPv6: servicePortCount(services, 'IPv6') };
          const deadline = Date.now() + readyTimeoutMs;
          for (const n of nodes) {
            let last = 'no answer from /debug/state';
            for (;;) {
              const p = proxies.find((x) => x.node === n);
              if (p?.exited) throw new Error(`proxy on ${n} exited during start-up:\n${p.log.join('').slice(-4000)}`);
              const st = await debugState(n);
              if (st?.initialized && st.families) {
                const ok = (['IPv4', 'IPv6'] as const).every((f) => {
                  const fam = st.families?.[f];
                  return fam?.lastSync && Object.keys(fam.services ?? {}).length >= want[f];
                });
                if (ok) break;
                last = JSON.stringify(Object.fromEntries(Object.entries(st.families).map(([f, v]) => [f, { lastSync: v.lastSync, services: Object.keys(v.services ?? {}).length }])));
              }
              if (Date.now() > deadline) throw new Error(`proxy on ${n} not ready after ${readyTimeoutMs} ms (want ${JSON.stringify(want)}): ${last}\n${p?.log.join('').slice(-4000) ?? ''}`);
              await sleep(200);
            }
          }
        };

        const diagnostics = async (): Promise<string> => {
          if (dumped) return '';
          dumped = true;
          const tool = mode === 'nftables' ? ['nft', 'list', 'ruleset'] : mode === 'iptables' ? ['sh', '-c', 'iptables-save; ip6tables-save; iptables-legacy-save 2>/dev/null'] : ['sh', '-c', 'ipvsadm -Ln; iptables-save'];
          const rules = await T().exec('node', tool);
          const logs = proxies.map((p) => `--- proxy on ${p.node} (last lines) ---\n${p.log.join('').slice(-3000)}`).join('\n');
          return `\n--- ${mode} ruleset in the node namespace ---\n${rules.slice(0, 20_000)}\n${logs}`;
        };

        const harness: ExplainHarness = {
          mode,
          http: (n, url) => T().agent(n).http(url, 5000),
          netns: (role) => T().ns(role),
          metricsAddress: METRICS_ADDR,
        };
        /** The explain / explain --trace companions of a traffic check (see explain-check.ts). */
        const explainTests = (scenario: Scenario, check: Check, prefix: string, skip: string | false): void => {
          const { expect } = effectiveExpect(check, mode);
          if (!expect || !explainable(expect)) return;
          it(`${prefix}explain agrees: ${check.name}`, { skip }, async () => {
            const names = new Set([...scenario.services, ...(scenario.steps ?? []).flatMap((st) => st.services)].map((s) => s.name));
            const failure = await explainCheck(harness, check, expect, names.has(check.target.svc.name));
            if (failure) assert.fail(`explain for ${check.from} -> ${resolveTarget(check.target).label}: ${failure}`);
          });
          if (resolveTarget(check.target).proto === 'SCTP' || (opts.traceFilter && !opts.traceFilter(group, scenario, check))) return;
          it(`${prefix}explain --trace agrees with the kernel: ${check.name}`, { skip }, async () => {
            const { failure } = await traceCheck(harness, check);
            if (failure) assert.fail(`explain --trace for ${check.from} -> ${resolveTarget(check.target).label}: ${failure}`);
          });
        };

        const startProxies = (): void => {
          proxies.length = 0;
          for (const n of nodes) {
            const args = [
              `--manifests=${dir}`,
              `--proxy-mode=${mode}`,
              `--hostname-override=${NODE_NAME[n]}`,
              `--cluster-cidr=${ADDR.clusterCIDR}`,
              '--healthz-bind-address=0.0.0.0:10256',
              `--metrics-bind-address=${METRICS_ADDR}`,
              // nf_conntrack_max is not per-namespace: leave the host's value alone.
              '--conntrack-max-per-core=0',
              ...group.flags,
              ...(opts.extraFlags ?? []),
            ];
            const child = startProxy(args, { prefix: ['ip', 'netns', 'exec', T().ns(n)], env: { ...process.env, ...opts.env } });
            T().track(child);
            const run: ProxyRun = { node: n, child, log: [], exited: false };
            const keep = (b: Buffer): void => {
              run.log.push(b.toString());
              if (run.log.length > 400) run.log.splice(0, 200);
            };
            child.stdout?.on('data', keep);
            child.stderr?.on('data', keep);
            child.on('exit', (code, sig) => {
              run.exited = true;
              run.log.push(`\n[exited code=${code} signal=${sig}]\n`);
            });
            proxies.push(run);
          }
        };

        const stopProxies = async (): Promise<void> => {
          await Promise.all(
            proxies.map(async (p) => {
              if (p.exited || !p.child.pid) return;
              const gone = new Promise<void>((r) => p.child.once('exit', () => r()));
              process.kill(p.child.pid, 'SIGTERM');
              const t = setTimeout(() => {
                if (!p.exited && p.child.pid) process.kill(p.child.pid, 'SIGKILL');
              }, 5000);
              await gone;
              clearTimeout(t);
            }),
          );
        };

        /** Every ServiceDef currently written for this group (for readiness after a restart). */
        const current = new Map<Scenario, readonly ServiceDef[]>();
        /** Each scenario's current ServiceCIDR ranges (steps may replace them). */
        const cidrs = new Map<Scenario, readonly string[] | undefined>();
        const writeScenario = (s: Scenario, services: readonly ServiceDef[]): void => {
          writeAtomic(fileOf(s), scenarioObjects(slug(s.name), services, cidrs.get(s)));
          current.set(s, services);
        };

        before(async () => {
          const t0 = Date.now();
          if (!firstGroup) await T().resetNodes();
          firstGroup = false;
          dir = join(manifestsRoot, slug(group.name));
          rmSync(dir, { recursive: true, force: true });
          mkdirSync(dir, { recursive: true });
          writeAtomic(join(dir, 'nodes.json'), nodeObjects());
          const all: ServiceDef[] = [];
          for (const s of group.scenarios) {
            // A skipped scenario's objects stay out too: e.g. SCTP rules need kernel modules this host may lack.
            if (s.needs?.includes('sctp') && !hasSctp) continue;
            cidrs.set(s, s.serviceCIDRs);
            writeScenario(s, s.services);
            all.push(...s.services);
            for (const r of s.routedToPod ?? []) await T().routeToPod(r.ip, r.pod);
          }
          startProxies();
          await waitReady(all);
          slow(`${label} / ${group.name}: node reset, proxy start and first sync`, t0);
          if (opts.afterReady) await opts.afterReady((argv) => T().exec('node', argv));
        });

        after(stopProxies);

        const runCheck = async (check: Check, eventuallyMs = 0): Promise<void> => {
          const { expect, skip } = effectiveExpect(check, mode);
          if (skip || !expect) return;
          const target = resolveTarget(check.target);
          const agent = T().agent(check.from);
          const deadline = Date.now() + eventuallyMs;
          for (;;) {
            let failure: string | null;
            if (typeof expect === 'object' && 'health' in expect) {
              const r = await agent.http(`http://${target.host}:${target.port}/`, timeoutMs).catch((e: unknown) => String(e));
              failure = judgeHealth(r, expect);
            } else if (typeof expect === 'object' && 'affinityExpires' in expect) {
              const probe = (count: number): Promise<Attempt[]> =>
                agent.probe({ proto: target.proto, host: target.host, port: target.port, count, concurrency: 1, timeoutMs });
              const used = await probe(check.tries ?? defaultTries(expect));
              failure = judge(used, { sticky: expect.affinityExpires }, check.from, target.family);
              if (failure) failure = `while in use: ${failure}`;
              else {
                // One attempt after each idle period longer than the timeout: each is a fresh choice.
                const later: Attempt[] = [];
                for (let i = 0; i < (expect.rounds ?? 8); i++) {
                  await sleep(expect.idleMs);
                  later.push(...(await probe(1)));
                }
                const pods = new Set([...used, ...later].flatMap((a) => (a.kind === 'answer' ? [a.answeredBy] : [])));
                const bad = later.some((a) => a.kind !== 'answer' || !expect.affinityExpires.includes(a.answeredBy));
                if (bad) failure = `after idle periods expected answers from ${expect.affinityExpires.join(',')}, got ${summarize(later)}`;
                else if (pods.size < 2) failure = `affinity never expired: one pod answered every attempt after ${expect.idleMs} ms idle periods: ${summarize(later)}`;
              }
            } else {
              const positive = typeof expect === 'object';
              const tries = check.tries ?? defaultTries(expect);
              const attempts = await agent.probe({
                proto: target.proto,
                host: target.host,
                port: target.port,
                count: tries,
                // Negative checks run all attempts at once so they cost one timeout.
                concurrency: positive ? 6 : tries,
                timeoutMs,
              });
              failure = judge(attempts, expect, check.from, target.family);
            }
            if (!failure) return;
            if (Date.now() < deadline) {
              await sleep(500);
              continue;
            }
            assert.fail(`${check.from} -> ${target.label}: ${failure}${await diagnostics()}`);
          }
        };

        for (const scenario of group.scenarios) {
          describe(scenario.name, { concurrency: false }, () => {
            const skipAll = scenario.needs?.includes('sctp') && !hasSctp ? noSctp : undefined;
            for (const check of scenario.checks) {
              const { skip, note } = effectiveExpect(check, mode);
              const name = note ? `${check.name} [${mode}: ${note}]` : check.name;
              it(name, { skip: skipAll ?? skip ?? false }, () => runCheck(check));
              explainTests(scenario, check, '', skipAll ?? skip ?? false);
            }
            for (const step of scenario.steps ?? []) {
              const how = step.proxy === 'stop' ? 'proxy stopped, then manifests rewritten' : step.proxy === 'start' ? 'manifests rewritten, then proxy started' : 'manifests rewritten at run time';
              it(`step: ${step.name} (${how})`, { skip: skipAll ?? false }, async () => {
                if (step.proxy === 'stop') await stopProxies();
                const before = step.proxy ? '' : await servicesView();
                if (step.serviceCIDRs) cidrs.set(scenario, step.serviceCIDRs);
                writeScenario(scenario, step.services);
                if (step.proxy === 'start') {
                  startProxies();
                  await waitReady([...current.values()].flat());
                } else if (!step.proxy) {
                  await waitChange(before, servicesView);
                }
              });
              for (const check of step.checks) {
                const { skip, note } = effectiveExpect(check, mode);
                const name = `after "${step.name}": ${check.name}${note ? ` [${mode}: ${note}]` : ''}`;
                // Positive outcomes may take one more sync to show everywhere: retry for a while.
                it(name, { skip: skipAll ?? skip ?? false }, () => runCheck(check, 5000));
                // With the proxy stopped there is no debug endpoint to ask.
                if (step.proxy !== 'stop') explainTests(scenario, check, `after "${step.name}": `, skipAll ?? skip ?? false);
              }
            }
            const flow = scenario.udpFlow;
            if (flow) {
              const plan = flow.stages.map((st) => (st.restart ? `survives a proxy restart (same conntrack entry, same pod)` : st.reaches ? `reaches ${st.reaches}` : 'goes silent')).join(', then ');
              it(`a UDP flow keeping its source port starts on ${flow.before}; as the endpoints change it ${plan}`, async () => {
                const target = resolveTarget(flow.target);
                const agent = T().agent(flow.from);
                const session = slug(scenario.name);
                // Entry start times (delta-time), to tell a surviving conntrack entry from a re-created one.
                if (flow.stages.some((st) => st.restart)) await T().exec('node', ['sysctl', '-qw', 'net.netfilter.nf_conntrack_timestamp=1']);
                const srcPort = await agent.udpSessionStart(session, target.host, target.port, 100);
                /** The flow's conntrack entry in the node: id and age in seconds. */
                const ctEntry = async (): Promise<{ id: string; age: number } | null> => {
                  const out = await T().exec('node', ['conntrack', '-L', '-p', 'udp', '--orig-port-src', String(srcPort), '-o', 'extended,timestamp,id']);
                  const m = /delta-time=(\d+).*\bid=(\d+)/.exec(out);
                  return m ? { id: m[2]!, age: Number(m[1]) } : null;
                };
                try {
                  const t0 = Date.now();
                  let replies = await agent.udpSessionRead(session);
                  while (!replies.length && Date.now() - t0 < 5000) {
                    await sleep(100);
                    replies = await agent.udpSessionRead(session);
                  }
                  assert.ok(replies.length > 0, `no UDP reply from ${target.label} before the change${await diagnostics()}`);
                  const startedOn = replies[0]!.answeredBy;
                  assert.ok(flow.before.split('|').includes(startedOn) && replies.every((r) => r.answeredBy === startedOn), `before the change expected only one of ${flow.before}, got ${replies.map((r) => r.answeredBy).join(',')}`);
                  for (const [i, stage] of flow.stages.entries()) {
                    const reaches = stage.reaches === 'same' ? startedOn : stage.reaches;
                    const entryBefore = stage.restart ? await ctEntry() : null;
                    const stoppedAt = Date.now();
                    if (stage.restart) {
                      await stopProxies();
                      writeScenario(scenario, stage.change);
                      startProxies();
                      await waitReady([...current.values()].flat());
                    } else {
                      const view = await servicesView();
                      writeScenario(scenario, stage.change);
                      await waitChange(view, servicesView);
                    }
                    const changedAt = Date.now();
                    if (stage.restart) {
                      // Give the new process's first sync and conntrack reconciliation time to act.
                      await sleep(2000);
                      const entryAfter = await ctEntry();
                      // Older than the restart: a flushed and re-created entry would be younger.
                      const restartS = Math.floor((Date.now() - stoppedAt) / 1000);
                      assert.ok(
                        entryBefore !== null && entryAfter?.id === entryBefore.id && entryAfter.age >= restartS,
                        `the flow's conntrack entry did not survive the restart (${restartS} s ago): before ${JSON.stringify(entryBefore)}, after ${JSON.stringify(entryAfter)}${await diagnostics()}`,
                      );
                      const since = (await agent.udpSessionRead(session)).filter((r) => r.t > changedAt - 2000);
                      assert.ok(since.length > 0 && since.every((r) => r.answeredBy === reaches), `after the restart the flow must stay on ${reaches}: ${since.map((r) => r.answeredBy).join(',')}`);
                      continue;
                    }
                    const since = async (t: number): Promise<typeof replies> => (await agent.udpSessionRead(session)).filter((r) => r.t > t);
                    let ok = false;
                    while (!ok && Date.now() - changedAt < 10_000) {
                      await sleep(200);
                      if (reaches) ok = (await since(changedAt)).some((r) => r.answeredBy === reaches);
                      // Silent: a full 2 s window after the change without any reply.
                      else ok = Date.now() - changedAt >= 2000 && (await since(Date.now() - 2000)).length === 0;
                    }
                    const counts = (await since(changedAt)).reduce<Record<string, number>>((m, r) => ({ ...m, [r.answeredBy]: (m[r.answeredBy] ?? 0) + 1 }), {});
                    assert.ok(
                      ok,
                      `stage ${i + 1}: the same-source-port UDP flow ${reaches ? `never reached ${reaches}` : 'kept getting replies'} within 10 s after the change (stale conntrack entry?); replies since the change: ${JSON.stringify(counts)}${await diagnostics()}`,
                    );
                  }
                } finally {
                  await agent.udpSessionStop(session);
                }
              });
            }
          });
        }
      });
    }
  });
}

/** Say so on stderr when set-up took long (a loaded machine, a contended xtables lock, the emulated guest). */
function slow(what: string, t0: number): void {
  const ms = Date.now() - t0;
  if (ms > 10_000) process.stderr.write(`# ${what} took ${(ms / 1000).toFixed(1)} s\n`);
}

/** Wait until the proxies' programmed view differs from `before` (the change was synced). */
async function waitChange(before: string, view: () => Promise<string>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await view()) !== before) return;
    await sleep(200);
  }
  throw new Error(`the proxy did not program the manifests change within ${timeoutMs} ms`);
}
