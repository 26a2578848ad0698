// DeferredHandler: what a source delivers before the proxier exists reaches it, in order, on attach.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeferredHandler } from '../../src/sources/deferred-handler.js';
import { RecordingHandler } from './helpers.js';

const svc = (name: string): Record<string, unknown> => ({ kind: 'Service', metadata: { namespace: 'default', name } });

test('events and synced signals queued before attach are delivered in order, later ones pass through', () => {
  const d = new DeferredHandler();
  d.onEvent('Service', 'ADDED', svc('a'));
  d.onEvent('Service', 'MODIFIED', svc('a'));
  d.onSynced('Service');
  assert.equal(d.queued, 3);
  const h = new RecordingHandler();
  d.attach(h);
  assert.equal(d.queued, 0);
  d.onEvent('Service', 'ADDED', svc('b'));
  assert.deepEqual(
    h.events.map((e) => `${e.type} ${e.key}`),
    ['ADDED default/a', 'MODIFIED default/a', 'SYNCED ', 'ADDED default/b'],
  );
  assert.deepEqual(h.violations, []);
});
