// IPVS mode's netlink applier against the kernel's IPVS, in the guest: the same ipvsadm -R lines
// written over netlink and with ipvsadm itself leave the same virtual and real servers (ipvsadm -S
// -n after every step), and a failing line is reported with its errno while the others are applied.
// The traffic scenarios (scenarios.test.ts, lifecycle.test.ts) run the dataplane, which uses the
// netlink applier, end to end.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { run } from '../../src/util/exec.js';
import { skipReason } from './topology.js';
import { FAILING } from './netlink-apply.js';

const reason = skipReason();

test('ipvs netlink applier: same servers as ipvsadm -R for every line form; a failing line reported, the rest applied', { skip: reason ?? false, timeout: 300_000 }, async () => {
  const ns = `kpx-gnl-${randomBytes(3).toString('hex')}`;
  await run('ip', ['netns', 'add', ns]);
  try {
    const x = (args: string[]) => run('ip', ['netns', 'exec', ns, ...args]);
    // IPVS accepts a real server only where its address is routable (unicast) in the namespace.
    await x(['ip', 'link', 'set', 'lo', 'up']);
    await x(['ip', 'link', 'add', 'd0', 'type', 'dummy']);
    await x(['ip', 'link', 'set', 'd0', 'up']);
    await x(['ip', 'route', 'add', '198.18.0.0/15', 'dev', 'd0']);
    await x(['ip', '-6', 'route', 'add', '2001:db8::/32', 'dev', 'd0']);
    const helper = join(dirname(fileURLToPath(import.meta.url)), 'netlink-apply.js');
    const r = await run('ip', ['netns', 'exec', ns, process.execPath, helper], { timeoutMs: 240_000 });
    const out = JSON.parse(r.stdout) as { viaNetlink: string[]; viaIpvsadm: string[]; failures: { line: string; code: string }[]; afterFailing: string };
    assert.equal(out.viaNetlink.length, 3);
    out.viaNetlink.forEach((t, i) => assert.equal(t, out.viaIpvsadm[i], `after step ${i + 1}`));
    // The steps did something: persistence, flags and IPv6 made it to the kernel.
    assert.match(out.viaNetlink[0]!, /-A -u 198\.19\.0\.2:53 -s mh -b mh-port/);
    assert.match(out.viaNetlink[0]!, /-A --sctp-service 198\.19\.0\.3:9 -s sh -p 10800 -b sh-fallback,sh-port/);
    assert.match(out.viaNetlink[1]!, /-a -t \[2001:db8::a\]:443 -r \[2001:db8::1:2\]:8443 -m -w 5/);
    assert.doesNotMatch(out.viaNetlink[2]!, /198\.19\.0\.3/);
    assert.deepEqual(out.failures, [
      { line: FAILING[1], code: 'EEXIST' },
      { line: FAILING[3], code: 'ENOENT' },
    ]);
    assert.match(out.afterFailing, /-a -t 198\.19\.0\.9:80 -r 198\.18\.1\.9:80 -m -w 1/, 'lines after a failed one are applied');
  } finally {
    await run('ip', ['netns', 'del', ns], { allowFailure: true });
  }
});
