// Shell/ruleset injection: Services, namespaces, port names, EndpointSlice fields, labels and annotations
// carrying shell metacharacters ($(...), backticks, ';', '|', newlines) are fed to a running proxy
// (nftables and iptables modes) through --manifests. Each object is either rejected (logged) or
// programmed literally; no command runs (no file appears); and every input the proxy hands to nft /
// iptables-restore (recorded by a KPX_TOOL_* wrapper) is one well-formed transaction that the real tool
// accepted and that contains none of the payloads.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { eventually, sleep, startProxyIn } from '../reliability/support/proxy.js';
import { writeManifests } from '../reliability/support/scenario.js';
import { World } from '../reliability/support/world.js';

const isRoot = process.getuid?.() === 0;

function payloads(marker: string): string[] {
  return [`$(touch ${marker})`, `\`touch ${marker}\``, `x; touch ${marker}`, `x | touch ${marker}`, `x\ntouch ${marker}\n`, `x && touch ${marker} #`];
}

function objects(marker: string): { objects: unknown[]; rejected: string[] } {
  const [dollar, backtick, semi, pipe, newline, and] = payloads(marker);
  const svc = (name: string, ns: string, spec: Record<string, unknown>, meta: Record<string, unknown> = {}, status: Record<string, unknown> = {}) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, ...meta },
    spec: { type: 'ClusterIP', ports: [{ name: 'p', port: 80, protocol: 'TCP', targetPort: 8080 }], ...spec },
    status,
  });
  const objectsList: unknown[] = [
    // Valid services whose metadata carries payloads: programmed literally (the payloads never reach a rule).
    svc(
      'inj-ok',
      'default',
      { type: 'LoadBalancer', clusterIP: '198.19.7.1', clusterIPs: ['198.19.7.1'], loadBalancerSourceRanges: [' 198.18.0.0/24 '], ports: [{ name: 'p', port: 80, protocol: 'TCP', targetPort: 8080, nodePort: 30080 }] },
      { labels: { 'example.com/x': 'v', app: 'a' }, annotations: { note: `${newline}${dollar}${backtick}`, other: semi } },
      { loadBalancer: { ingress: [{ ip: '198.19.8.1', hostname: `lb.example.com` }] } },
    ),
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'inj-ok-a', namespace: 'default', labels: { 'kubernetes.io/service-name': 'inj-ok', 'example.com/y': 'z' }, annotations: { a: pipe } },
      addressType: 'IPv4',
      ports: [{ name: 'p', port: 8080, protocol: 'TCP' }],
      endpoints: [
        {
          addresses: ['198.18.100.7'],
          conditions: { ready: true },
          nodeName: `node${dollar}`,
          zone: `zone${semi}`,
          hostname: `h${backtick}`,
          hints: { forZones: [{ name: `zone${and}` }] },
        },
      ],
    },
    // Rejected: the payload is in a field that names something in the rules.
    svc(dollar, 'default', { clusterIP: '198.19.7.2' }),
    svc('inj-ns', `ns${backtick}`, { clusterIP: '198.19.7.3' }),
    svc('inj-port', 'default', { clusterIP: '198.19.7.4', ports: [{ name: `p${semi}`, port: 80, protocol: 'TCP' }] }),
    svc('inj-ip', 'default', { clusterIP: `198.19.7.5${semi}` }),
    svc('inj-extip', 'default', { clusterIP: '198.19.7.6', externalIPs: [`198.19.9.9${pipe}`] }),
    svc('inj-proto', 'default', { clusterIP: '198.19.7.7', ports: [{ name: 'p', port: 80, protocol: `TCP${newline}` }] }),
    svc(`inj-nl\n${and}`, 'default', { clusterIP: '198.19.7.8' }),
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `inj-slice${backtick}`, namespace: 'default', labels: { 'kubernetes.io/service-name': 'inj-ok' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['198.18.100.8'] }],
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'inj-addr', namespace: 'default', labels: { 'kubernetes.io/service-name': 'inj-ok' } },
      addressType: 'IPv4',
      ports: [{ name: 'p', port: 8080, protocol: 'TCP' }],
      endpoints: [{ addresses: [`198.18.100.9${dollar}`] }],
    },
  ];
  return { objects: objectsList, rejected: ['Service', 'Service', 'Service', 'Service', 'Service', 'Service', 'Service', 'EndpointSlice', 'EndpointSlice'] };
}

/** A wrapper that keeps every stdin it is given (one file per call) and the real tool's exit code. */
async function recordingWrapper(dir: string, tool: string, real: string): Promise<string> {
  const rec = path.join(dir, `rec-${tool}`);
  await fsp.mkdir(rec);
  const p = path.join(dir, `wrap-${tool}`);
  await fsp.writeFile(
    p,
    `#!/bin/sh
f=$(mktemp -p '${rec}' in-XXXXXX)
printf '%s\\n' "$*" > "$f.args"
cat > "$f"
'${real}' "$@" < "$f"
rc=$?
echo $rc > "$f.rc"
exit $rc
`,
    { mode: 0o755 },
  );
  return p;
}

async function recorded(dir: string, tool: string): Promise<{ input: string; args: string; rc: number }[]> {
  const rec = path.join(dir, `rec-${tool}`);
  const out = [];
  for (const f of (await fsp.readdir(rec)).filter((n) => /^in-\w+$/.test(n)).sort()) {
    const rc = await fsp.readFile(path.join(rec, f + '.rc'), 'utf8').catch(() => '');
    out.push({ input: await fsp.readFile(path.join(rec, f), 'utf8'), args: await fsp.readFile(path.join(rec, f + '.args'), 'utf8'), rc: Number(rc.trim() || -1) });
  }
  return out;
}

const IPTABLES_LINE = /^(\*(nat|filter|mangle)|:[A-Z0-9-]+ (-|ACCEPT|DROP) \[\d+:\d+\]|-[AIDXFN] [A-Z0-9-]+( .*)?|COMMIT|#.*|)$/;

const cases = [
  { mode: 'nftables', tool: 'nft', real: '/usr/sbin/nft', table: ['nft', 'list', 'table', 'ip', 'kube-proxy'] },
  { mode: 'iptables', tool: 'iptables-nft-restore', real: '/usr/sbin/iptables-nft-restore', table: ['iptables-nft-save'] },
] as const;

for (const c of cases) {
  test(`${c.mode}: shell metacharacters in object fields cannot inject commands or rules`, { skip: !isRoot && 'needs root', timeout: 90_000 }, async (t) => {
    const world = await World.create();
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'kpx-sec-'));
    const manifests = path.join(dir, 'manifests');
    await fsp.mkdir(manifests);
    const marker = path.join(os.tmpdir(), `kpx-pwned-${randomBytes(4).toString('hex')}`);
    try {
      const wrapper = await recordingWrapper(dir, c.tool, c.real);
      const { objects: objs, rejected } = objects(marker);
      await writeManifests(manifests, 'inj.json', objs);
      const key = 'KPX_TOOL_' + c.tool.toUpperCase().replace(/[^A-Z0-9]/g, '_');
      const proxy = startProxyIn(world, ['--manifests', manifests, '--proxy-mode', c.mode, '--hostname-override', 'node-a'], { [key]: wrapper, KPX_IPTABLES_BACKEND: 'nft' });
      const rules = await eventually(async () => {
        const r = await world.exec('node', [...c.table], { allowFailure: true });
        return r.includes('198.19.7.1') && r.includes('198.19.8.1') && r.includes('198.18.100.7') ? r : null;
      }, 'the valid service (VIP, LB IP, endpoint) programmed', 30_000);
      await sleep(1000);

      const out = proxy.output();
      const logged = (out.match(/Ignoring invalid object/g) ?? []).length;
      const inputs = await recorded(dir, c.tool);
      const writes = c.tool === 'nft' ? inputs.filter((i) => i.args.startsWith('-f')) : inputs;
      t.diagnostic(`${c.mode}: ${writes.length} transactions recorded; ${logged} objects rejected (expected ${rejected.length}); programmed: 198.19.7.1, LB 198.19.8.1, endpoint 198.18.100.7`);

      assert.equal(await fsp.access(marker).then(() => true, () => false), false, 'no injected command ran');
      assert.equal(logged, rejected.length, 'each object with a payload in a rule-relevant field is rejected once');
      for (const bad of ['198.19.7.2', '198.19.7.3', '198.19.7.4', '198.19.7.5', '198.19.7.6', '198.19.7.7', '198.19.7.8', '198.18.100.8', '198.18.100.9']) {
        assert.ok(!rules.includes(bad), `rejected object not programmed (${bad})`);
      }
      assert.ok(writes.length > 0);
      for (const w of writes) {
        assert.equal(w.rc, 0, 'the real tool accepted the transaction');
        assert.ok(!w.input.includes('kpx-pwned') && !w.input.includes('$(') && !w.input.includes('`'), 'no payload in the tool input');
        if (c.mode === 'iptables') {
          const lines = w.input.split('\n');
          const bad = lines.filter((l) => !IPTABLES_LINE.test(l));
          assert.deepEqual(bad, [], 'every restore line is a table, chain, rule or COMMIT');
          assert.equal(lines.filter((l) => l.startsWith('*')).length, lines.filter((l) => l === 'COMMIT').length, 'every table section is committed');
          for (const m of w.input.matchAll(/--comment (\S+|"[^"]*")/g)) assert.match(m[1]!, /^"?[^$`;|&\n"'\\]*"?$/, `comment is literal text: ${m[1]}`);
        } else {
          assert.match(w.input, /table ip6? kube-proxy/, 'one transaction on our table');
          for (const m of w.input.matchAll(/comment "([^"]*)"/g)) assert.match(m[1]!, /^[^$`;|&\n'\\]*$/, `comment is literal text: ${m[1]}`);
        }
      }
      const r = await proxy.stop();
      assert.equal(r.code, 0);
    } finally {
      await world.destroy();
      await fsp.rm(dir, { recursive: true, force: true });
      await fsp.rm(marker, { force: true });
    }
  });
}
