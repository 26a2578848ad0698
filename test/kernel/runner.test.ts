import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordingRunner } from '../../src/kernel/runner.js';
import { ExecError } from '../../src/util/exec.js';

test('RecordingRunner records calls and answers from the first handler that claims them', async () => {
  const r = new RecordingRunner()
    .on((c) => (c.command === 'nft' && c.args[0] === 'list' ? { stdout: 'table ip x {}\n' } : undefined))
    .on((c) => (c.command === 'nft' ? { code: 1, stderr: 'Error: boom' } : undefined));
  assert.equal((await r.run('nft', ['list', 'ruleset'])).stdout, 'table ip x {}\n');
  await assert.rejects(r.run('nft', ['-f', '-'], { input: 'flush ruleset\n' }), ExecError);
  const soft = await r.run('nft', ['-f', '-'], { input: 'x', allowFailure: true });
  assert.equal(soft.code, 1);
  assert.equal((await r.run('ipset', ['list'])).code, 0);
  assert.deepEqual(r.callsOf('nft').map((c) => c.input), [undefined, 'flush ruleset\n', 'x']);
  assert.equal(r.calls.length, 4);
});
