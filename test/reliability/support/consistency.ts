// "No half-applied ruleset at any moment": checks of kernel samples taken while the proxy works.
//
// A sample is one listing of the proxy's table (`nft -j list table ip kube-proxy`; one
// `iptables-save` in iptables mode). Two kinds of check:
//   - structural (one sample alone): every dispatch element points to a chain that exists, every
//     service's endpoint elements are complete (0..n-1 for a `dnat-tcp-<n>` target), no endpoint
//     element without its service, sets derived from the services (cluster-ips, hairpin) agree with
//     them, no service both with and without endpoints;
//   - against the write history (across samples): each service as programmed is a state the API
//     server actually held (its port one of the ports written, its ready endpoints one of the
//     endpoint sets written), and it never goes back to an older state than an earlier sample showed.
//     Services and EndpointSlices are watched separately, so the two are followed independently.
// A missing table (just after `nft flush ruleset`) is consistent: it is what the flush left, not
// something the proxy half-wrote; such samples are counted apart. So is a table that no base chain
// hooks yet: a first start (or the repair of a flush) creates a large table in stages, its hooks
// last (src/kernel/nftables/staged.ts), and until then no packet passes through it: for traffic it
// is the missing table, and it is counted with those. (A table with no chain at all is still a
// problem: nothing of ours ever leaves one.)

import type { DriverOp } from './apiserver.js';

/** One service as the kernel shows it. */
export interface KernelService {
  readonly port: number;
  /** Sorted "ip:port" of the endpoints programmed (empty: in the no-endpoint map). */
  readonly endpoints: readonly string[];
}

export interface SampleView {
  /** False when the table does not exist (flushed). */
  readonly present: boolean;
  /** Structural problems (empty: consistent). */
  readonly problems: string[];
  /** ClusterIP -> service (IPv4, TCP only: what the churn writes). */
  readonly services: Map<string, KernelService>;
}

type Json = Record<string, unknown>;

const FIXED_CHAINS = ['services', 'nat-prerouting', 'nat-output', 'nat-postrouting', 'masquerading', 'mark-for-masquerade', 'service-endpoints-check', 'cluster-ips-check', 'canary'];
const FIXED_SETS = ['cluster-ips', 'service-ips', 'no-endpoint-services', 'hairpin', 'sync-marker'];

function concat(v: unknown): unknown[] {
  const c = (v as { concat?: unknown[] } | null)?.concat;
  return Array.isArray(c) ? c : [];
}

/** The key of a map element, without its comment wrapper. */
function elemKey(k: unknown): unknown {
  const e = (k as { elem?: { val?: unknown } } | null)?.elem;
  return e && 'val' in e ? e.val : k;
}

/** Check one `nft -j list table ip kube-proxy` output. */
export function checkNftSample(json: string): SampleView {
  const problems: string[] = [];
  const services = new Map<string, KernelService>();
  const items = (JSON.parse(json) as { nftables: Json[] }).nftables;
  const chains = new Set<string>();
  const sets = new Map<string, Json>();
  const rules = new Map<string, Json[]>();
  let hooked = false;
  for (const it of items) {
    const [kind, body] = Object.entries(it)[0] as [string, Json];
    if (kind === 'chain') {
      chains.add(String(body.name));
      if (body.hook !== undefined) hooked = true;
    }
    else if (kind === 'set' || kind === 'map') sets.set(String(body.name), body);
    else if (kind === 'rule') {
      const c = String(body.chain);
      rules.set(c, [...(rules.get(c) ?? []), body]);
    }
  }
  // Chains but no hook: a staged creation under way (an empty table is not that; it is checked below).
  if (!hooked && chains.size > 0) return { present: false, problems, services };
  for (const c of FIXED_CHAINS) if (!chains.has(c)) problems.push(`chain ${c} missing`);
  for (const c of FIXED_CHAINS) if (chains.has(c) && c !== 'canary' && !(rules.get(c)?.length)) problems.push(`chain ${c} has no rule`);
  for (const s of FIXED_SETS) if (!sets.has(s)) problems.push(`set/map ${s} missing`);
  if (problems.length) return { present: true, problems, services };

  const elems = (name: string): unknown[] => (sets.get(name)?.elem as unknown[] | undefined) ?? [];
  // dnat-tcp-<n>: exactly one rule, numgen mod n over @cluster-endpoints-tcp.
  const dnatMod = new Map<string, number>();
  for (const c of chains) {
    const m = /^dnat-tcp-(\d+)$/.exec(c);
    if (!m) continue;
    const rs = rules.get(c) ?? [];
    const text = JSON.stringify(rs);
    const mod = /"numgen":\{"mode":"random","mod":(\d+)/.exec(text);
    if (rs.length !== 1 || !mod || Number(mod[1]) !== Number(m[1]) || !text.includes('"@cluster-endpoints-tcp"')) problems.push(`chain ${c}: ${rs.length} rules, not one DNAT with mod ${m[1]}`);
    dnatMod.set(c, Number(m[1]));
  }
  // Endpoint map elements: "vip . port" -> index -> endpoint.
  const epElems = new Map<string, Map<number, string>>();
  for (const e of elems('cluster-endpoints-tcp')) {
    const [k, v] = e as [unknown, unknown];
    const [ip, port, i] = concat(k) as [string, number, number];
    const [eip, eport] = concat(v) as [string, number];
    const key = `${ip} . ${port}`;
    let m = epElems.get(key);
    if (!m) epElems.set(key, (m = new Map()));
    m.set(i, `${eip}:${eport}`);
  }
  const owned = new Set<string>();
  const vips = new Set<string>();
  for (const e of elems('service-ips')) {
    const [k, verdict] = e as [unknown, Json];
    const [ip, proto, port] = concat(elemKey(k)) as [string, string, number];
    const target = String((verdict.goto as Json | undefined)?.target ?? (verdict.jump as Json | undefined)?.target ?? '');
    if (!chains.has(target)) {
      problems.push(`${ip} . ${proto} . ${port} -> ${target}: no such chain`);
      continue;
    }
    vips.add(ip);
    if (proto !== 'tcp') continue;
    const n = dnatMod.get(target);
    if (n === undefined) {
      problems.push(`${ip} . tcp . ${port} -> ${target}: not a dnat-tcp chain (the churn has no affinity/eTP=Local)`);
      continue;
    }
    const key = `${ip} . ${port}`;
    const m = epElems.get(key) ?? new Map<number, string>();
    const eps: string[] = [];
    for (let i = 0; i < n; i++) {
      const ep = m.get(i);
      if (ep === undefined) problems.push(`${key}: endpoint ${i} of ${n} missing`);
      else eps.push(ep);
    }
    if (m.size !== n) problems.push(`${key}: ${m.size} endpoint elements for ${target}`);
    owned.add(key);
    if (services.has(ip)) problems.push(`${ip}: two ports programmed (the churn writes one)`);
    services.set(ip, { port, endpoints: eps.sort() });
  }
  for (const key of epElems.keys()) if (!owned.has(key)) problems.push(`${key}: endpoint elements without a service-ips element`);
  for (const e of elems('no-endpoint-services')) {
    const [k] = e as [unknown, Json];
    const [ip, proto, port] = concat(elemKey(k)) as [string, string, number];
    vips.add(ip);
    if (services.has(ip)) problems.push(`${ip} . ${proto} . ${port}: both with and without endpoints`);
    else services.set(ip, { port, endpoints: [] });
  }
  // cluster-ips = every ClusterIP programmed; hairpin = every endpoint in use.
  const clusterIPs = new Set(elems('cluster-ips').map(String));
  for (const ip of vips) if (!clusterIPs.has(ip)) problems.push(`cluster-ips lacks ${ip}`);
  for (const ip of clusterIPs) if (!vips.has(ip)) problems.push(`cluster-ips has ${ip} without a service`);
  const hairpin = new Set(elems('hairpin').map((e) => String(concat(e)[0])));
  const inUse = new Set([...epElems.values()].flatMap((m) => [...m.values()].map((ep) => ep.split(':')[0]!)));
  for (const ip of inUse) if (!hairpin.has(ip)) problems.push(`hairpin lacks ${ip}`);
  for (const ip of hairpin) if (!inUse.has(ip)) problems.push(`hairpin has ${ip}, no endpoint uses it`);
  return { present: true, problems, services };
}

const ABSENT = 'absent';

/**
 * All problems of one sample: its structural ones, else its history problems. A structurally broken
 * sample is one inconsistent sample and does not also move the history's lower bounds: an empty
 * table would set every service to "absent" and flag every later, correct sample as going back.
 */
export function sampleProblems(view: SampleView, history: WriteHistory): string[] {
  return view.problems.length ? [...view.problems] : history.check(view);
}

/**
 * Every state the API server held, per ClusterIP, in write order: Service ports (ABSENT before the
 * create and after the delete) and ready endpoint sets of its slice ("" before the slice exists and
 * after it is deleted). Fed the same ops as the server, in the same order.
 */
export class WriteHistory {
  private readonly svc = new Map<string, string[]>();
  private readonly eps = new Map<string, string[]>();
  /** ClusterIP by Service name, and by slice name (the churn's "<svc>-a"). */
  private readonly ipOf = new Map<string, string>();
  /** Lowest history index each later sample may show (monotonicity). */
  private readonly svcLow = new Map<string, number>();
  private readonly epsLow = new Map<string, number>();

  record(ops: readonly DriverOp[]): void {
    for (const op of ops) {
      if (op.t === 'delete') {
        const ip = this.ipOf.get(`${op.kind}/${op.name}`);
        if (!ip) continue;
        if (op.kind === 'Service') this.svc.get(ip)!.push(ABSENT);
        else this.eps.get(ip)!.push('');
        continue;
      }
      const o = op.obj as Json;
      const meta = o.metadata as Json;
      if (o.kind === 'Service') {
        const spec = o.spec as { clusterIP: string; ports: { port: number }[] };
        this.ipOf.set(`Service/${String(meta.name)}`, spec.clusterIP);
        if (!this.svc.has(spec.clusterIP)) this.svc.set(spec.clusterIP, [ABSENT]);
        if (!this.eps.has(spec.clusterIP)) this.eps.set(spec.clusterIP, ['']);
        this.svc.get(spec.clusterIP)!.push(String(spec.ports[0]!.port));
      } else if (o.kind === 'EndpointSlice') {
        const svcName = (meta.labels as Record<string, string>)['kubernetes.io/service-name']!;
        const ip = this.ipOf.get(`Service/${svcName}`);
        if (!ip) continue;
        this.ipOf.set(`EndpointSlice/${String(meta.name)}`, ip);
        const port = (o.ports as { port: number }[])[0]!.port;
        const ready = (o.endpoints as { addresses: string[]; conditions: { ready: boolean } }[]).filter((e) => e.conditions.ready).map((e) => `${e.addresses[0]}:${port}`);
        this.eps.get(ip)!.push(ready.sort().join(','));
      }
    }
  }

  /** Problems of one (structurally checked) sample against the history; advances the lower bounds. */
  check(view: SampleView): string[] {
    if (!view.present) return [];
    const problems: string[] = [];
    const advance = (hist: string[], low: Map<string, number>, ip: string, value: string, what: string): void => {
      const from = low.get(ip) ?? 0;
      let i = hist.indexOf(value, from);
      if (i < 0) {
        problems.push(hist.includes(value) ? `${ip}: ${what} ${value || '(none)'} is older than an earlier sample showed` : `${ip}: ${what} ${value || '(none)'} was never written`);
        return;
      }
      low.set(ip, i);
    };
    for (const [ip, hist] of this.svc) {
      const k = view.services.get(ip);
      advance(hist, this.svcLow, ip, k ? String(k.port) : ABSENT, 'port');
      if (k) advance(this.eps.get(ip)!, this.epsLow, ip, k.endpoints.join(','), 'endpoints');
    }
    for (const ip of view.services.keys()) if (!this.svc.has(ip)) problems.push(`${ip}: programmed but never written`);
    return problems;
  }

  /** Differences between a sample and the last state written (the converged state). */
  diffFinal(view: SampleView): string[] {
    const out: string[] = [];
    for (const [ip, hist] of this.svc) {
      const port = hist[hist.length - 1]!;
      const eps = this.eps.get(ip)!;
      const k = view.services.get(ip);
      const want = port === ABSENT ? ABSENT : `${port}|${eps[eps.length - 1]}`;
      const got = k ? `${k.port}|${k.endpoints.join(',')}` : ABSENT;
      if (want !== got) out.push(`${ip}: want ${want}, got ${got}`);
    }
    for (const ip of view.services.keys()) if (!this.svc.has(ip)) out.push(`${ip}: extra`);
    return out;
  }
}

/**
 * Check one `iptables-save` (nft backend, all tables). Present = nat KUBE-SERVICES exists (until the
 * main restore of a full sync links them, per-service chains written by its earlier batches are
 * unreachable, so unreferenced KUBE-SVC/SEP chains are not a problem). Per reachable service: the
 * KUBE-SVC chain jumps to n KUBE-SEP chains with upstream's probabilities 1/n, 1/(n-1), …, none for the
 * last; each KUBE-SEP chain exists and DNATs to one endpoint. A service without endpoints is a REJECT
 * in filter KUBE-SERVICES and must not also be DNATed.
 */
export function checkIptablesSample(text: string): SampleView {
  const problems: string[] = [];
  const services = new Map<string, KernelService>();
  const tables = new Map<string, { chains: Set<string>; rules: Map<string, string[]> }>();
  let cur: { chains: Set<string>; rules: Map<string, string[]> } | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      cur = { chains: new Set(), rules: new Map() };
      tables.set(line.slice(1).trim(), cur);
    } else if (!cur) continue;
    else if (line.startsWith(':')) cur.chains.add(line.slice(1).split(' ')[0]!);
    else if (line.startsWith('-A ')) {
      const chain = line.split(' ')[1]!;
      const l = cur.rules.get(chain);
      if (l) l.push(line);
      else cur.rules.set(chain, [line]);
    }
  }
  const nat = tables.get('nat');
  if (!nat || !nat.chains.has('KUBE-SERVICES')) return { present: false, problems, services };
  const filter = tables.get('filter');
  if (!filter || !filter.chains.has('KUBE-SERVICES')) problems.push('filter KUBE-SERVICES missing while nat KUBE-SERVICES exists');
  for (const c of ['KUBE-POSTROUTING', 'KUBE-MARK-MASQ']) if (!nat.chains.has(c)) problems.push(`nat ${c} missing`);
  const arg = (rule: string, flag: string): string | undefined => new RegExp(`(?:^| )${flag} (\\S+)`).exec(rule)?.[1];
  for (const rule of nat.rules.get('KUBE-SERVICES') ?? []) {
    const target = arg(rule, '-j');
    if (!target?.startsWith('KUBE-SVC-')) continue;
    const ip = arg(rule, '-d')?.replace(/\/32$/, '');
    const port = Number(arg(rule, '--dport'));
    if (!ip) continue;
    if (!nat.chains.has(target)) {
      problems.push(`${ip}:${port} -> ${target}: no such chain`);
      continue;
    }
    const seps = (nat.rules.get(target) ?? []).filter((r) => arg(r, '-j')?.startsWith('KUBE-SEP-'));
    if (seps.length === 0) problems.push(`${ip}:${port} -> ${target}: no endpoint rule`);
    const eps: string[] = [];
    seps.forEach((r, i) => {
      const n = seps.length;
      const p = arg(r, '--probability');
      if (i < n - 1 ? p === undefined || Math.abs(Number(p) - 1 / (n - i)) > 1e-6 : p !== undefined) problems.push(`${target} rule ${i + 1} of ${n}: probability ${p ?? 'none'}`);
      const sep = arg(r, '-j')!;
      const dnat = (nat.rules.get(sep) ?? []).map((x) => arg(x, '--to-destination')).filter((x): x is string => x !== undefined);
      if (!nat.chains.has(sep) || dnat.length !== 1) problems.push(`${target} -> ${sep}: ${nat.chains.has(sep) ? `${dnat.length} DNAT rules` : 'no such chain'}`);
      else eps.push(dnat[0]!);
    });
    if (services.has(ip)) problems.push(`${ip}: two ports programmed (the churn writes one)`);
    services.set(ip, { port, endpoints: eps.sort() });
  }
  for (const rule of filter?.rules.get('KUBE-SERVICES') ?? []) {
    if (arg(rule, '-j') !== 'REJECT' || !rule.includes('has no endpoints')) continue;
    const ip = arg(rule, '-d')?.replace(/\/32$/, '');
    if (!ip) continue;
    if (services.has(ip)) problems.push(`${ip}: both DNATed and rejected (no endpoints)`);
    else services.set(ip, { port: Number(arg(rule, '--dport')), endpoints: [] });
  }
  return { present: true, problems, services };
}
