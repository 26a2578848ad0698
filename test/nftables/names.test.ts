import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endpointChainName, hashAndTruncate, serviceChainNames } from '../../src/dataplane/nftables/names.js';
import { isServiceChainName } from '../../src/dataplane/nftables/names.js';
import { ep, sp } from './fixtures.js';

test('chain names match upstream hashAndTruncate values', () => {
  const s = sp('ns1', 'svc1', { portName: 'p80' });
  assert.equal(serviceChainNames(s).service, 'service-ULMVA6XW-ns1/svc1/tcp/p80');
  assert.equal(serviceChainNames(s).external, 'external-ULMVA6XW-ns1/svc1/tcp/p80');
  assert.equal(endpointChainName(s, ep('10.180.0.1', { port: 80 })), 'endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80');
  assert.equal(
    hashAndTruncate('testing/service/tcp/http__fd80.abcd.12..a1b2.c3d4.e5f6.9999/80'),
    'U7E2ET36-testing/service/tcp/http__fd80.abcd.12..a1b2.c3d4.e5f6.9999/80',
  );
  const v6 = sp('testing', 'service', { portName: 'http', clusterIP: '2001:db8::1' });
  assert.equal(
    endpointChainName(v6, ep('fd80:abcd:12::a1b2:c3d4:e5f6:9999', { port: 80 })),
    'endpoint-U7E2ET36-testing/service/tcp/http__fd80.abcd.12..a1b2.c3d4.e5f6.9999/80',
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
