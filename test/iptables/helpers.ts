// Test helpers: compact ServicePort/ProxyState specs mapped onto the shared builder
// (test/support/state.ts), upstream's sortIPTablesRules normalisation, fixtures lookup, and netns plumbing.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { run } from '../../src/util/exec.js';
import type { IPFamily, NodePortAddresses, Protocol, ProxyState, ServicePort } from '../../src/model/types.js';
import type { DataplaneConfig, LocalDetector } from '../../src/dataplane/config.js';
import { byHostPort, dataplaneConfig, endpoint, proxyState, servicePort, withServices as sharedWithServices } from '../support/state.js';

export interface EpSpec {
  readonly ip: string;
  readonly port?: number;
  readonly local?: boolean;
  readonly ready?: boolean;
  readonly serving?: boolean;
  readonly terminating?: boolean;
}

export interface SvcSpec {
  readonly ns: string;
  readonly name: string;
  readonly portName?: string;
  readonly protocol?: Protocol;
  readonly clusterIP: string;
  readonly port?: number;
  readonly nodePort?: number;
  readonly externalIPs?: readonly string[];
  readonly lbIPs?: readonly string[];
  readonly sourceRanges?: readonly string[];
  readonly affinity?: number;
  readonly eTPLocal?: boolean;
  readonly iTPLocal?: boolean;
  readonly healthCheckNodePort?: number;
  readonly endpoints?: readonly EpSpec[];
}

/** A ServicePort from a compact spec: the shared builder (test/support/state.ts) with this folder's defaults. */
export function svc(s: SvcSpec): ServicePort {
  const port = s.port ?? 80;
  const endpoints = (s.endpoints ?? [])
    .map((e) =>
      endpoint(e.ip, {
        port: e.port ?? port,
        ready: e.ready ?? true,
        serving: e.serving ?? e.ready ?? true,
        terminating: e.terminating ?? false,
        isLocal: e.local ?? false,
        nodeName: e.local ? 'test-node' : '',
      }),
    )
    .sort(byHostPort);
  return servicePort(s.ns, s.name, {
    portName: s.portName ?? 'p80',
    protocol: s.protocol ?? 'TCP',
    clusterIP: s.clusterIP,
    port,
    nodePort: s.nodePort ?? 0,
    externalIPs: s.externalIPs ?? [],
    loadBalancerIPs: s.lbIPs ?? [],
    loadBalancerSourceRanges: s.sourceRanges ?? [],
    affinityTimeoutSeconds: s.affinity ?? 0,
    externalPolicyLocal: s.eTPLocal ?? false,
    internalPolicyLocal: s.iTPLocal ?? false,
    healthCheckNodePort: s.healthCheckNodePort ?? 0,
    endpoints,
  });
}

export interface StateOpts {
  readonly family?: IPFamily;
  readonly nodeIPs?: readonly string[];
  readonly nodePortAddresses?: NodePortAddresses;
  readonly generation?: number;
}

export function state(services: readonly ServicePort[], o: StateOpts = {}): ProxyState {
  const family = o.family ?? 'IPv4';
  return proxyState(services, { ...o, nodeName: 'test-node', nodeIPs: o.nodeIPs ?? (family === 'IPv4' ? ['198.18.0.2'] : ['2001:db8::1']) });
}

/** Same state with some services replaced/added/removed; untouched ServicePorts keep identity. */
export const withServices = sharedWithServices;

export function config(o: { family?: IPFamily; detector?: LocalDetector; localhostNodePorts?: boolean; masqueradeAll?: boolean } = {}): DataplaneConfig {
  const family = o.family ?? 'IPv4';
  return dataplaneConfig({
    family,
    masqueradeAll: o.masqueradeAll ?? false,
    localDetector: o.detector ?? { mode: 'cidr', cidr: family === 'IPv4' ? '198.18.128.0/17' : '2001:db8:1::/64' },
    localhostNodePorts: o.localhostNodePorts ?? true,
  });
}

/** The directory holding package.json (works from test/ under tsx and from dist/test after tsc). */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 10; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
}

export function fixture(name: string): string {
  return readFileSync(join(projectRoot(), 'test', 'iptables', 'fixtures', name), 'utf8');
}

// ---- upstream sortIPTablesRules ----

interface Chain {
  name: string;
  decl: string;
  rules: string[];
}

function commentService(rule: string): string | null {
  const m = / --comment (?:"([^"]*)"|(\S+))/.exec(rule);
  if (!m) return null;
  const v = m[1] ?? m[2] ?? '';
  const i = v.search(/[ :]/);
  return i === -1 ? v : v.slice(0, i);
}

function chainOrder(a: string, b: string): number {
  const rank = (n: string): number => (n === 'KUBE-NODEPORTS' ? 0 : n === 'KUBE-SERVICES' ? 1 : n.startsWith('KUBE-') ? 2 : 3);
  const d = rank(a) - rank(b);
  return d !== 0 ? d : a < b ? -1 : a > b ? 1 : 0;
}

function stableSortByService(rules: string[], lastMarker?: string): string[] {
  const isLast = (r: string): boolean => lastMarker !== undefined && r.includes(lastMarker);
  return rules
    .map((r, i) => ({ r, i }))
    .sort((x, y) => {
      if (isLast(x.r) !== isLast(y.r)) return isLast(x.r) ? 1 : -1;
      const a = commentService(x.r);
      const b = commentService(y.r);
      // Upstream's comparator treats rules without comments as "not less": keep input order.
      if (a !== null && b !== null && a !== b) return a < b ? -1 : 1;
      return x.i - y.i;
    })
    .map((x) => x.r);
}

/**
 * Normalise iptables-restore input or iptables-save output like upstream's sortIPTablesRules:
 * tables by name; chains KUBE-NODEPORTS, KUBE-SERVICES, other KUBE-*, then the rest; rules of
 * KUBE-NODEPORTS / KUBE-SERVICES stably sorted by service name (the nat KUBE-SERVICES
 * "must be the last rule" rule stays last). Counters and `#` lines are dropped; other rules keep
 * their order. `-X` and `-I` lines are kept at the end of their table, in order.
 */
export function sortRules(text: string, opts: { onlyKube?: boolean } = {}): string {
  const tables = new Map<string, { chains: Map<string, Chain>; extra: string[] }>();
  let cur: { chains: Map<string, Chain>; extra: string[] } | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      cur = { chains: new Map(), extra: [] };
      tables.set(line.slice(1), cur);
      continue;
    }
    if (!cur) throw new Error('rule outside a table: ' + line);
    if (line === 'COMMIT') continue;
    if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(' ');
      const n = name ?? '';
      if (!cur.chains.has(n)) cur.chains.set(n, { name: n, decl: `:${n} ${policy ?? '-'}`, rules: [] });
      continue;
    }
    const m = /^-A (\S+)/.exec(line);
    if (m) {
      const n = m[1] ?? '';
      let c = cur.chains.get(n);
      if (!c) {
        c = { name: n, decl: `:${n} -`, rules: [] };
        cur.chains.set(n, c);
      }
      c.rules.push(line);
      continue;
    }
    cur.extra.push(line);
  }
  const out: string[] = [];
  for (const tname of [...tables.keys()].sort()) {
    const t = tables.get(tname)!;
    let chains = [...t.chains.values()].sort((a, b) => chainOrder(a.name, b.name));
    if (opts.onlyKube) {
      chains = chains.filter((c) => c.name.startsWith('KUBE-') || c.rules.some((r) => / -j KUBE-/.test(r)));
      for (const c of chains) if (!c.name.startsWith('KUBE-')) c.rules = c.rules.filter((r) => / -j KUBE-/.test(r));
    }
    for (const c of chains) {
      if (c.name === 'KUBE-NODEPORTS') c.rules = stableSortByService(c.rules);
      if (c.name === 'KUBE-SERVICES') c.rules = stableSortByService(c.rules, 'must be the last rule');
    }
    out.push('*' + tname);
    for (const c of chains) out.push(c.decl);
    for (const c of chains) out.push(...c.rules);
    out.push(...t.extra);
    out.push('COMMIT');
  }
  return out.join('\n') + '\n';
}

// ---- network namespaces ----

export async function canRunKernelTests(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'needs root';
  try {
    await run('ip', ['netns', 'list']);
  } catch {
    return 'ip netns unavailable';
  }
  return false;
}

/** Create a fresh namespace `kpx-ipt-<random>` with loopback up. */
export async function makeNetns(): Promise<string> {
  const name = 'kpx-ipt-' + randomBytes(4).toString('hex');
  await run('ip', ['netns', 'add', name]);
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

export async function deleteNetns(name: string): Promise<void> {
  if (!name.startsWith('kpx-ipt-')) throw new Error('refusing to delete ' + name);
  await run('ip', ['netns', 'delete', name], { allowFailure: true });
}

/** Run an iptables tool inside `ns` (never the root namespace). */
export async function inNs(ns: string, tool: string, args: readonly string[], input?: string): Promise<string> {
  if (!ns.startsWith('kpx-ipt-')) throw new Error('refusing to run outside a test namespace');
  const r = await run('ip', ['netns', 'exec', ns, tool, ...args], input === undefined ? {} : { input });
  return r.stdout;
}
