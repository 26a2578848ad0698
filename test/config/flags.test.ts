import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FLAGS, helpText, parseFlags } from '../../src/config/flags.js';
import { parseCommandLine } from '../../src/config/options.js';

const env = { hostname: () => 'test-node' };

async function run(argv: string[]) {
  const r = await parseCommandLine(argv, env);
  if (r.kind !== 'run') assert.fail(`expected run for ${argv.join(' ')}, got ${r.kind}: ${'message' in r ? r.message : ''}`);
  return r.options;
}

async function error(argv: string[]): Promise<string> {
  const r = await parseCommandLine(argv, env);
  if (r.kind !== 'error') assert.fail(`expected error for ${argv.join(' ')}, got ${r.kind}`);
  return r.message;
}

test('verbosity: -v=7, -v 7, -v7, --v=7, --v 7 all set 7', async () => {
  for (const argv of [['-v=7'], ['-v', '7'], ['-v7'], ['--v=7'], ['--v', '7']]) {
    assert.equal((await run(argv)).verbosity, 7, argv.join(' '));
  }
  assert.equal((await run(['-v=7', '--v', '2'])).verbosity, 2, 'last one wins');
});

test('bool flags: bare, =true, =false, Go spellings', async () => {
  assert.equal((await run(['--masquerade-all'])).masqueradeAll, true);
  assert.equal((await run(['--masquerade-all=true'])).masqueradeAll, true);
  assert.equal((await run(['--masquerade-all=false'])).masqueradeAll, false);
  assert.equal((await run(['--masquerade-all=1'])).masqueradeAll, true);
  assert.equal((await run(['--masquerade-all=T'])).masqueradeAll, true);
  assert.equal((await run(['--iptables-localhost-nodeports=false'])).config.iptables.localhostNodePorts, false);
  // A separate word after a bool flag is not its value (pflag): it is a positional argument.
  assert.equal(await error(['--masquerade-all', 'false']), '"kube-proxy" does not take any arguments, got ["false"]');
});

test('value flags take the next word even when it starts with "-"', async () => {
  const o = await run(['--oom-score-adj', '-500', '--iptables-min-sync-period', '0s']);
  assert.equal(o.config.oomScoreAdj, -500);
  assert.equal(o.minSyncPeriodMs, 0);
});

test('underscores in flag names are accepted (WordSepNormalizeFunc)', async () => {
  assert.equal((await run(['--iptables_sync_period=10s'])).syncPeriodMs, 10_000);
});

test('comma-separated lists', async () => {
  const o = await run([
    '--cluster-cidr=198.18.0.0/16,2001:db8::/64',
    '--nodeport-addresses=198.18.0.0/16,198.19.0.0/16',
    '--proxy-mode=ipvs',
    '--ipvs-exclude-cidrs=198.18.1.0/24,198.18.2.0/24',
    '--feature-gates=LoggingAlphaOptions=true,ContextualLogging=false',
  ]);
  assert.deepEqual(o.clusterCIDRs, ['198.18.0.0/16', '2001:db8::/64']);
  assert.equal(o.config.clusterCIDR, '198.18.0.0/16,2001:db8::/64');
  assert.deepEqual(o.nodePortAddresses, ['198.18.0.0/16', '198.19.0.0/16']);
  assert.deepEqual(o.config.ipvs.excludeCIDRs, ['198.18.1.0/24', '198.18.2.0/24']);
  assert.deepEqual(o.config.featureGates, { LoggingAlphaOptions: true, ContextualLogging: false });
});

test('repeated list and map flags accumulate like pflag', async () => {
  const o = await run([
    '--nodeport-addresses=198.18.0.0/16',
    '--nodeport-addresses',
    '198.19.0.0/16',
    '--feature-gates=ComponentFlagz=true',
    '--feature-gates=WatchListClient=false,ComponentFlagz=false',
  ]);
  assert.deepEqual(o.nodePortAddresses, ['198.18.0.0/16', '198.19.0.0/16']);
  assert.deepEqual(o.config.featureGates, { ComponentFlagz: false, WatchListClient: false });
});

test('a feature gate named __proto__ stays a plain key (and is then an unknown gate)', async () => {
  const parsed = parseFlags(['--feature-gates=__proto__=true']).values.get('feature-gates') as Record<string, boolean>;
  assert.deepEqual(Object.keys(parsed), ['__proto__']);
  assert.equal(Object.getPrototypeOf(parsed), Object.prototype);
  assert.equal(await error(['--feature-gates=__proto__=true']), 'failed complete: unrecognized feature gate: __proto__');
});

test('invalid values name the flag, pflag style', async () => {
  const cases: [string[], string][] = [
    [['--iptables-sync-period=1x'], 'invalid argument "1x" for "--iptables-sync-period" flag: time: unknown unit "x" in duration "1x"'],
    [['--iptables-sync-period', '5'], 'invalid argument "5" for "--iptables-sync-period" flag: time: missing unit in duration "5"'],
    [['--masquerade-all=maybe'], 'invalid argument "maybe" for "--masquerade-all" flag: strconv.ParseBool: parsing "maybe": invalid syntax'],
    [['--iptables-masquerade-bit=x'], 'invalid argument "x" for "--iptables-masquerade-bit" flag: strconv.ParseInt: parsing "x": invalid syntax'],
    [['--conntrack-min=99999999999'], 'invalid argument "99999999999" for "--conntrack-min" flag: strconv.ParseInt: parsing "99999999999": value out of range'],
    [['--kube-api-qps=fast'], 'invalid argument "fast" for "--kube-api-qps" flag: strconv.ParseFloat: parsing "fast": invalid syntax'],
    [['--bind-address=198.18.3'], 'invalid argument "198.18.3" for "--bind-address" flag: "198.18.3" is not a valid IP address'],
    [['--healthz-bind-address=198.18.3.4:99999'], 'invalid argument "198.18.3.4:99999" for "--healthz-bind-address" flag: "99999" is not a valid number'],
    [['--healthz-bind-address=nohost:80'], 'invalid argument "nohost:80" for "--healthz-bind-address" flag: "nohost" is not a valid IP address'],
    [['--cluster-cidr=198.18.0.0/33'], 'invalid argument "198.18.0.0/33" for "--cluster-cidr" flag: "198.18.0.0/33" is not a valid CIDR'],
    [['--nodeport-addresses=198.18.0.1'], `invalid argument "198.18.0.1" for "--nodeport-addresses" flag: "198.18.0.1" is not a valid CIDR (nor 'primary')`],
    [['--ipvs-exclude-cidrs=foo'], 'invalid argument "foo" for "--ipvs-exclude-cidrs" flag: "foo" is not a valid CIDR'],
    [['--proxy-mode=userspace'], 'invalid argument "userspace" for "--proxy-mode" flag: must be iptables, ipvs, nftables or blank (blank means the best-available proxy [currently iptables])'],
    [['--detect-local-mode=Guess'], 'invalid argument "Guess" for "--detect-local-mode" flag: supported values: "ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix", ""'],
    [['--feature-gates=A'], 'invalid argument "A" for "--feature-gates" flag: malformed pair, expect string=bool'],
    [['--feature-gates=A=maybe'], 'invalid argument "A=maybe" for "--feature-gates" flag: invalid value of A: maybe, err: strconv.ParseBool: parsing "maybe": invalid syntax'],
    [['-v=x'], 'invalid argument "x" for "-v, --v" flag: strconv.ParseUint: parsing "x": invalid syntax'],
    [['--vmodule=foo'], 'invalid argument "foo" for "--vmodule" flag: "foo" does not have the pattern=N format'],
  ];
  for (const [argv, want] of cases) assert.equal(await error(argv), want, argv.join(' '));
});

test('syntax errors: unknown flags, missing values, positional arguments', async () => {
  assert.equal(await error(['--foo']), 'unknown flag: --foo', 'nothing close enough: no suggestion');
  // pflag's message, plus a did-you-mean for a near miss (deprecated flags are not suggested).
  assert.equal(await error(['--proxy-mod=nftables']), 'unknown flag: --proxy-mod (did you mean --proxy-mode?)');
  assert.equal(await error(['--hostname_overide', 'x']), 'unknown flag: --hostname_overide (did you mean --hostname-override?)');
  assert.equal(await error(['--foo=bar']), 'unknown flag: --foo');
  assert.equal(await error(['--no-masquerade-all']), 'unknown flag: --no-masquerade-all (did you mean --masquerade-all?)');
  assert.equal(await error(['-x']), "unknown shorthand flag: 'x' in -x");
  assert.equal(await error(['--config']), 'flag needs an argument: --config');
  assert.equal(await error(['-v']), "flag needs an argument: 'v' in -v");
  assert.equal(await error(['---v=1']), 'bad flag syntax: ---v=1');
  assert.equal(await error(['run']), '"kube-proxy" does not take any arguments, got ["run"]');
  assert.equal(await error(['--', '--v=2']), '"kube-proxy" does not take any arguments, got ["--v=2"]');
});

test('help and version', async () => {
  for (const argv of [['-h'], ['--help'], ['--v=2', '--help']]) {
    const r = await parseCommandLine(argv, env);
    assert.equal(r.kind, 'help', argv.join(' '));
  }
  // pflag stops at the first bad flag, even before --help.
  assert.equal((await parseCommandLine(['--bogus', '--help'], env)).kind, 'error');
  const v = await parseCommandLine(['--version'], env);
  assert.deepEqual(v, { kind: 'version', text: 'kube-proxy-ts v0.1.0 (kube-proxy v1.35 compatible)' });
  assert.equal((await parseCommandLine(['--version=raw'], env)).kind, 'version');
  assert.equal((await parseCommandLine(['--version=false'], env)).kind, 'run');
});

test('help text lists every non-deprecated flag with type and default', () => {
  const text = helpText();
  for (const f of FLAGS) {
    if (f.deprecated) assert.ok(!text.includes(`--${f.name} `), `deprecated ${f.name} hidden`);
    else assert.ok(text.includes(`--${f.name}`), f.name);
  }
  assert.match(text, /^\s+--iptables-sync-period duration\s+An interval .* \(default 30s\)$/m);
  assert.match(text, /^\s+-v, --v Level\s+number for the log level verbosity$/m);
  assert.match(text, /^\s+--healthz-bind-address ipport\s+.*\(default 0\.0\.0\.0:10256\)$/m);
  assert.match(text, /^\s+--kube-api-content-type string\s+.*\(default "application\/vnd\.kubernetes\.protobuf"\)$/m);
  assert.match(text, /^\s+--manifests string\s+Run without an API server/m);
  assert.match(text, /^\s+--print-rules\s+Print the ruleset/m);
});

test('every upstream flag from the reference table exists', () => {
  const upstream = [
    'config', 'write-config-to', 'cleanup', 'init-only', 'feature-gates', 'kubeconfig', 'master', 'kube-api-content-type',
    'kube-api-qps', 'kube-api-burst', 'hostname-override', 'bind-address', 'healthz-bind-address', 'metrics-bind-address',
    'bind-address-hard-fail', 'profiling', 'show-hidden-metrics-for-version', 'proxy-mode', 'iptables-masquerade-bit',
    'masquerade-all', 'iptables-localhost-nodeports', 'iptables-sync-period', 'iptables-min-sync-period', 'ipvs-sync-period',
    'ipvs-min-sync-period', 'ipvs-scheduler', 'ipvs-exclude-cidrs', 'ipvs-strict-arp', 'ipvs-tcp-timeout', 'ipvs-tcpfin-timeout',
    'ipvs-udp-timeout', 'detect-local-mode', 'cluster-cidr', 'pod-bridge-interface', 'pod-interface-name-prefix',
    'nodeport-addresses', 'oom-score-adj', 'conntrack-max-per-core', 'conntrack-min', 'conntrack-tcp-timeout-established',
    'conntrack-tcp-timeout-close-wait', 'conntrack-tcp-be-liberal', 'conntrack-udp-timeout', 'conntrack-udp-timeout-stream',
    'config-sync-period', 'healthz-port', 'metrics-port', 'v', 'vmodule', 'log-flush-frequency', 'logging-format',
    'version', 'help', 'boot-id-file', 'machine-id-file',
  ];
  const names = new Set(FLAGS.map((f) => f.name));
  for (const n of upstream) assert.ok(names.has(n), n);
  // Each of them parses (bools bare, others with a valid value).
  for (const n of upstream) {
    const f = FLAGS.find((x) => x.name === n)!;
    const sample: Record<string, string> = { ProxyMode: 'ipvs', LocalMode: 'NodeCIDR', duration: '3s', int32: '3', float32: '3', Level: '3', ip: '198.18.0.1', ipport: '198.18.0.1:80', mapStringBool: 'X=true', vmodule: 'a=1', quantity: '1Ki', cidrs: '198.18.0.0/16', nodePortAddresses: 'primary', clusterCIDR: '198.18.0.0/16', strings: 'a', string: 'x' };
    const argv = f.kind === 'bool' || f.kind === 'version' ? [`--${n}`] : [`--${n}`, sample[f.kind] ?? 'x'];
    assert.ok(parseFlags(argv).values.has(n), n);
  }
});

test('deprecated flags warn', async () => {
  const r = await parseCommandLine(['--healthz-port=0'], env);
  assert.equal(r.kind, 'run');
  if (r.kind === 'run') assert.ok(r.warnings.some((w) => w.startsWith('Flag --healthz-port has been deprecated')));
});
