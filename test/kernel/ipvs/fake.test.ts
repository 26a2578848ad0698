// The IPVS kernel fakes' semantics (ipvsadm, ipset, ip) and their agreement with the parsers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeIpvs, FakeIpvsHost } from '../../../src/kernel/ipvs/fake.js';
import { parseIpAddrJson, parseIpvsadmConnCounts, parseIpvsadmSave } from '../../../src/kernel/ipvs/parse.js';

test('fake ipvsadm: -A/-E/-D, -a/-e/-d with their errors; -S -n parses back', () => {
  const v = new FakeIpvs();
  v.restore('-A -t 198.19.0.1:80 -s rr\n-a -t 198.19.0.1:80 -r 198.18.1.1:8080 -m -w 1\n-a -t 198.19.0.1:80 -r 198.18.1.2:8080 -m -w 1\n-A -u [2001:db8::1]:53 -s mh -b mh-port -p 60\n');
  assert.throws(() => v.restore('-A -t 198.19.0.1:80 -s rr\n'), /line 1: Service already exists/);
  assert.throws(() => v.restore('-e -t 198.19.0.1:80 -r 198.18.1.9:1 -m -w 0\n'), /No such destination/);
  v.restore('-E -t 198.19.0.1:80 -s wrr -p 10\n-e -t 198.19.0.1:80 -r 198.18.1.1:8080 -m -w 0\n-d -t 198.19.0.1:80 -r 198.18.1.2:8080\n');
  const vs4 = parseIpvsadmSave(v.save(), 'IPv4').get('TCP/198.19.0.1:80')!;
  assert.equal(vs4.scheduler, 'wrr');
  assert.equal(vs4.persistence, 10);
  assert.deepEqual([...vs4.reals.values()], [{ ip: '198.18.1.1', port: 8080, weight: 0 }]);
  const vs6 = parseIpvsadmSave(v.save(), 'IPv6').get('UDP/[2001:db8::1]:53')!;
  assert.deepEqual(vs6.flags, ['mh-port']);
  assert.deepEqual([...parseIpvsadmConnCounts(v.list()).entries()], [['TCP/198.19.0.1:80/198.18.1.1:8080', 0]]);
  v.restore('-D -u [2001:db8::1]:53\n');
  assert.equal(parseIpvsadmSave(v.save(), 'IPv6').size, 0);
});

test('fake host: kube-ipvs0 addresses through ip -batch; tools by name; unknown tools fail', async () => {
  const h = new FakeIpvsHost({ eth0: ['198.18.0.2/24'] });
  assert.equal((await h.run('ip', ['-j', 'addr', 'show', 'dev', 'kube-ipvs0'], { allowFailure: true })).code, 1);
  await h.run('ip', ['link', 'add', 'kube-ipvs0', 'type', 'dummy']);
  await h.run('ip', ['-batch', '-'], { input: 'addr add 198.19.0.1/32 dev kube-ipvs0\naddr add 2001:db8::1/128 dev kube-ipvs0\n' });
  assert.deepEqual([...parseIpAddrJson((await h.run('ip', ['-j', 'addr', 'show', 'dev', 'kube-ipvs0'])).stdout, 'IPv4')], ['198.19.0.1']);
  await h.run('ip', ['-4', 'addr', 'flush', 'dev', 'kube-ipvs0']);
  assert.deepEqual([...h.links.get('kube-ipvs0')!], ['2001:db8::1/128']);
  await h.run('ip6tables-legacy-restore', ['-w', '5', '--noflush'], { input: '*filter\n:KUBE-X - [0:0]\nCOMMIT\n' });
  assert.match(h.ipt('IPv6', 'legacy').save(), /KUBE-X/);
  assert.equal(h.ipt('IPv6', 'nft').save(), '');
  await assert.rejects(h.run('nft', ['list', 'ruleset']), /no such tool/);
});
