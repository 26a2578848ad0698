// Combined faults (issue #18 item 4): at N services, a burst of >= W Service/EndpointSlice writes
// during which
//   1. someone runs `nft flush ruleset` in the node namespace,
//   2. the proxy notices and starts a full sync (a fresh `nft -f -`; a KPX_TOOL_NFT wrapper marks its
//      start and end, and can make it last longer at small scale so the next fault lands inside it),
//   3. the API server is restarted (connections cut, port closed for `downMs`, same data) while that
//      full sync runs; the burst keeps writing into its store throughout.
// Meanwhile a sampler lists the kernel table back to back and checks every sample (consistency.ts):
// structure, and each service as a state the server actually held, never older than before.
// Afterwards: /debug/state and the table equal the server's objects (0 lost updates), and the last
// sample equals the last state written, endpoints included.

import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../../src/util/exec.js';
import { nodeObject } from '../../runtime/fixtures.js';
import { NsApiServer, type DriverOp } from './apiserver.js';
import { Churn, diffState, expectedState } from './churn.js';
import { checkIptablesSample, checkNftSample, sampleProblems, WriteHistory, type SampleView } from './consistency.js';
import { debugState, eventually, metricValue, metricsText, sleep, startProxyIn } from './proxy.js';
import { NODE_IP, World } from './world.js';

export type CombinedMode = 'nftables' | 'iptables';

interface ModeSpec {
  /** KPX_TOOL_<NAME> of the ruleset writer, and the real binary. */
  readonly tool: string;
  readonly real: string;
  /** Shell test selecting the calls marked as syncs (nft: `-f`, full syncs; iptables: every restore). */
  readonly guard: string;
  readonly env: Record<string, string>;
  readonly list: string[];
  readonly check: (out: string) => SampleView;
  readonly failures: string;
}

const MODES: Record<CombinedMode, ModeSpec> = {
  nftables: {
    tool: 'nft',
    real: '/usr/sbin/nft',
    guard: '[ "$1" = "-f" ]',
    env: {},
    list: ['nft', '-j', 'list', 'table', 'ip', 'kube-proxy'],
    check: checkNftSample,
    failures: 'kubeproxy_sync_proxy_rules_nftables_sync_failures_total',
  },
  iptables: {
    tool: 'iptables-nft-restore',
    real: '/usr/sbin/iptables-nft-restore',
    guard: 'true',
    env: { KPX_IPTABLES_BACKEND: 'nft' },
    list: ['iptables-nft-save'],
    check: checkIptablesSample,
    failures: 'kubeproxy_sync_proxy_rules_iptables_restore_failures_total',
  },
};

export interface CombinedOptions {
  /** Default nftables; iptables runs the nft backend. */
  readonly mode?: CombinedMode;
  readonly services: number;
  readonly endpointsPerService: number;
  /** Minimum number of API writes in the burst. */
  readonly writes: number;
  /** Churn steps per batch and pause between batches (the burst's pace). */
  readonly batch?: number;
  readonly pauseMs?: number;
  /** Writes before the flush. */
  readonly flushAtWrite?: number;
  /** Extra seconds the wrapper waits inside the full sync after the flush (0: a natural one). */
  readonly slowFullSyncS?: number;
  /** How long the API server stays down. */
  readonly downMs?: number;
  readonly seed?: number;
  /** After the run, with the proxy stopped, delete one endpoint element by hand and report what the checker says of the next sample (proves it can fail on real listings). */
  readonly selfCheck?: boolean;
  readonly log?: (line: string) => void;
}

export interface SampleFigures {
  readonly taken: number;
  /** Table absent (between the flush and the repair). */
  readonly absent: number;
  /** `nft` failed for another reason (not counted as consistent or not). */
  readonly errors: number;
  readonly inconsistent: number;
  readonly problems: string[];
  readonly listMs: { min: number; median: number; max: number };
  /** Samples whose services differed from the previous sample's (the table changed under the sampler). */
  readonly changed: number;
  /** Wall clock of the first sample without the table, and of the first sample with it again after that (null: not seen). */
  readonly firstAbsentAt: number | null;
  readonly presentAgainAt: number | null;
}

export interface CombinedResult {
  readonly services: number;
  readonly endpointsPerService: number;
  readonly initialSyncMs: number;
  readonly writes: number;
  readonly counts: Record<string, number>;
  readonly burstMs: number;
  /** Writes made between the flush and the API server's return. */
  readonly writesDuringFaults: number;
  readonly samples: SampleFigures;
  /** Full syncs (nft -f) after the flush: [start, end] ms after the flush. */
  readonly fullSyncsAfterFlush: { startMs: number; endMs: number; rc: number }[];
  /** API server restart began this many ms after the flush, inside the full sync [start, end]. */
  readonly restartAtMs: number;
  readonly restartInsideFullSync: boolean;
  /** Flush -> first sample showing the table again (an upper bound of the repair; null: not seen). */
  readonly tableBackAfterFlushMs: number | null;
  /** The proxy's lines about the flush and the syncs after it (drift, failed runs, full syncs). */
  readonly logLines: string[];
  readonly convergeAfterLastWriteMs: number;
  readonly lostUpdates: number;
  readonly finalDiff: string[];
  readonly log: { driftDetected: number; runFailed: number; watchResumes: number; relists: number };
  /** The mode's ruleset-write failure counter (nftables sync / iptables restore failures). */
  readonly syncFailures: number;
  readonly mode: CombinedMode;
  readonly proxyExit: { code: number | null; signal: string | null };
  /** selfCheck: the element deleted and the problems the checker found in the next sample. */
  readonly selfCheck?: { deleted: string; problems: string[] };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : 0;
}

/**
 * A KPX_TOOL_* wrapper: every marked call (nft: `nft -f -`, a full sync; iptables: every
 * `iptables-nft-restore`, IPv4 only by its nature) copies its input, notes its family, writes
 * "start <ms> <family>" and "end <ms> <rc> <family>" to $ctl/full, and for IPv4 sleeps first while
 * $ctl/slow holds seconds. Other calls (the `nft -i` session, `nft -c` drift checks) pass through.
 */
async function writeWrapper(dir: string, m: ModeSpec): Promise<{ path: string; ctl: string }> {
  const ctl = path.join(dir, 'ctl');
  await fsp.mkdir(ctl);
  const script = `#!/bin/sh
# Sync marker for kube-proxy-ts combined-fault tests (runs inside the test's namespace).
CTL='${ctl}'
if ${m.guard}; then
  in=$(mktemp "$CTL/in.XXXXXX")
  cat > "$in"
  fam=IPv4
  grep -q -m1 'ip6 kube-proxy' "$in" && fam=IPv6
  echo "start $(date +%s%3N) 0 $fam" >> "$CTL/full"
  d=$(cat "$CTL/slow" 2>/dev/null)
  [ "$fam" = IPv4 ] && [ -n "$d" ] && sleep "$d"
  '${m.real}' "$@" < "$in"
  rc=$?
  rm -f "$in"
  echo "end $(date +%s%3N) $rc $fam" >> "$CTL/full"
  exit $rc
fi
exec '${m.real}' "$@"
`;
  const p = path.join(dir, `wrap-${m.tool}`);
  await fsp.writeFile(p, script, { mode: 0o755 });
  return { path: p, ctl };
}

async function fullSyncMarks(ctl: string): Promise<{ kind: 'start' | 'end'; at: number; rc: number; family: string }[]> {
  const text = await fsp.readFile(path.join(ctl, 'full'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [kind, at, rc, family] = l.split(' ');
      return { kind: kind as 'start' | 'end', at: Number(at), rc: Number(rc), family: family ?? '' };
    })
    .filter((m) => m.family === 'IPv4');
}

/** Lists the table back to back until stopped; checks each sample at once. */
class Sampler {
  private stopped = false;
  private done: Promise<void> | null = null;
  taken = 0;
  absent = 0;
  errors = 0;
  inconsistent = 0;
  changed = 0;
  readonly problems: string[] = [];
  readonly listMs: number[] = [];
  last: SampleView | null = null;
  private prevKey = '';
  firstAbsentAt: number | null = null;
  presentAgainAt: number | null = null;

  constructor(
    private readonly world: World,
    private readonly history: WriteHistory,
    private readonly maxSamples: number,
    private readonly spec: ModeSpec,
  ) {}

  start(): void {
    this.done = (async () => {
      while (!this.stopped && this.taken < this.maxSamples) {
        await this.sampleOnce();
        await sleep(5);
      }
    })();
  }

  async sampleOnce(): Promise<SampleView | null> {
    const t0 = Date.now();
    const r = await run('ip', ['netns', 'exec', this.world.ns('node'), ...this.spec.list], { allowFailure: true, timeoutMs: 300_000 });
    this.listMs.push(Date.now() - t0);
    this.taken++;
    let view: SampleView;
    if (r.code !== 0) {
      if (/No such file or directory/.test(r.stderr)) {
        this.absent++;
        this.firstAbsentAt ??= t0;
        view = { present: false, problems: [], services: new Map() };
      } else {
        this.errors++;
        if (this.problems.length < 20) this.problems.push(`${this.spec.list[0]} failed (${r.code}): ${r.stderr.trim().slice(0, 200)}`);
        return null;
      }
    } else {
      view = this.spec.check(r.stdout);
      if (!view.present) {
        // iptables: the listing works but shows none of our chains (flushed).
        this.absent++;
        this.firstAbsentAt ??= t0;
      } else if (this.firstAbsentAt !== null) this.presentAgainAt ??= t0;
    }
    const problems = sampleProblems(view, this.history);
    if (problems.length) {
      this.inconsistent++;
      if (this.problems.length < 20) this.problems.push(`sample ${this.taken}: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (+${problems.length - 5})` : ''}`);
    }
    const key = view.present ? JSON.stringify([...view.services]) : 'absent';
    if (this.taken > 1 && key !== this.prevKey) this.changed++;
    this.prevKey = key;
    this.last = view;
    return view;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  figures(): SampleFigures {
    const l = this.listMs;
    return {
      taken: this.taken,
      absent: this.absent,
      errors: this.errors,
      inconsistent: this.inconsistent,
      problems: this.problems,
      listMs: { min: l.length ? Math.min(...l) : 0, median: median(l), max: l.length ? Math.max(...l) : 0 },
      changed: this.changed,
      firstAbsentAt: this.firstAbsentAt,
      presentAgainAt: this.presentAgainAt,
    };
  }
}

/** /debug/state (IPv4) equals the churn's model (the kernel is compared by the final sample). */
async function proxyConverged(world: World, churn: Churn, what: string, timeoutMs: number): Promise<void> {
  const want = expectedState(churn.services.values());
  let diff: string[] = [];
  try {
    await eventually(async () => {
      diff = diffState(want, (await debugState(world)).families.IPv4?.services ?? {});
      return diff.length === 0;
    }, `${what}: proxy state equals the server's`, timeoutMs, 500);
  } catch (e) {
    throw new Error(`${(e as Error).message}; ${diff.length} differences, e.g. ${diff.slice(0, 5).join('; ')}`);
  }
}

function count(text: string, re: RegExp): number {
  return (text.match(re) ?? []).length;
}

export async function runCombined(o: CombinedOptions): Promise<CombinedResult> {
  const log = o.log ?? ((): void => undefined);
  const mode = o.mode ?? 'nftables';
  const spec = MODES[mode];
  const batch = o.batch ?? 10;
  const pauseMs = o.pauseMs ?? 40;
  const flushAtWrite = o.flushAtWrite ?? Math.floor(o.writes / 5);
  const downMs = o.downMs ?? 3000;
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'kpx-rel-combined-'));
  const world = await World.create();
  try {
    const wrap = await writeWrapper(tmp, spec);
    const srv = await NsApiServer.start(world);
    const churn = new Churn(o.seed ?? 18, { maxServices: o.services + 200, endpointsPerService: o.endpointsPerService, exactEndpoints: true });
    const history = new WriteHistory();
    const seedOps: DriverOp[] = [{ t: 'create', obj: nodeObject('node-a', [NODE_IP]) }, ...churn.pin(1), ...churn.seed(o.services - 1)];
    history.record(seedOps);
    for (let k = 0; k < seedOps.length; k += 2000) await srv.apply(seedOps.slice(k, k + 2000));
    log(`created ${o.services} services x ${o.endpointsPerService} endpoints`);

    const t0 = Date.now();
    const proxy = startProxyIn(
      world,
      ['--kubeconfig', srv.kubeconfigPath, '--proxy-mode', mode, '--hostname-override', 'node-a', '--iptables-sync-period=2s', '--v=2'],
      { ['KPX_TOOL_' + spec.tool.toUpperCase().replace(/[^A-Z0-9]/g, '_')]: wrap.path, ...spec.env },
    );
    await proxyConverged(world, churn, 'initial sync', 600_000);
    const initialSyncMs = Date.now() - t0;
    log(`initial sync ${initialSyncMs} ms`);

    const sampler = new Sampler(world, history, 100_000, spec);
    sampler.start();

    // The faults, started at write `flushAtWrite`; the burst goes on meanwhile.
    let flushAt = 0;
    let restartAt = 0;
    const faults = async (): Promise<void> => {
      if (o.slowFullSyncS) await fsp.writeFile(path.join(wrap.ctl, 'slow'), String(o.slowFullSyncS));
      const before = (await fullSyncMarks(wrap.ctl)).length;
      flushAt = Date.now();
      await run('ip', ['netns', 'exec', world.ns('node'), 'nft', 'flush', 'ruleset']);
      log('flushed the ruleset');
      // Wait for the repair's full sync to start, then restart the API server inside it. nftables: the
      // first `nft -f` after the flush is it (incremental transactions use the `nft -i` session).
      // iptables: every restore is marked, and the first one after the flush may be an incremental
      // restore failing on the missing chains; the full sync is the first restore to start after the
      // proxy logged that failure or the drift (klog time of day, UTC).
      const outFrom = proxy.output().length;
      await eventually(async () => {
        let after = 0;
        if (mode === 'iptables') {
          const m = /^[IEW]\d{4} (\d\d):(\d\d):(\d\d\.\d+) .*(?:"Run failed, will retry" name="sync-runner-IPv4"|"Rules changed behind our back, doing a full sync" ipFamily="IPv4")/m.exec(proxy.output().slice(outFrom));
          if (!m) return false;
          const d = new Date();
          after = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), Number(m[1]), Number(m[2])) + Math.round(Number(m[3]) * 1000);
        }
        return (await fullSyncMarks(wrap.ctl)).slice(before).some((m) => m.kind === 'start' && m.at >= after);
      }, 'a full sync after the flush', 120_000, 10);
      restartAt = Date.now();
      log(`full sync started; restarting the API server (down ${downMs} ms)`);
      await fsp.rm(path.join(wrap.ctl, 'slow'), { force: true });
      await srv.call('restart', { downMs }, 60_000);
      log('API server back');
    };

    let writes = 0;
    let pending: Promise<void> | null = null;
    const tBurst = Date.now();
    let lastWriteAt = tBurst;
    // At least `writes`, and on until the faults are over (the server's outage always sees writes); bounded.
    let faultsDone = false;
    let writesDuringFaults = 0;
    while ((writes < o.writes || (pending && !faultsDone)) && writes < 20 * o.writes) {
      const ops: DriverOp[] = [];
      for (let j = 0; j < batch; j++) ops.push(...churn.step());
      history.record(ops); // before the server has them: a sample can only show recorded states
      const r = await srv.apply(ops);
      if (r.failed) throw new Error(`server rejected writes: ${r.errors.join('; ')}`);
      writes += r.done;
      lastWriteAt = Date.now();
      if (pending && !faultsDone) writesDuringFaults += r.done;
      if (!pending && writes >= flushAtWrite)
        pending = faults().finally(() => {
          faultsDone = true;
        });
      await sleep(pauseMs);
    }
    const burstMs = lastWriteAt - tBurst;
    log(`burst done: ${writes} writes in ${burstMs} ms`);
    if (pending) await pending;

    let lostUpdates = 0;
    try {
      await proxyConverged(world, churn, 'after the combined faults', 300_000);
    } catch (e) {
      lostUpdates = 1;
      log(String(e));
    }
    const convergeAfterLastWriteMs = Date.now() - lastWriteAt;
    log(`converged ${convergeAfterLastWriteMs} ms after the last write`);
    await sampler.stop();
    // One more sample after convergence: it must equal the last state written, endpoints included.
    const final = await sampler.sampleOnce();
    const finalDiff = final ? history.diffFinal(final) : ['final sample failed'];
    if (finalDiff.length) lostUpdates = Math.max(lostUpdates, finalDiff.length);

    const marks = await fullSyncMarks(wrap.ctl);
    // IPv4 syncs run one at a time: each end closes the start before it.
    const fullSyncsAfterFlush: { startMs: number; endMs: number; rc: number }[] = [];
    let open: number | null = null;
    for (const m of marks) {
      if (m.kind === 'start') open = m.at;
      else if (open !== null) {
        if (open >= flushAt) fullSyncsAfterFlush.push({ startMs: open - flushAt, endMs: m.at - flushAt, rc: m.rc });
        open = null;
      }
    }
    if (open !== null && open >= flushAt) fullSyncsAfterFlush.push({ startMs: open - flushAt, endMs: NaN, rc: -1 });
    const restartAtMs = restartAt - flushAt;
    const restartInsideFullSync = fullSyncsAfterFlush.some((f) => f.startMs <= restartAtMs && restartAtMs <= f.endMs);

    const metrics = await metricsText(world).catch((e: unknown) => {
      log(`metrics unreadable: ${String(e)}; proxy ${proxy.child.exitCode === null ? 'running' : `exited ${proxy.child.exitCode}`}; its last lines:\n${proxy.output().slice(-3000)}`);
      return '';
    });
    const out = proxy.output();
    const r = await proxy.stop();
    let selfCheck: CombinedResult['selfCheck'];
    if (o.selfCheck && final) {
      // The proxy is gone (its rules stay): half-apply a change by hand, as a broken writer would.
      const [ip, svc] = [...final.services].find(([, k]) => k.endpoints.length >= 2)!;
      const inNs = (argv: string[]): Promise<{ stdout: string }> => run('ip', ['netns', 'exec', world.ns('node'), ...argv], { timeoutMs: 300_000 });
      let deleted: string;
      if (mode === 'nftables') {
        deleted = `element ${ip} . ${svc.port} . ${svc.endpoints.length - 1}`;
        await inNs(['nft', 'delete', 'element', 'ip', 'kube-proxy', 'cluster-endpoints-tcp', `{ ${deleted.slice(8)} }`]);
      } else {
        // The DNAT rule of the service's last endpoint chain.
        const save = (await inNs(['iptables-nft-save', '-t', 'nat'])).stdout;
        const sep = save.split('\n').find((l) => l.includes(`--to-destination ${svc.endpoints[svc.endpoints.length - 1]}`) && l.startsWith('-A KUBE-SEP-'))!.split(' ')[1]!;
        deleted = `rules of ${sep}`;
        await inNs(['iptables-nft', '-t', 'nat', '-F', sep]);
      }
      const r2 = await inNs(spec.list);
      selfCheck = { deleted, problems: spec.check(r2.stdout).problems };
    }
    return {
      services: o.services,
      endpointsPerService: o.endpointsPerService,
      initialSyncMs,
      writes,
      counts: { ...churn.counts },
      burstMs,
      writesDuringFaults,
      samples: sampler.figures(),
      fullSyncsAfterFlush,
      tableBackAfterFlushMs: sampler.presentAgainAt === null ? null : sampler.presentAgainAt - flushAt,
      logLines: out
        .split('\n')
        .filter((l) => /Rules changed behind|canary or jump rules missing|Run failed|Drift check failed|full=true|API server requests|Watch failed/.test(l))
        .slice(-12)
        .map((l) => l.slice(0, 300)),
      restartAtMs,
      restartInsideFullSync,
      convergeAfterLastWriteMs,
      lostUpdates,
      finalDiff: finalDiff.slice(0, 10),
      log: {
        driftDetected: count(out, /Rules changed behind our back/g),
        runFailed: count(out, /Run failed, will retry/g),
        watchResumes: count(out, /Watch failed; resuming/g),
        relists: count(out, /Watch expired; relisting/g),
      },
      syncFailures: metricValue(metrics, spec.failures),
      mode,
      proxyExit: { code: r.code, signal: r.signal },
      selfCheck,
    };
  } finally {
    await world.destroy();
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}
