// Pure-ish planner: desired ProxyState (+ what we applied last) -> one `nft -f -` transaction.
//
// Full plan: `add table` + `delete table` + the whole table, so a single atomic transaction
// replaces whatever was there (our previous layout, upstream's, or a half-flushed table).
// Incremental plan: only service ports whose ServicePort object changed identity; their
// chains are rewritten only when their rule text changed, and set/map elements are diffed
// through an owner-counted element table. The applied state lives in memory: listing the
// kernel to diff is far slower than writing at scale (see docs/nftables.md).
//
// Ownership: an incremental plan updates `prev` in place and returns it as `next` (cloning a
// 10k-service state per sync would cost more than the sync). If the transaction then fails, the
// caller must drop that object and do a full plan next time (the Dataplane does).

import type { ProxyState } from '../../model/types.js';
import type { DataplaneConfig } from '../config.js';
import { cidrContains, isLoopbackIP } from '../../model/ip.js';
import { localTrafficMatch, nftLocalExprs } from '../shared/local-traffic.js';
import { nftLoopback } from '../shared/loopback.js';
import { masqueradeMark } from '../shared/masquerade.js';
import { nftString } from '../shared/nft-string.js';

import { BlockAllocator } from './alloc.js';
import { MARKER_SET } from './session.js';
import { type ElementOp, ElementTable, IpRefCount } from './elements.js';
import {
  CLUSTER_IPS_SET,
  ENDPOINT_PROTOCOLS,
  FIREWALL_IPS_MAP,
  HAIRPIN_SET,
  MARK_MASQ_CHAIN,
  NO_ENDPOINT_NODEPORTS_MAP,
  NO_ENDPOINT_SERVICES_MAP,
  REJECT_CHAIN,
  type RuleContext,
  SERVICE_IPS_MAP,
  SERVICE_NODEPORTS_MAP,
  type ServiceRecord,
  type Entry,
  type SetDecl,
  type SharedChain,
  type SlotBlock,
  buildService,
  endpointsMapDecl,
  endpointsMapName,
  epValue,
} from './service.js';

export const DEFAULT_TABLE = 'kube-proxy';
export const CANARY_CHAIN = 'canary';
export const CANARY_COMMENT = 'kube-proxy-ts drift canary';
/**
 * Handle of the canary rule: handles count up per table from 1 (chain `canary` = 1, its rule = 2)
 * and are never reused, so "rule 2 of chain canary exists" means our table was neither deleted,
 * flushed nor replaced by anyone else since our last full sync.
 */
export const CANARY_RULE_HANDLE = 2;
const NODEPORT_IPS_SET = 'nodeport-ips';
/** Elements per `add element` command in full plans (one command per map would be a huge line). */
const ELEMENT_CHUNK = 1000;

/**
 * Builds `<prefix> { e1, e2, … }` commands of at most ELEMENT_CHUNK elements from text pieces,
 * joined once per command (no intermediate string per element: 10^5 of them in a full plan).
 */
class ElementChunks {
  private parts: string[];
  private n = 0;
  constructor(
    private readonly prefix: string,
    private readonly out: (line: string, elements: number) => void,
  ) {
    this.parts = [prefix, ' { '];
  }
  /** Starts the next element; push its pieces onto the returned array. */
  next(): string[] {
    if (this.n === ELEMENT_CHUNK) this.flush();
    if (this.n > 0) this.parts.push(', ');
    this.n++;
    return this.parts;
  }
  flush(): void {
    if (this.n === 0) return;
    this.parts.push(' }');
    this.out(this.parts.join(''), this.n);
    this.parts = [this.prefix, ' { '];
    this.n = 0;
  }
}

export interface PlanOptions {
  readonly tableName?: string;
  /** Force a full plan even when `prev` could be diffed. */
  readonly full?: boolean;
}

/** What we last programmed, kept in memory between syncs. */
export interface Applied {
  readonly tableName: string;
  readonly family: ProxyState['family'];
  /** Everything outside per-service rules that the table depends on; a change forces full. */
  readonly signature: string;
  readonly services: Map<string, ServiceRecord>;
  /** Shared/owned set and map elements, except endpoint-map elements (kept in the records' blocks). */
  readonly elements: ElementTable;
  /** Endpoint IPs in the `hairpin` set, counted over the service ports that reach them. */
  readonly hairpin: IpRefCount;
  /** Key blocks of each `endpoints-<proto>` map, by lower-case protocol. */
  readonly alloc: Map<string, BlockAllocator>;
  /** Endpoint-map pages and shared endpoint maps declared in the kernel (kept until the next full sync). */
  readonly endpointMaps: Set<string>;
  /** Shared DNAT chains created in the kernel (kept until the next full sync). */
  readonly sharedChains: Set<string>;
}

function allocators(): Map<string, BlockAllocator> {
  return new Map(ENDPOINT_PROTOCOLS.map((p) => [p, new BlockAllocator()]));
}

function allocFor(a: Applied, protocol: string): BlockAllocator {
  return a.alloc.get(protocol.toLowerCase())!;
}

export interface Plan {
  readonly script: string;
  readonly next: Applied;
  /** Commands + elements sent (a measure of transaction size). */
  readonly ops: number;
  readonly full: boolean;
  /** Service-port keys whose rules were (re)written in this plan. */
  readonly changed: readonly string[];
}

export function ruleContext(state: ProxyState, cfg: DataplaneConfig): RuleContext {
  const ipX = state.family === 'IPv6' ? 'ip6' : 'ip';
  return {
    ipX,
    addrType: ipX === 'ip6' ? 'ipv6_addr' : 'ipv4_addr',
    masqueradeAll: cfg.masqueradeAll,
    ...nftLocalExprs(localTrafficMatch(cfg.localDetector), state.family),
    nodeIPs: state.node.ips,
    cidrContains,
  };
}

function signatureOf(state: ProxyState, cfg: DataplaneConfig, table: string): string {
  return JSON.stringify([
    table,
    state.family,
    cfg.masqueradeBit,
    cfg.masqueradeAll,
    cfg.localDetector,
    state.node.ips,
    state.nodePortAddresses,
    state.serviceCIDRs,
  ]);
}

function elementText(verb: 'add' | 'delete', op: ElementOp): string {
  if (verb === 'delete') return op.key;
  let text = op.key;
  if (op.comment !== undefined) text += ` comment ${nftString(op.comment)}`;
  if (op.value !== null) text += ` : ${op.value}`;
  return text;
}

function byName<T>(a: [string, T], b: [string, T]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** Transaction text as lines (joined once at the end: cheaper than growing one string). */
class Script {
  readonly lines: string[] = [];
  ops = 0;
  /** "<family> <table> ", the part every command repeats. */
  private readonly pre: string;
  constructor(fam: string, table: string) {
    this.pre = `${fam} ${table} `;
  }
  raw(line: string, ops = 1): void {
    this.lines.push(line);
    this.ops += ops;
  }
  chain(name: string, spec?: string): void {
    this.lines.push(spec ? `add chain ${this.pre}${name} { ${spec} }` : 'add chain ' + this.pre + name);
    this.ops++;
  }
  rule(chain: string, rule: string): void {
    this.lines.push('add rule ' + this.pre + chain + ' ' + rule);
    this.ops++;
  }
  flushChain(name: string): void {
    this.raw(`flush chain ${this.pre}${name}`);
  }
  deleteChain(name: string): void {
    this.raw(`delete chain ${this.pre}${name}`);
  }
  set(name: string, d: SetDecl): void {
    this.raw(`add ${d.kind} ${this.pre}${name} ${d.body}`);
  }
  deleteSet(name: string, d: SetDecl): void {
    this.raw(`delete ${d.kind} ${this.pre}${name}`);
  }
  elements(verb: 'add' | 'delete', ops: readonly ElementOp[]): void {
    const byMap = new Map<string, string[]>();
    for (const op of ops) {
      let l = byMap.get(op.map);
      if (!l) byMap.set(op.map, (l = []));
      l.push(elementText(verb, op));
    }
    this.elementGroups(verb, byMap);
  }
  /** Elements per map: one command per map and ELEMENT_CHUNK elements, maps in name order. */
  elementGroups(verb: 'add' | 'delete', byMap: ReadonlyMap<string, ElementGroup>): void {
    const head = `${verb} element ${this.pre}`;
    for (const [map, items] of [...byMap].sort(byName)) {
      if (!Array.isArray(items)) {
        const g = items as SlotGroup | PairGroup | EntryGroup;
        if ('blocks' in g) this.slotElements(head + map, g.blocks);
        else if ('entries' in g) {
          this.entryElements(head + map, g.entries);
          if (g.texts) this.elementGroups(verb, new Map([[map, g.texts]]));
        }
        else this.pairElements(head + map, g.ips);
        continue;
      }
      if (items.length <= ELEMENT_CHUNK) {
        this.raw(`${head}${map} { ${items.join(', ')} }`, items.length);
        continue;
      }
      for (let i = 0; i < items.length; i += ELEMENT_CHUNK) {
        const chunk = items.slice(i, i + ELEMENT_CHUNK);
        this.raw(`${head}${map} { ${chunk.join(', ')} }`, chunk.length);
      }
    }
  }
  /**
   * `add element … { base+i : ip . port, … }` for endpoint blocks, written as pieces joined once per
   * command: no intermediate string per element (10^5 of them in a 10k-service full plan).
   */
  private slotElements(prefix: string, blocks: readonly SlotBlock[]): void {
    const w = new ElementChunks(prefix, (line, n) => this.raw(line, n));
    for (const { base, slots } of blocks) {
      for (let i = 0; i < slots.length; i++) {
        const ep = slots[i]!;
        w.next().push(String(base + i), ' : ', ep.ip, ' . ', String(ep.port));
      }
    }
    w.flush();
  }
  /** `add element … { prefix . i : ip . port, … }` for entries, pieces joined once per command. */
  private entryElements(prefix: string, entries: readonly Entry[]): void {
    const w = new ElementChunks(prefix, (line, n) => this.raw(line, n));
    for (const e of entries) {
      const slots = e.slots;
      for (let i = 0; i < slots.length; i++) {
        const ep = slots[i]!;
        w.next().push(e.prefix, ' . ', String(i), ' : ', ep.ip, ' . ', String(ep.port));
      }
    }
    w.flush();
  }
  /** `add element … { ip . ip, … }` (the hairpin set), pieces joined once per command. */
  private pairElements(prefix: string, ips: readonly string[]): void {
    for (let i = 0; i < ips.length; i += ELEMENT_CHUNK) {
      const end = Math.min(i + ELEMENT_CHUNK, ips.length);
      const parts: string[] = [prefix, ' { '];
      for (let j = i; j < end; j++) {
        if (j > i) parts.push(', ');
        parts.push(ips[j]!, ' . ', ips[j]!);
      }
      parts.push(' }');
      this.raw(parts.join(''), end - i);
    }
  }
  text(): string {
    return this.lines.join('\n') + '\n';
  }
}

/** Endpoint blocks of one endpoint-map page, in key-claim order. */
interface SlotGroup {
  readonly blocks: SlotBlock[];
}
/** Hairpin set: element `ip . ip` per IP. */
interface PairGroup {
  readonly ips: readonly string[];
}
/** Entries (shared endpoint maps keyed by address . port . i or nodePort . i) of one map. */
interface EntryGroup {
  readonly entries: Entry[];
  /** Owner-counted elements of the same map (external and LB addresses). */
  readonly texts?: readonly string[];
}
/** A map's elements for output: element texts, the endpoint blocks of a page, hairpin IPs, or entries. */
type ElementGroup = readonly string[] | SlotGroup | PairGroup | EntryGroup;

function pushEntries(byMap: Map<string, ElementGroup>, entries: readonly Entry[]): void {
  for (const e of entries) {
    const cur = byMap.get(e.map);
    let g: EntryGroup;
    if (cur === undefined) byMap.set(e.map, (g = { entries: [] }));
    else if (Array.isArray(cur)) byMap.set(e.map, (g = { entries: [], texts: cur as readonly string[] }));
    else g = cur as EntryGroup;
    g.entries.push(e);
  }
}

/**
 * Entry element operations from one record's entries to the next: per index for an entry that
 * stays (a surviving endpoint keeps its index: one replaced endpoint is one delete + one add),
 * all elements for entries that appear or go.
 */
function diffEntries(owner: string, o: readonly Entry[], c: readonly Entry[], deletes: ElementOp[], adds: ElementOp[]): void {
  const olds = new Map<string, Entry>();
  for (const e of o) olds.set(e.map + ' ' + e.prefix, e);
  for (const e of c) {
    const id = e.map + ' ' + e.prefix;
    const oe = olds.get(id);
    olds.delete(id);
    const n = Math.max(oe?.slots.length ?? 0, e.slots.length);
    for (let i = 0; i < n; i++) {
      const ov = oe?.slots[i];
      const cv = e.slots[i];
      if (ov === cv || (ov && cv && ov.ip === cv.ip && ov.port === cv.port)) continue;
      const key = `${e.prefix} . ${i}`;
      if (ov !== undefined) deletes.push({ map: e.map, key, value: epValue(ov), owner });
      if (cv !== undefined) adds.push({ map: e.map, key, value: epValue(cv), owner });
    }
  }
  for (const e of olds.values()) {
    e.slots.forEach((v, i) => deletes.push({ map: e.map, key: `${e.prefix} . ${i}`, value: epValue(v), owner }));
  }
}

function pushSlots(byMap: Map<string, ElementGroup>, proto: string, b: SlotBlock): void {
  const map = endpointsMapName(proto, b);
  let g = byMap.get(map) as SlotGroup | undefined;
  if (!g) byMap.set(map, (g = { blocks: [] }));
  g.blocks.push(b);
}

/**
 * Endpoint-map element operations from one block state to the next: per key when the port kept its
 * block (a surviving endpoint keeps its key, so usually one delete + one add), else all old keys
 * deleted and all new keys added. Same output as the ElementTable would give for owned keys.
 */
function diffSlots(
  proto: string,
  owner: string,
  o: SlotBlock | undefined,
  c: SlotBlock | undefined,
  deletes: ElementOp[],
  adds: ElementOp[],
): void {
  if (o && c && o.base === c.base && o.cap === c.cap) {
    const map = endpointsMapName(proto, c);
    const n = Math.max(o.slots.length, c.slots.length);
    for (let i = 0; i < n; i++) {
      const ov = o.slots[i];
      const cv = c.slots[i];
      if (ov === cv || (ov && cv && ov.ip === cv.ip && ov.port === cv.port)) continue;
      const key = String(c.base + i);
      if (ov !== undefined) deletes.push({ map, key, value: epValue(ov), owner });
      if (cv !== undefined) adds.push({ map, key, value: epValue(cv), owner });
    }
    return;
  }
  if (o) {
    const map = endpointsMapName(proto, o);
    o.slots.forEach((v, i) => deletes.push({ map, key: String(o.base + i), value: epValue(v), owner }));
  }
  if (c) {
    const map = endpointsMapName(proto, c);
    c.slots.forEach((v, i) => adds.push({ map, key: String(c.base + i), value: epValue(v), owner }));
  }
}

/** Table, base chains, fixed chains, sets and maps: everything that is not per service. */
function writeFixed(s: Script, state: ProxyState, cfg: DataplaneConfig, ctx: RuleContext): void {
  const { ipX, addrType } = ctx;
  const mark = masqueradeMark(cfg.masqueradeBit, 'nft');
  const npa = state.nodePortAddresses;
  const loopback = nftLoopback(state.family);

  s.set(CLUSTER_IPS_SET, { kind: 'set', body: `{ type ${addrType} ; comment "Active ClusterIPs" ; }` });
  // Listed after every transaction of the persistent `nft -i` (session.ts) as its completion
  // signal: empty, so listing it costs nothing.
  s.set(MARKER_SET, { kind: 'set', body: '{ type inet_proto ; comment "kube-proxy-ts internal, always empty: listed after each update to confirm nft applied it" ; }' });
  if (!npa.matchAll) {
    s.set(NODEPORT_IPS_SET, { kind: 'set', body: `{ type ${addrType} ; comment "IPs that accept NodePort traffic" ; }` });
  }
  const ipProtoPort = `${addrType} . inet_proto . inet_service : verdict`;
  s.set(SERVICE_IPS_MAP, { kind: 'map', body: `{ type ${ipProtoPort} ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }` });
  s.set(SERVICE_NODEPORTS_MAP, { kind: 'map', body: `{ type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }` });
  s.set(NO_ENDPOINT_SERVICES_MAP, {
    kind: 'map',
    body: `{ type ${ipProtoPort} ; comment "vmap to drop or reject packets to services with no endpoints" ; }`,
  });
  s.set(NO_ENDPOINT_NODEPORTS_MAP, {
    kind: 'map',
    body: `{ type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }`,
  });
  s.set(FIREWALL_IPS_MAP, {
    kind: 'map',
    body: `{ type ${ipProtoPort} ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }`,
  });
  s.set(HAIRPIN_SET, {
    kind: 'set',
    body: `{ type ${addrType} . ${addrType} ; comment "endpoint . endpoint: a pod reaching itself through a service is masqueraded" ; }`,
  });

  const base: [string, string, string, number, string[]][] = [
    ['filter-prerouting-pre-dnat', 'filter', 'prerouting', -110, ['ct state new jump firewall-check']],
    ['filter-output-pre-dnat', 'filter', 'output', -110, ['ct state new jump firewall-check']],
    ['filter-input', 'filter', 'input', 0, ['ct state new jump nodeport-endpoints-check', 'ct state new jump service-endpoints-check']],
    ['filter-forward', 'filter', 'forward', 0, ['ct state new jump service-endpoints-check', 'ct state new jump cluster-ips-check']],
    ['filter-output', 'filter', 'output', 0, ['ct state new jump service-endpoints-check', 'ct state new jump cluster-ips-check']],
    ['nat-prerouting', 'nat', 'prerouting', -100, ['jump services']],
    ['nat-output', 'nat', 'output', -100, ['jump services']],
    [
      'nat-postrouting',
      'nat',
      'postrouting',
      100,
      [`ct status dnat ${ipX} saddr . ${ipX} daddr @${HAIRPIN_SET} jump ${MARK_MASQ_CHAIN}`, 'jump masquerading'],
    ],
  ];
  const nodePortMatch = npa.matchAll ? `fib daddr type local ${ipX} daddr != ${loopback}` : `${ipX} daddr @${NODEPORT_IPS_SET}`;
  // Off-cluster sources to a ClusterIP are masqueraded (upstream: one rule per service chain,
  // `ip daddr <clusterIP> <proto> dport <port> <not-local> jump mark-for-masquerade`). One rule over
  // @cluster-ips marks the same packets that get DNATed; a packet to a ClusterIP that is not
  // DNATed (unknown port, no endpoints) is rejected or dropped by the filter chains and never
  // reaches nat-postrouting, so its mark is never used. Saves a rule per service port: 10k such
  // rules cost ~0.35 s CPU of a 1.45 s full load at 10k services.
  const masqClusterIP = cfg.masqueradeAll ? '' : ctx.ifNotLocal;
  const fixed: [string, string[]][] = [
    [
      'services',
      [
        ...(masqClusterIP === null ? [] : [`${ipX} daddr @${CLUSTER_IPS_SET} ${masqClusterIP ? masqClusterIP + ' ' : ''}jump ${MARK_MASQ_CHAIN}`]),
        `${ipX} daddr . meta l4proto . th dport vmap @${SERVICE_IPS_MAP}`,
        `${nodePortMatch} meta l4proto . th dport vmap @${SERVICE_NODEPORTS_MAP}`,
      ],
    ],
    ['service-endpoints-check', [`${ipX} daddr . meta l4proto . th dport vmap @${NO_ENDPOINT_SERVICES_MAP}`]],
    [
      'nodeport-endpoints-check',
      [
        `${npa.matchAll ? `${ipX} daddr != ${loopback}` : `${ipX} daddr @${NODEPORT_IPS_SET}`} meta l4proto . th dport vmap @${NO_ENDPOINT_NODEPORTS_MAP}`,
      ],
    ],
    [REJECT_CHAIN, ['reject comment "helper for @no-endpoint-services / @no-endpoint-nodeports"']],
    [
      'cluster-ips-check',
      [
        `${ipX} daddr @${CLUSTER_IPS_SET} reject comment "Reject traffic to invalid ports of ClusterIPs"`,
        ...(state.serviceCIDRs.length > 0
          ? [`${ipX} daddr { ${state.serviceCIDRs.join(', ')} } drop comment "Drop traffic to unallocated ClusterIPs"`]
          : []),
      ],
    ],
    ['firewall-check', [`${ipX} daddr . meta l4proto . th dport vmap @${FIREWALL_IPS_MAP}`]],
    [MARK_MASQ_CHAIN, [`mark set mark or ${mark}`]],
    ['masquerading', [`mark and ${mark} == 0 return`, `mark set mark xor ${mark}`, 'masquerade fully-random']],
  ];
  for (const [name] of fixed) s.chain(name);
  for (const [name, type, hook, prio] of base) s.chain(name, `type ${type} hook ${hook} priority ${prio} ;`);
  for (const [name, rules] of fixed) for (const r of rules) s.rule(name, r);
  for (const [name, , , , rules] of base) for (const r of rules) s.rule(name, r);
  // Localhost NodePorts are not supported in nftables mode (as upstream): skip loopback IPs.
  const npIPs = npa.matchAll ? [] : npa.ips.filter((ip) => !isLoopbackIP(ip));
  if (npIPs.length > 0) {
    s.elements(
      'add',
      npIPs.map((ip) => ({ map: NODEPORT_IPS_SET, key: ip, value: null, owner: '' })),
    );
  }
}

function claimAll(a: Applied, rec: ServiceRecord): void {
  for (const e of rec.elements) a.elements.claim(e);
  for (const ep of rec.hairpin) a.hairpin.claim(ep.ip);
}

function releaseAll(a: Applied, rec: ServiceRecord): void {
  for (const e of rec.elements) a.elements.release(e);
  for (const ep of rec.hairpin) a.hairpin.release(ep.ip);
}

function hairpinOp(ip: string): ElementOp {
  return { map: HAIRPIN_SET, key: `${ip} . ${ip}`, value: null, owner: '' };
}

function sameRules(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((r, i) => r === b[i]);
}

function familyWord(state: ProxyState): 'ip' | 'ip6' {
  return state.family === 'IPv6' ? 'ip6' : 'ip';
}

export function planFull(state: ProxyState, cfg: DataplaneConfig, opts: PlanOptions = {}): Plan {
  const table = opts.tableName ?? DEFAULT_TABLE;
  const fam = familyWord(state);
  const ctx = ruleContext(state, cfg);
  const s = new Script(fam, table);
  // Make sure the table exists so the delete cannot fail, then replace it, all in one transaction.
  s.raw(`add table ${fam} ${table} { comment "rules for kube-proxy" ; }`);
  s.raw(`delete table ${fam} ${table}`);
  s.raw(`add table ${fam} ${table} { comment "rules for kube-proxy" ; }`);
  // The canary comes first in the fresh table, so its rule always gets handle CANARY_RULE_HANDLE.
  s.chain(CANARY_CHAIN);
  s.rule(CANARY_CHAIN, `counter comment ${nftString(CANARY_COMMENT)}`);
  writeFixed(s, state, cfg, ctx);

  const next: Applied = {
    tableName: table,
    family: state.family,
    signature: signatureOf(state, cfg, table),
    services: new Map(),
    elements: new ElementTable(false),
    hairpin: new IpRefCount(false),
    alloc: allocators(),
    endpointMaps: new Set(),
    sharedChains: new Set(),
  };
  const recs: ServiceRecord[] = [];
  for (const [key, sp] of state.services) {
    const rec = buildService(sp, ctx, undefined, allocFor(next, sp.protocol));
    next.services.set(key, rec);
    claimAll(next, rec);
    recs.push(rec);
  }
  for (const a of next.alloc.values()) a.settle();
  for (const rec of recs) {
    for (const m of rec.endpointMaps) {
      if (next.endpointMaps.has(m)) continue;
      next.endpointMaps.add(m);
      s.set(m, endpointsMapDecl(ctx.ipX, rec.sp.protocol));
    }
  }
  const shared: SharedChain[] = [];
  for (const rec of recs) {
    for (const c of rec.shared) {
      if (next.sharedChains.has(c.name)) continue;
      next.sharedChains.add(c.name);
      shared.push(c);
      if (next.endpointMaps.has(c.map)) continue;
      next.endpointMaps.add(c.map);
      s.set(c.map, c.mapDecl);
    }
  }
  shared.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // forEach rather than for-of over entries: no [key, value] array per entry (10^4 records).
  for (const rec of recs) if (rec.sets.size > 0) rec.sets.forEach((d, name) => s.set(name, d));
  for (const c of shared) s.chain(c.name);
  for (const rec of recs) rec.chains.forEach((_, name) => s.chain(name));
  for (const c of shared) for (const r of c.rules) s.rule(c.name, r);
  for (const rec of recs) rec.chains.forEach((rules, name) => { for (const r of rules) s.rule(name, r); });
  const byMap = new Map<string, ElementGroup>();
  for (const [map, ops] of next.elements.allByMap()) byMap.set(map, ops.map((op) => elementText('add', op)));
  const hairpin = [...next.hairpin.all()];
  if (hairpin.length > 0) byMap.set(HAIRPIN_SET, { ips: hairpin });
  for (const rec of recs) {
    if (rec.blocks.service) pushSlots(byMap, rec.proto, rec.blocks.service);
    if (rec.blocks.local) pushSlots(byMap, rec.proto, rec.blocks.local);
    if (rec.entries.length > 0) pushEntries(byMap, rec.entries);
  }
  s.elementGroups('add', byMap);
  return { script: s.text(), next, ops: s.ops, full: true, changed: [...state.services.keys()] };
}

/**
 * Plan the transaction from `prev` (consumed, see the file comment) to `state`. Full when there
 * is no usable `prev`, when asked, or when anything outside per-service rules changed.
 */
export function plan(prev: Applied | null, state: ProxyState, cfg: DataplaneConfig, opts: PlanOptions = {}): Plan {
  const table = opts.tableName ?? DEFAULT_TABLE;
  if (!prev || opts.full || prev.family !== state.family || prev.signature !== signatureOf(state, cfg, table)) {
    return planFull(state, cfg, opts);
  }
  const fam = familyWord(state);
  const ctx = ruleContext(state, cfg);
  const s = new Script(fam, table);

  const changed: string[] = [];
  const removed: ServiceRecord[] = [];
  for (const [key, rec] of prev.services) if (!state.services.has(key)) removed.push(rec);
  for (const [key, sp] of state.services) if (prev.services.get(key)?.sp !== sp) changed.push(key);

  const flushChains: string[] = [];
  const deleteChains: string[] = [];
  const addChains: string[] = [];
  const ruleWrites: [string, readonly string[]][] = [];
  const deleteSets: [string, SetDecl][] = [];
  const addSets: [string, SetDecl][] = [];
  const epDeletes: ElementOp[] = [];
  const epAdds: ElementOp[] = [];

  for (const old of removed) {
    releaseAll(prev, old);
    diffSlots(old.proto, old.sp.key, old.blocks.service, undefined, epDeletes, epAdds);
    diffSlots(old.proto, old.sp.key, old.blocks.local, undefined, epDeletes, epAdds);
    diffEntries(old.sp.key, old.entries, [], epDeletes, epAdds);
    for (const b of Object.values(old.blocks)) if (b) allocFor(prev, old.sp.protocol).release(b);
    for (const name of old.chains.keys()) {
      flushChains.push(name);
      deleteChains.push(name);
    }
    for (const [name, d] of old.sets) deleteSets.push([name, d]);
    prev.services.delete(old.sp.key);
  }
  for (const key of changed) {
    const sp = state.services.get(key)!;
    const old = prev.services.get(key);
    if (old) releaseAll(prev, old);
    // A protocol change is a new key (the key includes the protocol), so `old` shares the allocator.
    const rec = buildService(sp, ctx, old, allocFor(prev, sp.protocol));
    claimAll(prev, rec);
    diffSlots(rec.proto, key, old?.blocks.service, rec.blocks.service, epDeletes, epAdds);
    diffSlots(rec.proto, key, old?.blocks.local, rec.blocks.local, epDeletes, epAdds);
    diffEntries(key, old?.entries ?? [], rec.entries, epDeletes, epAdds);
    prev.services.set(key, rec);
    for (const m of rec.endpointMaps) {
      if (prev.endpointMaps.has(m)) continue;
      prev.endpointMaps.add(m);
      addSets.push([m, endpointsMapDecl(ctx.ipX, sp.protocol)]);
    }
    // A shared chain for a new (protocol, n): the rare case where an endpoint change writes a chain.
    for (const c of rec.shared) {
      if (prev.sharedChains.has(c.name)) continue;
      prev.sharedChains.add(c.name);
      if (!prev.endpointMaps.has(c.map)) {
        prev.endpointMaps.add(c.map);
        addSets.push([c.map, c.mapDecl]);
      }
      addChains.push(c.name);
      ruleWrites.push([c.name, c.rules]);
    }

    // A re-declared set (e.g. a new affinity timeout) must be deleted and re-added, which needs
    // every rule referencing it gone first: then rewrite all of this port's chains.
    let rewriteAll = false;
    for (const [name, d] of rec.sets) {
      const od = old?.sets.get(name);
      if (!od) addSets.push([name, d]);
      else if (od.body !== d.body || od.kind !== d.kind) {
        deleteSets.push([name, od]);
        addSets.push([name, d]);
        rewriteAll = true;
      }
    }
    if (old) for (const [name, od] of old.sets) if (!rec.sets.has(name)) deleteSets.push([name, od]);

    for (const [name, rules] of rec.chains) {
      const oldRules = old?.chains.get(name);
      if (oldRules === undefined) {
        addChains.push(name);
        ruleWrites.push([name, rules]);
      } else if (rewriteAll || !sameRules(oldRules, rules)) {
        flushChains.push(name);
        ruleWrites.push([name, rules]);
      }
    }
    if (old) {
      for (const name of old.chains.keys()) {
        if (!rec.chains.has(name)) {
          flushChains.push(name);
          deleteChains.push(name);
        }
      }
    }
  }
  for (const a of prev.alloc.values()) a.settle();

  const changes = prev.elements.takeChanges();
  const hp = prev.hairpin.takeChanges();
  const deletes = changes.deletes.concat(epDeletes, hp.removed.map(hairpinOp));
  const adds = changes.adds.concat(epAdds, hp.added.map(hairpinOp));
  // Order matters: drop references (elements, rules) before deleting what they point to, and
  // create sets/chains before rules and elements that point to them.
  s.elements('delete', deletes);
  for (const c of flushChains) s.flushChain(c);
  for (const [name, d] of deleteSets) s.deleteSet(name, d);
  for (const [name, d] of addSets) s.set(name, d);
  for (const c of addChains) s.chain(c);
  for (const [c, rules] of ruleWrites) for (const r of rules) s.rule(c, r);
  s.elements('add', adds);
  for (const c of deleteChains) s.deleteChain(c);

  return {
    script: s.lines.length ? s.text() : '',
    next: prev,
    ops: s.ops,
    full: false,
    changed: [...changed, ...removed.map((r) => r.sp.key)],
  };
}

/** The full-sync script for `state` (what --print-rules shows). */
export function render(state: ProxyState, cfg: DataplaneConfig, opts: PlanOptions = {}): string {
  return planFull(state, cfg, opts).script;
}
