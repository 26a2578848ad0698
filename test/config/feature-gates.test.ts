// Feature gate validation and resolution (upstream component-base/featuregate SetFromMap over the
// kube-proxy 1.35 registry), through the pure resolver and through the command line / config file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FEATURE_GATES, GATE_DEPENDENCIES } from '../../src/config/feature-gate-registry.js';
import { featureGatesOf, knownFeatures, resolveFeatureGates, type GateResolution } from '../../src/config/feature-gates.js';
import { helpText } from '../../src/config/flags.js';
import { parseCommandLine } from '../../src/config/options.js';
import { recordFeatureGates } from '../../src/metrics/feature-enabled.js';
import { registry } from '../../src/metrics/metrics.js';

const env = { hostname: () => 'test-node' };

function failure(r: GateResolution): string {
  if (r.ok) assert.fail('expected the gate set to be rejected');
  return r.message;
}
function success(r: GateResolution) {
  if (!r.ok) assert.fail(`expected the gate set to be accepted: ${r.message}`);
  return r;
}

test('an unknown gate is rejected with upstream wording', () => {
  assert.equal(failure(resolveFeatureGates({ NoSuchGate: true })), 'unrecognized feature gate: NoSuchGate');
  // Names are case-sensitive, and prototype keys are not gates.
  assert.equal(failure(resolveFeatureGates({ nftablesproxymode: true })), 'unrecognized feature gate: nftablesproxymode');
  for (const name of ['__proto__', 'toString', 'constructor']) {
    assert.equal(failure(resolveFeatureGates(Object.fromEntries([[name, true]]))), `unrecognized feature gate: ${name}`);
  }
  // A gate that only a later release knows (1.36) is unknown to 1.35.
  assert.equal(failure(resolveFeatureGates({ NativeHistograms: true })), 'unrecognized feature gate: NativeHistograms');
});

test('a locked gate set away from its default is rejected; set to its default it is accepted with a warning', () => {
  assert.equal(
    failure(resolveFeatureGates({ PreferSameTrafficDistribution: false })),
    'cannot set feature gate PreferSameTrafficDistribution to false, feature is locked to true',
  );
  assert.equal(
    failure(resolveFeatureGates({ WatchFromStorageWithoutResourceVersion: true })),
    'cannot set feature gate WatchFromStorageWithoutResourceVersion to true, feature is locked to false',
  );
  const ok = success(resolveFeatureGates({ NFTablesProxyMode: true }));
  assert.deepEqual(ok.warnings, ['Setting GA feature gate NFTablesProxyMode=true. It will be removed in a future release.']);
  assert.equal(ok.gates.enabled('NFTablesProxyMode'), true);
});

test('several errors aggregate like utilerrors; the first unknown gate stops the walk', () => {
  assert.equal(
    failure(resolveFeatureGates({ TopologyAwareHints: false, ServiceTrafficDistribution: false })),
    '[cannot set feature gate TopologyAwareHints to false, feature is locked to true, cannot set feature gate ServiceTrafficDistribution to false, feature is locked to true]',
  );
  assert.equal(
    failure(resolveFeatureGates({ TopologyAwareHints: false, Bogus: true, Other: true })),
    '[cannot set feature gate TopologyAwareHints to false, feature is locked to true, unrecognized feature gate: Bogus]',
  );
});

test('valid gates are accepted and resolve; unset gates keep their defaults', () => {
  const r = success(resolveFeatureGates({ LoggingAlphaOptions: true, WatchListClient: false, ContextualLogging: false }));
  assert.deepEqual(r.warnings, []);
  assert.equal(r.gates.enabled('LoggingAlphaOptions'), true);
  assert.equal(r.gates.enabled('WatchListClient'), false);
  assert.equal(r.gates.enabled('ContextualLogging'), false);
  assert.equal(r.gates.enabled('LoggingBetaOptions'), true, 'beta default on');
  assert.equal(r.gates.enabled('ComponentFlagz'), false, 'alpha default off');
  assert.throws(() => r.gates.enabled('NotAGate'), /not registered/);
  // Deprecated gates warn.
  assert.deepEqual(success(resolveFeatureGates({ KMSv1: false })).warnings, [
    'Setting deprecated feature gate KMSv1=false. It will be removed in a future release.',
  ]);
  assert.equal(success(resolveFeatureGates({})).gates.enabled('TopologyAwareHints'), true);
});

test('AllAlpha / AllBeta set every gate of their stage that is not named; explicit values win in any order', () => {
  const alpha = success(resolveFeatureGates({ AllAlpha: true })).gates;
  assert.equal(alpha.enabled('LoggingAlphaOptions'), true);
  assert.equal(alpha.enabled('ComponentFlagz'), true);
  assert.equal(alpha.enabled('AllAlpha'), true);
  assert.equal(alpha.enabled('ClusterTrustBundle'), false, 'a beta gate is untouched');
  assert.equal(alpha.enabled('KMSv1'), false, 'a deprecated gate is untouched');
  for (const order of [{ AllAlpha: true, ComponentFlagz: false }, { ComponentFlagz: false, AllAlpha: true }]) {
    const g = success(resolveFeatureGates(order)).gates;
    assert.equal(g.enabled('ComponentFlagz'), false, JSON.stringify(order));
    assert.equal(g.enabled('ComponentStatusz'), true, JSON.stringify(order));
  }
  const beta = success(resolveFeatureGates({ AllBeta: false, WatchListClient: true })).gates;
  assert.equal(beta.enabled('LoggingBetaOptions'), false);
  assert.equal(beta.enabled('WatchListClient'), true);
  assert.equal(beta.enabled('NFTablesProxyMode'), true, 'a GA gate is untouched');
  // AllBeta=true turns on default-off beta gates.
  assert.equal(success(resolveFeatureGates({ AllBeta: true })).gates.enabled('ClusterTrustBundle'), true);
});

test('an enabled gate whose dependency is disabled fails the set (upstream dependency check)', () => {
  assert.equal(
    failure(resolveFeatureGates({ ImageVolumeWithDigest: true, ImageVolume: false })),
    'ImageVolumeWithDigest is enabled, but depends on features that are disabled: [ImageVolume]',
  );
  success(resolveFeatureGates({ ImageVolumeWithDigest: true }));
  // AllAlpha alone is consistent (upstream: a default-enabled gate cannot depend on a default-disabled one).
  success(resolveFeatureGates({ AllAlpha: true }));
  success(resolveFeatureGates({ AllBeta: false }));
});

test('the registry is consistent: dependencies name known gates, spot checks against upstream 1.35', () => {
  for (const [g, deps] of GATE_DEPENDENCIES) {
    assert.ok(FEATURE_GATES.has(g), g);
    for (const d of deps) assert.ok(FEATURE_GATES.has(d), `${g} -> ${d}`);
  }
  assert.equal(FEATURE_GATES.size, 220, 'the 1.35 registry: 218 gates + AllAlpha + AllBeta');
  assert.deepEqual(FEATURE_GATES.get('NFTablesProxyMode'), { default: true, lockToDefault: true, preRelease: '' });
  assert.deepEqual(FEATURE_GATES.get('LoggingAlphaOptions'), { default: false, lockToDefault: false, preRelease: 'ALPHA' });
  assert.deepEqual(FEATURE_GATES.get('WatchListClient'), { default: true, lockToDefault: false, preRelease: 'BETA' });
  assert.deepEqual(FEATURE_GATES.get('AllowOverwriteTerminationGracePeriodSeconds'), { default: false, lockToDefault: true, preRelease: 'DEPRECATED' });
  // The Go constant CPUCFSQuotaPeriod is registered under this name.
  assert.ok(FEATURE_GATES.has('CustomCPUCFSQuotaPeriod') && !FEATURE_GATES.has('CPUCFSQuotaPeriod'));
});

test('--help lists the settable gates as upstream KnownFeatures does', () => {
  const known = knownFeatures();
  assert.ok(known.includes('AllAlpha=true|false (ALPHA - default=false)'));
  assert.ok(known.includes('LoggingBetaOptions=true|false (BETA - default=true)'));
  assert.ok(!known.some((k) => k.startsWith('NFTablesProxyMode=')), 'GA gates hidden');
  assert.ok(!known.some((k) => k.startsWith('KMSv1=')), 'deprecated gates hidden');
  assert.deepEqual(known, [...known].sort());
  const text = helpText();
  assert.match(text, /--feature-gates mapStringBool\s+A set of key=value pairs .* Options are:\n\s+APIResponseCompression=true\|false \(BETA - default=true\)\n/);
  assert.match(text, /\n\s+WindowsGracefulNodeShutdown=true\|false \(BETA - default=true\)\n\s+This parameter is ignored if a config file is specified by --config\.\n/);
});

test('featureGatesOf ignores what validation rejects (used where the set was already validated)', () => {
  const g = featureGatesOf({ Bogus: true, LoggingAlphaOptions: true, TopologyAwareHints: false });
  assert.equal(g.enabled('LoggingAlphaOptions'), true);
  assert.equal(g.enabled('TopologyAwareHints'), true);
});

test('command line: --feature-gates is checked at the end of Complete ("failed complete: ...")', async () => {
  const err = async (argv: string[]): Promise<string> => {
    const r = await parseCommandLine(argv, env);
    if (r.kind !== 'error') assert.fail(`expected error for ${argv.join(' ')}, got ${r.kind}`);
    return r.message;
  };
  assert.equal(await err(['--feature-gates=Bogus=true']), 'failed complete: unrecognized feature gate: Bogus');
  assert.equal(
    await err(['--feature-gates=MultiCIDRServiceAllocator=false']),
    'failed complete: cannot set feature gate MultiCIDRServiceAllocator to false, feature is locked to true',
  );
  const ok = await parseCommandLine(['--feature-gates=InformerResourceVersion=true,LoggingAlphaOptions=true'], env);
  assert.equal(ok.kind, 'run');
  if (ok.kind === 'run') assert.ok(ok.warnings.includes('Setting GA feature gate InformerResourceVersion=true. It will be removed in a future release.'));
});

test('config file: featureGates gets the same check; logging validation sees the resolved gates', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'kpx-gates-'));
  try {
    const write = async (body: string): Promise<string> => {
      const f = path.join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
      await fsp.writeFile(f, `apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n${body}`);
      return f;
    };
    const r1 = await parseCommandLine(['--config', await write('featureGates:\n  TopologyAwareHints: false\n')], env);
    assert.deepEqual(r1, { kind: 'error', message: 'failed complete: cannot set feature gate TopologyAwareHints to false, feature is locked to true' });
    const r2 = await parseCommandLine(['--config', await write('featureGates:\n  NoSuchGate: true\n')], env);
    assert.deepEqual(r2, { kind: 'error', message: 'failed complete: unrecognized feature gate: NoSuchGate' });
    // json logging needs LoggingBetaOptions (on by default; off here) — logsapi's wording.
    const r3 = await parseCommandLine(['--config', await write('featureGates:\n  LoggingBetaOptions: false\nlogging:\n  format: json\n')], env);
    assert.deepEqual(r3, { kind: 'error', message: 'initialize logging: logging.format: Forbidden: Log format json is BETA and disabled, see LoggingBetaOptions feature' });
    assert.equal((await parseCommandLine(['--config', await write('logging:\n  format: json\n')], env)).kind, 'run');
    // AllAlpha=true turns LoggingAlphaOptions on, so an alpha logging option is allowed.
    const alpha = 'logging:\n  options:\n    text:\n      splitStream: true\n';
    assert.equal((await parseCommandLine(['--config', await write(alpha)], env)).kind, 'error');
    assert.equal((await parseCommandLine(['--config', await write(`featureGates:\n  AllAlpha: true\n${alpha}`)], env)).kind, 'run');
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
});

test('kubernetes_feature_enabled: one series per gate with its stage, 1 when enabled', async () => {
  const r = success(resolveFeatureGates({ LoggingAlphaOptions: true, WatchListClient: false }));
  recordFeatureGates(r.gates);
  recordFeatureGates(r.gates); // idempotent
  const text = await registry.metrics();
  assert.match(text, /^kubernetes_feature_enabled\{name="LoggingAlphaOptions",stage="ALPHA"\} 1$/m);
  assert.match(text, /^kubernetes_feature_enabled\{name="WatchListClient",stage="BETA"\} 0$/m);
  assert.match(text, /^kubernetes_feature_enabled\{name="NFTablesProxyMode",stage=""\} 1$/m);
  assert.match(text, /^kubernetes_feature_enabled\{name="KMSv1",stage="DEPRECATED"\} 0$/m);
  assert.equal(text.match(/^kubernetes_feature_enabled\{/gm)?.length, FEATURE_GATES.size);
});
