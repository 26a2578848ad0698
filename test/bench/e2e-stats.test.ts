// The end-to-end benchmark's pure helpers: klog line parsing, min/median/max, the start timeline.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventKey, parseKlogLine, pct, stat3, timeline } from '../../bench/e2e-stats.js';

test('parseKlogLine reads the time, message and fields of a klog text line', () => {
  const ref = new Date(2026, 11, 5, 12, 0, 0);
  const e = parseKlogLine('I1205 08:01:02.123456    4242 proxier] "Synced rules" ipFamily="IPv4" full=true toolMillis=57', ref);
  assert.ok(e);
  assert.equal(e.msg, 'Synced rules');
  assert.deepEqual(e.fields, { ipFamily: 'IPv4', full: 'true', toolMillis: '57' });
  assert.equal(e.t, new Date(2026, 11, 5, 8, 1, 2, 0).getTime() + 123.456);
  assert.equal(eventKey(e), 'Synced rules (IPv4)');
  assert.equal(parseKlogLine('{"ts":1.5,"msg":"json"}'), null);
  assert.equal(parseKlogLine('W1205 08:01:02.000001 1 x] "quoted \\"inner\\"" err="a b"', ref)?.fields.err, 'a b');
});

test('stat3 and pct: min / median / max and nearest-rank percentiles, ignoring non-finite samples', () => {
  assert.deepEqual(stat3([3, 1, 2]), { count: 3, min: 1, median: 2, max: 3 });
  assert.deepEqual(stat3([4, 1, NaN, 2, 3]), { count: 4, min: 1, median: 2.5, max: 4 });
  assert.equal(stat3([]), null);
  assert.equal(pct([5, 1, 4, 2, 3], 0.5), 3);
  assert.equal(pct(Array.from({ length: 100 }, (_, i) => i + 1), 0.99), 99);
  assert.ok(Number.isNaN(pct([], 0.5)));
});

test('timeline: first occurrence per event and sample, offsets from spawn, ordered, cut at untilMs', () => {
  const ev = (t: number, msg: string, fields: Record<string, string> = {}) => ({ t, msg, fields });
  const rows = timeline(
    [
      { spawn: 1000, untilMs: 500, events: [ev(1100, 'Starting'), ev(1200, 'Synced rules', { ipFamily: 'IPv4' }), ev(1300, 'Synced rules', { ipFamily: 'IPv4' }), ev(1700, 'Late')] },
      { spawn: 5000, untilMs: 500, events: [ev(5300, 'Starting'), ev(5400, 'Synced rules', { ipFamily: 'IPv4' })] },
    ],
    { event: '[answer]', ms: [450, 480] },
  );
  assert.deepEqual(
    rows.map((r) => [r.event, r.at.median, r.at.count]),
    [
      ['Starting', 200, 2],
      ['Synced rules (IPv4)', 300, 2],
      ['[answer]', 465, 2],
    ],
  );
});
