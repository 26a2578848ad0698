import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endpointChainName, hashAndTruncate, serviceChainNames } from '../../src/dataplane/nftables/names.js';
import { isServiceChainName } from '../../src/dataplane/nftables/names.js';
import { ep, sp } from './fixtures.js';

// Upstream hashAndTruncate: base32(sha256(name))[:8] + "-" + name. Service-chain values are upstream's;
// endpoint values (upstream's vectors use addresses outside the test ranges) were computed independently with
//   python3 -c 'import hashlib,base64,sys; print(base64.b32encode(hashlib.sha256(sys.argv[1].encode()).digest()).decode()[:8])' 'ns1/svc1/tcp/p80__198.18.180.1/80'
test('chain names match upstream hashAndTruncate values', () => {
  const s = sp('ns1', 'svc1', { portName: 'p80' });
  assert.equal(serviceChainNames(s).service, 'service-ULMVA6XW-ns1/svc1/tcp/p80');
  assert.equal(serviceChainNames(s).external, 'external-ULMVA6XW-ns1/svc1/tcp/p80');
  assert.equal(endpointChainName(s, ep('198.18.180.1', { port: 80 })), 'endpoint-H6C3XLIP-ns1/svc1/tcp/p80__198.18.180.1/80');
  assert.equal(
    hashAndTruncate('testing/service/tcp/http__2001.db8.12..a1b2.c3d4.e5f6.9999/80'),
    'X25SNZNJ-testing/service/tcp/http__2001.db8.12..a1b2.c3d4.e5f6.9999/80',
  );
  const v6 = sp('testing', 'service', { portName: 'http', clusterIP: '2001:db8::1' });
  assert.equal(
    endpointChainName(v6, ep('2001:db8:12::a1b2:c3d4:e5f6:9999', { port: 80 })),
    'endpoint-X25SNZNJ-testing/service/tcp/http__2001.db8.12..a1b2.c3d4.e5f6.9999/80',
  );
  assert.ok(isServiceChainName('service-ULMVA6XW-ns1/svc1/tcp/p80'));
  assert.ok(!isServiceChainName('services'));
});

test('long names are truncated to 240 characters with "..."', () => {
  const long = 'n'.repeat(63) + '/' + 's'.repeat(63) + '/tcp/' + 'p'.repeat(15) + '__' + '1'.repeat(200);
  const h = hashAndTruncate(long);
  assert.equal(h.length, 240);
  assert.ok(h.endsWith('...'));
  assert.match(h, /^[A-Z2-7]{8}-n/);
});
