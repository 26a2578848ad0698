// Fault 5b: the config file parser. parseCommandLine(['--config', FILE]) over mutated copies of real
// configuration files (byte flips, inserted YAML syntax, dropped/duplicated lines, random values at
// random paths, alias bombs, deep nesting, huge and binary files) must never throw: every input is either
// a configuration or a one-line error. Also bounded in time per input.

import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { parse as parseYAML, stringify as stringifyYAML } from 'yaml';
import { parseCommandLine, renderConfigYAML } from '../../src/config/options.js';
import { defaultConfiguration } from '../../src/config/defaults.js';
import { repoRoot } from '../support/proxy-process.js';

const RUNS = Number(process.env.KPX_FUZZ_RUNS ?? 500);

async function seeds(): Promise<string[]> {
  const dir = path.join(repoRoot, 'test/config/fixtures');
  const out = [renderConfigYAML(defaultConfiguration())];
  for (const f of await fsp.readdir(dir)) if (f.endsWith('.yaml')) out.push(await fsp.readFile(path.join(dir, f), 'utf8'));
  return out;
}

const yamlBits = fc.constantFrom(':', ': ', '-', '- ', '&a ', '*a', '!!binary ', '!!int ', '{', '}', '[', ']', '%YAML 1.2\n', '---\n', '...\n', '\t', '\0', '"', "'", '#', '|', '>', '? ', '\r\n', '\uFEFF', '0x', '1e999', '-1s', '9999999999999999999h', 'null', '~', '<<: *a\n');
const anyValue = fc.oneof(
  fc.anything({ maxDepth: 3, maxKeys: 5 }),
  fc.integer(),
  fc.double(),
  fc.constantFrom('', '0s', '-5m', '1e309', 'NaN', '::', '0.0.0.0:99999', '$(touch /tmp/kpx-rel-cfg)', 'iptables', 'nftables', 'ipvs', 'x'.repeat(10_000)),
);

/** Paths of every node of a parsed document (object keys and array indexes). */
function paths(v: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...prefix, k], out);
  return out;
}

function setAt(root: unknown, p: readonly (string | number)[], value: unknown): unknown {
  if (p.length === 0) return value;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let cur = copy;
  for (let i = 0; i < p.length - 1; i++) cur = cur[p[i]!] as Record<string | number, unknown>;
  cur[p[p.length - 1]!] = value;
  return copy;
}

type Mutation = (text: string) => string;

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), fc.string({ unit: 'binary', maxLength: 4 })).map<Mutation>(([at, s]) => (t) => {
    const i = at % (t.length + 1);
    return t.slice(0, i) + s + t.slice(i + 1);
  }),
  fc.tuple(fc.nat(), yamlBits).map<Mutation>(([at, s]) => (t) => {
    const i = at % (t.length + 1);
    return t.slice(0, i) + s + t.slice(i);
  }),
  fc.tuple(fc.nat(), fc.nat({ max: 200 })).map<Mutation>(([at, n]) => (t) => {
    const i = at % (t.length + 1);
    return t.slice(0, i) + t.slice(i + n);
  }),
  fc.tuple(fc.nat(), fc.boolean()).map<Mutation>(([at, dup]) => (t) => {
    const lines = t.split('\n');
    const i = at % lines.length;
    if (dup) lines.splice(i, 0, lines[i]!);
    else lines.splice(i, 1);
    return lines.join('\n');
  }),
  fc.tuple(fc.nat(), anyValue).map<Mutation>(([at, value]) => (t) => {
    let doc: unknown;
    try {
      doc = parseYAML(t);
    } catch {
      return t;
    }
    const ps = paths(doc);
    try {
      return stringifyYAML(setAt(doc, ps[at % ps.length]!, value));
    } catch {
      return t;
    }
  }),
  fc.constantFrom<Mutation>(
    () => '',
    () => '\0\0\0\xff\xfe',
    // Alias bomb (billion laughs).
    () => 'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n',
    () => '['.repeat(5000) + ']'.repeat(5000),
    () => 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n' + 'x: '.repeat(1) + 'y'.repeat(2_000_000) + '\n',
    (t) => t.replace(/\n/g, '\r\n'),
    (t) => '\uFEFF' + t,
    (t) => t + '\n---\n' + t,
    (t) => t.replace('kubeproxy.config.k8s.io/v1alpha1', 'kubeproxy.config.k8s.io/v1beta1'),
    (t) => t.replace(/KubeProxyConfiguration/, 'Pod'),
  ),
);

test(`config file fuzzing (${RUNS} mutated files): parseCommandLine never throws`, { timeout: 180_000 }, async (t) => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'kpx-rel-cfg-'));
  const base = await seeds();
  const file = path.join(dir, 'config.yaml');
  const kinds: Record<string, number> = {};
  let slowest = 0;
  try {
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 4 }), async (pick, ms) => {
        let text = base[pick % base.length]!;
        for (const m of ms) text = m(text);
        await fsp.writeFile(file, text);
        const t0 = performance.now();
        const r = await parseCommandLine(['--config', file, '--hostname-override', 'node-a']);
        slowest = Math.max(slowest, performance.now() - t0);
        kinds[r.kind] = (kinds[r.kind] ?? 0) + 1;
        assert.ok(r.kind === 'run' || r.kind === 'error', `unexpected result kind ${r.kind}`);
        if (r.kind === 'error') {
          assert.equal(typeof r.message, 'string');
          assert.ok(r.message.length > 0);
        }
      }),
      { numRuns: RUNS, seed: 4242 },
    );
    t.diagnostic(`config fuzz: ${RUNS} inputs -> ${JSON.stringify(kinds)}; slowest parse ${Math.round(slowest)} ms`);
    assert.ok(slowest < 10_000, 'every parse bounded in time');
    await assert.rejects(fsp.access('/tmp/kpx-rel-cfg'), 'no injected command ran');
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});
