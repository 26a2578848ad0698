#!/usr/bin/env node
// kube-proxy-ts entry point (upstream cmd/kube-proxy/app/server.go): parse flags and config, then
// one of: --help / --version, --write-config-to, --cleanup, --init-only, --print-rules, or run.

// First: V8 heap flags must be set before the heap grows (util/heap-flags.ts).
import './util/heap-flags.js';
import { promises as fsp } from 'node:fs';
import { parseCommandLine, renderConfigYAML } from './config/options.js';
import type { ProxyOptions } from './config/types.js';
import { watchConfigFile, type ConfigWatch } from './config/watch.js';
import { setupConntrack } from './conntrack/setup.js';
import { installEventRecorder } from './events/install.js';
import { IPVS_DEPRECATION_MESSAGE, flushEvents, recordEvent } from './events/recorder.js';
import { DRY_DATAPLANE_ENV, dryDataplaneRequested, loadDataplaneFactory } from './dataplane/registry.js';
import { ProxyHealth } from './health/proxy-health.js';
import { ServiceHealthServer } from './health/service-health.js';
import { debugRoutes } from './debug/handler.js';
import { withSyncedProxier } from './cli/oneshot.js';
import { configureLogging, createLogger } from './log/logger.js';
import { registerMetrics } from './metrics/metrics.js';
import { recordFeatureGates } from './metrics/feature-enabled.js';
import { featureGatesOf } from './config/feature-gates.js';
import { rejectedInputCount } from './sources/rejections.js';
import { ServiceModel } from './model/tracker.js';
import { cleanupAll, removeOtherModesWhenProgrammed } from './proxy/mode-switch.js';
import { platformSetup, runConfigChecks } from './proxy/platform.js';
import { PodCIDRGate } from './proxy/podcidr-gate.js';
import { Proxier } from './proxy/proxier.js';
import { healthzHandler } from './server/healthz.js';
import { serve, type ManagedServer } from './net/listen.js';
import { metricsHandler } from './server/metrics.js';
import { DeferredHandler } from './sources/deferred-handler.js';
import { collectGarbage, logGcPauses } from './util/gc.js';
import { createManifestsSource } from './sources/manifests.js';
import type { Source } from './sources/types.js';

const log = createLogger('server');
/** After the first sync of every family: long enough for the other families' syncs and the start of the leftover cleanup. */
const START_GC_DELAY_MS = 300;
/** -v=4 logs garbage-collection pauses at least this long. */
const GC_PAUSE_LOG_MIN_MS = 2;

function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((resolve) => stream.write(text, () => resolve()));
}

async function createSource(o: ProxyOptions): Promise<Source> {
  if (o.manifestsDir !== null) return createManifestsSource(o.manifestsDir, { nodeName: o.hostname });
  // Loaded only when needed: irrelevant to --manifests runs.
  const { createApiServerSource } = await import('./sources/apiserver.js');
  const cc = o.config.clientConnection;
  return createApiServerSource({ kubeconfig: o.kubeconfig, master: o.master, nodeName: o.hostname, qps: cc.qps, burst: cc.burst });
}

async function printRules(o: ProxyOptions): Promise<number> {
  return withSyncedProxier(o, () => createSource(o), async (proxier) => {
    for (const { family, text } of await proxier.renderRules()) {
      await write(process.stdout, `# ${o.mode} ${family}\n${text.endsWith('\n') || text === '' ? text : text + '\n'}`);
    }
    return exitForRejectedInput();
  });
}

async function dryRun(o: ProxyOptions): Promise<number> {
  return withSyncedProxier(o, () => createSource(o), async (proxier) => {
    const { dryRunDiff } = await import('./dryrun/run.js');
    const r = await dryRunDiff(o.mode, await proxier.renderRules({ live: true }), { ipvsExcludeCIDRs: o.config.ipvs.excludeCIDRs ?? [] });
    await write(process.stdout, r.text);
    const rejected = await exitForRejectedInput();
    return rejected !== 0 ? rejected : r.changes > 0 ? 2 : 0;
  });
}

/** One-shot commands fail (1) when an input object was rejected: their output would be incomplete. */
async function exitForRejectedInput(): Promise<number> {
  const n = await rejectedInputCount();
  if (n === 0) return 0;
  await write(process.stderr, `Error: ${n} input object(s) were rejected (see the log above); the output leaves them out\n`);
  return 1;
}

async function setOOMScoreAdj(value: number | null): Promise<void> {
  if (value === null) return;
  try {
    await fsp.writeFile('/proc/self/oom_score_adj', String(value));
  } catch (e) {
    log.warn('Failed to set oom_score_adj', { value, err: e });
  }
}

async function runProxy(o: ProxyOptions): Promise<number> {
  log.info('Starting kube-proxy-ts', { mode: o.mode, node: o.hostname, source: o.manifestsDir ?? 'apiserver' });

  // What has been started so far; a signal at any point of start-up stops exactly that.
  let source: Source | null = null;
  let proxier: Proxier | null = null;
  let serviceHealth: ServiceHealthServer | null = null;
  let configWatch: ConfigWatch | null = null;
  const servers: ManagedServer[] = [];
  let stopping = false;
  const stopped = new Promise<number>((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      if (stopping) {
        log.warn('Second signal, exiting now', { signal: sig });
        process.exit(1);
      }
      stopping = true;
      log.info('Received signal, shutting down; rules are left in place', { signal: sig });
      const force = setTimeout(() => {
        log.warn('Shutdown took too long, exiting');
        resolve(0);
      }, 10_000);
      force.unref();
      void (async () => {
        configWatch?.close();
        await source?.stop().catch((e: unknown) => log.error('Stopping source failed', { err: e }));
        await proxier?.stop();
        await serviceHealth?.close();
        await Promise.all(servers.map((s) => s.close()));
        clearTimeout(force);
        resolve(0);
      })();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  let fatal: (e: Error) => void = () => undefined;
  const fatalError = new Promise<never>((_, reject) => {
    fatal = reject;
  });
  fatalError.catch(() => undefined);

  const startUp = async (): Promise<void> => {
    registerMetrics(o.mode);
    recordFeatureGates(featureGatesOf(o.config.featureGates));
    // The source starts listing now, while the rest starts up (platform checks, conntrack, servers):
    // what it delivers waits in `early` until the proxier exists. Not awaited: the initial list may
    // take long (or never come); shutdown must not wait for it. A source that cannot start is fatal.
    const early = new DeferredHandler();
    const src = await createSource(o);
    source = src;
    src.start(early).catch((e: unknown) => fatal(e instanceof Error ? e : new Error(String(e))));
    // Upstream exits when the --config file changes, so that the DaemonSet restarts it.
    if (o.configFile !== '') configWatch = await watchConfigFile(o.configFile, fatal);
    await installEventRecorder(o);
    const factory = await loadDataplaneFactory(o.mode);
    if (dryDataplaneRequested()) {
      // Test-only (fleet measurements): plans and renders every transaction, programs nothing.
      log.warn(`${DRY_DATAPLANE_ENV}=1: test-only dry dataplane, nothing is programmed into the kernel; do not set it in a cluster`);
    }
    if (o.mode === 'ipvs') recordEvent('IPVSDeprecation', 'Warning', IPVS_DEPRECATION_MESSAGE);
    // oom_score_adj, the conntrack sysctls and the platform checks (each a few tool runs and file
    // writes, independent of each other) at once: at 1k services the list is done before they are,
    // so their sum was on the way to the first sync. The conntrack set-up is fatal on failure, as
    // upstream (a read-only /sys is only a warning and a Node event). Other modes' leftovers are
    // removed only once this mode has programmed every family (removeOtherModesWhenProgrammed
    // below), never before.
    const [, , platform] = await Promise.all([setOOMScoreAdj(o.config.oomScoreAdj), setupConntrack(o.config.conntrack), platformSetup(o)]);
    if (stopping) return;

    const health = new ProxyHealth(2 * o.syncPeriodMs);
    serviceHealth = new ServiceHealthServer({ isHealthy: () => health.isHealthy(), nodeName: o.hostname });
    const podCIDRGate =
      o.detectLocalMode === 'NodeCIDR'
        ? new PodCIDRGate({
            nodeName: o.hostname,
            onFatal: fatal,
            onReady: (cidrs) => {
              try {
                runConfigChecks(o, platform.primary, platform.families.length === 2, cidrs);
              } catch (e) {
                fatal(e as Error);
              }
            },
          })
        : null;
    const p = new Proxier({
      options: o,
      model: new ServiceModel({ nodeName: o.hostname }),
      factory,
      health,
      serviceHealth,
      families: platform.families,
      primary: platform.primary,
      podCIDRGate,
      eligibleWithoutNode: o.manifestsDir !== null,
    });
    proxier = p;
    const hardFail = o.config.bindAddressHardFail;
    if (o.healthzBindAddress) {
      // Upstream records this on every failed listen (retried every 5 s; the recorder drops repeats).
      const onListenError = (e: Error): void =>
        recordEvent('FailedToStartProxierHealthcheck', 'Warning', `failed to start proxier healthz on ${o.healthzBindAddress}: ${e.message}`);
      servers.push(serve('healthz', o.healthzBindAddress, healthzHandler(health), { hardFail, onListenError }));
    }
    if (o.metricsBindAddress) {
      const handler = metricsHandler({ mode: o.mode, config: o.config, debug: debugRoutes(() => p.debugSource()) });
      const metricsServer = serve('metrics', o.metricsBindAddress, handler, { hardFail });
      // Upstream: only a fatal (bindAddressHardFail) metrics failure is an event.
      metricsServer.ready.catch((e: Error) => recordEvent('FailedToStartMetricServer', 'Warning', e.message));
      servers.push(metricsServer);
    }
    for (const s of servers) s.ready.catch((e: Error) => fatal(e));

    if (stopping) return;
    podCIDRGate?.start();
    p.start();
    // Upstream platformCleanup, but after the first sync: our own mode's (or another mode's) rules
    // keep serving until the new rules are in place.
    void removeOtherModesWhenProgrammed(o, p.whenProgrammed(), () => stopping);
    void p.whenProgrammed().then(() => {
      // The start's garbage, collected once now rather than by V8 in a burst that a change would
      // wait behind (util/gc.ts); after the other families' syncs and the leftover cleanup begin.
      const t = setTimeout(() => {
        if (stopping) return;
        const t0 = performance.now();
        const { before, after } = collectGarbage();
        log.v(2).info('Collected the start\'s garbage', { heapMBBefore: Math.round(before / 1e6), heapMBAfter: Math.round(after / 1e6), millis: Math.round(performance.now() - t0) });
      }, START_GC_DELAY_MS);
      t.unref();
    });
    early.attach(p);
    // Upstream birthCry(), once the informers are started.
    recordEvent('Starting', 'Normal', '');
  };

  try {
    await Promise.race([startUp(), fatalError]);
    return await Promise.race([stopped, fatalError]);
  } catch (e) {
    log.error('Fatal', { err: e });
    // A failure event (e.g. FailedToStartMetricServer) recorded just before gets a moment to be sent.
    await flushEvents(2000);
    return 1;
  }
}

export async function main(argv: string[]): Promise<number> {
  // One-shot operator commands against a running proxy (src/explain/cli.ts).
  if (argv[0] === 'explain' || argv[0] === 'get') {
    const { runSubcommand } = await import('./explain/cli.js');
    const out: string[] = [];
    const err: string[] = [];
    const code = await runSubcommand(argv, (s) => out.push(s), (s) => err.push(s));
    // Written (and flushed) before main's caller exits the process.
    await write(process.stdout, out.join(''));
    await write(process.stderr, err.join(''));
    return code;
  }
  const parsed = await parseCommandLine(argv);
  switch (parsed.kind) {
    case 'help':
    case 'version':
      await write(process.stdout, parsed.text.endsWith('\n') ? parsed.text : parsed.text + '\n');
      return 0;
    case 'error':
      await write(process.stderr, `Error: ${parsed.message.split('\n')[0]}\n`);
      return 1;
    case 'run':
      break;
  }
  const o = parsed.options;
  configureLogging({ verbosity: o.verbosity, format: o.loggingFormat });
  const gcLog = log.v(4);
  if (gcLog.enabled) logGcPauses((m, f) => gcLog.info(m, f), GC_PAUSE_LOG_MIN_MS);
  for (const w of parsed.warnings) log.warn(w);

  if (o.writeConfigTo) {
    await fsp.writeFile(o.writeConfigTo, renderConfigYAML(o.config));
    log.info('Wrote configuration', { file: o.writeConfigTo });
    return 0;
  }
  if (o.cleanup) {
    if (await cleanupAll(o)) return 0;
    await write(process.stderr, 'Error: encountered an error while tearing down rules\n');
    return 1;
  }
  if (o.printRules) return printRules(o);
  if (o.dryRun) return dryRun(o);
  if (o.initOnly) {
    // Upstream --init-only: the privileged set-up steps (conntrack, route_localnet), then exit.
    await setOOMScoreAdj(o.config.oomScoreAdj);
    await setupConntrack(o.config.conntrack);
    await platformSetup(o);
    return 0;
  }
  return runProxy(o);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
