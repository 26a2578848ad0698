// `err` in log lines has one shape, whatever was passed (Error, string, object, number): the
// message as a string; the stack only at -v=4 and above, in its own field. Severity of JSON
// lines is in `level`, never in `err`.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configureLogging, createLogger } from '../../src/log/logger.js';

function capture(format: 'json' | 'text', verbosity: number, fn: (log: ReturnType<typeof createLogger>) => void): string[] {
  const lines: string[] = [];
  configureLogging({ format, verbosity, sink: (l) => lines.push(l) });
  try {
    fn(createLogger('test'));
  } finally {
    configureLogging({ format: 'text', verbosity: 0, sink: (l) => process.stderr.write(l + '\n') });
  }
  return lines;
}

const emitAll = (log: ReturnType<typeof createLogger>): void => {
  log.error('from an Error', { err: new Error('boom') });
  log.warn('from a string', { err: 'plain' });
  log.error('from an object', { err: { message: 'objmsg', code: 7 } });
  log.info('from a number', { err: 42 });
  log.error('no err at all');
};

test('json: err is always the message string; no stack at the default verbosity; severity in level', () => {
  const lines = capture('json', 0, emitAll).map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 5);
  assert.deepEqual(
    lines.map((l) => l.err),
    ['boom', 'plain', 'objmsg', '42', undefined],
  );
  for (const l of lines) assert.equal(l.stack, undefined);
  assert.deepEqual(
    lines.map((l) => l.level),
    ['error', 'warning', 'error', undefined, 'error'],
  );
});

test('json at -v=4: the stack of an Error in its own field; err unchanged', () => {
  const [l] = capture('json', 4, (log) => log.error('x', { err: new Error('boom') })).map((x) => JSON.parse(x) as Record<string, unknown>);
  assert.equal(l!.err, 'boom');
  assert.match(String(l!.stack), /^Error: boom\n\s+at /);
});

test('text: err="message"; stack only at -v=4', () => {
  const [a] = capture('text', 0, (log) => log.error('x', { err: new Error('boom') }));
  assert.match(a!, / err="boom"$/);
  const [b] = capture('text', 4, (log) => log.error('x', { err: new Error('boom') }));
  assert.match(b!, / err="boom" stack="Error: boom\\n/);
});
