// Fault 5: bad input. fast-check generates >= 1,000 Services and EndpointSlices (invalid IPs, ports,
// protocols, names and namespaces with shell metacharacters, huge label values, newlines in
// annotations, a 10k-endpoint slice, mismatched families, duplicate ports, junk specs) and feeds them to
// a running proxy through its --manifests directory, beside 20 fixed dual-stack "anchor" services.
// IPv6 and dual-stack shapes are generated too (valid dual-stack and IPv6-only Services, bad IPv6
// addresses, families that do not match the addresses, IPv6 slices).
// Checked: the process never crashes; every anchor is programmed, in both families, in every sample of
// the kernel's tables taken during the run (never a partial ruleset); every generated valid Service is
// programmed in its families; each rejected object is logged exactly once with its reason, and
// kubeproxy_ts_invalid_objects_total equals the count.
// Modes: nftables and iptables (nft backend) by default; KPX_HEAVY=1 adds iptables-legacy.

import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { FAMILIES, svcIP6, type Family } from './support/churn.js';
import { heavy, kernelServiceTuples, modeRun, type Mode } from './support/modes.js';
import { debugState, eventually, httpGet, metricValue, metricsText, sleep, startProxyIn } from './support/proxy.js';
import { manifestObjects, servicesOverPods, writeManifests } from './support/scenario.js';
import { World } from './support/world.js';

const isRoot = process.getuid?.() === 0;
const ANCHORS = 20;
const BATCHES = 12;
const PER_BATCH = 100;
const SEED = 20261125;

type Expect = 'valid' | 'invalid' | 'any';
interface Gen {
  readonly kind: 'Service' | 'EndpointSlice';
  readonly key: string;
  readonly expect: Expect;
  readonly what: string;
  readonly obj: Record<string, unknown>;
  /** Families a valid Service is programmed in (IPv4 only unless said). */
  readonly families?: readonly Family[];
}
type Maker = (i: number) => Gen;

const vip = (i: number): string => `198.19.${100 + (i >> 8)}.${i & 255}`;
/** IPv6 VIPs of generated services, clear of the anchors' 2001:db8:19::1-14. */
const vip6 = (i: number): string => `2001:db8:19::${(0x6400 + i).toString(16)}`;
const PWNED = '/tmp/kpx-rel-pwned';

function svc(i: number, what: string, expect: Expect, edit: (o: { metadata: Record<string, unknown>; spec: Record<string, unknown> }) => void = () => undefined): Gen {
  const o = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `fz-s${i}`, namespace: 'default' } as Record<string, unknown>,
    spec: { type: 'ClusterIP', clusterIP: vip(i), clusterIPs: [vip(i)], ipFamilies: ['IPv4'], ports: [{ name: 'p', port: 80, protocol: 'TCP', targetPort: 8080 }] } as Record<string, unknown>,
  };
  edit(o);
  const fams: unknown = o.spec && typeof o.spec === 'object' ? o.spec.ipFamilies : undefined; // junk specs may be anything
  const families = Array.isArray(fams) ? (fams.filter((f) => f === 'IPv4' || f === 'IPv6') as Family[]) : undefined;
  return { kind: 'Service', key: `${String(o.metadata.namespace)}/${String(o.metadata.name)}`, expect, what, obj: o, families };
}

function slice(i: number, what: string, expect: Expect, edit: (o: Record<string, unknown> & { metadata: Record<string, unknown> }) => void = () => undefined): Gen {
  const o = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `fz-e${i}`, namespace: 'default', labels: { 'kubernetes.io/service-name': `fz-s${i}` } } as Record<string, unknown>,
    addressType: 'IPv4',
    ports: [{ name: 'p', port: 8080, protocol: 'TCP' }],
    endpoints: [{ addresses: [`198.18.${200 + (i % 50)}.${i & 255}`], conditions: { ready: true } }],
  } as Record<string, unknown> & { metadata: Record<string, unknown> };
  edit(o);
  return { kind: 'EndpointSlice', key: `${String(o.metadata.namespace)}/${String(o.metadata.name)}`, expect, what, obj: o };
}

const shellish = fc.constantFrom('$(touch ' + PWNED + ')', '`touch ' + PWNED + '`', 'a;touch ' + PWNED, 'a\ntouch', 'a|b', 'a&&b', "a'b", 'a"b', 'UPPER', 'a b', '-a', 'a/b', 'a\\b');
const badIP = fc.constantFrom('999.18.0.1', '198.19.1', '198.19.0.1.1', 'abc', '$(touch ' + PWNED + ')', '198.19.0.1;id', '::g', '198.19.0.256', '198.19.0.1/32', '198.19.0.4 ', '0xc6.18.0.1');
const badIP6 = fc.constantFrom('2001:db8::g', '2001:db8:::1', '2001:db8::1/128', 'fe80::1%eth0', '2001:db8:19::1:2:3:4:5:6:7', '[2001:db8::1]', '2001:db8::1 ', ':::');
const badPort = fc.oneof(fc.integer({ min: 65536, max: 2 ** 31 }), fc.integer({ min: -(2 ** 31), max: 0 }), fc.constant(1.5), fc.string({ maxLength: 8 }), fc.constant(null).map(() => ({})));
const badProto = fc.string({ maxLength: 12 }).filter((s) => !['TCP', 'UDP', 'SCTP'].includes(s));

/** One generator per kind of damage; each yields a maker for index i. */
const makers: fc.Arbitrary<Maker> = fc.oneof(
  fc.constant<Maker>((i) => svc(i, 'valid', 'valid')),
  fc.integer({ min: 64, max: 100_000 }).map<Maker>((n) => (i) => svc(i, `huge label value (${n})`, 'valid', (o) => (o.metadata.labels = { 'example.com/big': 'x'.repeat(n) }))),
  fc.string({ maxLength: 40 }).map<Maker>((s) => (i) =>
    svc(i, 'newlines and metacharacters in annotations', 'valid', (o) => (o.metadata.annotations = { note: `line1\nline2 $(touch ${PWNED}) \`id\`; ${s}` })),
  ),
  badIP.map<Maker>((ip) => (i) => svc(i, `clusterIP ${JSON.stringify(ip)}`, 'invalid', (o) => Object.assign(o.spec, { clusterIP: ip, clusterIPs: [ip] }))),
  badPort.map<Maker>((p) => (i) => svc(i, `port ${JSON.stringify(p)}`, 'invalid', (o) => ((o.spec.ports as Record<string, unknown>[])[0]!.port = p))),
  badProto.map<Maker>((p) => (i) => svc(i, `protocol ${JSON.stringify(p)}`, 'invalid', (o) => ((o.spec.ports as Record<string, unknown>[])[0]!.protocol = p))),
  shellish.map<Maker>((n) => (i) => svc(i, `name ${JSON.stringify(n)}`, 'invalid', (o) => (o.metadata.name = `${n}${i}`))),
  shellish.map<Maker>((n) => (i) => svc(i, `namespace ${JSON.stringify(n)}`, 'invalid', (o) => (o.metadata.namespace = `${n}${i}`))),
  fc.constant<Maker>((i) => svc(i, 'IPv4 clusterIP, ipFamilies IPv6', 'invalid', (o) => (o.spec.ipFamilies = ['IPv6']))),
  fc.constant<Maker>((i) => svc(i, 'valid dual-stack', 'valid', (o) => Object.assign(o.spec, { clusterIPs: [vip(i), vip6(i)], ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack' }))),
  fc.constant<Maker>((i) => svc(i, 'valid IPv6 only', 'valid', (o) => Object.assign(o.spec, { clusterIP: vip6(i), clusterIPs: [vip6(i)], ipFamilies: ['IPv6'] }))),
  badIP6.map<Maker>((ip) => (i) => svc(i, `IPv6 clusterIP ${JSON.stringify(ip)}`, 'invalid', (o) => Object.assign(o.spec, { clusterIP: ip, clusterIPs: [ip], ipFamilies: ['IPv6'] }))),
  badIP6.map<Maker>((ip) => (i) => svc(i, `dual-stack, second clusterIP ${JSON.stringify(ip)}`, 'invalid', (o) => Object.assign(o.spec, { clusterIPs: [vip(i), ip], ipFamilies: ['IPv4', 'IPv6'] }))),
  fc.constant<Maker>((i) => svc(i, 'dual-stack, ipFamilies in the wrong order', 'invalid', (o) => Object.assign(o.spec, { clusterIPs: [vip(i), vip6(i)], ipFamilies: ['IPv6', 'IPv4'] }))),
  fc.constant<Maker>((i) => svc(i, 'dual-stack, two IPv4 clusterIPs', 'invalid', (o) => Object.assign(o.spec, { clusterIPs: [vip(i), `198.19.250.${i & 255}`], ipFamilies: ['IPv4', 'IPv4'] }))),
  fc.constant<Maker>((i) => svc(i, 'duplicate ports', 'invalid', (o) => (o.spec.ports = [{ name: 'p', port: 80, protocol: 'TCP' }, { name: 'p', port: 81, protocol: 'TCP' }]))),
  fc.string({ maxLength: 10 }).filter((t) => !['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName', ''].includes(t)).map<Maker>((t) => (i) => svc(i, `type ${JSON.stringify(t)}`, 'invalid', (o) => (o.spec.type = t))),
  fc.anything({ maxDepth: 2, maxKeys: 4 }).map<Maker>((junk) => (i) => svc(i, 'junk spec', 'any', (o) => (o.spec = junk as Record<string, unknown>))),
  fc.constant<Maker>((i) => slice(i, 'valid slice', 'valid')),
  badIP.map<Maker>((ip) => (i) => slice(i, `address ${JSON.stringify(ip)}`, 'invalid', (o) => (o.endpoints = [{ addresses: [ip] }]))),
  fc.constant<Maker>((i) => slice(i, 'IPv6 slice with IPv4 address', 'invalid', (o) => (o.addressType = 'IPv6'))),
  fc.constant<Maker>((i) => slice(i, 'valid IPv6 slice', 'valid', (o) => Object.assign(o, { addressType: 'IPv6', endpoints: [{ addresses: [`2001:db8:c8::${(i + 1).toString(16)}`], conditions: { ready: true } }] }))),
  badIP6.map<Maker>((ip) => (i) => slice(i, `IPv6 slice address ${JSON.stringify(ip)}`, 'invalid', (o) => Object.assign(o, { addressType: 'IPv6', endpoints: [{ addresses: [ip] }] }))),
  fc.constant<Maker>((i) => slice(i, 'IPv4 slice with IPv6 address', 'invalid', (o) => (o.endpoints = [{ addresses: [`2001:db8:c8::${(i + 1).toString(16)}`] }]))),
  fc.integer({ min: 65536, max: 1e9 }).map<Maker>((p) => (i) => slice(i, `slice port ${p}`, 'invalid', (o) => (o.ports = [{ name: 'p', port: p, protocol: 'TCP' }]))),
  badProto.map<Maker>((p) => (i) => slice(i, `slice protocol ${JSON.stringify(p)}`, 'invalid', (o) => (o.ports = [{ name: 'p', port: 8080, protocol: p }]))),
  fc.constant<Maker>((i) => slice(i, 'no service-name label', 'invalid', (o) => (o.metadata.labels = {}))),
  shellish.map<Maker>((n) => (i) => slice(i, `service-name label ${JSON.stringify(n)}`, 'invalid', (o) => (o.metadata.labels = { 'kubernetes.io/service-name': n }))),
);

function generate(): Gen[] {
  const ms = fc.sample(makers, { seed: SEED, numRuns: BATCHES * PER_BATCH - 2 });
  const out = ms.map((m, k) => m(k + 1));
  // Size extremes, once each: 10k endpoints (over the API's 1,000 limit) and exactly 1,000.
  const eps = (n: number, base: number): unknown[] => Array.from({ length: n }, (_, j) => ({ addresses: [`198.18.${base + (j >> 8)}.${j & 255}`], conditions: { ready: true } }));
  const n = out.length;
  out.push(slice(n + 1, '10k endpoints in one slice', 'invalid', (o) => (o.endpoints = eps(10_000, 128))));
  out.push(svc(n + 2, 'valid, with 1,000 endpoints', 'valid'));
  out.push(slice(n + 2, '1,000 endpoints in one slice', 'valid', (o) => (o.endpoints = eps(1000, 192))));
  return out;
}

interface LogLine {
  msg?: string;
  kind?: string;
  object?: string;
  reason?: string;
}

const modes: readonly Mode[] = heavy ? ['nftables', 'iptables', 'iptables-legacy'] : ['nftables', 'iptables'];

for (const mode of modes) {
  test(`${mode}: bad input fuzzing (>= 1,000 generated objects, dual-stack anchors) through --manifests: no crash, anchors never missing, rejections logged once and counted`, { skip: !isRoot && 'needs root', timeout: 300_000 }, async (t) => {
    const world = await World.create({ dualStack: true });
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'kpx-rel-fuzz-'));
    await fsp.rm(PWNED, { force: true });
    try {
      const anchors = servicesOverPods(ANCHORS, 1);
      await writeManifests(dir, 'anchors.json', manifestObjects(anchors, true));
      const run = modeRun(mode);
      const proxy = startProxyIn(world, ['--manifests', dir, '--proxy-mode', run.proxyMode, '--hostname-override', 'node-a', '--logging-format=json'], run.env);
      const anchorTuples = anchors.flatMap((a) => [`198.19.0.${a.index} . tcp . 80`, `${svcIP6(a.index)} . tcp . 80`]);
      /** Both families' VIP tuples as the kernel holds them. */
      const table = async (): Promise<Set<string>> => {
        const [v4, v6] = await Promise.all(FAMILIES.map((f) => kernelServiceTuples(world, mode, f)));
        return new Set([...v4!, ...v6!]);
      };
      await eventually(async () => {
        const tb = await table();
        return anchorTuples.every((x) => tb.has(x));
      }, 'anchors programmed', 30_000);

      const gens = generate();
      const counts = { valid: 0, invalid: 0, any: 0 };
      for (const g of gens) counts[g.expect]++;
      t.diagnostic(`generated objects: ${gens.length} (${JSON.stringify(counts)})`);
      assert.ok(gens.length >= 1000);

      // Sample the ruleset while batches land: every sample must hold every anchor.
      let sampling = true;
      let samples = 0;
      const partial: string[] = [];
      const sampler = (async () => {
        while (sampling && samples < 1000) {
          const tb = await table();
          samples++;
          const missing = anchorTuples.filter((x) => !tb.has(x));
          if (missing.length) partial.push(`sample ${samples}: ${missing.length} anchors missing`);
          await sleep(150);
        }
      })();
      for (let b = 0; b < BATCHES; b++) {
        const batch = gens.slice(b * PER_BATCH, b === BATCHES - 1 ? gens.length : (b + 1) * PER_BATCH);
        await writeManifests(dir, `fuzz-${String(b).padStart(2, '0')}.json`, batch.map((g) => g.obj));
        await sleep(400);
        assert.equal(proxy.child.exitCode, null, `proxy alive after batch ${b}: ${proxy.output().slice(-2000)}`);
      }
      // Rewriting a file with the same objects (plus one valid one) must not log the rejections again.
      const extra = svc(99_999 & 0xffff, 'valid (rewrite)', 'valid');
      await writeManifests(dir, 'fuzz-00.json', [...gens.slice(0, PER_BATCH).map((g) => g.obj), extra.obj]);

      // "key|family" for each family a generated valid Service has.
      const validKeys = gens
        .filter((g) => g.kind === 'Service' && g.expect === 'valid')
        .flatMap((g) => (g.families?.length ? g.families : (['IPv4'] as const)).map((f) => `${g.key}:p/TCP|${f}`));
      validKeys.push(`${extra.key}:p/TCP|IPv4`);
      const programmed = (st: Awaited<ReturnType<typeof debugState>>): string[] =>
        validKeys.filter((k) => {
          const [key, f] = k.split('|') as [string, Family];
          return key in (st.families[f]?.services ?? {});
        });
      await eventually(async () => programmed(await debugState(world)).length === validKeys.length, 'every generated valid service programmed', 60_000, 500);
      await sleep(1500);
      sampling = false;
      await sampler;

      const lines: LogLine[] = [];
      for (const l of proxy.output().split('\n')) {
        if (!l.startsWith('{')) continue;
        try {
          lines.push(JSON.parse(l) as LogLine);
        } catch {
          /* a line cut by the output cap */
        }
      }
      const rejected = lines.filter((l) => l.msg === 'Ignoring invalid object');
      const perKey = new Map<string, number>();
      for (const l of rejected) perKey.set(`${l.kind}|${l.object}`, (perKey.get(`${l.kind}|${l.object}`) ?? 0) + 1);
      const dups = [...perKey].filter(([, n]) => n > 1);
      const invalid = gens.filter((g) => g.expect === 'invalid');
      const notLogged = invalid.filter((g) => perKey.get(`${g.kind}|${g.key}`) !== 1);
      const withoutReason = rejected.filter((l) => !l.reason);
      const metric = metricValue(await metricsText(world), 'kubeproxy_ts_invalid_objects_total');
      const st = await debugState(world);
      const tuples = await table();
      const generatedValid = programmed(st).length;
      const vipsInTable = [...tuples].filter((x) => x.endsWith(' . tcp . 80')).length;
      const v6Valid = validKeys.filter((k) => k.endsWith('|IPv6')).length;

      t.diagnostic(`${mode}: ruleset samples during the run (both families): ${samples}, partial: ${partial.length}`);
      t.diagnostic(`${mode}: rejections logged: ${rejected.length} (distinct objects ${perKey.size}, duplicates ${dups.length}); kubeproxy_ts_invalid_objects_total = ${metric}`);
      t.diagnostic(`${mode}: generated valid service families programmed: ${generatedValid}/${validKeys.length} (${v6Valid} IPv6); VIP:80 entries in the kernel, both families: ${vipsInTable}`);
      t.diagnostic(`${mode}: examples: ${rejected.filter((l) => /IP|ip/.test(l.reason ?? '')).slice(0, 3).map((l) => `${l.object}: ${l.reason}`).join(' | ')}`);

      assert.equal(proxy.child.exitCode, null, 'the proxy never crashed');
      assert.deepEqual(partial, [], 'every ruleset sample held every anchor');
      assert.deepEqual(dups, [], 'no object version logged twice');
      assert.deepEqual(notLogged.map((g) => `${g.key} (${g.what})`).slice(0, 10), [], 'every invalid object logged exactly once');
      assert.deepEqual(withoutReason, [], 'every rejection names its reason');
      assert.equal(metric, rejected.length, 'the counter equals the logged rejections');
      assert.equal(generatedValid, validKeys.length);
      assert.equal((await httpGet(world, 'http://127.0.0.1:10256/healthz')).status, 200);
      assert.equal(await fsp.access(PWNED).then(() => true, () => false), false, 'no injected command ran');
      const r = await proxy.stop();
      assert.equal(r.code, 0);
    } finally {
      await world.destroy();
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
}
