// Upstream validation (pkg/proxy/apis/config/validation/validation.go, 1.31+ shape), with its Go
// field paths and messages, printed like field.Error and aggregated like utilerrors.NewAggregate.
// It runs on the completed configuration (after platform defaults), as upstream's Validate does.

import type { KubeProxyConfiguration } from './types.js';
import { durationNs, effectiveSettings } from './effective.js';
import { featureGatesOf } from './feature-gates.js';
import { formatDuration } from '../util/duration.js';
import { cidrFamily, isCIDR, isIPLiteral, splitHostPort } from './net.js';
import { LOCAL_MODES, PROXY_MODE_MESSAGE, VALID_PROXY_MODES } from './flagvalues.js';

/** The Kubernetes minor this build is compatible with (for --show-hidden-metrics-for-version). */
export const COMPATIBLE_MINOR = { major: 1, minor: 35 } as const;

export interface FieldError {
  readonly field: string;
  readonly type: 'Invalid value' | 'Unsupported value' | 'Forbidden' | 'Required value';
  /** Already formatted the way field.Error prints the bad value. */
  readonly value: string;
  readonly detail: string;
}

export function fieldErrorString(e: FieldError): string {
  if (e.type === 'Forbidden' || e.type === 'Required value') return `${e.field}: ${e.type}: ${e.detail}`;
  return `${e.field}: ${e.type}: ${e.value}${e.detail ? `: ${e.detail}` : ''}`;
}

/** utilerrors aggregate: one error as-is, several as "[e1, e2]" with duplicates dropped. */
export function aggregate(errs: readonly FieldError[]): string {
  const msgs = [...new Set(errs.map(fieldErrorString))];
  return msgs.length === 1 ? (msgs[0] as string) : `[${msgs.join(', ')}]`;
}

const goStr = (s: string): string => JSON.stringify(s);
const goStrings = (l: readonly string[]): string => `[]string{${l.map(goStr).join(', ')}}`;

const ROOT = 'KubeProxyConfiguration';

function invalid(field: string, value: string, detail: string): FieldError {
  return { field: `${ROOT}.${field}`, type: 'Invalid value', value, detail };
}

function validateHostPort(input: string, field: string): FieldError[] {
  const hp = splitHostPort(input);
  if (!Array.isArray(hp)) return [invalid(field, goStr(input), 'must be IP:port')];
  const [host, port] = hp;
  const errs: FieldError[] = [];
  if (!isIPLiteral(host)) errs.push(invalid(field, goStr(host), 'must be a valid IP'));
  // strconv.Atoi: optional sign, decimal digits.
  if (!/^[+-]?[0-9]+$/.test(port) || Number(port) < 1 || Number(port) > 65535) errs.push(invalid(field, goStr(port), 'must be a valid port'));
  return errs;
}

/** utilnet.ParsePortRange: "", "N", "A-B" or "A+N". */
function validPortRange(v: string): boolean {
  const s = v.trim();
  if (s === '') return true;
  const atoi = (x: string): number | null => (/^[+-]?[0-9]+$/.test(x) ? Number(x) : null);
  const hy = s.indexOf('-');
  const plus = s.indexOf('+');
  let low: number | null;
  let high: number | null;
  if (hy < 0 && plus < 0) low = high = atoi(s);
  else if (hy >= 0 && plus < 0) [low, high] = [atoi(s.slice(0, hy)), atoi(s.slice(hy + 1))];
  else if (plus >= 0 && hy < 0) {
    low = atoi(s.slice(0, plus));
    const off = atoi(s.slice(plus + 1));
    high = low === null || off === null ? null : low + off;
  } else return false;
  return low !== null && high !== null && low <= 65535 && high <= 65535 && high >= low;
}

function validateDualStackCIDRs(cidrs: readonly string[], field: string): FieldError[] {
  const msg = 'must be a either a single CIDR or dual-stack pair of CIDRs (e.g. [10.100.0.0/16, fde4:8dba:82e1::/48]';
  if (cidrs.length === 0) return [invalid(field, goStrings(cidrs), 'must contain at least one CIDR')];
  if (cidrs.length > 2) return [invalid(field, goStrings(cidrs), msg)];
  const errs: FieldError[] = [];
  cidrs.forEach((c, i) => {
    if (!isCIDR(c)) errs.push(invalid(`${field}[${i}]`, goStr(c), 'must be a valid CIDR block (e.g. 10.100.0.0/16 or fde4:8dba:82e1::/48)'));
  });
  if (cidrs.length === 2 && errs.length === 0 && cidrFamily(cidrs[0] as string) === cidrFamily(cidrs[1] as string)) {
    errs.push(invalid(field, goStrings(cidrs), msg));
  }
  return errs;
}

/** Validate a completed configuration; [] when valid. */
export function validateConfiguration(c: KubeProxyConfiguration): FieldError[] {
  const errs: FieldError[] = [];
  const eff = effectiveSettings(c);
  const bitOk = (b: number | null): boolean => b === null || (b >= 0 && b <= 31);

  if (!bitOk(c.iptables.masqueradeBit)) {
    errs.push(invalid('KubeProxyIPTablesConfiguration.MasqueradeBit', String(c.iptables.masqueradeBit), 'must be within the range [0, 31]'));
  }
  if (c.mode === 'ipvs') {
    const p = 'KubeProxyIPVSConfiguration';
    for (const [name, v] of [
      ['TCPTimeout', c.ipvs.tcpTimeout],
      ['TCPFinTimeout', c.ipvs.tcpFinTimeout],
      ['UDPTimeout', c.ipvs.udpTimeout],
    ] as const) {
      const ns = durationNs(v);
      if (ns < 0n) errs.push(invalid(`${p}.${name}`, formatDuration(ns), 'must be greater than or equal to 0'));
    }
    (c.ipvs.excludeCIDRs ?? []).forEach((cidr, i) => {
      if (!isCIDR(cidr)) errs.push(invalid(`${p}.ExcludeCidrs[${i}]`, goStr(cidr), 'must be a valid CIDR'));
    });
  }
  if (c.mode === 'nftables' && !bitOk(c.nftables.masqueradeBit)) {
    errs.push(invalid('KubeProxyNFTablesConfiguration.MasqueradeBit', String(c.nftables.masqueradeBit), 'must be within the range [0, 31]'));
  }
  const ct = 'KubeProxyLinuxConfiguration.KubeProxyConntrackConfiguration';
  for (const [name, v] of [
    ['MaxPerCore', c.conntrack.maxPerCore],
    ['Min', c.conntrack.min],
  ] as const) {
    if (v !== null && v < 0) errs.push(invalid(`${ct}.${name}`, String(v), 'must be greater than or equal to 0'));
  }
  for (const [name, v] of [
    ['TCPEstablishedTimeout', c.conntrack.tcpEstablishedTimeout],
    ['TCPCloseWaitTimeout', c.conntrack.tcpCloseWaitTimeout],
    ['UDPTimeout', c.conntrack.udpTimeout],
    ['UDPStreamTimeout', c.conntrack.udpStreamTimeout],
  ] as const) {
    const ns = durationNs(v);
    if (ns < 0n) errs.push(invalid(`${ct}.${name}`, formatDuration(ns), 'must be greater than or equal to 0'));
  }
  if (c.oomScoreAdj !== null && (c.oomScoreAdj < -1000 || c.oomScoreAdj > 1000)) {
    errs.push(invalid('KubeProxyLinuxConfiguration.OOMScoreAdj', String(c.oomScoreAdj), 'must be within the range [-1000, 1000]'));
  }
  if (c.mode !== '' && !(VALID_PROXY_MODES as readonly string[]).includes(c.mode)) {
    errs.push(invalid('Mode.ProxyMode', goStr(c.mode), PROXY_MODE_MESSAGE));
  }
  if (c.clientConnection.burst < 0) {
    errs.push(invalid('ClientConnection.Burst', String(c.clientConnection.burst), 'must be greater than or equal to 0'));
  }
  const configSync = durationNs(c.configSyncPeriod);
  if (configSync <= 0n) errs.push(invalid('ConfigSyncPeriod', formatDuration(configSync), 'must be greater than 0'));
  if (eff.syncPeriodNs <= 0n) errs.push(invalid('SyncPeriod', formatDuration(eff.syncPeriodNs), 'must be greater than 0'));
  if (eff.minSyncPeriodNs < 0n) errs.push(invalid('MinSyncPeriod', formatDuration(eff.minSyncPeriodNs), 'must be greater than or equal to 0'));
  if (eff.minSyncPeriodNs > eff.syncPeriodNs) {
    errs.push(invalid('SyncPeriod', formatDuration(eff.minSyncPeriodNs), `must be greater than or equal to ${ROOT}.MinSyncPeriod`));
  }
  if (!isIPLiteral(c.bindAddress)) {
    errs.push(invalid('BindAddress', goStr(c.bindAddress), 'not a valid textual representation of an IP address'));
  }
  if (c.healthzBindAddress !== '') errs.push(...validateHostPort(c.healthzBindAddress, 'HealthzBindAddress'));
  // Deviation: upstream validates an empty metricsBindAddress too, although the flag's help says
  // "Set empty to disable"; here empty disables the metrics server.
  if (c.metricsBindAddress !== '') errs.push(...validateHostPort(c.metricsBindAddress, 'MetricsBindAddress'));
  if (!validPortRange(c.portRange)) errs.push(invalid('PortRange', goStr(c.portRange), 'must be a valid port range (e.g. 300-2000)'));

  const npa = c.nodePortAddresses ?? [];
  for (let i = 0; i < npa.length; i++) {
    const a = npa[i] as string;
    if (a === 'primary') {
      if (i !== 0 || npa.length !== 1) errs.push(invalid(`NodePortAddresses[${i}]`, goStr(a), "can't use both 'primary' and CIDRs"));
      break;
    }
    if (!isCIDR(a)) errs.push(invalid(`NodePortAddresses[${i}]`, goStr(a), 'must be a valid CIDR'));
  }

  if (c.showHiddenMetricsForVersion !== '') {
    const valid = `${COMPATIBLE_MINOR.major}.${COMPATIBLE_MINOR.minor - 1}`;
    if (c.showHiddenMetricsForVersion !== valid) {
      errs.push(
        invalid(
          'ShowHiddenMetricsForVersion',
          goStr(c.showHiddenMetricsForVersion),
          `--show-hidden-metrics-for-version must be omitted or have the value '${valid}'. Only the previous minor version is allowed`,
        ),
      );
    }
  }

  if (!(LOCAL_MODES as readonly string[]).includes(c.detectLocalMode)) {
    errs.push({
      field: `${ROOT}.DetectLocalMode`,
      type: 'Unsupported value',
      value: goStr(c.detectLocalMode),
      detail: `supported values: ${LOCAL_MODES.map(goStr).join(', ')}`,
    });
  }
  const dl = 'DetectLocalConfiguration';
  if (c.detectLocalMode === 'BridgeInterface' && c.detectLocal.bridgeInterface === '') {
    errs.push(invalid(`${dl}.InterfaceName`, '""', 'must not be empty'));
  }
  if (c.detectLocalMode === 'InterfaceNamePrefix' && c.detectLocal.interfaceNamePrefix === '') {
    errs.push(invalid(`${dl}.InterfacePrefix`, '""', 'must not be empty'));
  }
  if (c.detectLocalMode === 'ClusterCIDR' && eff.clusterCIDRs.length > 0) {
    errs.push(...validateDualStackCIDRs(eff.clusterCIDRs, `${dl}.ClusterCIDRs`));
  }

  errs.push(...validateLogging(c, `${ROOT}.logging`));
  return errs;
}

const MAX_INT32 = 2 ** 31 - 1;

function isZeroQuantity(q: unknown): boolean {
  return q === undefined || q === 0 || (typeof q === 'string' && /^[+-]?0*(\.0*)?([eE][+-]?[0-9]+|[a-zA-Z]*)$/.test(q) && /[0-9]/.test(q));
}

/**
 * logsapi validation (component-base/logs/api/v1 Validate). kube-proxy runs it on its own, before
 * the configuration validation, under the path "logging" ("initialize logging: ..."), and again
 * inside Validate under "KubeProxyConfiguration.logging".
 */
export function validateLogging(c: KubeProxyConfiguration, path = 'logging'): FieldError[] {
  const errs: FieldError[] = [];
  const l = c.logging;
  const at = (sub: string): string => `${path}.${sub}`;
  const gates = featureGatesOf(c.featureGates);
  if (l.format !== 'text' && l.format !== 'json') {
    errs.push({ field: at('format'), type: 'Invalid value', value: goStr(l.format), detail: 'Unsupported log format' });
  } else if (l.format === 'json' && !gates.enabled('LoggingBetaOptions')) {
    errs.push({ field: at('format'), type: 'Forbidden', value: '', detail: 'Log format json is BETA and disabled, see LoggingBetaOptions feature' });
  }
  if (l.verbosity > MAX_INT32) errs.push({ field: at('verbosity'), type: 'Invalid value', value: String(l.verbosity), detail: `Must be <= ${MAX_INT32}` });
  const vmodule = (l.vmodule ?? []) as { filePattern?: string; verbosity?: number }[];
  if (vmodule.length > 0 && l.format !== '' && l.format !== 'text') {
    errs.push({ field: at('vmodule'), type: 'Forbidden', value: '', detail: 'Only supported for text log format' });
  }
  vmodule.forEach((item, i) => {
    const pattern = item.filePattern ?? '';
    if (pattern === '') errs.push({ field: at(`vmodule[${i}]`), type: 'Required value', value: '', detail: 'File pattern must not be empty' });
    if (/[=,]/.test(pattern)) {
      errs.push({ field: at(`vmodule[${i}]`), type: 'Invalid value', value: goStr(pattern), detail: 'File pattern must not contain equal sign or comma' });
    }
    if ((item.verbosity ?? 0) > MAX_INT32) {
      errs.push({ field: at(`vmodule[${i}]`), type: 'Invalid value', value: String(item.verbosity), detail: `Must be <= ${MAX_INT32}` });
    }
  });
  // Split streams and info buffering are alpha options (feature gate LoggingAlphaOptions, default
  // off; AllAlpha=true turns it on too).
  const alpha = gates.enabled('LoggingAlphaOptions');
  const options = (l.options ?? {}) as Record<string, { splitStream?: boolean; infoBufferSize?: unknown } | undefined>;
  for (const fmt of ['text', 'json'] as const) {
    const o = options[fmt] ?? {};
    if (o.splitStream === true && !alpha) {
      errs.push({ field: at(`options.${fmt}.splitStream`), type: 'Forbidden', value: '', detail: 'Feature LoggingAlphaOptions is disabled' });
    }
    if (!isZeroQuantity(o.infoBufferSize) && !alpha) {
      errs.push({ field: at(`options.${fmt}.infoBufferSize`), type: 'Forbidden', value: '', detail: 'Feature LoggingAlphaOptions is disabled' });
    }
  }
  return errs;
}
