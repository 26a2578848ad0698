// The sync path reads this node's addresses from a cache; a stale listing is refreshed in the
// background, after the calling sync has gone on (a process start blocks the thread for its fork).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADDRESS_REFRESH_MS, LocalAddressCache } from '../../src/node/address-cache.js';
import type { LocalAddress } from '../../src/node/addresses.js';

const addr = (ip: string): LocalAddress => ({ ip, family: 'IPv4', iface: 'eth0', loopback: false, linkLocal: false });
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('address cache: first call lists; a stale cache answers at once and lists after the caller went on', async (t) => {
  let listing: LocalAddress[] = [addr('198.18.0.1')];
  let calls = 0;
  let changes = 0;
  const cache = new LocalAddressCache(
    async () => {
      calls++;
      return listing;
    },
    () => changes++,
  );
  assert.deepEqual(await cache.get(), listing);
  assert.equal(calls, 1);
  // Fresh: no listing.
  await cache.get();
  await tick();
  assert.equal(calls, 1);

  t.mock.timers.enable({ apis: ['Date'], now: Date.now() + ADDRESS_REFRESH_MS + 1 });
  const before = listing;
  listing = [addr('198.18.0.1'), addr('198.18.0.9')];
  const answered = await cache.get();
  // The stale value comes back, and the listing has not started within this call's continuation.
  assert.deepEqual(answered, before);
  assert.equal(calls, 1, 'no process start on the calling sync');
  await tick();
  await tick();
  assert.equal(calls, 2, 'listed in the background');
  assert.equal(changes, 1, 'a different listing asks for another sync');
  assert.deepEqual(await cache.get(), listing);
  t.mock.timers.reset();
});
