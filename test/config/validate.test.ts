// Cases and expected messages from upstream pkg/proxy/apis/config/validation/validation_test.go.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfiguration } from '../../src/config/defaults.js';
import { aggregate, fieldErrorString, validateConfiguration } from '../../src/config/validate.js';
import type { KubeProxyConfiguration } from '../../src/config/types.js';
import { parseCommandLine } from '../../src/config/options.js';

/** upstream's baseConfig (addresses moved to the test ranges): ClusterCIDR mode with 198.18.59.0/24, sync 5s/2s, config sync 1s. */
function base(): KubeProxyConfiguration {
  const c = defaultConfiguration();
  c.mode = 'iptables';
  c.bindAddress = '198.18.59.103';
  c.detectLocalMode = 'ClusterCIDR';
  c.clusterCIDR = '198.18.59.0/24';
  c.iptables.syncPeriod = '5s';
  c.iptables.minSyncPeriod = '2s';
  c.configSyncPeriod = '1s';
  return c;
}

function errors(mutate: (c: KubeProxyConfiguration) => void): string[] {
  const c = base();
  mutate(c);
  return validateConfiguration(c).map(fieldErrorString);
}

const P = 'KubeProxyConfiguration';

test('valid configurations pass', () => {
  const ok: [string, (c: KubeProxyConfiguration) => void][] = [
    ['basic', () => {}],
    ['ipvs mode', (c) => void (c.mode = 'ipvs')],
    ['nftables mode', (c) => void (c.mode = 'nftables')],
    ['empty HealthzBindAddress', (c) => void (c.healthzBindAddress = '')],
    ['IPv6', (c) => {
      c.bindAddress = '2001:db8:59::103';
      c.healthzBindAddress = '';
      c.metricsBindAddress = '[::1]:10249';
      c.clusterCIDR = '2001:db8:59::/64';
    }],
    ['alternate healthz port', (c) => void (c.healthzBindAddress = '0.0.0.0:12345')],
    ['ClusterCIDR is wrong IP family', (c) => void (c.clusterCIDR = '2001:db8:59::/64')],
    ['ClusterCIDR is dual-stack', (c) => void (c.clusterCIDR = '198.18.59.0/24,2001:db8:168::/64')],
    ['LocalModeInterfaceNamePrefix', (c) => {
      c.detectLocalMode = 'InterfaceNamePrefix';
      c.detectLocal.interfaceNamePrefix = 'vethabcde';
    }],
    ['LocalModeBridgeInterface', (c) => {
      c.detectLocalMode = 'BridgeInterface';
      c.detectLocal.bridgeInterface = 'avz';
    }],
    ['primary nodePortAddresses', (c) => void (c.nodePortAddresses = ['primary'])],
    ['IPVS timeouts 0', (c) => {
      c.mode = 'ipvs';
      c.ipvs.syncPeriod = '5s';
    }],
    ['masquerade bit 5', (c) => void (c.iptables.masqueradeBit = 5)],
    ['zero conntrack timeouts', (c) => {
      c.conntrack.tcpEstablishedTimeout = '0s';
      c.conntrack.tcpCloseWaitTimeout = '0s';
    }],
    ['burst 0', (c) => void (c.clientConnection.burst = 0)],
    ['port range', (c) => void (c.portRange = '300-2000')],
    ['show hidden metrics for the previous minor', (c) => void (c.showHiddenMetricsForVersion = '1.34')],
  ];
  for (const [name, m] of ok) assert.deepEqual(errors(m), [], name);
});

test('TestValidateKubeProxyConfiguration failure cases', () => {
  assert.deepEqual(errors((c) => void (c.healthzBindAddress = '0.0.0.0')), [`${P}.HealthzBindAddress: Invalid value: "0.0.0.0": must be IP:port`]);
  assert.deepEqual(errors((c) => void (c.metricsBindAddress = '127.0.0.1')), [`${P}.MetricsBindAddress: Invalid value: "127.0.0.1": must be IP:port`]);
  assert.deepEqual(errors((c) => void (c.configSyncPeriod = '-1s')), [`${P}.ConfigSyncPeriod: Invalid value: -1s: must be greater than 0`]);
  assert.deepEqual(errors((c) => void (c.iptables.syncPeriod = '-5s')), [
    `${P}.SyncPeriod: Invalid value: -5s: must be greater than 0`,
    `${P}.SyncPeriod: Invalid value: 2s: must be greater than or equal to ${P}.MinSyncPeriod`,
  ]);
  assert.deepEqual(errors((c) => void (c.iptables.minSyncPeriod = '-2s')), [`${P}.MinSyncPeriod: Invalid value: -2s: must be greater than or equal to 0`]);
  assert.deepEqual(
    errors((c) => {
      c.iptables.syncPeriod = '1s';
      c.iptables.minSyncPeriod = '5s';
    }),
    [`${P}.SyncPeriod: Invalid value: 5s: must be greater than or equal to ${P}.MinSyncPeriod`],
  );
  assert.deepEqual(errors((c) => void ((c as { detectLocalMode: string }).detectLocalMode = 'Guess')), [
    `${P}.DetectLocalMode: Unsupported value: "Guess": supported values: "ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix", ""`,
  ]);
  assert.deepEqual(errors((c) => void (c.logging.format = 'unsupported format')), [`${P}.logging.format: Invalid value: "unsupported format": Unsupported log format`]);
  assert.deepEqual(errors((c) => void (c.bindAddress = '198.18.12.11:2000')), [`${P}.BindAddress: Invalid value: "198.18.12.11:2000": not a valid textual representation of an IP address`]);
});

test('sync periods are read from the section of the chosen mode', () => {
  // iptables.* is ignored in ipvs mode, ipvs.* is used.
  assert.deepEqual(
    errors((c) => {
      c.mode = 'ipvs';
      c.iptables.syncPeriod = '-1s';
      c.ipvs.syncPeriod = '1s';
      c.ipvs.minSyncPeriod = '2s';
    }),
    [`${P}.SyncPeriod: Invalid value: 2s: must be greater than or equal to ${P}.MinSyncPeriod`],
  );
  assert.deepEqual(
    errors((c) => {
      c.mode = 'nftables';
      c.nftables.syncPeriod = '0s';
    }),
    [`${P}.SyncPeriod: Invalid value: 0s: must be greater than 0`, `${P}.SyncPeriod: Invalid value: 1s: must be greater than or equal to ${P}.MinSyncPeriod`],
  );
});

test('masquerade bits, IPVS timeouts and exclude CIDRs', () => {
  assert.deepEqual(errors((c) => void (c.iptables.masqueradeBit = -10)), [`${P}.KubeProxyIPTablesConfiguration.MasqueradeBit: Invalid value: -10: must be within the range [0, 31]`]);
  assert.deepEqual(errors((c) => void (c.iptables.masqueradeBit = 32)), [`${P}.KubeProxyIPTablesConfiguration.MasqueradeBit: Invalid value: 32: must be within the range [0, 31]`]);
  // nftables.masqueradeBit is checked only in nftables mode.
  assert.deepEqual(errors((c) => void (c.nftables.masqueradeBit = 32)), []);
  assert.deepEqual(
    errors((c) => {
      c.mode = 'nftables';
      c.nftables.masqueradeBit = 32;
    }),
    [`${P}.KubeProxyNFTablesConfiguration.MasqueradeBit: Invalid value: 32: must be within the range [0, 31]`],
  );
  const ipvs = (c: KubeProxyConfiguration): void => {
    c.mode = 'ipvs';
    c.ipvs.tcpTimeout = '-1s';
    c.ipvs.udpTimeout = '-1s';
    c.ipvs.tcpFinTimeout = '-1s';
  };
  assert.deepEqual(errors(ipvs), [
    `${P}.KubeProxyIPVSConfiguration.TCPTimeout: Invalid value: -1s: must be greater than or equal to 0`,
    `${P}.KubeProxyIPVSConfiguration.TCPFinTimeout: Invalid value: -1s: must be greater than or equal to 0`,
    `${P}.KubeProxyIPVSConfiguration.UDPTimeout: Invalid value: -1s: must be greater than or equal to 0`,
  ]);
  // Only checked in ipvs mode.
  assert.deepEqual(errors((c) => void (c.ipvs.tcpTimeout = '-1s')), []);
  const excl = (cidrs: string[]) => errors((c) => {
    c.mode = 'ipvs';
    c.ipvs.excludeCIDRs = cidrs;
  });
  assert.deepEqual(excl(['127.0.0.0/8', '::/0', '2001:db8::/32']), []);
  assert.deepEqual(excl(['foo']), [`${P}.KubeProxyIPVSConfiguration.ExcludeCidrs[0]: Invalid value: "foo": must be a valid CIDR`]);
  assert.deepEqual(excl(['::0', '::1', '2001:db8::/32']), [
    `${P}.KubeProxyIPVSConfiguration.ExcludeCidrs[0]: Invalid value: "::0": must be a valid CIDR`,
    `${P}.KubeProxyIPVSConfiguration.ExcludeCidrs[1]: Invalid value: "::1": must be a valid CIDR`,
  ]);
  assert.deepEqual(excl(['::1/128', '2001:db8::/32', '2001:db8:xyz/64']), [`${P}.KubeProxyIPVSConfiguration.ExcludeCidrs[2]: Invalid value: "2001:db8:xyz/64": must be a valid CIDR`]);
});

test('Linux conntrack and OOM score', () => {
  const ct = `${P}.KubeProxyLinuxConfiguration.KubeProxyConntrackConfiguration`;
  assert.deepEqual(errors((c) => void (c.conntrack.maxPerCore = -1)), [`${ct}.MaxPerCore: Invalid value: -1: must be greater than or equal to 0`]);
  assert.deepEqual(errors((c) => void (c.conntrack.min = -1)), [`${ct}.Min: Invalid value: -1: must be greater than or equal to 0`]);
  assert.deepEqual(errors((c) => void (c.conntrack.tcpEstablishedTimeout = '-5s')), [`${ct}.TCPEstablishedTimeout: Invalid value: -5s: must be greater than or equal to 0`]);
  assert.deepEqual(errors((c) => void (c.conntrack.tcpCloseWaitTimeout = '-5s')), [`${ct}.TCPCloseWaitTimeout: Invalid value: -5s: must be greater than or equal to 0`]);
  assert.deepEqual(errors((c) => void (c.conntrack.udpTimeout = '-5s')), [`${ct}.UDPTimeout: Invalid value: -5s: must be greater than or equal to 0`]);
  assert.deepEqual(errors((c) => void (c.conntrack.udpStreamTimeout = '-5s')), [`${ct}.UDPStreamTimeout: Invalid value: -5s: must be greater than or equal to 0`]);
  assert.deepEqual(errors((c) => void (c.oomScoreAdj = 1001)), [`${P}.KubeProxyLinuxConfiguration.OOMScoreAdj: Invalid value: 1001: must be within the range [-1000, 1000]`]);
  assert.deepEqual(errors((c) => void (c.oomScoreAdj = -1000)), []);
});

test('proxy mode and client connection', () => {
  const msg = 'must be iptables, ipvs, nftables or blank (blank means the best-available proxy [currently iptables])';
  for (const m of ['kernelspace', 'non-existing']) {
    assert.deepEqual(errors((c) => void ((c as { mode: string }).mode = m)), [`${P}.Mode.ProxyMode: Invalid value: "${m}": ${msg}`]);
  }
  assert.deepEqual(errors((c) => void (c.clientConnection.burst = -5)), [`${P}.ClientConnection.Burst: Invalid value: -5: must be greater than or equal to 0`]);
});

test('TestValidateHostPort', () => {
  const hp = (v: string) => errors((c) => void (c.healthzBindAddress = v));
  for (const ok of ['0.0.0.0:10256', '127.0.0.1:10256', '198.18.10.10:10256', '[::]:10256']) assert.deepEqual(hp(ok), [], ok);
  const H = `${P}.HealthzBindAddress: Invalid value:`;
  assert.deepEqual(hp('198.18.10.10'), [`${H} "198.18.10.10": must be IP:port`]);
  assert.deepEqual(hp('198.18.789.10:12345'), [`${H} "198.18.789.10": must be a valid IP`]);
  assert.deepEqual(hp('198.18.10.10:foo'), [`${H} "foo": must be a valid port`]);
  assert.deepEqual(hp('198.18.10.10:0'), [`${H} "0": must be a valid port`]);
  assert.deepEqual(hp('198.18.10.10:65536'), [`${H} "65536": must be a valid port`]);
});

test('TestValidateKubeProxyNodePortAddress', () => {
  const npa = (l: string[]) => errors((c) => void (c.nodePortAddresses = l));
  for (const ok of [[], ['127.0.0.0/8'], ['0.0.0.0/0'], ['::/0'], ['127.0.0.1/32', '198.18.3.0/24'], ['::1/128'], ['198.18.0.0/16', '198.19.0.0/16'], ['2001:db8::/32'], ['primary']]) {
    assert.deepEqual(npa(ok), [], ok.join(','));
  }
  const N = `${P}.NodePortAddresses`;
  assert.deepEqual(npa(['foo']), [`${N}[0]: Invalid value: "foo": must be a valid CIDR`]);
  assert.deepEqual(npa(['198.18.0.0/0', '198.18.3']), [`${N}[1]: Invalid value: "198.18.3": must be a valid CIDR`]);
  assert.deepEqual(npa(['127.0.0.1/32', '0', '198.18.3.0/24']), [`${N}[1]: Invalid value: "0": must be a valid CIDR`]);
  assert.deepEqual(npa(['127.0.0.1/32', '198.18.30.40', '198.18.3.0/24']), [`${N}[1]: Invalid value: "198.18.30.40": must be a valid CIDR`]);
  assert.deepEqual(npa(['::0', '::1', '2001:db8::/32']), [`${N}[0]: Invalid value: "::0": must be a valid CIDR`, `${N}[1]: Invalid value: "::1": must be a valid CIDR`]);
  assert.deepEqual(npa(['primary', '127.0.0.1/32']), [`${N}[0]: Invalid value: "primary": can't use both 'primary' and CIDRs`]);
  assert.deepEqual(npa(['127.0.0.1/32', 'primary']), [`${N}[1]: Invalid value: "primary": can't use both 'primary' and CIDRs`]);
});

test('TestValidateDetectLocalConfiguration', () => {
  const D = `${P}.DetectLocalConfiguration`;
  assert.deepEqual(
    errors((c) => {
      c.detectLocalMode = 'InterfaceNamePrefix';
      c.detectLocal.interfaceNamePrefix = '';
    }),
    [`${D}.InterfacePrefix: Invalid value: "": must not be empty`],
  );
  assert.deepEqual(
    errors((c) => {
      c.detectLocalMode = 'BridgeInterface';
      c.detectLocal.interfaceNamePrefix = 'eth0';
    }),
    [`${D}.InterfaceName: Invalid value: "": must not be empty`],
  );
  assert.deepEqual(errors((c) => void (c.clusterCIDR = '198.18.59.0/24,2001:db8:168::/64,198.19.0.0/16')), [
    `${D}.ClusterCIDRs: Invalid value: []string{"198.18.59.0/24", "2001:db8:168::/64", "198.19.0.0/16"}: must be a either a single CIDR or dual-stack pair of CIDRs (e.g. [10.100.0.0/16, fde4:8dba:82e1::/48]`,
  ]);
  assert.deepEqual(errors((c) => void (c.clusterCIDR = '198.18.59.0')), [
    `${D}.ClusterCIDRs[0]: Invalid value: "198.18.59.0": must be a valid CIDR block (e.g. 10.100.0.0/16 or fde4:8dba:82e1::/48)`,
  ]);
  assert.deepEqual(errors((c) => void (c.clusterCIDR = '198.18.0.0/16,198.19.0.0/16')), [
    `${D}.ClusterCIDRs: Invalid value: []string{"198.18.0.0/16", "198.19.0.0/16"}: must be a either a single CIDR or dual-stack pair of CIDRs (e.g. [10.100.0.0/16, fde4:8dba:82e1::/48]`,
  ]);
  // Not checked outside ClusterCIDR mode.
  assert.deepEqual(
    errors((c) => {
      c.detectLocalMode = 'NodeCIDR';
      c.clusterCIDR = 'junk';
    }),
    [],
  );
});

test('port range and hidden metrics version', () => {
  assert.deepEqual(errors((c) => void (c.portRange = '2000-300')), [`${P}.PortRange: Invalid value: "2000-300": must be a valid port range (e.g. 300-2000)`]);
  assert.deepEqual(errors((c) => void (c.portRange = '30000+100')), []);
  assert.deepEqual(errors((c) => void (c.showHiddenMetricsForVersion = '1.33')), [
    `${P}.ShowHiddenMetricsForVersion: Invalid value: "1.33": --show-hidden-metrics-for-version must be omitted or have the value '1.34'. Only the previous minor version is allowed`,
  ]);
});

test('aggregate prints one error bare and several in brackets, without duplicates', () => {
  const c = base();
  c.iptables.masqueradeBit = 40;
  const one = validateConfiguration(c);
  assert.equal(aggregate(one), `${P}.KubeProxyIPTablesConfiguration.MasqueradeBit: Invalid value: 40: must be within the range [0, 31]`);
  assert.equal(aggregate([...one, ...one]), aggregate(one));
  c.oomScoreAdj = 5000;
  assert.match(aggregate(validateConfiguration(c)), /^\[.*MasqueradeBit.*, .*OOMScoreAdj.*\]$/);
});

test('the command line reports validation as "failed validate: ..."', async () => {
  const r = await parseCommandLine(['--iptables-masquerade-bit=32', '--oom-score-adj=-1001'], { hostname: () => 'n' });
  assert.deepEqual(r, {
    kind: 'error',
    message: `failed validate: [${P}.KubeProxyIPTablesConfiguration.MasqueradeBit: Invalid value: 32: must be within the range [0, 31], ${P}.KubeProxyLinuxConfiguration.OOMScoreAdj: Invalid value: -1001: must be within the range [-1000, 1000]]`,
  });
});

test('logging validation (logsapi), reported before the rest as "initialize logging: ..."', async () => {
  const L = `${P}.logging`;
  assert.deepEqual(
    errors((c) => {
      c.logging.format = 'json';
      c.logging.vmodule = [{ filePattern: 'foo', verbosity: 1 }];
    }),
    [`${L}.vmodule: Forbidden: Only supported for text log format`],
  );
  assert.deepEqual(errors((c) => void (c.logging.vmodule = [{ filePattern: 'foo,bar', verbosity: 1 }, { filePattern: '', verbosity: 1 }])), [
    `${L}.vmodule[0]: Invalid value: "foo,bar": File pattern must not contain equal sign or comma`,
    `${L}.vmodule[1]: Required value: File pattern must not be empty`,
  ]);
  assert.deepEqual(errors((c) => void (c.logging.options = { json: { splitStream: true, infoBufferSize: '1Ki' }, text: { infoBufferSize: '0' } })), [
    `${L}.options.json.splitStream: Forbidden: Feature LoggingAlphaOptions is disabled`,
    `${L}.options.json.infoBufferSize: Forbidden: Feature LoggingAlphaOptions is disabled`,
  ]);
  assert.deepEqual(
    errors((c) => {
      c.featureGates = { LoggingAlphaOptions: true };
      c.logging.options = { json: { splitStream: true, infoBufferSize: '1Ki' } };
    }),
    [],
  );
  const env = { hostname: () => 'n' };
  assert.deepEqual(await parseCommandLine(['--log-text-split-stream'], env), {
    kind: 'error',
    message: 'initialize logging: logging.options.text.splitStream: Forbidden: Feature LoggingAlphaOptions is disabled',
  });
  assert.equal((await parseCommandLine(['--log-text-split-stream', '--feature-gates=LoggingAlphaOptions=true'], env)).kind, 'run');
  assert.deepEqual(await parseCommandLine(['--logging-format=xml'], env), { kind: 'error', message: 'initialize logging: logging.format: Invalid value: "xml": Unsupported log format' });
});
