// argv (+ optional --config file) -> ProxyOptions, with upstream's precedence rules
// (cmd/kube-proxy/app/options.go Complete, processV1Alpha1Flags, processHostnameOverrideFlag;
// server_linux.go platformApplyDefaults) and validation. Never throws for user errors and never exits.

import { hostname as osHostname } from 'node:os';
import { writeFile } from 'node:fs/promises';
import type { KubeProxyConfiguration, ProxyOptions } from './types.js';
import type { ProxyMode } from './types.js';
import { defaultConfiguration, PROXY_HEALTHZ_PORT, PROXY_STATUS_PORT } from './defaults.js';
import { formatDuration, durationToMs } from '../util/duration.js';
import { durationNs, effectiveSettings } from './effective.js';
import { flagSpec, FlagParseError, helpText, parseFlags, VERSION_TEXT, type FlagValue } from './flags.js';
import type { VModuleItem } from './flagvalues.js';
import { resolveFeatureGates } from './feature-gates.js';
import { noopFlagWarnings } from './noop-flags.js';
import { appendPortIfNeeded } from './net.js';
import { renderConfigYAML } from './render.js';
import { aggregate, validateConfiguration, validateLogging } from './validate.js';

export type CommandLineResult =
  | { kind: 'run'; options: ProxyOptions; /** Notices to log at start-up (deprecated flags, defaulted zeros). */ warnings: string[] }
  | { kind: 'help'; text: string }
  | { kind: 'version'; text: string }
  | { kind: 'error'; message: string };

export interface CommandLineEnvironment {
  /** The OS hostname (tests inject one); default os.hostname(). */
  hostname?: () => string;
}

type Values = ReadonlyMap<string, FlagValue>;

/** Upper bound of --service-latency-top-n (per-service latency histograms are one series per Service). */
export const MAX_SERVICE_LATENCY_TOP_N = 50;

/** Flags bound straight to config fields (AddFlags); ignored when --config is given. */
function applyConfigFlags(c: KubeProxyConfiguration, v: Values): void {
  const has = (n: string): boolean => v.has(n);
  const get = <T extends FlagValue>(n: string): T => v.get(n) as T;
  const dur = (n: string): string => formatDuration(get<bigint>(n));
  if (has('feature-gates')) c.featureGates = { ...get<Record<string, boolean>>('feature-gates') };
  if (has('kubeconfig')) c.clientConnection.kubeconfig = get('kubeconfig');
  if (has('kube-api-content-type')) c.clientConnection.contentType = get('kube-api-content-type');
  if (has('kube-api-burst')) c.clientConnection.burst = get('kube-api-burst');
  if (has('kube-api-qps')) c.clientConnection.qps = get('kube-api-qps');
  if (has('bind-address')) c.bindAddress = get('bind-address');
  if (has('healthz-bind-address')) c.healthzBindAddress = get('healthz-bind-address');
  if (has('metrics-bind-address')) c.metricsBindAddress = get('metrics-bind-address');
  if (has('bind-address-hard-fail')) c.bindAddressHardFail = get('bind-address-hard-fail');
  if (has('profiling')) c.enableProfiling = get('profiling');
  if (has('show-hidden-metrics-for-version')) c.showHiddenMetricsForVersion = get('show-hidden-metrics-for-version');
  if (has('proxy-mode')) c.mode = get('proxy-mode');
  if (has('iptables-masquerade-bit')) c.iptables.masqueradeBit = get<number>('iptables-masquerade-bit');
  if (has('iptables-localhost-nodeports')) c.iptables.localhostNodePorts = get<boolean>('iptables-localhost-nodeports');
  if (has('ipvs-scheduler')) c.ipvs.scheduler = get('ipvs-scheduler');
  if (has('ipvs-exclude-cidrs')) c.ipvs.excludeCIDRs = [...get<string[]>('ipvs-exclude-cidrs')];
  if (has('ipvs-strict-arp')) c.ipvs.strictARP = get('ipvs-strict-arp');
  if (has('ipvs-tcp-timeout')) c.ipvs.tcpTimeout = dur('ipvs-tcp-timeout');
  if (has('ipvs-tcpfin-timeout')) c.ipvs.tcpFinTimeout = dur('ipvs-tcpfin-timeout');
  if (has('ipvs-udp-timeout')) c.ipvs.udpTimeout = dur('ipvs-udp-timeout');
  if (has('detect-local-mode')) c.detectLocalMode = get('detect-local-mode');
  if (has('pod-bridge-interface')) c.detectLocal.bridgeInterface = get('pod-bridge-interface');
  if (has('pod-interface-name-prefix')) c.detectLocal.interfaceNamePrefix = get('pod-interface-name-prefix');
  if (has('nodeport-addresses')) c.nodePortAddresses = [...get<string[]>('nodeport-addresses')];
  if (has('oom-score-adj')) c.oomScoreAdj = get<number>('oom-score-adj');
  if (has('conntrack-max-per-core')) c.conntrack.maxPerCore = get<number>('conntrack-max-per-core');
  if (has('conntrack-min')) c.conntrack.min = get<number>('conntrack-min');
  if (has('conntrack-tcp-timeout-established')) c.conntrack.tcpEstablishedTimeout = dur('conntrack-tcp-timeout-established');
  if (has('conntrack-tcp-timeout-close-wait')) c.conntrack.tcpCloseWaitTimeout = dur('conntrack-tcp-timeout-close-wait');
  if (has('conntrack-tcp-be-liberal')) c.conntrack.tcpBeLiberal = get('conntrack-tcp-be-liberal');
  if (has('conntrack-udp-timeout')) c.conntrack.udpTimeout = dur('conntrack-udp-timeout');
  if (has('conntrack-udp-timeout-stream')) c.conntrack.udpStreamTimeout = dur('conntrack-udp-timeout-stream');
  if (has('config-sync-period')) c.configSyncPeriod = dur('config-sync-period');

  // Flags that upstream keeps outside the v1alpha1 shape (processV1Alpha1Flags): the internal
  // config has one SyncPeriod/MinSyncPeriod/MasqueradeAll, which the chosen mode's section holds.
  const mode = c.mode;
  let sync = durationNs(c.iptables.syncPeriod);
  let minSync = durationNs(c.iptables.minSyncPeriod);
  if (has('iptables-sync-period') && mode !== 'ipvs') sync = get('iptables-sync-period');
  if (has('iptables-min-sync-period') && mode !== 'ipvs') minSync = get('iptables-min-sync-period');
  if (has('ipvs-sync-period') && mode === 'ipvs') sync = get('ipvs-sync-period');
  if (has('ipvs-min-sync-period') && mode === 'ipvs') minSync = get('ipvs-min-sync-period');
  const syncSection = mode === 'ipvs' ? c.ipvs : mode === 'nftables' ? c.nftables : c.iptables;
  syncSection.syncPeriod = formatDuration(sync);
  syncSection.minSyncPeriod = formatDuration(minSync);
  if (has('masquerade-all')) (mode === 'nftables' ? c.nftables : c.iptables).masqueradeAll = get('masquerade-all');
  if (has('cluster-cidr')) c.clusterCIDR = get('cluster-cidr');
}

/** Logging flags win over the file (copyLogsFromFlags); vmodule entries from flags come first. */
function applyLoggingFlags(c: KubeProxyConfiguration, v: Values): void {
  if (v.has('logging-format')) c.logging.format = v.get('logging-format') as string;
  if (v.has('log-flush-frequency')) c.logging.flushFrequency = formatDuration(v.get('log-flush-frequency') as bigint);
  if (v.has('v')) c.logging.verbosity = v.get('v') as number;
  if (v.has('vmodule')) c.logging.vmodule = [...(v.get('vmodule') as VModuleItem[]), ...((c.logging.vmodule as VModuleItem[] | null | undefined) ?? [])];
  const opts = (c.logging.options ??= {}) as Record<string, Record<string, unknown>>;
  for (const fmt of ['json', 'text'] as const) {
    const o = (opts[fmt] ??= {});
    if (v.has(`log-${fmt}-info-buffer-size`)) o['infoBufferSize'] = v.get(`log-${fmt}-info-buffer-size`);
    if (v.has(`log-${fmt}-split-stream`)) o['splitStream'] = v.get(`log-${fmt}-split-stream`);
  }
}

/** Go's %q of a []string: ["a" "b"]. */
function goQuoteList(l: readonly string[]): string {
  return `[${l.map((s) => JSON.stringify(s)).join(' ')}]`;
}

export async function parseCommandLine(argv: string[], env: CommandLineEnvironment = {}): Promise<CommandLineResult> {
  let parsed;
  try {
    parsed = parseFlags(argv);
  } catch (e) {
    if (e instanceof FlagParseError) return { kind: 'error', message: e.message };
    throw e;
  }
  const v = parsed.values;
  if (v.get('help') === true) return { kind: 'help', text: helpText() };
  if (parsed.args.some((a) => a.length > 0)) {
    return { kind: 'error', message: `"kube-proxy" does not take any arguments, got ${goQuoteList(parsed.args)}` };
  }
  const version = v.get('version');
  if (version === 'true' || version === 'raw') return { kind: 'version', text: VERSION_TEXT };

  const warnings = [...parsed.warnings, ...noopFlagWarnings(v.keys())];
  const configFile = (v.get('config') as string | undefined) ?? '';
  const writeConfigTo = (v.get('write-config-to') as string | undefined) ?? '';
  let config: KubeProxyConfiguration;
  if (configFile !== '') {
    // Imported only with --config: it loads the YAML parser, which a flags-only start never needs.
    const { loadConfigFile } = await import('./load.js');
    const loaded = await loadConfigFile(configFile);
    if (!loaded.ok) return { kind: 'error', message: loaded.message };
    config = loaded.config;
    warnings.push(...loaded.warnings);
    const ignored = [...v.keys()].filter((n) => flagSpec(n)?.group === 'config');
    if (ignored.length > 0) warnings.push(`--config is given, so these flags are ignored: ${ignored.map((n) => '--' + n).join(', ')}`);
  } else {
    config = defaultConfiguration();
    applyConfigFlags(config, v);
    if (writeConfigTo === '') {
      // Deprecated --healthz-port / --metrics-port (options.go addressFromDeprecatedFlags).
      const hp = (v.get('healthz-port') as number | undefined) ?? PROXY_HEALTHZ_PORT;
      const mp = (v.get('metrics-port') as number | undefined) ?? PROXY_STATUS_PORT;
      config.healthzBindAddress = hp === 0 ? '' : appendPortIfNeeded(config.healthzBindAddress, hp);
      config.metricsBindAddress = mp === 0 ? '' : appendPortIfNeeded(config.metricsBindAddress, mp);
    }
  }
  applyLoggingFlags(config, v);
  // A port-less listen address gets the default port (the file path already does this in defaulting).
  config.healthzBindAddress = appendPortIfNeeded(config.healthzBindAddress, PROXY_HEALTHZ_PORT);
  config.metricsBindAddress = appendPortIfNeeded(config.metricsBindAddress, PROXY_STATUS_PORT);

  // platformApplyDefaults (server_linux.go).
  if (config.mode === '') config.mode = 'iptables';
  if (config.mode === 'nftables' && (config.nodePortAddresses ?? []).length === 0) config.nodePortAddresses = ['primary'];
  if (config.detectLocalMode === '') config.detectLocalMode = 'ClusterCIDR';

  // processHostnameOverrideFlag: the flag beats the file; blank-but-not-empty is an error.
  const hostFlag = (v.get('hostname-override') as string | undefined) ?? '';
  if (hostFlag.length > 0) {
    const h = hostFlag.trim();
    if (h === '') return { kind: 'error', message: 'failed complete: empty hostname-override is invalid' };
    config.hostnameOverride = h.toLowerCase();
  }
  // Complete ends with the feature gate (utilfeature.DefaultMutableFeatureGate.SetFromMap).
  const gates = resolveFeatureGates(config.featureGates);
  if (!gates.ok) return { kind: 'error', message: `failed complete: ${gates.message}` };
  warnings.push(...gates.warnings);

  // kube-proxy validates and applies the logging configuration first (server.go RunE).
  const logErrs = validateLogging(config);
  if (logErrs.length > 0) return { kind: 'error', message: `initialize logging: ${aggregate(logErrs)}` };
  const errs = validateConfiguration(config);
  if (errs.length > 0) return { kind: 'error', message: `failed validate: ${aggregate(errs)}` };

  // nodeutil.GetHostname
  const rawHost = config.hostnameOverride !== '' ? config.hostnameOverride : (env.hostname ?? osHostname)();
  const hostname = rawHost.trim().toLowerCase();
  if (hostname === '') return { kind: 'error', message: 'empty hostname is invalid' };

  const topN = (v.get('service-latency-top-n') as number | undefined) ?? 0;
  if (topN < 0 || topN > MAX_SERVICE_LATENCY_TOP_N) {
    return { kind: 'error', message: `invalid argument ${topN} for --service-latency-top-n: must be within [0, ${MAX_SERVICE_LATENCY_TOP_N}]` };
  }
  const oneShot = v.get('one-shot-timeout') as bigint | undefined;
  if (oneShot !== undefined && oneShot <= 0n) return { kind: 'error', message: 'invalid argument for --one-shot-timeout: must be greater than 0' };

  const eff = effectiveSettings(config);
  const manifests = (v.get('manifests') as string | undefined) ?? '';
  const options: ProxyOptions = {
    config,
    configFile,
    mode: config.mode as ProxyMode,
    hostname,
    kubeconfig: config.clientConnection.kubeconfig,
    master: (v.get('master') as string | undefined) ?? '',
    manifestsDir: manifests === '' ? null : manifests,
    cleanup: v.get('cleanup') === true,
    initOnly: v.get('init-only') === true,
    printRules: v.get('print-rules') === true,
    dryRun: v.get('dry-run') === true,
    oneShotTimeoutMs: v.has('one-shot-timeout') ? durationToMs(v.get('one-shot-timeout') as bigint) : 30_000,
    serviceLatencyTopN: (v.get('service-latency-top-n') as number | undefined) ?? 0,
    writeConfigTo,
    syncPeriodMs: durationToMs(eff.syncPeriodNs),
    minSyncPeriodMs: durationToMs(eff.minSyncPeriodNs),
    configSyncPeriodMs: durationToMs(durationNs(config.configSyncPeriod)),
    masqueradeBit: eff.masqueradeBit ?? 14,
    masqueradeAll: eff.masqueradeAll,
    clusterCIDRs: eff.clusterCIDRs,
    nodePortAddresses: config.nodePortAddresses ?? [],
    detectLocalMode: config.detectLocalMode as ProxyOptions['detectLocalMode'],
    healthzBindAddress: config.healthzBindAddress,
    metricsBindAddress: config.metricsBindAddress,
    verbosity: config.logging.verbosity,
    loggingFormat: config.logging.format === 'json' ? 'json' : 'text',
  };
  return { kind: 'run', options, warnings };
}

/** What --write-config-to does: write the effective configuration as v1alpha1 YAML. */
export async function writeConfigFile(path: string, config: KubeProxyConfiguration): Promise<void> {
  await writeFile(path, renderConfigYAML(config), 'utf8');
}

export { renderConfigYAML } from './render.js';
