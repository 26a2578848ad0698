// The ipset wrapper (src/kernel/ipset): typed restore operations and their exact text, the calls
// through a ToolRunner, `ipset save` parsing and the in-memory fake. No root.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeIpset } from '../../../src/kernel/ipset/fake.js';
import { ipsetExists, ipsetHas, ipsetLine, ipsetNames, ipsetRestore, numericProtocolEntry, renderIpsetRestore, setEntry, type SetSpec } from '../../../src/kernel/ipset/ipset.js';
import { normaliseSetEntry, parseIpsetSave } from '../../../src/kernel/ipset/parse.js';
import { RecordingRunner } from '../../../src/kernel/runner.js';

const spec = (o: Partial<SetSpec>): SetSpec => ({ name: 'A', type: 'hash:ip,port', family: 'IPv4', hashSize: 1024, maxElem: 65536, portRange: '0-65535', comment: true, ...o });

test('ipset restore lines: create per set type and family, add/del/destroy', () => {
  assert.equal(ipsetLine({ op: 'create', set: spec({}) }), 'create A hash:ip,port family inet hashsize 1024 maxelem 65536 comment');
  assert.equal(ipsetLine({ op: 'create', set: spec({ name: 'KUBE-6-X', type: 'hash:ip', family: 'IPv6', comment: false }) }), 'create KUBE-6-X hash:ip family inet6 hashsize 1024 maxelem 65536');
  assert.equal(ipsetLine({ op: 'create', set: spec({ type: 'bitmap:port', family: 'IPv6' }) }), 'create A bitmap:port range 0-65535 comment');
  assert.equal(
    renderIpsetRestore([
      { op: 'add', set: 'A', entry: setEntry.ipPort('198.19.0.1', 'tcp', 80) },
      { op: 'del', set: 'B', entry: setEntry.ipPortIP('198.18.1.2', 'udp', 53, '198.18.1.2') },
      { op: 'destroy', set: 'C' },
    ]),
    'add A 198.19.0.1,tcp:80\ndel B 198.18.1.2,udp:53,198.18.1.2\ndestroy C\n',
  );
  // A host "net" is written as ipset prints it (no /32 or /128).
  assert.equal(setEntry.ipPortNet('198.19.0.1', 'tcp', 80, '198.18.99.7/32'), '198.19.0.1,tcp:80,198.18.99.7');
  assert.equal(setEntry.ipPortNet('2001:db8::1', 'tcp', 80, '2001:db8::/64'), '2001:db8::1,tcp:80,2001:db8::/64');
});

test('numeric protocols in entries read back as names (what ipset save prints)', () => {
  assert.equal(numericProtocolEntry('198.19.0.1,udp:53,198.18.0.0/24'), '198.19.0.1,17:53,198.18.0.0/24');
  assert.equal(numericProtocolEntry('198.19.0.1'), '198.19.0.1');
  for (const e of ['198.19.0.1,tcp:80', '2001:db8::1,udp:53,2001:db8::2', '198.19.0.1,sctp:9,198.18.0.0/24']) assert.equal(normaliseSetEntry(numericProtocolEntry(e)), e);
});

test('ipset calls through a ToolRunner: restore (-exist or not; none when empty), list -n, test', async () => {
  const r = new RecordingRunner().on((c) => (c.args[0] === 'list' && c.args[2] === undefined ? { stdout: 'A\nB\n' } : c.args[0] === 'test' ? { code: 1 } : undefined));
  assert.equal(await ipsetRestore(r.run, [], { exist: true }), null);
  await ipsetRestore(r.run, [{ op: 'add', set: 'A', entry: '198.19.0.1,tcp:80' }, { op: 'del', set: 'B', entry: '2001:db8::1,sctp:9,2001:db8::2' }], { exist: true });
  await ipsetRestore(r.run, [{ op: 'destroy', set: 'A' }], { exist: false });
  assert.deepEqual(r.calls.slice(0, 2), [
    // Protocols as numbers: ipset reads /etc/protocols for every name (see numericProtocolEntry).
    { command: 'ipset', args: ['restore', '-exist'], input: 'add A 198.19.0.1,6:80\ndel B 2001:db8::1,132:9,2001:db8::2\n' },
    { command: 'ipset', args: ['restore'], input: 'destroy A\n' },
  ]);
  assert.deepEqual([...(await ipsetNames(r.run))], ['A', 'B']);
  assert.equal(await ipsetExists(r.run, 'A'), true);
  assert.equal(await ipsetHas(r.run, 'A', '198.19.0.1,tcp:80'), false);
});

test('fake ipset: create (-exist), add/del (-exist), flush, swap, destroy; save parses back', () => {
  const s = new FakeIpset();
  s.restore('create A hash:ip,port family inet hashsize 1024 maxelem 65536 comment\ncreate B hash:ip,port family inet hashsize 1024 maxelem 65536 comment\nadd A 198.19.0.1,tcp:80\n', false);
  assert.throws(() => s.restore('add A 198.19.0.1,tcp:80\n', false), /already added/);
  s.restore('add A 198.19.0.1,tcp:80\ncreate A hash:ip,port family inet hashsize 1024 maxelem 65536 comment\ndel A 198.19.0.9,tcp:1\n', true);
  s.restore('add B 198.19.0.2,udp:53\nswap A B\n', false);
  assert.deepEqual(Object.fromEntries([...parseIpsetSave(s.save(), new Set(['A', 'B']))].map(([k, v]) => [k, [...v]])), { A: ['198.19.0.2,udp:53'], B: ['198.19.0.1,tcp:80'] });
  assert.equal(s.handle(['list', '-n', 'C'], undefined).code, 1);
  s.restore('flush A\ndestroy B\n', false);
  assert.equal(s.save(), 'create A hash:ip,port family inet hashsize 1024 maxelem 65536 comment\n');
});

test('fake ipset: test answers whether an entry (normalised) is in a set', () => {
  const s = new FakeIpset();
  s.restore('create A hash:ip,port,net family inet hashsize 1024 maxelem 65536 comment\nadd A 198.19.0.1,tcp:80,198.18.99.7/32\n', false);
  assert.equal(s.handle(['test', 'A', '198.19.0.1,tcp:80,198.18.99.7'], undefined).code, 0);
  assert.equal(s.handle(['test', 'A', '198.19.0.1,tcp:81,198.18.99.7'], undefined).code, 1);
  assert.equal(s.handle(['test', 'B', '198.19.0.1,tcp:80'], undefined).code, 1);
});
