// --logging-format=json must emit one valid JSON object per line: log shippers and the reliability
// tests that count rejected objects parse these lines.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configureLogging, createLogger } from '../../src/log/logger.js';

test('json log lines parse as JSON', () => {
  const lines: string[] = [];
  configureLogging({ format: 'json', verbosity: 0, sink: (l) => lines.push(l) });
  try {
    const log = createLogger('test');
    log.info('hello', { a: 1 });
    log.warn('careful', { reason: 'x "quoted"\nnewline' });
    log.error('bad', { err: new Error('boom') });
  } finally {
    configureLogging({ format: 'text', sink: (l) => process.stderr.write(l + '\n') });
  }
  assert.equal(lines.length, 3);
  for (const l of lines) {
    const o = JSON.parse(l) as { msg?: string };
    assert.equal(typeof o.msg, 'string');
  }
});
