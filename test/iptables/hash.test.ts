import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endpointChainName, portProtoHash, servicePortChainName, serviceChainNames, isServiceChainName } from '../../src/dataplane/iptables/layout.js';

test('servicePortChainName matches upstream verified values', () => {
  assert.equal(servicePortChainName('ns1/svc1:p80', 'tcp'), 'KUBE-SVC-XPGD46QRK7WJZT7O');
  assert.equal(servicePortChainName('kube-system/kube-dns:dns', 'udp'), 'KUBE-SVC-TCOU7JCQXEZGVUNU');
  assert.equal(servicePortChainName('default/kubernetes:https', 'tcp'), 'KUBE-SVC-NPX46M4PTMTKRN6Y');
  // Protocol is lower-cased as upstream does before hashing.
  assert.equal(servicePortChainName('ns1/svc1:p80', 'TCP'), 'KUBE-SVC-XPGD46QRK7WJZT7O');
});

test('endpointChainName matches upstream verified values (IPv4 and IPv6)', () => {
  assert.equal(endpointChainName('ns4/svc4:p80', 'tcp', '10.180.0.5:80'), 'KUBE-SEP-C6EBXVWJJZMIWKLZ');
  assert.equal(endpointChainName('ns1/svc1:p80', 'tcp', '[ff06::c1]:80'), 'KUBE-SEP-LIGRYQQLSZN4UWQ5');
});

test('SVC/SVL/EXT/FW share one 16-character hash', () => {
  const n = serviceChainNames('ns5/svc5:p80', 'tcp');
  assert.equal(n.fw, 'KUBE-FW-NUKIZ6OKUXPJNT4C');
  assert.equal(n.svc, 'KUBE-SVC-NUKIZ6OKUXPJNT4C');
  assert.equal(n.ext, 'KUBE-EXT-NUKIZ6OKUXPJNT4C');
  assert.equal(n.svl, 'KUBE-SVL-NUKIZ6OKUXPJNT4C');
  assert.match(portProtoHash('a/b', 'sctp'), /^[A-Z2-7]{16}$/);
  for (const c of Object.values(n)) assert.ok(c.length <= 28);
  assert.ok(isServiceChainName('KUBE-SEP-C6EBXVWJJZMIWKLZ'));
  assert.ok(!isServiceChainName('KUBE-SERVICES'));
});
