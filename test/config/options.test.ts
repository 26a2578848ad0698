import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parseCommandLine, renderConfigYAML, writeConfigFile, type CommandLineResult } from '../../src/config/options.js';
import { defaultConfiguration } from '../../src/config/defaults.js';
import { loadConfigText } from '../../src/config/load.js';
import type { ProxyOptions } from '../../src/config/types.js';
import { fixture, tempFile } from './helpers.js';

const env = { hostname: () => '  Test-Node ' };
const HEADER = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n';

async function run(argv: string[]): Promise<{ options: ProxyOptions; warnings: string[] }> {
  const r = await parseCommandLine(argv, env);
  if (r.kind !== 'run') assert.fail(`expected run for ${argv.join(' ')}, got ${r.kind}: ${'message' in r ? r.message : ''}`);
  return r;
}

async function opts(argv: string[]): Promise<ProxyOptions> {
  return (await run(argv)).options;
}

function configFile(body: string): string {
  return tempFile('kube-proxy.yaml', HEADER + body);
}

test('defaults equal upstream (v1alpha1 defaults + Linux platform defaults)', async () => {
  const o = await opts([]);
  const want = defaultConfiguration();
  want.mode = 'iptables';
  want.detectLocalMode = 'ClusterCIDR';
  assert.deepEqual(o.config, want);
  assert.deepEqual(
    { ...o, config: undefined },
    {
      config: undefined,
      configFile: '',
      mode: 'iptables',
      hostname: 'test-node',
      kubeconfig: '',
      master: '',
      manifestsDir: null,
      cleanup: false,
      initOnly: false,
      printRules: false,
      dryRun: false,
      oneShotTimeoutMs: 30_000,
      serviceLatencyTopN: 0,
      writeConfigTo: '',
      syncPeriodMs: 30_000,
      minSyncPeriodMs: 1_000,
      configSyncPeriodMs: 900_000,
      masqueradeBit: 14,
      masqueradeAll: false,
      clusterCIDRs: [],
      nodePortAddresses: [],
      detectLocalMode: 'ClusterCIDR',
      healthzBindAddress: '0.0.0.0:10256',
      metricsBindAddress: '127.0.0.1:10249',
      verbosity: 0,
      loggingFormat: 'text',
    },
  );
  // Values from the upstream defaults table.
  assert.deepEqual(want.conntrack, { maxPerCore: 32768, min: 131072, tcpEstablishedTimeout: '24h0m0s', tcpCloseWaitTimeout: '1h0m0s', tcpBeLiberal: false, udpTimeout: '0s', udpStreamTimeout: '0s' });
  assert.deepEqual(want.ipvs, { syncPeriod: '30s', minSyncPeriod: '0s', scheduler: '', excludeCIDRs: null, strictARP: false, tcpTimeout: '0s', tcpFinTimeout: '0s', udpTimeout: '0s' });
  assert.deepEqual(want.nftables, { masqueradeBit: 14, masqueradeAll: false, syncPeriod: '30s', minSyncPeriod: '1s' });
  assert.deepEqual(want.iptables, { masqueradeBit: 14, masqueradeAll: false, localhostNodePorts: true, syncPeriod: '30s', minSyncPeriod: '1s' });
  assert.deepEqual(want.clientConnection, { kubeconfig: '', acceptContentTypes: '', contentType: 'application/vnd.kubernetes.protobuf', qps: 5, burst: 10 });
  assert.equal(want.oomScoreAdj, -999);
  assert.equal(want.configSyncPeriod, '15m0s');
  assert.equal(want.bindAddress, '0.0.0.0');
});

test('--config replaces config-mapped flags; logging flags, --hostname-override and --master still apply', async () => {
  const file = configFile(
    'mode: ipvs\nhostnameOverride: foo\nlogging:\n  format: text\n  flushFrequency: 1s\n  verbosity: 10\n  vmodule:\n  - filePattern: foo.go\n    verbosity: 6\n  - filePattern: bar.go\n    verbosity: 8\n',
  );
  const { options: o, warnings } = await run(['--config', file, '--proxy-mode=nftables', '--ipvs-scheduler', 'some-scheduler', '-v=7', '--vmodule', 'goo.go=8', '--master=https://198.19.0.1:6443']);
  assert.equal(o.mode, 'ipvs', 'file wins over --proxy-mode');
  assert.equal(o.config.ipvs.scheduler, '', 'file wins over --ipvs-scheduler');
  assert.equal(o.verbosity, 7, '-v wins over the file');
  assert.equal(o.loggingFormat, 'text');
  assert.equal(o.config.logging.flushFrequency, '1s');
  // upstream TestOptionsComplete "both": flag vmodule entries first, then the file's.
  assert.deepEqual(o.config.logging.vmodule, [
    { filePattern: 'goo.go', verbosity: 8 },
    { filePattern: 'foo.go', verbosity: 6 },
    { filePattern: 'bar.go', verbosity: 8 },
  ]);
  assert.equal(o.master, 'https://198.19.0.1:6443');
  assert.equal(o.hostname, 'foo');
  assert.ok(warnings.some((w) => w.includes('--proxy-mode') && w.includes('--ipvs-scheduler')), 'ignored flags are reported');
});

test('--logging-format over a file; vmodule with json is rejected like upstream logsapi', async () => {
  const file = configFile('logging:\n  vmodule:\n  - filePattern: foo.go\n    verbosity: 6\n');
  assert.deepEqual(await parseCommandLine(['--config', file, '--logging-format=json'], env), {
    kind: 'error',
    message: 'initialize logging: logging.vmodule: Forbidden: Only supported for text log format',
  });
  assert.equal((await opts(['--config', configFile('logging:\n  format: text\n'), '--logging-format=json'])).loggingFormat, 'json');
});

test('--hostname-override beats the file, is trimmed and lower-cased; blank is an error', async () => {
  const file = configFile('hostnameOverride: foo\n');
  assert.equal((await opts(['--config', file])).hostname, 'foo');
  const o = await opts(['--config', file, '--hostname-override', '  BaR ']);
  assert.equal(o.hostname, 'bar');
  assert.equal(o.config.hostnameOverride, 'bar');
  assert.equal((await opts(['--config', file, '--hostname-override='])).hostname, 'foo', 'empty flag means unset');
  assert.deepEqual(await parseCommandLine(['--hostname-override', '   '], env), { kind: 'error', message: 'failed complete: empty hostname-override is invalid' });
  assert.equal((await opts([])).hostname, 'test-node', 'OS hostname, trimmed and lower-cased');
  assert.deepEqual(await parseCommandLine([], { hostname: () => '  ' }), { kind: 'error', message: 'empty hostname is invalid' });
});

test('sync period flags apply by mode (processV1Alpha1Flags) and land in the mode section', async () => {
  let o = await opts(['--iptables-sync-period=10s', '--iptables-min-sync-period=2s', '--ipvs-sync-period=99s']);
  assert.deepEqual([o.syncPeriodMs, o.minSyncPeriodMs], [10_000, 2_000]);
  assert.deepEqual([o.config.iptables.syncPeriod, o.config.iptables.minSyncPeriod], ['10s', '2s']);

  o = await opts(['--proxy-mode=ipvs', '--iptables-sync-period=10s', '--ipvs-sync-period=20s']);
  assert.deepEqual([o.syncPeriodMs, o.minSyncPeriodMs], [20_000, 1_000], 'ipvs min sync from flags defaults to 1s like upstream');
  assert.deepEqual([o.config.ipvs.syncPeriod, o.config.ipvs.minSyncPeriod], ['20s', '1s']);

  o = await opts(['--proxy-mode=nftables', '--iptables-min-sync-period=0', '--ipvs-min-sync-period=5s']);
  assert.equal(o.minSyncPeriodMs, 0, 'nftables uses the iptables flags');
  assert.equal(o.config.nftables.minSyncPeriod, '0s');

  o = await opts(['--iptables-sync-period=1h2m3.5s', '--iptables-min-sync-period=250ms']);
  assert.deepEqual([o.syncPeriodMs, o.minSyncPeriodMs], [3_723_500, 250]);

  // From a file the mode's own section is read.
  o = await opts(['--config', configFile('mode: nftables\nnftables:\n  syncPeriod: 45s\n  minSyncPeriod: 3s\niptables:\n  syncPeriod: 1s\n')]);
  assert.deepEqual([o.syncPeriodMs, o.minSyncPeriodMs], [45_000, 3_000]);
  o = await opts(['--config', configFile('mode: ipvs\n')]);
  assert.deepEqual([o.syncPeriodMs, o.minSyncPeriodMs], [30_000, 0], 'file ipvs.minSyncPeriod defaults to 0s');
});

test('masquerade settings by mode', async () => {
  let o = await opts(['--proxy-mode=nftables', '--masquerade-all']);
  assert.equal(o.masqueradeAll, true);
  assert.equal(o.config.nftables.masqueradeAll, true);
  assert.equal(o.config.iptables.masqueradeAll, false);
  o = await opts(['--masquerade-all', '--iptables-masquerade-bit=5']);
  assert.deepEqual([o.masqueradeAll, o.masqueradeBit, o.config.iptables.masqueradeAll], [true, 5, true]);
  o = await opts(['--proxy-mode=ipvs', '--iptables-masquerade-bit=7']);
  assert.equal(o.masqueradeBit, 7, 'ipvs uses iptables.masqueradeBit');
  o = await opts(['--config', configFile('mode: nftables\nnftables:\n  masqueradeBit: 3\n  masqueradeAll: true\niptables:\n  masqueradeBit: 20\n')]);
  assert.deepEqual([o.masqueradeBit, o.masqueradeAll], [3, true]);
  o = await opts(['--config', configFile('mode: iptables\nnftables:\n  masqueradeBit: 3\n  masqueradeAll: true\n')]);
  assert.deepEqual([o.masqueradeBit, o.masqueradeAll], [14, false]);
});

test('platform defaults: mode, nftables nodePortAddresses, detectLocalMode', async () => {
  assert.deepEqual((await opts(['--proxy-mode=nftables'])).nodePortAddresses, ['primary']);
  assert.deepEqual((await opts(['--proxy-mode=nftables', '--nodeport-addresses=198.18.0.0/16'])).nodePortAddresses, ['198.18.0.0/16']);
  assert.deepEqual((await opts(['--proxy-mode=iptables'])).nodePortAddresses, []);
  assert.equal((await opts(['--proxy-mode='])).mode, 'iptables');
  assert.equal((await opts(['--detect-local-mode=NodeCIDR'])).detectLocalMode, 'NodeCIDR');
  const o = await opts(['--config', configFile('mode: nftables\n')]);
  assert.deepEqual([o.mode, o.nodePortAddresses, o.detectLocalMode], ['nftables', ['primary'], 'ClusterCIDR']);
});

test('deprecated --healthz-port / --metrics-port only without --config and --write-config-to', async () => {
  assert.equal((await opts(['--healthz-port=0'])).healthzBindAddress, '');
  assert.equal((await opts(['--metrics-port=0'])).metricsBindAddress, '', 'empty disables metrics (documented deviation)');
  assert.equal((await opts(['--healthz-bind-address=198.18.3.4', '--healthz-port=12345'])).healthzBindAddress, '198.18.3.4:12345');
  assert.equal((await opts(['--healthz-bind-address=198.18.3.4:1000', '--healthz-port=12345'])).healthzBindAddress, '198.18.3.4:1000');
  assert.equal((await opts(['--metrics-bind-address=2001:db8:1::6', '--metrics-port=23456'])).metricsBindAddress, '[2001:db8:1::6]:23456');
  assert.equal((await opts(['--healthz-bind-address=198.18.3.4'])).healthzBindAddress, '198.18.3.4:10256');
  const file = configFile('');
  assert.equal((await opts(['--config', file, '--healthz-port=0'])).healthzBindAddress, '0.0.0.0:10256');
  assert.equal((await opts(['--write-config-to=/tmp/x', '--healthz-port=0', '--healthz-bind-address=198.18.3.4'])).healthzBindAddress, '198.18.3.4:10256');
});

test('command flags are recorded', async () => {
  const o = await opts(['--cleanup', '--init-only', '--print-rules', '--manifests=/etc/kp/manifests', '--write-config-to', '/tmp/out.yaml', '--kubeconfig=/k', '--cluster-cidr=198.18.0.0/16,2001:db8::/64']);
  assert.deepEqual(
    [o.cleanup, o.initOnly, o.printRules, o.manifestsDir, o.writeConfigTo, o.kubeconfig, o.clusterCIDRs],
    [true, true, true, '/etc/kp/manifests', '/tmp/out.yaml', '/k', ['198.18.0.0/16', '2001:db8::/64']],
  );
});

test('config file errors come back as kind "error" naming file, line and field', async () => {
  const file = configFile('iptables:\n  minSyncPeriod: 1x\n');
  const r = await parseCommandLine(['--config', file], env);
  assert.deepEqual(r, { kind: 'error', message: `${file}:4:18: iptables.minSyncPeriod: time: unknown unit "x" in duration "1x"` });
  // An unknown field is a warning (upstream decodes leniently after a strict-decoding error).
  const lenient = await parseCommandLine(['--config', configFile('iptables:\n  minSyncPeriodd: 1s\n')], env);
  assert.equal(lenient.kind, 'run');
  assert.ok(lenient.kind === 'run' && lenient.warnings.some((w) => w.includes('iptables.minSyncPeriodd: unknown field (did you mean "minSyncPeriod"?)')));
  const v = await parseCommandLine(['--config', configFile('iptables:\n  masqueradeBit: 40\n')], env);
  assert.deepEqual(v, { kind: 'error', message: 'failed validate: KubeProxyConfiguration.KubeProxyIPTablesConfiguration.MasqueradeBit: Invalid value: 40: must be within the range [0, 31]' });
});

const ROUND_TRIP_ARGVS: string[][] = [
  [],
  ['--proxy-mode=nftables', '--masquerade-all', '--iptables-sync-period=10s', '--nodeport-addresses=198.18.0.0/16,2001:db8::/64'],
  ['--proxy-mode=ipvs', '--ipvs-sync-period=20s', '--ipvs-min-sync-period=2s', '--ipvs-exclude-cidrs=198.18.1.0/24', '--ipvs-scheduler=wrr', '--ipvs-tcp-timeout=900s', '--ipvs-strict-arp'],
  ['--cluster-cidr=198.18.0.0/16,2001:db8:244::/56', '--detect-local-mode=ClusterCIDR', '--bind-address=198.19.0.5', '--feature-gates=LoggingAlphaOptions=true,WatchListClient=false'],
  ['--detect-local-mode=BridgeInterface', '--pod-bridge-interface=cbr0', '--hostname-override=NODE-1', '--kubeconfig=/etc/k.conf', '--kube-api-qps=7.5', '--kube-api-burst=20'],
  ['--conntrack-max-per-core=0', '--conntrack-tcp-timeout-established=1h30m', '--conntrack-udp-timeout=30s', '-v=4', '--vmodule=a.go=2'],
  ['--logging-format=json', '--log-flush-frequency=2s', '--feature-gates=LoggingAlphaOptions=true', '--log-json-split-stream', '--log-json-info-buffer-size=4Ki'],
  ['--metrics-bind-address=0.0.0.0:9999', '--healthz-bind-address=[::]:10256', '--oom-score-adj=-500', '--profiling', '--bind-address-hard-fail', '--iptables-localhost-nodeports=false'],
];

test('--write-config-to output reads back identically (config and resulting options)', async () => {
  for (const argv of ROUND_TRIP_ARGVS) {
    const first = await opts(argv);
    const text = renderConfigYAML(first.config);
    const loaded = loadConfigText(text, 'written.yaml');
    if (!loaded.ok) assert.fail(`${argv.join(' ')}: written config does not load:\n${loaded.message}\n${text}`);
    assert.deepEqual(loaded.config, first.config, argv.join(' '));
    const path = tempFile('written.yaml', '');
    await writeConfigFile(path, first.config);
    assert.equal(readFileSync(path, 'utf8'), text);
    const again = await opts(['--config', path]);
    // Logging flags and the hostname are in the file too, so nothing is lost.
    assert.deepEqual({ ...again, writeConfigTo: '', configFile: '' }, { ...first, writeConfigTo: '', configFile: '' }, argv.join(' '));
  }
});

test('a map key "<<" (YAML 1.1 merge key when plain) is written so it reads back as that key', () => {
  const c = defaultConfiguration();
  c.featureGates = { '<<': false, A: true };
  const text = renderConfigYAML(c);
  const loaded = loadConfigText(text, 'merge.yaml');
  if (!loaded.ok) assert.fail(loaded.message);
  assert.deepEqual(loaded.config.featureGates, { '<<': false, A: true });
});

test('property: rendered configs with arbitrary strings, lists, maps and numbers load back identically', () => {
  const tricky = fc.constantFrom('', '__proto__', 'constructor', 'yes', 'no', 'on', 'off', 'y', 'n', 'true', 'null', '~', '0777', '1:20', '0x1F', '1e3', '::', '- a', 'a: b', '#x', '"q"', "'s'", ' lead', 'trail ', 'multi\nline', '@at', '*star', '&amp', '!bang', '%pct', '[x]', '{y}', '.inf', '-.5');
  const str = fc.oneof(fc.string(), tricky);
  fc.assert(
    fc.property(
      fc.record({
        hostnameOverride: str,
        scheduler: str,
        bridge: str,
        kubeconfig: str,
        gates: fc.dictionary(fc.oneof(fc.string({ minLength: 1 }), tricky.filter((s) => s !== '')), fc.boolean()),
        npa: fc.option(fc.array(str, { maxLength: 3 }), { nil: null }),
        bit: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        ns: fc.bigInt({ min: -(1n << 40n), max: 1n << 40n }),
        qps: fc.float({ noNaN: true, noDefaultInfinity: true, min: 1, max: 1e6 }),
        vmodule: fc.array(fc.record({ filePattern: str, verbosity: fc.integer({ min: 0, max: 2 ** 31 - 1 }) }), { maxLength: 2 }),
      }),
      (r) => {
        const c = defaultConfiguration();
        c.hostnameOverride = r.hostnameOverride;
        c.ipvs.scheduler = r.scheduler;
        c.detectLocal.bridgeInterface = r.bridge;
        c.clientConnection.kubeconfig = r.kubeconfig;
        c.featureGates = Object.fromEntries(Object.entries(r.gates));
        c.nodePortAddresses = r.npa;
        c.oomScoreAdj = r.bit;
        c.ipvs.tcpTimeout = formatDurationFrom(r.ns);
        c.clientConnection.qps = Math.fround(r.qps);
        if (r.vmodule.length > 0) c.logging.vmodule = r.vmodule.map((v) => ({ ...v }));
        const loaded = loadConfigText(renderConfigYAML(c), 'p.yaml');
        if (!loaded.ok) return false;
        assert.deepEqual(loaded.config, c);
        return true;
      },
    ),
    { numRuns: 300 },
  );
});

import { formatDuration } from '../../src/util/duration.js';
function formatDurationFrom(ns: bigint): string {
  return formatDuration(ns);
}

function mutate(text: string, ops: { kind: number; pos: number; str: string }[]): string {
  let t = text;
  for (const op of ops) {
    const lines = t.split('\n');
    const i = lines.length === 0 ? 0 : op.pos % lines.length;
    const p = t.length === 0 ? 0 : op.pos % t.length;
    switch (op.kind % 6) {
      case 0: lines.splice(i, 1); t = lines.join('\n'); break; // drop a line
      case 1: lines.splice(i, 0, lines[i] ?? ''); t = lines.join('\n'); break; // duplicate a line
      case 2: t = t.slice(0, p) + op.str + t.slice(p); break; // insert text
      case 3: t = t.slice(0, p) + t.slice(p + 1 + (op.pos % 5)); break; // delete a few chars
      case 4: lines[i] = (lines[i] ?? '').replace(/:.*$/, ': ' + op.str); t = lines.join('\n'); break; // replace a value
      case 5: lines[i] = ' '.repeat(op.pos % 4) + (lines[i] ?? '').trimStart(); t = lines.join('\n'); break; // re-indent
    }
  }
  return t;
}

test('property: random mutations of a valid config file never throw (only "run" or "error")', async () => {
  const bases = [renderConfigYAML(defaultConfiguration()), readFileSync(fixture('kubeadm-style.yaml'), 'utf8'), HEADER + 'mode: nftables\nnodePortAddresses: [198.18.0.0/16]\n'];
  const piece = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('-1s', '"14"', '99999999999', 'null', '[', '{', '::', 'yes', '0x10', '- x', '\t', '---', '&a', '*a', '!!binary x', 'ipvs', '1e400'));
  const seen = { run: 0, error: 0 };
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...bases.keys()),
      fc.array(fc.record({ kind: fc.nat(), pos: fc.nat(), str: piece }), { minLength: 1, maxLength: 4 }),
      async (b, ops) => {
        const path = tempFile('m.yaml', mutate(bases[b] as string, ops));
        const r: CommandLineResult = await parseCommandLine(['--config', path], env);
        assert.ok(r.kind === 'run' || r.kind === 'error', r.kind);
        if (r.kind === 'error') assert.ok(r.message.length > 0);
        seen[r.kind]++;
      },
    ),
    { numRuns: 300 },
  );
  assert.ok(seen.run > 0 && seen.error > 0, `both outcomes occur: ${JSON.stringify(seen)}`);
});

test('property: random command lines never throw', async () => {
  const tok = fc.oneof(
    fc.string({ maxLength: 8 }),
    fc.constantFrom('--', '-', '-v', '-v=3', '-h', '--config', '--proxy-mode', 'ipvs', 'nftables', '--masquerade-all', 'false', '--iptables-sync-period', '1s', '-1s', '--cluster-cidr=198.18.0.0/16', '--nodeport-addresses', 'primary', '--feature-gates=A=true', '--hostname-override', ' ', '--healthz-port=0', '--bogus', '--version'),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(tok, { maxLength: 6 }), async (argv) => {
      const r = await parseCommandLine(argv, env);
      assert.ok(['run', 'error', 'help', 'version'].includes(r.kind));
    }),
    { numRuns: 300 },
  );
});
