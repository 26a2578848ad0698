// The nftables kernel layer without root: Transaction rendering, FakeNftables' nft semantics,
// the parser that lets the fake stand behind a ToolRunner, and the nftables Dataplane run
// entirely against the fake (runner + nft -i stream).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeNftables, NftError } from '../../../src/kernel/nftables/fake.js';
import { elementList } from '../../../src/kernel/nftables/objects.js';
import { parseScript } from '../../../src/kernel/nftables/parse.js';
import { Transaction } from '../../../src/kernel/nftables/transaction.js';
import { createNftablesDataplane } from '../../../src/dataplane/nftables/index.js';
import { planFull } from '../../../src/dataplane/nftables/planner.js';
import { cases } from '../../nftables/cases.js';
import { config, ep, sp, state } from '../../nftables/fixtures.js';

const T = { family: 'ip', name: 't' } as const;

function base(): Transaction {
  return new Transaction(T)
    .addTable('c')
    .add({ kind: 'map', name: 'm', spec: { type: 'ipv4_addr : verdict' } })
    .addChain('a')
    .addChain('b')
    .addRule('a', 'ip daddr vmap @m')
    .addElements('m', elementList([{ key: '198.18.0.1', value: 'goto b' }]));
}

test('render: commands in order, elements chunked by 1000, sizes count elements', () => {
  const els = Array.from({ length: 1001 }, (_, i) => ({ key: `198.18.${i >> 8}.${i & 255}` }));
  const tx = new Transaction(T)
    .addTable('rules')
    .addChain('nat', { type: 'nat', hook: 'prerouting', priority: -100 })
    .add({ kind: 'set', name: 's', spec: { type: 'ipv4_addr', flags: ['dynamic', 'timeout'], timeout: 60, comment: 'x' } })
    .addElements('s', elementList(els));
  const lines = tx.render().split('\n');
  assert.equal(lines[0], 'add table ip t { comment "rules" ; }');
  assert.equal(lines[1], 'add chain ip t nat { type nat hook prerouting priority -100 ; }');
  assert.equal(lines[2], 'add set ip t s { type ipv4_addr ; flags dynamic,timeout ; timeout 60s ; comment "x" ; }');
  assert.equal(lines.length, 6); // 2 element commands + trailing ''
  assert.match(lines[4]!, /^add element ip t s \{ 198\.18\.3\.232 \}$/);
  assert.equal(tx.size, 3 + 1001);
  assert.equal(new Transaction(T).render(), '');
});

test('fake: add is idempotent, delete of a missing object fails, transactions are atomic', () => {
  const f = new FakeNftables();
  f.apply(base());
  const once = f.dump('ip', 't');
  f.apply(new Transaction(T).addTable('c').addChain('a').add({ kind: 'map', name: 'm', spec: { type: 'ipv4_addr : verdict' } }));
  assert.equal(f.dump('ip', 't'), once, 'adding existing objects changes nothing');
  assert.throws(() => f.apply(new Transaction(T).delete({ kind: 'chain', name: 'nope' })), NftError);
  // One failing operation at the end: the flush before it must not be visible.
  assert.throws(() => f.apply(new Transaction(T).flush({ kind: 'chain', name: 'a' }).deleteElements('m', elementList([{ key: '198.18.9.9' }]))), NftError);
  assert.equal(f.dump('ip', 't'), once);
  assert.equal(f.applied, 2);
});

test('fake: referenced or non-empty objects cannot be deleted; conflicting re-adds fail', () => {
  const f = new FakeNftables();
  f.apply(base());
  assert.throws(() => f.apply(new Transaction(T).delete({ kind: 'chain', name: 'a' })), /not empty/);
  assert.throws(() => f.apply(new Transaction(T).delete({ kind: 'chain', name: 'b' })), /referenced \(element of map m\)/);
  assert.throws(() => f.apply(new Transaction(T).flush({ kind: 'chain', name: 'a' }).delete({ kind: 'map', name: 'm', spec: {} }).delete({ kind: 'chain', name: 'x' })), /chain x/);
  assert.throws(() => f.apply(new Transaction(T).delete({ kind: 'map', name: 'm', spec: {} })), /referenced \(rule in chain a\)/);
  assert.throws(() => f.apply(new Transaction(T).addRule('a', 'jump missing')), /chain missing/);
  assert.throws(() => f.apply(new Transaction(T).addElements('m', elementList([{ key: '198.18.0.1', value: 'goto a' }]))), /File exists/);
  assert.throws(() => f.apply(new Transaction(T).add({ kind: 'map', name: 'm', spec: { type: 'ipv4_addr : ipv4_addr' } })), /File exists/);
  // In the right order, all of it goes.
  f.apply(
    new Transaction(T)
      .deleteElements('m', elementList([{ key: '198.18.0.1' }]))
      .flush({ kind: 'chain', name: 'a' })
      .delete({ kind: 'map', name: 'm', spec: {} })
      .delete({ kind: 'chain', name: 'b' }),
  );
  assert.doesNotMatch(f.dump('ip', 't')!, /map m|chain b/);
  f.apply(new Transaction(T).deleteTable());
  assert.equal(f.dump('ip', 't'), null);
});

test('parser: every golden full transaction parses back to the same operations', () => {
  for (const c of cases) {
    const tx = planFull(c.state, c.cfg).tx;
    const direct = new FakeNftables();
    direct.apply(tx);
    const parsed = new FakeNftables();
    parsed.apply(parseScript(tx.render()));
    assert.equal(parsed.dumpAll(), direct.dumpAll(), c.name);
    assert.equal(new Transaction(T).render(), '');
  }
});

test('the nftables Dataplane against the fake: full, incremental through the stream, drift, cleanup', async () => {
  const fake = new FakeNftables();
  const cfg = config();
  const dp = createNftablesDataplane(cfg, { runner: fake.runner(), streams: fake.streams() });
  const s1 = state([sp('ns', 'a', { endpoints: [ep('198.18.100.2')] })]);
  const r1 = await dp.sync(s1, { full: false });
  assert.equal(r1.full, true);
  assert.match(fake.dump('ip', 'kube-proxy')!, /198\.19\.0\.1 \. tcp \. 80 comment "ns\/a:p" : goto dnat-tcp-1/);
  const s2 = state([sp('ns', 'a', { endpoints: [ep('198.18.100.2'), ep('198.18.100.3')] })], { generation: 2 });
  const r2 = await dp.sync(s2, { full: false });
  assert.equal(r2.full, false);
  assert.match(fake.dump('ip', 'kube-proxy')!, /goto dnat-tcp-2/);
  assert.equal(await dp.detectDrift(), false);
  // Someone replaces the table: the canary rule's handle is gone, so drift is detected.
  fake.reset();
  fake.apply(planFull(s2, cfg).tx);
  fake.apply(new Transaction({ family: 'ip', name: 'kube-proxy' }).delete({ kind: 'rule-handle', chain: 'canary', handle: 2 }));
  assert.equal(await dp.detectDrift(), true);
  assert.equal((await dp.sync(s2, { full: false })).full, true);
  await dp.cleanup();
  assert.equal(fake.dumpAll(), '');
  await dp.close?.();
});

test('the nftables Dataplane against the fake: a failed transaction changes nothing and the next sync is full', async () => {
  let failNext = false;
  const fake = new FakeNftables();
  const dp = createNftablesDataplane(config(), {
    interactive: false,
    runner: fake.runner(() => (failNext ? 'Error: injected' : null)),
  });
  const s1 = state([sp('ns', 'a', { endpoints: [ep('198.18.100.2')] })]);
  await dp.sync(s1, { full: false });
  const before = fake.dumpAll();
  failNext = true;
  await assert.rejects(dp.sync(state([sp('ns', 'a', { endpoints: [ep('198.18.100.3')] })], { generation: 2 }), { full: false }), /injected/);
  assert.equal(fake.dumpAll(), before);
  failNext = false;
  assert.equal((await dp.sync(s1, { full: false })).full, true);
});

test('full syncs never create and delete the table in one transaction (the kernel would show it empty until the commit)', async () => {
  // The fake counts transactions that delete a table they created (docs/reliability.md section 10):
  // the 'any' start does that when there is no table, which is why the dataplane looks first.
  const cfg = config();
  const s1 = state([sp('ns', 'a', { endpoints: [ep('198.18.100.2')] })]);
  const probe = new FakeNftables();
  probe.apply(planFull(s1, cfg).tx);
  assert.equal(probe.exposedEmptyTables, 1, "the fake sees it: 'add; delete; add' on an empty ruleset");
  probe.apply(planFull(s1, cfg).tx);
  assert.equal(probe.exposedEmptyTables, 1, "'add; delete; add' over an existing table is a plain replace");

  const fake = new FakeNftables();
  const scripts: string[] = [];
  const inner = fake.runner();
  const dp = createNftablesDataplane(cfg, {
    interactive: false,
    runner: async (command, args, opts) => {
      if (args[0] === '-f') scripts.push(opts?.input ?? '');
      return inner(command, args, opts);
    },
  });
  await dp.sync(s1, { full: false }); // first start: no table
  assert.match(scripts[0]!, /^create table ip kube-proxy \{ comment "rules for kube-proxy" ; \}\n/);
  await dp.sync(s1, { full: true }); // the table is there: replaced
  assert.match(scripts[1]!, /^delete table ip kube-proxy\nadd table ip kube-proxy \{ comment "rules for kube-proxy" ; \}\n/);
  fake.reset(); // `nft flush ruleset`
  assert.equal(await dp.detectDrift(), true);
  await dp.sync(s1, { full: false });
  assert.match(scripts[2]!, /^create table ip kube-proxy /);
  assert.equal(fake.exposedEmptyTables, 0);
  assert.equal(fake.dump('ip', 'kube-proxy'), probe.dump('ip', 'kube-proxy'), 'the same table whichever way it starts');

  // What the dataplane found may be stale by the time the transaction runs: it then fails whole,
  // and the next (full) sync looks again.
  const racing = new FakeNftables();
  let sneak: (() => void) | null = null;
  const inner2 = racing.runner();
  const dp2 = createNftablesDataplane(cfg, {
    interactive: false,
    runner: async (command, args, opts) => {
      const r = await inner2(command, args, opts);
      if (args[0] === '-c' && opts?.input?.startsWith('create table') && sneak) {
        sneak();
        sneak = null;
      }
      return r;
    },
  });
  sneak = () => racing.apply(new Transaction({ family: 'ip', name: 'kube-proxy' }).addTable());
  await assert.rejects(dp2.sync(s1, { full: true }), /File exists/);
  assert.equal(racing.dump('ip', 'kube-proxy'), 'table ip kube-proxy {\n}\n', 'the failed create changed nothing');
  assert.equal((await dp2.sync(s1, { full: false })).full, true);
  assert.equal(racing.dump('ip', 'kube-proxy'), probe.dump('ip', 'kube-proxy'));
  sneak = () => racing.reset();
  await assert.rejects(dp2.sync(s1, { full: true }), /No such file or directory/);
  assert.equal(racing.dumpAll(), '');
  await dp2.sync(s1, { full: false });
  assert.equal(racing.dump('ip', 'kube-proxy'), probe.dump('ip', 'kube-proxy'));
  assert.equal(racing.exposedEmptyTables, 0);
});
