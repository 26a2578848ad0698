// Small inputs shared by the golden tests and the kernel tests (every golden must also load).

import type { ProxyState } from '../../src/model/types.js';
import type { DataplaneConfig } from '../../src/dataplane/config.js';
import { config, ep, sp, state } from './fixtures.js';

export interface Case {
  readonly name: string;
  readonly state: ProxyState;
  readonly cfg: DataplaneConfig;
}

const local = { isLocal: true, nodeName: 'node-a' };

export const cases: readonly Case[] = [
  {
    name: 'clusterip',
    cfg: config(),
    state: state([
      sp('ns1', 'svc1', { portName: 'p80', endpoints: [ep('198.18.100.2'), ep('198.18.100.3')] }),
      sp('ns1', 'svc1', { portName: 'dns', protocol: 'UDP', port: 53, endpoints: [ep('198.18.100.2', { port: 53 })] }),
      sp('ns1', 'sctp', { clusterIP: '198.19.0.4', protocol: 'SCTP', port: 9999, endpoints: [ep('198.18.100.9', { port: 9999 })] }),
      sp('ns2', 'empty', { clusterIP: '198.19.0.2' }),
      sp('ns2', 'terminating', {
        clusterIP: '198.19.0.3',
        endpoints: [ep('198.18.100.7', { ready: false, serving: true, terminating: true })],
      }),
    ]),
  },
  {
    name: 'nodeport',
    cfg: config(),
    state: state(
      [
        sp('ns1', 'np', { nodePort: 30080, endpoints: [ep('198.18.100.2'), ep('198.18.101.2')] }),
        sp('ns1', 'np-none', { clusterIP: '198.19.0.2', nodePort: 30081 }),
      ],
      { nodePortAddresses: { matchAll: false, ips: ['198.18.0.1', '127.0.0.1'] } },
    ),
  },
  {
    name: 'loadbalancer',
    cfg: config(),
    state: state([
      sp('ns1', 'lb', {
        nodePort: 30080,
        loadBalancerIPs: ['198.18.50.1'],
        loadBalancerSourceRanges: ['198.18.0.0/24', '198.18.9.0/24'],
        endpoints: [ep('198.18.100.2')],
      }),
      sp('ns1', 'lb-open', { clusterIP: '198.19.0.2', nodePort: 30081, loadBalancerIPs: ['198.18.50.2'], endpoints: [ep('198.18.100.3')] }),
      sp('ns1', 'lb-ranges-no-node', {
        clusterIP: '198.19.0.3',
        loadBalancerIPs: ['198.18.50.3'],
        loadBalancerSourceRanges: ['198.18.200.0/24'],
        endpoints: [ep('198.18.100.4')],
      }),
    ]),
  },
  {
    name: 'externalips',
    cfg: config(),
    state: state([
      sp('ns1', 'ext', { externalIPs: ['198.18.60.1', '198.18.60.2'], endpoints: [ep('198.18.100.2')] }),
      sp('ns1', 'ext-none', { clusterIP: '198.19.0.2', externalIPs: ['198.18.60.3'] }),
    ]),
  },
  {
    name: 'local-policies',
    cfg: config(),
    state: state([
      sp('ns1', 'etp-local', {
        nodePort: 30080,
        loadBalancerIPs: ['198.18.50.1'],
        externalPolicyLocal: true,
        endpoints: [ep('198.18.100.2', local), ep('198.18.101.2')],
      }),
      sp('ns1', 'etp-local-none', {
        clusterIP: '198.19.0.2',
        nodePort: 30081,
        externalIPs: ['198.18.60.1'],
        externalPolicyLocal: true,
        endpoints: [ep('198.18.101.3')],
      }),
      sp('ns1', 'itp-local', { clusterIP: '198.19.0.3', internalPolicyLocal: true, endpoints: [ep('198.18.100.4', local), ep('198.18.101.4')] }),
      sp('ns1', 'itp-local-none', { clusterIP: '198.19.0.4', internalPolicyLocal: true, endpoints: [ep('198.18.101.5')] }),
    ]),
  },
  {
    name: 'affinity',
    cfg: config(),
    state: state([
      sp('ns1', 'sticky', { affinityTimeoutSeconds: 10800, endpoints: [ep('198.18.100.2'), ep('198.18.100.3')] }),
      sp('ns1', 'sticky-local', {
        clusterIP: '198.19.0.2',
        nodePort: 30080,
        externalPolicyLocal: true,
        affinityTimeoutSeconds: 60,
        endpoints: [ep('198.18.100.4', local), ep('198.18.101.4')],
      }),
    ]),
  },
  {
    name: 'masquerade-all',
    cfg: config({ masqueradeAll: true, localDetector: { mode: 'none' }, masqueradeBit: 3 }),
    state: state(
      [
        sp('ns1', 'svc', { nodePort: 30080, externalPolicyLocal: true, endpoints: [ep('198.18.100.2', local)] }),
      ],
      { serviceCIDRs: ['198.19.0.0/16'] },
    ),
  },
  {
    name: 'interface-detector',
    cfg: config({ localDetector: { mode: 'prefix', prefix: 'veth' } }),
    state: state([sp('ns1', 'svc', { nodePort: 30080, externalPolicyLocal: true, endpoints: [ep('198.18.100.2', local)] })]),
  },
  {
    name: 'ipv6',
    cfg: config({ family: 'IPv6' }),
    state: state(
      [
        sp('ns1', 'v6', {
          clusterIP: '2001:db8:ffff::1',
          nodePort: 30080,
          loadBalancerIPs: ['2001:db8:50::1'],
          loadBalancerSourceRanges: ['2001:db8::/64'],
          endpoints: [ep('2001:db8:100::2'), ep('2001:db8:100::3', local)],
        }),
        sp('ns1', 'v6-sticky', {
          clusterIP: '2001:db8:ffff::2',
          affinityTimeoutSeconds: 30,
          endpoints: [ep('2001:db8:100::2')],
        }),
        sp('ns1', 'v6-none', { clusterIP: '2001:db8:ffff::3', nodePort: 30081 }),
      ],
      { family: 'IPv6', nodePortAddresses: { matchAll: false, ips: ['2001:db8::1'] } },
    ),
  },
];
