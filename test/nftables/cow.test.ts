// The planner's copy-on-write map (src/dataplane/nftables/cow.ts): a fork never changes the
// original, and keys that differ only in their middle (service-port keys, element keys) spread
// over the shards, so a write after a fork copies a small shard (a one-change plan at 10k
// services was twice as slow when 9 in 10 service-port keys shared one shard).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CowMap } from '../../src/dataplane/nftables/cow.js';

test('a fork shares until written: writes and deletes on the fork leave the original as it was', () => {
  const a = new CowMap<number>();
  for (let i = 0; i < 1000; i++) a.set(`k${i}`, i);
  assert.deepEqual([...a.entries()].slice(0, 2), [['k0', 0], ['k1', 1]]);
  a.freeze();
  const b = a.fork();
  b.set('k1', -1);
  b.delete('k2');
  b.set('new', 7);
  assert.equal(a.get('k1'), 1);
  assert.equal(a.has('k2'), true);
  assert.equal(a.has('new'), false);
  assert.equal(a.size, 1000);
  assert.equal(b.get('k1'), -1);
  assert.equal(b.has('k2'), false);
  assert.equal(b.size, 1000);
  assert.throws(() => new CowMap().fork(), /freeze/);
});

test('keys with long common prefixes and suffixes spread over the shards', () => {
  for (const key of [(i: number) => `default/perf-${i}:http/TCP`, (i: number) => `198.19.${i >> 8}.${i & 255} . tcp . 80`]) {
    const m = new CowMap<number>();
    for (let i = 0; i < 10_000; i++) m.set(key(i), i);
    m.freeze();
    // 256 shards of ~40 keys on average.
    assert.ok(m.maxShardSize() <= 128, `max shard ${m.maxShardSize()} for ${key(1)}`);
  }
});
