// Fixed chain names and the jump rules that hook them into the built-in chains
// (upstream iptablesJumpChains / iptablesKubeletJumpChains).

export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_EXTERNAL_SERVICES = 'KUBE-EXTERNAL-SERVICES';
export const KUBE_NODEPORTS = 'KUBE-NODEPORTS';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
export const KUBE_FORWARD = 'KUBE-FORWARD';
export const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';
export const KUBE_PROXY_CANARY = 'KUBE-PROXY-CANARY';
/** A duplicate of kubelet's anti-martian chain; never deleted (kubelet owns it too). */
export const KUBE_FIREWALL = 'KUBE-FIREWALL';

export type Table = 'filter' | 'nat' | 'mangle';

/** Top-level chains written (and so flushed) on every sync, in upstream's order. */
export const FILTER_TOP_CHAINS = [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL];
export const NAT_TOP_CHAINS = [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ];

export interface JumpRule {
  readonly table: Table;
  /** Built-in chain holding the jump. */
  readonly src: string;
  /** Our chain. */
  readonly dst: string;
  readonly comment: string;
  readonly extra: readonly string[];
}

const NEW = ['-m', 'conntrack', '--ctstate', 'NEW'];

export const JUMP_RULES: readonly JumpRule[] = [
  { table: 'filter', dst: KUBE_EXTERNAL_SERVICES, src: 'INPUT', comment: 'kubernetes externally-visible service portals', extra: NEW },
  { table: 'filter', dst: KUBE_EXTERNAL_SERVICES, src: 'FORWARD', comment: 'kubernetes externally-visible service portals', extra: NEW },
  { table: 'filter', dst: KUBE_NODEPORTS, src: 'INPUT', comment: 'kubernetes health check service ports', extra: [] },
  { table: 'filter', dst: KUBE_SERVICES, src: 'FORWARD', comment: 'kubernetes service portals', extra: NEW },
  { table: 'filter', dst: KUBE_SERVICES, src: 'OUTPUT', comment: 'kubernetes service portals', extra: NEW },
  { table: 'filter', dst: KUBE_FORWARD, src: 'FORWARD', comment: 'kubernetes forwarding rules', extra: [] },
  { table: 'filter', dst: KUBE_PROXY_FIREWALL, src: 'INPUT', comment: 'kubernetes load balancer firewall', extra: NEW },
  { table: 'filter', dst: KUBE_PROXY_FIREWALL, src: 'OUTPUT', comment: 'kubernetes load balancer firewall', extra: NEW },
  { table: 'filter', dst: KUBE_PROXY_FIREWALL, src: 'FORWARD', comment: 'kubernetes load balancer firewall', extra: NEW },
  { table: 'nat', dst: KUBE_SERVICES, src: 'OUTPUT', comment: 'kubernetes service portals', extra: [] },
  { table: 'nat', dst: KUBE_SERVICES, src: 'PREROUTING', comment: 'kubernetes service portals', extra: [] },
  { table: 'nat', dst: KUBE_POSTROUTING, src: 'POSTROUTING', comment: 'kubernetes postrouting rules', extra: [] },
];

/**
 * Kubelet's KUBE-FIREWALL jumps. Upstream ensures them always (creating an empty chain with -N);
 * we ensure them only when we write the chain ourselves (IPv4 localhost NodePorts), because a
 * restore can only create a chain by declaring it, which would flush kubelet's copy.
 */
export const KUBELET_JUMP_RULES: readonly JumpRule[] = [
  { table: 'filter', dst: KUBE_FIREWALL, src: 'INPUT', comment: '', extra: [] },
  { table: 'filter', dst: KUBE_FIREWALL, src: 'OUTPUT', comment: '', extra: [] },
];

/** The rule spec (after `-A/-C/-D/-I <src>`) as an argument array, for iptables -C / -D. */
export function jumpArgs(j: JumpRule): string[] {
  const args = [...j.extra];
  if (j.comment) args.push('-m', 'comment', '--comment', j.comment);
  args.push('-j', j.dst);
  return args;
}

/** The same rule spec as one iptables-restore line fragment (comment quoted). */
export function jumpRestoreSpec(j: JumpRule): string {
  const parts = [...j.extra];
  if (j.comment) parts.push('-m', 'comment', '--comment', `"${j.comment}"`);
  parts.push('-j', j.dst);
  return parts.join(' ');
}
