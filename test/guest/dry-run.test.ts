// --dry-run in IPVS mode, in the IPVS guest: after a sync no difference (exit 0); after one real
// server is deleted by hand, exactly that real server (exit 2). Host-side twin: test/cli/dry-run.test.ts.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DryRunWorld, PODS, VIP, diffLines } from '../cli/dry-run-world.js';
import { skipReason } from './topology.js';

const reason = skipReason();
if (reason) console.log(`# IPVS guest tests SKIPPED: ${reason}`);

describe('--dry-run, ipvs', { skip: reason ?? false }, () => {
  let w: DryRunWorld;
  before(async () => {
    w = await DryRunWorld.create('ipvs');
    await w.programOnce(async () => (await w.sh('ipvsadm', ['-S', '-n'])).includes(`-r ${PODS[1]}:8080`), 300_000);
  });
  after(async () => {
    if (w) await w.close();
  });

  test('after a sync: no difference, exit 0', async () => {
    const r = await w.dryRun(600_000);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^# ipvs IPv4: no difference$/m);
    assert.match(r.stdout, /^# ipvs IPv6: no difference$/m);
  });

  test('one real server deleted: exactly that real server, exit 2', async () => {
    await w.sh('ipvsadm', ['-d', '-t', `${VIP}:80`, '-r', `${PODS[1]}:8080`]);
    const r = await w.dryRun(600_000);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.deepEqual(diffLines(r.stdout), [`@@ virtual-server TCP ${VIP}:80|+ ${PODS[1]}:8080 weight 1`]);
    assert.match(await w.sh('ipvsadm', ['-S', '-n']), new RegExp(`-A -t ${VIP.replace(/\./g, '\\.')}:80`), 'nothing was changed');
    assert.doesNotMatch(await w.sh('ipvsadm', ['-S', '-n']), new RegExp(`-t ${VIP.replace(/\./g, '\\.')}:80 -r ${PODS[1].replace(/\./g, '\\.')}:8080`));
  });
});
