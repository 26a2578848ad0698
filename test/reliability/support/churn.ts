// Deterministic service/endpoint churn for the fault tests: a seeded PRNG drives creates, updates
// and deletes of Services (one TCP port "p") and their EndpointSlices, and a mirror of what the server
// holds gives the state the proxy must converge to.

import type { DriverOp, Obj } from './apiserver.js';
import { iptablesCanonical } from '../../../src/dryrun/iptables.js';

/** mulberry32: small, fast, seeded. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SvcModel {
  readonly name: string;
  readonly index: number;
  port: number;
  targetPort: number;
  /** endpoint ip -> ready */
  endpoints: Map<string, boolean>;
}

export const svcIP = (i: number): string => `198.19.${(i >> 8) & 255}.${i & 255}`;
/** The IPv6 ClusterIP of service i (dual-stack runs): 2001:db8:19::<i in hex>, canonical form. */
export const svcIP6 = (i: number): string => `2001:db8:19::${i.toString(16)}`;

export type Family = 'IPv4' | 'IPv6';
export const FAMILIES: readonly Family[] = ['IPv4', 'IPv6'];

/**
 * The IPv6 twin of an endpoint address of the model (which keys endpoints by IPv4): the world's pods
 * 198.18.100.N -> 2001:db8:100:1::N (world.podIP6), others 198.18.A.B -> 2001:db8:A::B+1 (hex,
 * canonical form, never contacted).
 */
export function ep6(ip4: string): string {
  const [, , a, b] = ip4.split('.').map(Number) as [number, number, number, number];
  if (a === 100) return `2001:db8:100:1::${b.toString(16)}`;
  return `2001:db8:${a.toString(16)}::${(b + 1).toString(16)}`;
}

export const clusterIPOf = (s: SvcModel, family: Family): string => (family === 'IPv4' ? svcIP(s.index) : svcIP6(s.index));

export function serviceObj(s: SvcModel, namespace = 'default', dual = false): Obj {
  const ips = dual ? [svcIP(s.index), svcIP6(s.index)] : [svcIP(s.index)];
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace },
    spec: {
      type: 'ClusterIP',
      clusterIP: ips[0],
      clusterIPs: ips,
      ipFamilies: dual ? ['IPv4', 'IPv6'] : ['IPv4'],
      ...(dual ? { ipFamilyPolicy: 'RequireDualStack' } : {}),
      ports: [{ name: 'p', port: s.port, protocol: 'TCP', targetPort: s.targetPort }],
    },
  };
}

/** The name of a service's slice of one family ("-a" IPv4, "-b" IPv6). */
export const sliceName = (s: { name: string }, family: Family = 'IPv4'): string => `${s.name}-${family === 'IPv4' ? 'a' : 'b'}`;

export function sliceObj(s: SvcModel, namespace = 'default', family: Family = 'IPv4'): Obj {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: sliceName(s, family), namespace, labels: { 'kubernetes.io/service-name': s.name } },
    addressType: family,
    ports: [{ name: 'p', port: s.targetPort, protocol: 'TCP' }],
    endpoints: [...s.endpoints].map(([ip, ready]) => ({ addresses: [family === 'IPv4' ? ip : ep6(ip)], conditions: { ready, serving: ready, terminating: false } })),
  };
}

/** What /debug/state should show for one family: key -> "clusterIP:port|ep,ep" */
export function expectedState(services: Iterable<SvcModel>, namespace = 'default', family: Family = 'IPv4'): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of services) {
    const eps = [...s.endpoints]
      .filter(([, r]) => r)
      .map(([ip]) => (family === 'IPv4' ? `${ip}:${s.targetPort}` : `[${ep6(ip)}]:${s.targetPort}`))
      .sort();
    out.set(`${namespace}/${s.name}:p/TCP`, `${clusterIPOf(s, family)}:${s.port}|${eps.join(',')}`);
  }
  return out;
}

export class Churn {
  readonly services = new Map<string, SvcModel>();
  private nextIndex = 1;
  readonly counts = { create: 0, updateSlice: 0, updateService: 0, delete: 0 };
  private readonly rnd: () => number;

  get dual(): boolean {
    return this.o.dual === true;
  }

  /** The families whose slices the script writes. */
  get families(): readonly Family[] {
    return this.dual ? FAMILIES : ['IPv4'];
  }

  /** exactEndpoints: every created service gets endpointsPerService endpoints (else 1..endpointsPerService). */
  constructor(
    seed: number,
    private readonly o: { maxServices: number; endpointsPerService: number; epBase?: number; dual?: boolean; exactEndpoints?: boolean },
  ) {
    this.rnd = prng(seed);
  }

  private int(n: number): number {
    return Math.floor(this.rnd() * n);
  }

  private randomEndpoints(): Map<string, boolean> {
    const m = new Map<string, boolean>();
    const base = this.o.epBase ?? 0;
    const n = this.o.exactEndpoints ? this.o.endpointsPerService : 1 + this.int(this.o.endpointsPerService);
    // exactEndpoints: draw until n distinct addresses (bounded, 4n draws); else n draws, a repeat
    // shrinks the set (the other tests' seeded scripts depend on this sequence).
    for (let i = 0; this.o.exactEndpoints ? m.size < n && i < 4 * n : i < n; i++) {
      const k = base + this.int(4000);
      m.set(`198.18.${128 + (k >> 8)}.${k & 255}`, this.rnd() < 0.85);
    }
    return m;
  }

  /** Create `n` services (with slices) and return the ops. */
  seed(n: number): DriverOp[] {
    const ops: DriverOp[] = [];
    for (let i = 0; i < n; i++) ops.push(...this.create());
    return ops;
  }

  private create(): DriverOp[] {
    const index = this.nextIndex++;
    const s: SvcModel = { name: `svc-${index}`, index, port: 80 + this.int(100), targetPort: 8080 + this.int(10), endpoints: this.randomEndpoints() };
    this.services.set(s.name, s);
    this.counts.create++;
    return [{ t: 'create', obj: serviceObj(s, 'default', this.dual) }, ...this.families.map<DriverOp>((f) => ({ t: 'create', obj: sliceObj(s, 'default', f) }))];
  }

  /** Services never touched by step(): a reference that must stay programmed throughout. */
  readonly pinned = new Set<string>();

  pin(n: number): DriverOp[] {
    const ops = this.seed(n);
    for (const name of [...this.services.keys()].slice(-n)) this.pinned.add(name);
    return ops;
  }

  private pick(): SvcModel | undefined {
    const names = [...this.services.keys()].filter((n) => !this.pinned.has(n));
    return names.length ? this.services.get(names[this.int(names.length)]!) : undefined;
  }

  /** One random change (1–2 API writes). */
  step(): DriverOp[] {
    const r = this.rnd();
    const s = this.pick();
    if (!s || (r < 0.2 && this.services.size < this.o.maxServices)) return this.create();
    if (r < 0.3) {
      this.services.delete(s.name);
      this.counts.delete++;
      return [
        ...this.families.map<DriverOp>((f) => ({ t: 'delete', kind: 'EndpointSlice', ns: 'default', name: sliceName(s, f) })),
        { t: 'delete', kind: 'Service', ns: 'default', name: s.name },
      ];
    }
    if (r < 0.4) {
      s.port = 80 + this.int(100);
      this.counts.updateService++;
      return [{ t: 'update', obj: serviceObj(s, 'default', this.dual) }];
    }
    // Endpoint change: flip readiness, add or drop one.
    const eps = [...s.endpoints.keys()];
    const e = this.rnd();
    if (e < 0.4 && eps.length) {
      const ip = eps[this.int(eps.length)]!;
      s.endpoints.set(ip, !s.endpoints.get(ip));
    } else if (e < 0.7 && eps.length > 1) {
      s.endpoints.delete(eps[this.int(eps.length)]!);
    } else {
      const k = (this.o.epBase ?? 0) + this.int(4000);
      s.endpoints.set(`198.18.${128 + (k >> 8)}.${k & 255}`, true);
    }
    this.counts.updateSlice++;
    return this.families.map<DriverOp>((f) => ({ t: 'update', obj: sliceObj(s, 'default', f) }));
  }
}

/** Differences between the expected state and /debug/state's services of one family. */
export function diffState(expected: Map<string, string>, services: Record<string, { clusterIP: string; port: number; clusterEndpoints: string[] }>): string[] {
  const diffs: string[] = [];
  for (const [key, want] of expected) {
    const sp = services[key];
    if (!sp) {
      diffs.push(`missing ${key}`);
      continue;
    }
    const got = `${sp.clusterIP}:${sp.port}|${[...sp.clusterEndpoints].sort().join(',')}`;
    if (got !== want) diffs.push(`${key}: want ${want}, got ${got}`);
  }
  for (const key of Object.keys(services)) if (!expected.has(key)) diffs.push(`extra ${key}`);
  return diffs;
}

/** A test service VIP (IPv4 198.19.x.y, IPv6 2001:db8:19::z) as a regular-expression source. */
const VIP = String.raw`198\.19\.\d+\.\d+|2001:db8:19::[0-9a-f]+`;

/** Service VIP tuples ("198.19.0.1 . tcp . 80", "2001:db8:19::1 . tcp . 80") programmed in an nft table listing. */
export function nftServiceTuples(table: string): Set<string> {
  return new Set(table.match(new RegExp(String.raw`(?:${VIP}) \. tcp \. \d+`, 'g')) ?? []);
}

/** A KUBE-SERVICES rule's `-d VIP/32 -p tcp ... --dport P` (without its `-A KUBE-SERVICES `): VIP, port. */
const SERVICE_RULE = String.raw`-d (${VIP})\/(?:32|128) -p tcp .*?--dport (\d+)`;

/**
 * The same tuples from an iptables-save listing (nat and filter): KUBE-SERVICES rules
 * `-d VIP/32 -p tcp ... --dport P` (a jump to the service chain, or a reject without endpoints).
 */
export function iptablesServiceTuples(save: string): Set<string> {
  const out = new Set<string>();
  for (const m of save.matchAll(new RegExp(String.raw`^-A KUBE-SERVICES ${SERVICE_RULE}`, 'gm'))) out.add(`${m[1]} . tcp . ${m[2]}`);
  return out;
}

/**
 * The tuples an iptables-save listing actually serves: the nat table jumps from PREROUTING and OUTPUT
 * into KUBE-SERVICES, and the VIP's rule there leads (through the service chain) to a DNAT. A flush
 * (`-t nat -F`) followed by a partial restore brings back KUBE-SERVICES but neither the jumps into it
 * nor the unchanged service chains; iptablesServiceTuples would count such VIPs as programmed.
 */
export function iptablesServingTuples(save: string): Set<string> {
  const out = new Set<string>();
  // Our nat chains' rules, and the built-in chains' jumps into them (the --dry-run comparison's reading).
  const nat = iptablesCanonical(save, ['nat']);
  const rules = (chain: string): readonly string[] => nat.get(`nat chain ${chain}`)?.items ?? [];
  const jumpsTo = (chain: string, target: string): boolean => rules(chain).some((r) => r.endsWith(`-j ${target}`));
  if (!jumpsTo('PREROUTING', 'KUBE-SERVICES') || !jumpsTo('OUTPUT', 'KUBE-SERVICES')) return out;
  const dnats = (chain: string, depth: number): boolean =>
    rules(chain).some((r) => / -j DNAT /.test(` ${r} `) || (depth > 0 && dnats(/-j (\S+)$/.exec(r)?.[1] ?? '', depth - 1)));
  const serviceRule = new RegExp(String.raw`^${SERVICE_RULE} .*-j (\S+)$`);
  for (const r of rules('KUBE-SERVICES')) {
    const m = serviceRule.exec(r);
    if (m && dnats(m[3]!, 2)) out.add(`${m[1]} . tcp . ${m[2]}`);
  }
  return out;
}
