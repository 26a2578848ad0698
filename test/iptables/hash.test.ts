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

// Upstream servicePortEndpointChainName: "KUBE-SEP-" + base32(sha256(servicePortName + protocol + endpoint))[:16],
// endpoint as net.JoinHostPort. Upstream's own vectors use addresses outside the test ranges; these were
// computed independently of src/ with:
//   python3 -c 'import hashlib,base64,sys; print("KUBE-SEP-"+base64.b32encode(hashlib.sha256(sys.argv[1].encode()).digest()).decode()[:16])' 'ns4/svc4:p80tcp198.18.180.5:80'
// (the same one-liner reproduces upstream's published vectors for their original addresses).
test('endpointChainName matches independently computed values (IPv4 and IPv6)', () => {
  assert.equal(endpointChainName('ns4/svc4:p80', 'tcp', '198.18.180.5:80'), 'KUBE-SEP-FEKLXUJ57NXTDNCT');
  assert.equal(endpointChainName('ns1/svc1:p80', 'tcp', '[2001:db8:1::c1]:80'), 'KUBE-SEP-S2Q3773DQ4YKLWTA');
  // Protocol is lower-cased before hashing here too.
  assert.equal(endpointChainName('ns1/svc1:p80', 'TCP', '198.18.180.1:80'), 'KUBE-SEP-IADAUZRQTTAIDYFJ');
});

test('SVC/SVL/EXT/FW share one 16-character hash', () => {
  const n = serviceChainNames('ns5/svc5:p80', 'tcp');
  assert.equal(n.fw, 'KUBE-FW-NUKIZ6OKUXPJNT4C');
  assert.equal(n.svc, 'KUBE-SVC-NUKIZ6OKUXPJNT4C');
  assert.equal(n.ext, 'KUBE-EXT-NUKIZ6OKUXPJNT4C');
  assert.equal(n.svl, 'KUBE-SVL-NUKIZ6OKUXPJNT4C');
  assert.match(portProtoHash('a/b', 'sctp'), /^[A-Z2-7]{16}$/);
  for (const c of Object.values(n)) assert.ok(c.length <= 28);
  assert.ok(isServiceChainName('KUBE-SEP-FEKLXUJ57NXTDNCT'));
  assert.ok(!isServiceChainName('KUBE-SERVICES'));
});
