// Benchmark baseline only (never used by the product): upstream kube-proxy's nftables layout
// (pkg/proxy/nftables/proxier.go, see shared/upstream-reference.md §6) generated from a
// ProxyState, so our nftables mode can be compared with upstream's in the same run.
//
// Per service port: a `service-<H8>-ns/svc/proto/port` chain whose last rule is an anonymous
// `numgen random mod N vmap { 0 : goto endpoint-A , … }`, one `endpoint-<H8>-…` chain per
// endpoint, and elements in the `service-ips` verdict map / `cluster-ips` set. The anonymous map
// per service is what makes upstream's layout quadratic in the kernel at load time.
//
// Covered: ClusterIP service ports (all the benchmark creates), no-endpoint rejects. Not covered:
// NodePort/external/local/firewall chains and session affinity (the benchmark has none).

import { endpointChainName, hashAndTruncate } from '../../src/dataplane/nftables/names.js';
import type { SyncOptions, SyncResult } from '../../src/dataplane/types.js';
import type { ProxyState, ServicePort } from '../../src/model/types.js';
import { run } from '../../src/util/exec.js';

export const UPSTREAM_TABLE = 'kube-proxy';
const MASQ_MARK = '0x4000';

export interface UpstreamNftOptions {
  /** Pod CIDR of the local traffic detector ("" = no detector: no masquerade rule). */
  readonly podCIDR: string;
  readonly tableName?: string;
  /** Kill `nft` after this long (ms). */
  readonly timeoutMs?: number;
}

export function upstreamServiceChain(sp: ServicePort): string {
  return 'service-' + hashAndTruncate(`${sp.namespace}/${sp.serviceName}/${sp.protocol.toLowerCase()}/${sp.portName}`);
}

const proto = (sp: ServicePort): string => sp.protocol.toLowerCase();

/** Table, base chains, fixed chains, maps and sets (upstream setupNFTables). */
function renderSetup(t: string): string[] {
  const T = `ip ${t}`;
  const out = [`add table ${T} { comment "rules for kube-proxy" ; }`];
  const base: [string, string, string, string][] = [
    ['filter-prerouting-pre-dnat', 'filter', 'prerouting', '-110'],
    ['filter-output-pre-dnat', 'filter', 'output', '-110'],
    ['filter-input', 'filter', 'input', '0'],
    ['filter-forward', 'filter', 'forward', '0'],
    ['filter-output', 'filter', 'output', '0'],
    ['nat-prerouting', 'nat', 'prerouting', '-100'],
    ['nat-output', 'nat', 'output', '-100'],
    ['nat-postrouting', 'nat', 'postrouting', '100'],
  ];
  for (const [name, type, hook, prio] of base) out.push(`add chain ${T} ${name} { type ${type} hook ${hook} priority ${prio} ; }`);
  for (const c of ['services', 'service-endpoints-check', 'nodeport-endpoints-check', 'reject-chain', 'cluster-ips-check', 'firewall-check', 'mark-for-masquerade', 'masquerading']) {
    out.push(`add chain ${T} ${c}`, `flush chain ${T} ${c}`);
  }
  out.push(
    `add set ${T} cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }`,
    `add map ${T} service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }`,
    `add map ${T} service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }`,
    `add map ${T} no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }`,
    `add map ${T} no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }`,
    `add map ${T} firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }`,
    `add rule ${T} filter-prerouting-pre-dnat ct state new jump firewall-check`,
    `add rule ${T} filter-output-pre-dnat ct state new jump firewall-check`,
    `add rule ${T} filter-input ct state new jump nodeport-endpoints-check`,
    `add rule ${T} filter-input ct state new jump service-endpoints-check`,
    `add rule ${T} filter-forward ct state new jump service-endpoints-check`,
    `add rule ${T} filter-forward ct state new jump cluster-ips-check`,
    `add rule ${T} filter-output ct state new jump service-endpoints-check`,
    `add rule ${T} filter-output ct state new jump cluster-ips-check`,
    `add rule ${T} nat-prerouting jump services`,
    `add rule ${T} nat-output jump services`,
    `add rule ${T} nat-postrouting jump masquerading`,
    `add rule ${T} services ip daddr . meta l4proto . th dport vmap @service-ips`,
    `add rule ${T} services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports`,
    `add rule ${T} service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services`,
    `add rule ${T} nodeport-endpoints-check ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports`,
    `add rule ${T} reject-chain reject`,
    `add rule ${T} cluster-ips-check ip daddr @cluster-ips reject`,
    `add rule ${T} firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips`,
    `add rule ${T} mark-for-masquerade mark set mark or ${MASQ_MARK}`,
    `add rule ${T} masquerading mark and ${MASQ_MARK} == 0 return`,
    `add rule ${T} masquerading mark set mark xor ${MASQ_MARK}`,
    `add rule ${T} masquerading masquerade fully-random`,
  );
  return out;
}

/** The service chain and its endpoint chains, each `add`+`flush`+rewritten (upstream's partial sync shape). */
function renderServiceChains(t: string, sp: ServicePort, podCIDR: string, out: string[]): void {
  const T = `ip ${t}`;
  const eps = sp.clusterEndpoints;
  if (eps.length === 0) return;
  const epChains = eps.map((e) => endpointChainName(sp, e));
  eps.forEach((e, i) => {
    const c = epChains[i]!;
    out.push(`add chain ${T} ${c}`, `flush chain ${T} ${c}`);
    out.push(`add rule ${T} ${c} ip saddr ${e.ip} jump mark-for-masquerade`);
    out.push(`add rule ${T} ${c} meta l4proto ${proto(sp)} dnat to ${e.ip}:${e.port}`);
  });
  const sc = upstreamServiceChain(sp);
  out.push(`add chain ${T} ${sc}`, `flush chain ${T} ${sc}`);
  if (podCIDR) out.push(`add rule ${T} ${sc} ip daddr ${sp.clusterIP} ${proto(sp)} dport ${sp.port} ip saddr != ${podCIDR} jump mark-for-masquerade`);
  const vmap = epChains.map((c, i) => `${i} : goto ${c}`).join(' , ');
  out.push(`add rule ${T} ${sc} numgen random mod ${eps.length} vmap { ${vmap} }`);
}

function renderElements(t: string, sp: ServicePort, verb: 'add' | 'delete', out: string[]): void {
  const T = `ip ${t}`;
  const k = `${sp.clusterIP} . ${proto(sp)} . ${sp.port}`;
  out.push(`${verb} element ${T} cluster-ips { ${sp.clusterIP} }`);
  if (sp.clusterEndpoints.length > 0) out.push(`${verb} element ${T} service-ips { ${k}${verb === 'add' ? ` : goto ${upstreamServiceChain(sp)}` : ''} }`);
  else out.push(`${verb} element ${T} no-endpoint-services { ${k}${verb === 'add' ? ' : goto reject-chain' : ''} }`);
}

/** Every chain name a service port owns in this layout. */
function chainsOf(sp: ServicePort): string[] {
  if (sp.clusterEndpoints.length === 0) return [];
  return [upstreamServiceChain(sp), ...sp.clusterEndpoints.map((e) => endpointChainName(sp, e))];
}

/** The whole ruleset for `state` as one `nft -f` transaction (upstream's first full sync). */
export function renderUpstreamNftFull(state: ProxyState, opts: UpstreamNftOptions): string {
  const t = opts.tableName ?? UPSTREAM_TABLE;
  const out = renderSetup(t);
  for (const sp of state.services.values()) renderServiceChains(t, sp, opts.podCIDR, out);
  for (const sp of state.services.values()) renderElements(t, sp, 'add', out);
  return out.join('\n') + '\n';
}

export interface UpstreamPartial {
  readonly script: string;
  /** Chains no longer referenced: flushed now, to be deleted in a later transaction. */
  readonly stale: readonly string[];
}

/** Upstream's partial sync: rewrite only changed service ports' chains, fix map elements, flush stale chains. */
export function renderUpstreamNftPartial(prev: ProxyState, next: ProxyState, opts: UpstreamNftOptions): UpstreamPartial {
  const t = opts.tableName ?? UPSTREAM_TABLE;
  const out: string[] = [];
  const stale: string[] = [];
  const consider = (old: ServicePort | undefined, cur: ServicePort | undefined): void => {
    if (old === cur) return;
    const keep = new Set(cur ? chainsOf(cur) : []);
    for (const c of old ? chainsOf(old) : []) if (!keep.has(c)) stale.push(c);
    if (old) renderElements(t, old, 'delete', out);
    if (cur) {
      renderServiceChains(t, cur, opts.podCIDR, out);
      renderElements(t, cur, 'add', out);
    }
  };
  for (const [k, cur] of next.services) consider(prev.services.get(k), cur);
  for (const [k, old] of prev.services) if (!next.services.has(k)) consider(old, undefined);
  // Deleting and re-adding an unchanged element is what upstream's element diff avoids; our
  // delete+add keeps the baseline simple and costs two element operations per changed service.
  for (const c of stale) out.push(`flush chain ip ${t} ${c}`);
  return { script: out.length ? out.join('\n') + '\n' : '', stale };
}

/** A minimal Dataplane-like applier for the baseline (sync only), run in the current netns. */
export function createUpstreamNftBaseline(opts: UpstreamNftOptions): { sync(state: ProxyState, o: SyncOptions): Promise<SyncResult> } {
  const t = opts.tableName ?? UPSTREAM_TABLE;
  let prev: ProxyState | null = null;
  /** chain -> time it became stale; deleted > 1 s later in a separate transaction, as upstream. */
  const stale = new Map<string, number>();
  const nft = (script: string): Promise<{ millis: number }> => run('nft', ['-f', '-'], { input: script, timeoutMs: opts.timeoutMs ?? 600_000 });
  return {
    async sync(state, o) {
      let toolMillis = 0;
      if (o.full || prev === null) {
        const script = renderUpstreamNftFull(state, opts);
        toolMillis += (await nft(script)).millis;
        prev = state;
        return { full: true, operations: script.split('\n').length - 1, toolMillis };
      }
      const now = Date.now();
      const old = [...stale].filter(([, at]) => now - at > 1000).map(([c]) => c);
      if (old.length) {
        toolMillis += (await nft(old.map((c) => `delete chain ip ${t} ${c}`).join('\n') + '\n')).millis;
        for (const c of old) stale.delete(c);
      }
      const p = renderUpstreamNftPartial(prev, state, opts);
      // A chain re-added before its deletion is live again.
      for (const sp of state.services.values()) if (stale.size && sp !== prev.services.get(sp.key)) for (const c of chainsOf(sp)) stale.delete(c);
      if (p.script) toolMillis += (await nft(p.script)).millis;
      for (const c of p.stale) stale.set(c, now);
      prev = state;
      return { full: false, operations: p.script.split('\n').length - 1, toolMillis };
    },
  };
}
