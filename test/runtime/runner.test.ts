// Bounded-frequency runner: coalescing, min interval, periodic runs, retry backoff, no overlap,
// errors contained. Uses a manual clock so the timing assertions are exact.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BoundedFrequencyRunner } from '../../src/proxy/runner.js';
import { configureLogging } from '../../src/log/logger.js';
import { FakeClock, settle } from '../support/fake-clock.js';

configureLogging({ sink: () => undefined });

function makeRunner(clock: FakeClock, fn: () => Promise<void>, min = 1000, max = 30_000, retryMax = 30_000) {
  return new BoundedFrequencyRunner('test', fn, { minIntervalMs: min, maxIntervalMs: max, retryMaxMs: retryMax, clock });
}

test('first run() runs immediately; requests inside minInterval coalesce into one run at its end', async () => {
  const clock = new FakeClock();
  const times: number[] = [];
  const r = makeRunner(clock, async () => void times.push(clock.now()));
  r.start();
  const t0 = clock.now();
  r.run();
  await clock.advance(0);
  assert.deepEqual(times, [t0]);
  for (let i = 0; i < 5; i++) {
    r.run();
    await clock.advance(100);
  }
  assert.equal(times.length, 1, 'no run before minInterval has passed');
  await clock.advance(500);
  assert.deepEqual(times, [t0, t0 + 1000], 'the five requests ran once, minInterval after the first run');
  await r.stop();
});

test('runs periodically every maxInterval without requests', async () => {
  const clock = new FakeClock();
  let n = 0;
  const r = makeRunner(clock, async () => void n++, 1000, 5000);
  r.start();
  await clock.advance(4999);
  assert.equal(n, 0);
  await clock.advance(1);
  assert.equal(n, 1);
  await clock.advance(5000);
  assert.equal(n, 2);
  await r.stop();
});

test('a request right after a periodic run runs at once; requested runs stay minInterval apart', async () => {
  const clock = new FakeClock();
  const times: number[] = [];
  const r = makeRunner(clock, async () => void times.push(clock.now()), 1000, 5000);
  r.start();
  await clock.advance(5000); // the periodic run
  assert.equal(times.length, 1);
  const periodicAt = times[0]!;
  await clock.advance(100);
  r.run();
  await clock.advance(0);
  assert.deepEqual(times, [periodicAt, periodicAt + 100], 'not held back by the periodic run');
  r.run();
  await clock.advance(2000);
  assert.equal(times[2], periodicAt + 1100, 'the next requested run waits minInterval after the previous requested one');
  await r.stop();
});

test('failures retry with exponential backoff from 1 s, capped at retryMax; success resets it', async () => {
  const clock = new FakeClock();
  const times: number[] = [];
  let fail = true;
  const r = makeRunner(
    clock,
    async () => {
      times.push(clock.now());
      if (fail) throw new Error('boom');
    },
    0,
    60_000,
    5000,
  );
  r.start();
  const t0 = clock.now();
  r.run();
  await clock.advance(20_000);
  const gaps = times.slice(1).map((t, i) => t - times[i]!);
  assert.equal(times[0], t0);
  assert.deepEqual(gaps.slice(0, 5), [1000, 2000, 4000, 5000, 5000]);
  assert.ok(r.failures >= 5);
  fail = false;
  await clock.advance(5000);
  assert.equal(r.failures, 0);
  const count = times.length;
  await clock.advance(30_000);
  assert.equal(times.length, count, 'no retries after a success (next run is the periodic one)');
  await r.stop();
});

test('retry backoff never goes below minInterval', async () => {
  const clock = new FakeClock();
  const times: number[] = [];
  const r = makeRunner(
    clock,
    async () => {
      times.push(clock.now());
      throw new Error('boom');
    },
    3000,
    60_000,
    10_000,
  );
  r.start();
  r.run();
  await clock.advance(10_000);
  assert.equal(times[1]! - times[0]!, 3000);
});

test('never two runs at once; a request during a run causes exactly one more run', async () => {
  const clock = new FakeClock();
  let active = 0;
  let maxActive = 0;
  let n = 0;
  let release: (() => void) | null = null;
  const r = makeRunner(
    clock,
    () =>
      new Promise<void>((resolve) => {
        n++;
        active++;
        maxActive = Math.max(maxActive, active);
        release = () => {
          active--;
          resolve();
        };
      }),
    0,
  );
  r.start();
  r.run();
  await clock.advance(0);
  assert.equal(n, 1);
  r.run();
  r.run();
  await clock.advance(1000);
  assert.equal(n, 1, 'second run waits for the first to finish');
  release!();
  await clock.advance(0);
  assert.equal(n, 2);
  assert.equal(maxActive, 1);
  release!();
  await clock.advance(0);
  assert.equal(n, 2, 'coalesced: no third run');
  await r.stop();
});

test('a synchronous throw is contained and retried', async () => {
  const clock = new FakeClock();
  let n = 0;
  const r = makeRunner(
    clock,
    () => {
      n++;
      throw new Error('sync throw');
    },
    0,
  );
  r.start();
  r.run();
  await clock.advance(1000);
  assert.equal(n, 2);
  await r.stop();
});

test('stop() cancels pending timers and waits for the run in progress', async () => {
  const clock = new FakeClock();
  let finished = false;
  let release: (() => void) | null = null;
  const r = makeRunner(clock, () => new Promise<void>((resolve) => (release = () => ((finished = true), resolve()))), 0);
  r.start();
  r.run();
  await clock.advance(0);
  const stopping = r.stop();
  let stopped = false;
  void stopping.then(() => (stopped = true));
  await settle();
  assert.equal(stopped, false);
  release!();
  await stopping;
  assert.equal(finished, true);
  assert.deepEqual(clock.pendingDelays(), []);
});

test('requests before start() are kept and run at start', async () => {
  const clock = new FakeClock();
  let n = 0;
  const r = makeRunner(clock, async () => void n++);
  r.run();
  await clock.advance(10);
  assert.equal(n, 0);
  r.start();
  await clock.advance(0);
  assert.equal(n, 1);
  await r.stop();
});

test('maxInterval < minInterval is rejected', () => {
  assert.throws(() => makeRunner(new FakeClock(), async () => undefined, 10, 5), /maxInterval/);
});

test('the real clock: a run due now starts before a 1 ms timer, and a cleared one never runs', async () => {
  const { realClock } = await import('../../src/proxy/runner.js');
  const { stat } = await import('node:fs');
  const order: string[] = [];
  // Scheduled from an I/O callback, as a watch event is: the event loop's order is then fixed
  // (immediates before the next timers), so this cannot depend on the machine's speed.
  await new Promise<void>((done) =>
    stat('.', () => {
      setTimeout(() => order.push('timer 1 ms'), 1);
      realClock.setTimeout(() => order.push('due now'), 0);
      realClock.clearTimeout(realClock.setTimeout(() => order.push('cleared'), 0));
      realClock.clearTimeout(realClock.setTimeout(() => order.push('cleared 5 ms'), 5));
      setTimeout(done, 20);
    }),
  );
  assert.deepEqual(order, ['due now', 'timer 1 ms']);
});
