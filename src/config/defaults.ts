// Upstream v1alpha1 defaults (pkg/proxy/apis/config/v1alpha1/defaults.go SetDefaults_KubeProxyConfiguration,
// plus logsapi.SetRecommendedLoggingConfiguration). Defaulting replaces *zero* values, not just
// absent ones: `iptables.minSyncPeriod: 0s` in a file becomes 1s, exactly as upstream does.

import type { KubeProxyConfiguration, LoggingConfiguration } from './types.js';
import { parseDuration } from '../util/duration.js';
import { isIPv4Literal, appendPortIfNeeded } from './net.js';

export const API_VERSION = 'kubeproxy.config.k8s.io/v1alpha1';
export const KIND = 'KubeProxyConfiguration';
export const PROXY_HEALTHZ_PORT = 10256;
export const PROXY_STATUS_PORT = 10249;
/** pkg/kubelet/qos KubeProxyOOMScoreAdj. */
export const KUBE_PROXY_OOM_SCORE_ADJ = -999;

function defaultLogging(): LoggingConfiguration {
  return {
    format: 'text',
    flushFrequency: '5s',
    verbosity: 0,
    options: { json: { infoBufferSize: '0' }, text: { infoBufferSize: '0' } },
  };
}

/** The completely zero object, as Go would hold it before defaulting (all pointers nil). */
export function zeroConfiguration(): KubeProxyConfiguration {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    featureGates: {},
    clientConnection: { kubeconfig: '', acceptContentTypes: '', contentType: '', qps: 0, burst: 0 },
    logging: { format: '', flushFrequency: '0s', verbosity: 0 },
    hostnameOverride: '',
    bindAddress: '',
    healthzBindAddress: '',
    metricsBindAddress: '',
    bindAddressHardFail: false,
    enableProfiling: false,
    showHiddenMetricsForVersion: '',
    mode: '',
    iptables: { masqueradeBit: null, masqueradeAll: false, localhostNodePorts: null, syncPeriod: '0s', minSyncPeriod: '0s' },
    ipvs: {
      syncPeriod: '0s',
      minSyncPeriod: '0s',
      scheduler: '',
      excludeCIDRs: null,
      strictARP: false,
      tcpTimeout: '0s',
      tcpFinTimeout: '0s',
      udpTimeout: '0s',
    },
    nftables: { masqueradeBit: null, masqueradeAll: false, syncPeriod: '0s', minSyncPeriod: '0s' },
    winkernel: { networkName: '', sourceVip: '', enableDSR: false, rootHnsEndpointName: '', forwardHealthCheckVip: false },
    detectLocalMode: '',
    detectLocal: { bridgeInterface: '', interfaceNamePrefix: '' },
    clusterCIDR: '',
    nodePortAddresses: null,
    oomScoreAdj: null,
    conntrack: {
      maxPerCore: null,
      min: null,
      tcpEstablishedTimeout: null,
      tcpCloseWaitTimeout: null,
      tcpBeLiberal: false,
      udpTimeout: '0s',
      udpStreamTimeout: '0s',
    },
    configSyncPeriod: '0s',
    portRange: '',
    windowsRunAsService: false,
  };
}

function isZeroDuration(d: string): boolean {
  try {
    return parseDuration(d) === 0n;
  } catch {
    return false; // invalid strings are reported by the loader, never defaulted away
  }
}

/** Which zero values defaulting replaced (JSON paths), so callers can warn about explicit zeros. */
export type DefaultedPaths = string[];

/**
 * Apply SetDefaults_KubeProxyConfiguration in place. Returns the paths whose (zero) value was
 * replaced; a loader compares them with the fields the file set explicitly.
 */
export function applyDefaults(c: KubeProxyConfiguration): DefaultedPaths {
  const hit: string[] = [];
  if (c.bindAddress === '') {
    c.bindAddress = '0.0.0.0';
    hit.push('bindAddress');
  }
  // Default listen addresses follow the family of bindAddress (defaults.go getDefaultAddresses).
  const v4 = isIPv4Literal(c.bindAddress);
  if (c.healthzBindAddress === '') {
    c.healthzBindAddress = `${v4 ? '0.0.0.0' : '[::]'}:${PROXY_HEALTHZ_PORT}`;
    hit.push('healthzBindAddress');
  } else c.healthzBindAddress = appendPortIfNeeded(c.healthzBindAddress, PROXY_HEALTHZ_PORT);
  if (c.metricsBindAddress === '') {
    c.metricsBindAddress = `${v4 ? '127.0.0.1' : '[::1]'}:${PROXY_STATUS_PORT}`;
    hit.push('metricsBindAddress');
  } else c.metricsBindAddress = appendPortIfNeeded(c.metricsBindAddress, PROXY_STATUS_PORT);
  if (c.oomScoreAdj === null) c.oomScoreAdj = KUBE_PROXY_OOM_SCORE_ADJ;
  const dur = (get: () => string, set: (v: string) => void, def: string, path: string): void => {
    if (isZeroDuration(get())) {
      set(def);
      hit.push(path);
    }
  };
  dur(() => c.iptables.syncPeriod, (v) => (c.iptables.syncPeriod = v), '30s', 'iptables.syncPeriod');
  dur(() => c.iptables.minSyncPeriod, (v) => (c.iptables.minSyncPeriod = v), '1s', 'iptables.minSyncPeriod');
  if (c.iptables.localhostNodePorts === null) c.iptables.localhostNodePorts = true;
  dur(() => c.ipvs.syncPeriod, (v) => (c.ipvs.syncPeriod = v), '30s', 'ipvs.syncPeriod');
  dur(() => c.nftables.syncPeriod, (v) => (c.nftables.syncPeriod = v), '30s', 'nftables.syncPeriod');
  dur(() => c.nftables.minSyncPeriod, (v) => (c.nftables.minSyncPeriod = v), '1s', 'nftables.minSyncPeriod');
  if (c.conntrack.maxPerCore === null) c.conntrack.maxPerCore = 32 * 1024;
  if (c.conntrack.min === null) c.conntrack.min = 128 * 1024;
  if (c.iptables.masqueradeBit === null) c.iptables.masqueradeBit = 14;
  if (c.nftables.masqueradeBit === null) c.nftables.masqueradeBit = 14;
  if (c.conntrack.tcpEstablishedTimeout === null) c.conntrack.tcpEstablishedTimeout = '24h0m0s';
  if (c.conntrack.tcpCloseWaitTimeout === null) c.conntrack.tcpCloseWaitTimeout = '1h0m0s';
  dur(() => c.configSyncPeriod, (v) => (c.configSyncPeriod = v), '15m0s', 'configSyncPeriod');
  if (c.clientConnection.contentType === '') c.clientConnection.contentType = 'application/vnd.kubernetes.protobuf';
  if (c.clientConnection.qps === 0) {
    c.clientConnection.qps = 5;
    hit.push('clientConnection.qps');
  }
  if (c.clientConnection.burst === 0) {
    c.clientConnection.burst = 10;
    hit.push('clientConnection.burst');
  }
  // logsapi.SetRecommendedLoggingConfiguration
  const dl = defaultLogging();
  if (c.logging.format === '') c.logging.format = dl.format;
  if (typeof c.logging.flushFrequency === 'number' ? c.logging.flushFrequency === 0 : isZeroDuration(c.logging.flushFrequency)) {
    c.logging.flushFrequency = dl.flushFrequency;
  }
  const opts = (c.logging.options ??= {}) as { json?: Record<string, unknown>; text?: Record<string, unknown> };
  for (const k of ['json', 'text'] as const) {
    const o = (opts[k] ??= {});
    if (o['infoBufferSize'] === undefined) o['infoBufferSize'] = '0';
  }
  return hit;
}

/** `defaultConfiguration()`: a fresh, fully defaulted v1alpha1 object (what upstream starts from). */
export function defaultConfiguration(): KubeProxyConfiguration {
  const c = zeroConfiguration();
  applyDefaults(c);
  return c;
}
