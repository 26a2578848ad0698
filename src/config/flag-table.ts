// The kube-proxy command line's flag table: every upstream flag (cmd/kube-proxy/app/options.go
// AddFlags, logsapi.AddFlags, the Go flag set, cobra's --help, verflag's --version) plus ours, with
// kind, default and usage as upstream's --help prints them. The parser is flags.ts.

import type { VModuleItem } from './flagvalues.js';
import { knownFeatures } from './feature-gates.js';

export type FlagKind =
  | 'bool'
  | 'string'
  | 'duration'
  | 'int32'
  | 'float32'
  | 'ip'
  | 'ipport'
  | 'strings'
  | 'cidrs'
  | 'nodePortAddresses'
  | 'clusterCIDR'
  | 'mapStringBool'
  | 'ProxyMode'
  | 'LocalMode'
  | 'Level'
  | 'vmodule'
  | 'quantity'
  | 'version';

/** How a flag relates to the config file (upstream precedence, options.go Complete). */
export type FlagGroup =
  | 'config' // maps to a KubeProxyConfiguration field; ignored when --config is given
  | 'logging' // logging flags: applied over the config file too
  | 'command' // not part of the configuration (--config, --cleanup, --master, ...)
  | 'deprecated-port' // --healthz-port / --metrics-port
  | 'ignored'; // accepted for compatibility, no effect (--boot-id-file, ...)

export interface FlagSpec {
  readonly name: string;
  readonly shorthand?: string;
  readonly kind: FlagKind;
  /** Default as pflag prints it in --help ("" = zero value, not printed). */
  readonly defValue: string;
  readonly usage: string;
  readonly group: FlagGroup;
  readonly deprecated?: string;
}

export type FlagValue = boolean | string | number | bigint | string[] | Record<string, boolean> | VModuleItem[];

const IGNORED_IF_CONFIG = 'This parameter is ignored if a config file is specified by --config.';
const DURATION_EG = "(e.g. '5s', '1m', '2h22m')";

export const FLAGS: readonly FlagSpec[] = [
  { name: 'config', kind: 'string', defValue: '', group: 'command', usage: 'The path to the configuration file.' },
  { name: 'write-config-to', kind: 'string', defValue: '', group: 'command', usage: 'If set, write the default configuration values to this file and exit.' },
  { name: 'cleanup', kind: 'bool', defValue: 'false', group: 'command', usage: 'If true cleanup iptables and ipvs rules and exit.' },
  {
    name: 'feature-gates',
    kind: 'mapStringBool',
    defValue: '',
    group: 'config',
    usage: `A set of key=value pairs that describe feature gates for alpha/experimental features. Options are:\n${knownFeatures().join('\n')}\n${IGNORED_IF_CONFIG}`,
  },
  { name: 'kubeconfig', kind: 'string', defValue: '', group: 'config', usage: 'Path to kubeconfig file with authorization information (the master location can be overridden by the master flag).' },
  { name: 'master', kind: 'string', defValue: '', group: 'command', usage: 'The address of the Kubernetes API server (overrides any value in kubeconfig)' },
  { name: 'kube-api-content-type', kind: 'string', defValue: 'application/vnd.kubernetes.protobuf', group: 'config', usage: 'Content type of requests sent to apiserver.' },
  { name: 'kube-api-burst', kind: 'int32', defValue: '10', group: 'config', usage: 'Burst to use while talking with kubernetes apiserver' },
  { name: 'kube-api-qps', kind: 'float32', defValue: '5', group: 'config', usage: 'QPS to use while talking with kubernetes apiserver' },
  {
    name: 'hostname-override',
    kind: 'string',
    defValue: '',
    group: 'command',
    usage: "If non-empty, will be used as the name of the Node that kube-proxy is running on. If unset, the node name is assumed to be the same as the node's hostname.",
  },
  {
    name: 'bind-address',
    kind: 'ip',
    defValue: '0.0.0.0',
    group: 'config',
    usage: `Overrides kube-proxy's idea of what its node's primary IP is. Note that the name is a historical artifact, and kube-proxy does not actually bind any sockets to this IP. ${IGNORED_IF_CONFIG}`,
  },
  {
    name: 'healthz-bind-address',
    kind: 'ipport',
    defValue: '0.0.0.0:10256',
    group: 'config',
    usage: `The IP address and port for the health check server to serve on, defaulting to "0.0.0.0:10256". ${IGNORED_IF_CONFIG}`,
  },
  {
    name: 'metrics-bind-address',
    kind: 'ipport',
    defValue: '127.0.0.1:10249',
    group: 'config',
    usage: `The IP address and port for the metrics server to serve on, defaulting to "127.0.0.1:10249". (Set to "0.0.0.0:10249" / "[::]:10249" to bind on all interfaces.) Set empty to disable. ${IGNORED_IF_CONFIG}`,
  },
  { name: 'bind-address-hard-fail', kind: 'bool', defValue: 'false', group: 'config', usage: 'If true kube-proxy will treat failure to bind to a port as fatal and exit' },
  { name: 'profiling', kind: 'bool', defValue: 'false', group: 'config', usage: `If true enables profiling via web interface on /debug/pprof handler. ${IGNORED_IF_CONFIG}` },
  {
    name: 'show-hidden-metrics-for-version',
    kind: 'string',
    defValue: '',
    group: 'config',
    usage: `The previous version for which you want to show hidden metrics. Only the previous minor version is meaningful, other values will not be allowed. The format is <major>.<minor>, e.g.: '1.16'. The purpose of this format is make sure you have the opportunity to notice if the next release hides additional metrics, rather than being surprised when they are permanently removed in the release after that. ${IGNORED_IF_CONFIG}`,
  },
  {
    name: 'init-only',
    kind: 'bool',
    defValue: 'false',
    group: 'command',
    usage: 'If true, perform any initialization steps that must be done with full root privileges, and then exit. After doing this, you can run kube-proxy again with only the CAP_NET_ADMIN capability.',
  },
  {
    name: 'proxy-mode',
    kind: 'ProxyMode',
    defValue: '',
    group: 'config',
    usage: `Which proxy mode to use: on Linux this can be 'iptables' (default), 'ipvs', or 'nftables'. On Windows the only supported value is 'kernelspace'. ${IGNORED_IF_CONFIG}`,
  },
  {
    name: 'iptables-masquerade-bit',
    kind: 'int32',
    defValue: '14',
    group: 'config',
    usage: 'If using the iptables or ipvs proxy mode, the bit of the fwmark space to mark packets requiring SNAT with.  Must be within the range [0, 31].',
  },
  { name: 'masquerade-all', kind: 'bool', defValue: 'false', group: 'config', usage: 'SNAT all traffic sent via Service cluster IPs. This may be required with some CNI plugins. Only supported on Linux.' },
  {
    name: 'iptables-localhost-nodeports',
    kind: 'bool',
    defValue: 'true',
    group: 'config',
    usage: 'If false, kube-proxy will disable the legacy behavior of allowing NodePort services to be accessed via localhost. (Applies only to iptables mode and IPv4; localhost NodePorts are never allowed with other proxy modes or with IPv6.)',
  },
  {
    name: 'iptables-sync-period',
    kind: 'duration',
    defValue: '30s',
    group: 'config',
    usage: `An interval ${DURATION_EG} indicating how frequently various re-synchronizing and cleanup operations are performed. Must be greater than 0.`,
  },
  {
    name: 'iptables-min-sync-period',
    kind: 'duration',
    defValue: '1s',
    group: 'config',
    usage: `The minimum period between iptables rule resyncs ${DURATION_EG}. A value of 0 means every Service or EndpointSlice change will result in an immediate iptables resync.`,
  },
  {
    name: 'ipvs-sync-period',
    kind: 'duration',
    defValue: '30s',
    group: 'config',
    usage: `An interval ${DURATION_EG} indicating how frequently various re-synchronizing and cleanup operations are performed. Must be greater than 0.`,
  },
  {
    name: 'ipvs-min-sync-period',
    kind: 'duration',
    defValue: '1s',
    group: 'config',
    usage: `The minimum period between IPVS rule resyncs ${DURATION_EG}. A value of 0 means every Service or EndpointSlice change will result in an immediate IPVS resync.`,
  },
  { name: 'ipvs-scheduler', kind: 'string', defValue: '', group: 'config', usage: 'The ipvs scheduler type when proxy mode is ipvs' },
  { name: 'ipvs-exclude-cidrs', kind: 'cidrs', defValue: '[]', group: 'config', usage: 'A comma-separated list of CIDRs which the ipvs proxier should not touch when cleaning up IPVS rules.' },
  { name: 'ipvs-strict-arp', kind: 'bool', defValue: 'false', group: 'config', usage: 'Enable strict ARP by setting arp_ignore to 1 and arp_announce to 2' },
  { name: 'ipvs-tcp-timeout', kind: 'duration', defValue: '0s', group: 'config', usage: `The timeout for idle IPVS TCP connections, 0 to leave as-is. ${DURATION_EG}.` },
  { name: 'ipvs-tcpfin-timeout', kind: 'duration', defValue: '0s', group: 'config', usage: `The timeout for IPVS TCP connections after receiving a FIN packet, 0 to leave as-is. ${DURATION_EG}.` },
  { name: 'ipvs-udp-timeout', kind: 'duration', defValue: '0s', group: 'config', usage: `The timeout for IPVS UDP packets, 0 to leave as-is. ${DURATION_EG}.` },
  { name: 'detect-local-mode', kind: 'LocalMode', defValue: '', group: 'config', usage: `Mode to use to detect local traffic. ${IGNORED_IF_CONFIG}` },
  {
    name: 'pod-bridge-interface',
    kind: 'string',
    defValue: '',
    group: 'config',
    usage: 'A bridge interface name. When --detect-local-mode is set to BridgeInterface, kube-proxy will consider traffic to be local if it originates from this bridge.',
  },
  {
    name: 'pod-interface-name-prefix',
    kind: 'string',
    defValue: '',
    group: 'config',
    usage: 'An interface name prefix. When --detect-local-mode is set to InterfaceNamePrefix, kube-proxy will consider traffic to be local if it originates from any interface whose name begins with this prefix.',
  },
  {
    name: 'cluster-cidr',
    kind: 'clusterCIDR',
    defValue: '',
    group: 'config',
    usage: `The CIDR range of the pods in the cluster. (For dual-stack clusters, this can be a comma-separated dual-stack pair of CIDR ranges.). When --detect-local-mode is set to ClusterCIDR, kube-proxy will consider traffic to be local if its source IP is in this range. (Otherwise it is not used.) ${IGNORED_IF_CONFIG}`,
  },
  {
    name: 'nodeport-addresses',
    kind: 'nodePortAddresses',
    defValue: '[]',
    group: 'config',
    usage: `A list of CIDR ranges that contain valid node IPs, or alternatively, the single string 'primary'. If set to a list of CIDRs, connections to NodePort services will only be accepted on node IPs in one of the indicated ranges. If set to 'primary', NodePort services will only be accepted on the node's primary IP(s) according to the Node object. If unset, NodePort connections will be accepted on all local IPs. ${IGNORED_IF_CONFIG}`,
  },
  {
    name: 'oom-score-adj',
    kind: 'int32',
    defValue: '-999',
    group: 'config',
    usage: `The oom-score-adj value for kube-proxy process. Values must be within the range [-1000, 1000]. ${IGNORED_IF_CONFIG}`,
  },
  { name: 'conntrack-max-per-core', kind: 'int32', defValue: '32768', group: 'config', usage: 'Maximum number of NAT connections to track per CPU core (0 to leave the limit as-is and ignore conntrack-min).' },
  {
    name: 'conntrack-min',
    kind: 'int32',
    defValue: '131072',
    group: 'config',
    usage: 'Minimum number of conntrack entries to allocate, regardless of conntrack-max-per-core (set conntrack-max-per-core=0 to leave the limit as-is).',
  },
  { name: 'conntrack-tcp-timeout-established', kind: 'duration', defValue: '24h0m0s', group: 'config', usage: 'Idle timeout for established TCP connections (0 to leave as-is)' },
  { name: 'conntrack-tcp-timeout-close-wait', kind: 'duration', defValue: '1h0m0s', group: 'config', usage: 'NAT timeout for TCP connections in the CLOSE_WAIT state' },
  { name: 'conntrack-tcp-be-liberal', kind: 'bool', defValue: 'false', group: 'config', usage: 'Enable liberal mode for tracking TCP packets by setting nf_conntrack_tcp_be_liberal to 1' },
  { name: 'conntrack-udp-timeout', kind: 'duration', defValue: '0s', group: 'config', usage: 'Idle timeout for UNREPLIED UDP connections (0 to leave as-is)' },
  { name: 'conntrack-udp-timeout-stream', kind: 'duration', defValue: '0s', group: 'config', usage: 'Idle timeout for ASSURED UDP connections (0 to leave as-is)' },
  { name: 'config-sync-period', kind: 'duration', defValue: '15m0s', group: 'config', usage: 'How often configuration from the apiserver is refreshed.  Must be greater than 0.' },
  {
    name: 'healthz-port',
    kind: 'int32',
    defValue: '10256',
    group: 'deprecated-port',
    usage: 'The port to bind the health check server. Use 0 to disable.',
    deprecated: 'This flag is deprecated and will be removed in a future release. Please use --healthz-bind-address instead.',
  },
  {
    name: 'metrics-port',
    kind: 'int32',
    defValue: '10249',
    group: 'deprecated-port',
    usage: 'The port to bind the metrics server. Use 0 to disable.',
    deprecated: 'This flag is deprecated and will be removed in a future release. Please use --metrics-bind-address instead.',
  },
  // logsapi.AddFlags
  { name: 'logging-format', kind: 'string', defValue: 'text', group: 'logging', usage: 'Sets the log format. Permitted formats: "json" (gated by LoggingBetaOptions), "text".' },
  { name: 'log-flush-frequency', kind: 'duration', defValue: '5s', group: 'logging', usage: 'Maximum number of seconds between log flushes' },
  { name: 'v', shorthand: 'v', kind: 'Level', defValue: '0', group: 'logging', usage: 'number for the log level verbosity' },
  { name: 'vmodule', kind: 'vmodule', defValue: '', group: 'logging', usage: 'comma-separated list of pattern=N settings for file-filtered logging (only works for text log format)' },
  {
    name: 'log-json-info-buffer-size',
    kind: 'quantity',
    defValue: '0',
    group: 'logging',
    usage: '[Alpha] In JSON format with split output streams, the info messages can be buffered for a while to increase performance. The default value of zero bytes disables buffering. The size can be specified as number of bytes (512), multiples of 1000 (1K), multiples of 1024 (2Ki), or powers of those (3M, 4G, 5Mi, 6Gi). Enable the LoggingAlphaOptions feature gate to use this.',
  },
  {
    name: 'log-json-split-stream',
    kind: 'bool',
    defValue: 'false',
    group: 'logging',
    usage: '[Alpha] In JSON format, write error messages to stderr and info messages to stdout. The default is to write a single stream to stdout. Enable the LoggingAlphaOptions feature gate to use this.',
  },
  {
    name: 'log-text-info-buffer-size',
    kind: 'quantity',
    defValue: '0',
    group: 'logging',
    usage: '[Alpha] In text format with split output streams, the info messages can be buffered for a while to increase performance. The default value of zero bytes disables buffering. The size can be specified as number of bytes (512), multiples of 1000 (1K), multiples of 1024 (2Ki), or powers of those (3M, 4G, 5Mi, 6Gi). Enable the LoggingAlphaOptions feature gate to use this.',
  },
  {
    name: 'log-text-split-stream',
    kind: 'bool',
    defValue: 'false',
    group: 'logging',
    usage: '[Alpha] In text format, write error messages to stderr and info messages to stdout. The default is to write a single stream to stdout. Enable the LoggingAlphaOptions feature gate to use this.',
  },
  // Go flag set (cadvisor), accepted for compatibility.
  { name: 'boot-id-file', kind: 'string', defValue: '/proc/sys/kernel/random/boot_id', group: 'ignored', usage: 'Comma-separated list of files to check for boot-id. Use the first one that exists.' },
  { name: 'machine-id-file', kind: 'string', defValue: '/etc/machine-id,/var/lib/dbus/machine-id', group: 'ignored', usage: 'Comma-separated list of files to check for machine-id. Use the first one that exists.' },
  // kube-proxy-ts additions.
  {
    name: 'manifests',
    kind: 'string',
    defValue: '',
    group: 'command',
    usage: 'Run without an API server: read Service, EndpointSlice, Node and ServiceCIDR objects from the YAML/JSON files in this directory (multi-document allowed) and apply changes to them like watch events.',
  },
  { name: 'print-rules', kind: 'bool', defValue: 'false', group: 'command', usage: 'Print the ruleset the chosen proxy mode would program for the current state, then exit.' },
  {
    name: 'dry-run',
    kind: 'bool',
    defValue: 'false',
    group: 'command',
    usage: "Compare the ruleset the next sync would program with the kernel's current one, print the differences and exit (0: none, 2: some, 1: error). Changes nothing.",
  },
  {
    name: 'one-shot-timeout',
    kind: 'duration',
    defValue: '30s',
    group: 'command',
    usage: 'How long --print-rules and --dry-run wait for the initial Services and EndpointSlices (e.g. an unreachable API server) before giving up.',
  },
  {
    name: 'service-latency-top-n',
    kind: 'int32',
    defValue: '0',
    group: 'command',
    usage: 'If > 0 (at most 50), export kubeproxy_ts_service_programming_duration_seconds, the event-to-kernel latency per service, for the N services with the most changes; the others are aggregated under service="(other)".',
  },
  { name: 'version', kind: 'version', defValue: 'false', group: 'command', usage: '--version, --version=raw prints version information and quits' },
  { name: 'help', shorthand: 'h', kind: 'bool', defValue: 'false', group: 'command', usage: 'help for kube-proxy' },
];
