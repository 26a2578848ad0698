// Everyday operator experience on the command line: did-you-mean for flags, one warning per
// compatibility no-op flag, a missing --kubeconfig names the flag, one-shot commands give up in
// bounded time on an unreachable API server, --manifests problems name the file and field, and
// --print-rules fails when an input object was rejected.

import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { rmDir, serviceObject, sliceObject, tempDir, writeManifest } from '../runtime/fixtures.js';
import { runProxy } from '../support/proxy-process.js';

let dir = '';
let good = '';
before(async () => {
  dir = await tempDir('kpx-op-');
  good = path.join(dir, 'good');
  await fsp.mkdir(good);
  await writeManifest(good, 'web.json', [
    serviceObject({ name: 'web', clusterIP: '198.19.0.10', port: 80, portName: 'http' }),
    sliceObject('web', 8080, [{ ip: '198.18.100.2' }], { portName: 'http' }),
  ]);
});
after(async () => {
  await rmDir(dir);
});

const printRules = (m: string, extra: string[] = []) => runProxy(['--print-rules', '--manifests', m, '--proxy-mode', 'nftables', '--hostname-override', 'node-a', ...extra]);

test('a mistyped flag: one line with a did-you-mean, exit 1', async () => {
  const r = await runProxy(['--proxy-mod=nftables']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'Error: unknown flag: --proxy-mod (did you mean --proxy-mode?)\n');
});

test('compatibility flags that do nothing: one warning each, naming the flag', async () => {
  const r = await printRules(good, ['--profiling', '--vmodule=proxier=4', '--log-flush-frequency=2s']);
  assert.equal(r.code, 0, r.stderr);
  for (const f of ['profiling', 'vmodule', 'log-flush-frequency']) {
    const lines = r.stderr.split('\n').filter((l) => l.includes(`Flag --${f} is accepted for compatibility and has no effect`));
    assert.equal(lines.length, 1, `--${f}: ${r.stderr}`);
    assert.match(lines[0]!, /^W/);
  }
  const quiet = await printRules(good);
  assert.doesNotMatch(quiet.stderr, /accepted for compatibility/);
});

test('a missing --kubeconfig file: the error names the flag and the path', async () => {
  const r = await runProxy(['--print-rules', '--kubeconfig', path.join(dir, 'nope.conf')], { timeoutMs: 30_000 });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^Error: --kubeconfig \(clientConnection\.kubeconfig\) .*nope\.conf: no such file$/m);
});

test('one-shot commands give up after --one-shot-timeout on an unreachable API server', async () => {
  for (const cmd of ['--print-rules', '--dry-run']) {
    const t0 = Date.now();
    // Port 9 on loopback: nothing listens (connection refused); bounded by the flag, not by retries.
    const r = await runProxy([cmd, '--master', 'http://127.0.0.1:9', '--one-shot-timeout', '2s', '--proxy-mode', 'nftables'], { timeoutMs: 60_000 });
    const secs = (Date.now() - t0) / 1000;
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^Error: gave up after 2s waiting for the initial Services and EndpointSlices from the API server http:\/\/127\.0\.0\.1:9 /m);
    assert.equal(r.stdout, '');
    assert.ok(secs < 30, `${cmd} took ${secs}s`);
  }
});

test('--manifests: unknown fields and kinds warned at the default verbosity naming file and field; invalid objects name their file; --print-rules exits 1', async () => {
  const m = path.join(dir, 'bad');
  await fsp.mkdir(m);
  await fsp.writeFile(
    path.join(m, 'svc.yaml'),
    [
      'apiVersion: v1',
      'kind: Service',
      'metadata: {name: typo, namespace: default}',
      'spec:',
      '  clusterIP: 198.19.0.21',
      '  externalTrafficPolcy: Local',
      '  ports: [{name: http, port: 80, protocol: TCP, nodeport: 30001}]',
      '---',
      'apiVersion: v1',
      'kind: Service',
      'metadata: {name: bad, namespace: default}',
      'spec: {clusterIP: 198.19.0.20, ports: [{name: http, port: 70000, protocol: TCP}]}',
      '---',
      'apiVersion: apps/v1',
      'kind: Deploymnt',
      'metadata: {name: x}',
      '',
    ].join('\n'),
  );
  const r = await printRules(m);
  assert.equal(r.code, 1, r.stderr);
  const warn = (re: RegExp) => r.stderr.split('\n').filter((l) => l.startsWith('W') && re.test(l));
  assert.equal(warn(/Unknown field.*did you mean \\"externalTrafficPolicy\\".* file="svc\.yaml".*field="spec\.externalTrafficPolcy"/).length, 1, r.stderr);
  assert.equal(warn(/Unknown field.*did you mean \\"nodePort\\".* file="svc\.yaml".*field="spec\.ports\[0\]\.nodeport"/).length, 1, r.stderr);
  assert.equal(warn(/unhandled kind.* file="svc\.yaml" kind="Deploymnt"/).length, 1, r.stderr);
  assert.equal(warn(/Ignoring invalid object.*object="default\/bad".*70000.*file="svc\.yaml"/).length, 1, r.stderr);
  assert.match(r.stderr, /^Error: 1 input object\(s\) were rejected/m);
  // The rules are still printed, without the rejected object.
  assert.match(r.stdout, /198\.19\.0\.21/);
  assert.doesNotMatch(r.stdout, /198\.19\.0\.20/);
  // Valid input: exit 0, no warnings.
  const ok = await printRules(good);
  assert.equal(ok.code, 0, ok.stderr);
  assert.doesNotMatch(ok.stderr, /^W/m);
});

test('an unparseable manifest file makes --print-rules exit 1 too', async () => {
  const m = path.join(dir, 'broken');
  await fsp.mkdir(m);
  await fsp.writeFile(path.join(m, 'x.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: [\n');
  const r = await printRules(m);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /Cannot parse manifest file.*x\.yaml/);
});
