// The kernel layer's iptables pieces without a kernel: typed restore text, the tokenizer, jump
// detection, and the in-memory iptables-restore/iptables-save fake's semantics.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeIptables } from '../../../src/kernel/iptables/fake.js';
import { insertJumps, jumpArgs, missingJumpsInSave, type JumpRule } from '../../../src/kernel/iptables/jumps.js';
import { RestoreTable, parseRestore, quoteRestoreArg, renderRestore, tokenizeRestoreLine } from '../../../src/kernel/iptables/restore.js';

test('RestoreTable renders the restore text lines in order: *table, declarations, operations, COMMIT', () => {
  const nat = new RestoreTable('nat').declare('KUBE-A', 'KUBE-B').append('KUBE-A', '-m comment --comment "x y" -j KUBE-B').append('KUBE-B', ['-j', 'RETURN']).deleteChain('KUBE-C');
  const filter = new RestoreTable('filter', ['KUBE-F']).insert('INPUT', 1, '-j KUBE-F');
  assert.equal(
    renderRestore([nat, filter]),
    '*nat\n:KUBE-A - [0:0]\n:KUBE-B - [0:0]\n-A KUBE-A -m comment --comment "x y" -j KUBE-B\n-A KUBE-B -j RETURN\n-X KUBE-C\nCOMMIT\n*filter\n:KUBE-F - [0:0]\n-I INPUT 1 -j KUBE-F\nCOMMIT\n',
  );
  const blocks = parseRestore(renderRestore([nat, filter]));
  assert.deepEqual(blocks.map((b) => [b.table, b.ops.length]), [['nat', 5], ['filter', 2]]);
});

test('tokenizer and quoting round-trip: double quotes group words, escapes inside quotes', () => {
  assert.deepEqual(tokenizeRestoreLine('-A X -m comment --comment "a b \\"c\\"" -j Y'), ['-A', 'X', '-m', 'comment', '--comment', 'a b "c"', '-j', 'Y']);
  assert.deepEqual(tokenizeRestoreLine('-A X --comment ""'), ['-A', 'X', '--comment', '']);
  assert.equal(quoteRestoreArg('ns/svc:p'), 'ns/svc:p');
  assert.equal(quoteRestoreArg('a b'), '"a b"');
  assert.throws(() => tokenizeRestoreLine('-A X "open'), /unterminated/);
});

test('fake: a declared chain is created, or flushed when it exists (--noflush); built-in chains keep their rules', () => {
  const f = new FakeIptables();
  f.restore('*filter\n:KUBE-A - [0:0]\n-A KUBE-A -j ACCEPT\n-A INPUT -j KUBE-A\nCOMMIT\n');
  f.restore('*filter\n:KUBE-A - [0:0]\n-A KUBE-A -j DROP\nCOMMIT\n');
  assert.equal(f.save('filter'), '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:KUBE-A - [0:0]\n-A INPUT -j KUBE-A\n-A KUBE-A -j DROP\nCOMMIT\n');
});

test('fake: errors as iptables-restore has them; each table commits atomically and the first failure stops the rest', () => {
  const f = new FakeIptables();
  f.restore('*filter\n:KUBE-A - [0:0]\n-A INPUT -j KUBE-A\nCOMMIT\n');
  const before = f.save();
  assert.throws(() => f.restore('*filter\n-X KUBE-A\nCOMMIT\n'), /line 2 failed: Device or resource busy/);
  assert.throws(() => f.restore('*filter\n-A KUBE-B -j ACCEPT\nCOMMIT\n'), /No chain/);
  assert.throws(() => f.restore('*filter\n-A INPUT -j KUBE-NOPE\nCOMMIT\n'), /Couldn't load target/);
  assert.throws(() => f.restore('*filter\n-D INPUT -j ACCEPT\nCOMMIT\n'), /Bad rule/);
  assert.throws(() => f.restore('*filter\n:KUBE-B - [0:0]\n-A KUBE-B -j ACCEPT\n-X KUBE-B\nCOMMIT\n'), /Directory not empty/);
  assert.equal(f.save(), before, 'failed blocks change nothing');
  // nat commits, then filter fails: nat stays applied, filter unchanged.
  assert.throws(() => f.restore('*nat\n:KUBE-N - [0:0]\nCOMMIT\n*filter\n-A NOPE -j ACCEPT\nCOMMIT\n'), /line 5 failed/);
  assert.match(f.save('nat'), /:KUBE-N - \[0:0\]/);
  assert.equal(f.save('filter'), before);
  // Delete: unhook, flush, delete in one block.
  f.restore('*filter\n:KUBE-A - [0:0]\n-D INPUT -j KUBE-A\n-X KUBE-A\nCOMMIT\n');
  assert.doesNotMatch(f.save('filter'), /KUBE-A/);
});

test('fake iptables commands: -C compares arguments (quoting aside), -S lists, -A/-D apply', () => {
  const f = new FakeIptables();
  const j: JumpRule = { table: 'nat', src: 'PREROUTING', dst: 'KUBE-SERVICES', comment: 'kubernetes service portals', extra: [] };
  f.restore('*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n');
  assert.equal(f.command(['-w', '5', '-t', 'nat', '-C', j.src, ...jumpArgs(j)]).code, 1);
  assert.equal(f.command(['-t', 'nat', '-A', j.src, ...jumpArgs(j)]).code, 0);
  assert.equal(f.command(['-w', '5', '-t', 'nat', '-C', j.src, ...jumpArgs(j)]).code, 0);
  assert.equal(f.command(['-t', 'nat', '-S', 'KUBE-SERVICES']).stdout, '-N KUBE-SERVICES\n');
  assert.equal(f.command(['-t', 'mangle', '-S', 'KUBE-PROXY-CANARY']).code, 1);
  // The jump is found in the save output; a missing one becomes an -I line in its table.
  const other: JumpRule = { ...j, src: 'OUTPUT' };
  const missing = missingJumpsInSave(f.save(), [j, other]);
  assert.deepEqual(missing, [{ table: 'nat', line: '-I OUTPUT 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES' }]);
  assert.equal(insertJumps('*nat\nCOMMIT\n*filter\nCOMMIT\n', missing), '*nat\n-I OUTPUT 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\nCOMMIT\n*filter\nCOMMIT\n');
  f.restore(insertJumps('*nat\nCOMMIT\n', missing));
  assert.deepEqual(missingJumpsInSave(f.save(), [j, other]), []);
});
