// KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1) as users write it, and the resolved
// options the rest of the program runs on. Field names and defaults follow upstream
// (kubernetes/kube-proxy config/v1alpha1/types.go, pkg/proxy/apis/config/v1alpha1/defaults.go).

/** --proxy-mode (upstream pkg/proxy/apis/config ProxyMode). */
export type ProxyMode = 'iptables' | 'ipvs' | 'nftables';

/** A Go duration string as written in the file ("30s", "1h2m", "500ms"). */
export type GoDuration = string;

export interface KubeProxyIPTablesConfiguration {
  masqueradeBit: number | null;
  masqueradeAll: boolean;
  localhostNodePorts: boolean | null;
  syncPeriod: GoDuration;
  minSyncPeriod: GoDuration;
}

export interface KubeProxyIPVSConfiguration {
  syncPeriod: GoDuration;
  minSyncPeriod: GoDuration;
  scheduler: string;
  excludeCIDRs: string[] | null;
  strictARP: boolean;
  tcpTimeout: GoDuration;
  tcpFinTimeout: GoDuration;
  udpTimeout: GoDuration;
}

export interface KubeProxyNFTablesConfiguration {
  masqueradeBit: number | null;
  masqueradeAll: boolean;
  syncPeriod: GoDuration;
  minSyncPeriod: GoDuration;
}

export interface KubeProxyConntrackConfiguration {
  maxPerCore: number | null;
  min: number | null;
  tcpEstablishedTimeout: GoDuration | null;
  tcpCloseWaitTimeout: GoDuration | null;
  tcpBeLiberal: boolean;
  udpTimeout: GoDuration;
  udpStreamTimeout: GoDuration;
}

export interface ClientConnectionConfiguration {
  kubeconfig: string;
  acceptContentTypes: string;
  contentType: string;
  qps: number;
  burst: number;
}

export interface LoggingConfiguration {
  format: string;
  flushFrequency: GoDuration | number;
  verbosity: number;
  vmodule?: unknown[] | null;
  options?: Record<string, unknown>;
}

export interface KubeProxyConfiguration {
  apiVersion: 'kubeproxy.config.k8s.io/v1alpha1';
  kind: 'KubeProxyConfiguration';
  featureGates: Record<string, boolean>;
  clientConnection: ClientConnectionConfiguration;
  logging: LoggingConfiguration;
  hostnameOverride: string;
  bindAddress: string;
  healthzBindAddress: string;
  metricsBindAddress: string;
  bindAddressHardFail: boolean;
  enableProfiling: boolean;
  showHiddenMetricsForVersion: string;
  mode: '' | ProxyMode;
  iptables: KubeProxyIPTablesConfiguration;
  ipvs: KubeProxyIPVSConfiguration;
  nftables: KubeProxyNFTablesConfiguration;
  winkernel: {
    networkName: string;
    sourceVip: string;
    enableDSR: boolean;
    rootHnsEndpointName: string;
    forwardHealthCheckVip: boolean;
  };
  detectLocalMode: '' | 'ClusterCIDR' | 'NodeCIDR' | 'BridgeInterface' | 'InterfaceNamePrefix';
  detectLocal: { bridgeInterface: string; interfaceNamePrefix: string };
  clusterCIDR: string;
  nodePortAddresses: string[] | null;
  oomScoreAdj: number | null;
  conntrack: KubeProxyConntrackConfiguration;
  configSyncPeriod: GoDuration;
  portRange: string;
  windowsRunAsService: boolean;
}

/**
 * Everything the program runs on, after flags, --config file, precedence rules and platform
 * defaults (upstream options.go Complete + server_linux.go platformApplyDefaults).
 */
export interface ProxyOptions {
  /** The effective, defaulted configuration (what --write-config-to writes, /configz serves). */
  readonly config: KubeProxyConfiguration;
  /** --config FILE ("" when none); watched while running (upstream exits when it changes). */
  readonly configFile: string;
  readonly mode: ProxyMode;
  /** Node name: --hostname-override / hostnameOverride (trimmed, lower-cased), else os.hostname(). */
  readonly hostname: string;
  readonly kubeconfig: string;
  readonly master: string;
  /** --manifests DIR: run from files instead of an API server (null when not given). */
  readonly manifestsDir: string | null;
  readonly cleanup: boolean;
  readonly initOnly: boolean;
  /** --print-rules: print the ruleset the chosen mode would program for the current state, exit. */
  readonly printRules: boolean;
  /** --dry-run: diff the next sync against the kernel, exit 0 (same) / 2 (different). */
  readonly dryRun: boolean;
  /** --one-shot-timeout: how long --print-rules / --dry-run wait for the initial lists. */
  readonly oneShotTimeoutMs: number;
  /** --service-latency-top-n: services with a programming-latency series of their own (0: off). */
  readonly serviceLatencyTopN: number;
  readonly writeConfigTo: string;
  /** Effective sync timing for the chosen mode, milliseconds. */
  readonly syncPeriodMs: number;
  readonly minSyncPeriodMs: number;
  readonly configSyncPeriodMs: number;
  readonly masqueradeBit: number;
  readonly masqueradeAll: boolean;
  /** clusterCIDR split on ',' and trimmed; empty when unset. */
  readonly clusterCIDRs: readonly string[];
  /** CIDRs, or ['primary'], or [] meaning all local addresses. */
  readonly nodePortAddresses: readonly string[];
  readonly detectLocalMode: 'ClusterCIDR' | 'NodeCIDR' | 'BridgeInterface' | 'InterfaceNamePrefix';
  /** "" disables the server. */
  readonly healthzBindAddress: string;
  readonly metricsBindAddress: string;
  readonly verbosity: number;
  readonly loggingFormat: 'text' | 'json';
}
