// The element socket against the real kernel, in throw-away network namespaces: every element form
// the planners write (all golden cases) gives, over netlink, the same table as `nft -f`; a change's
// batch is atomic.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { planFull } from '../../../src/dataplane/nftables/planner.js';
import { stageFull } from '../../../src/kernel/nftables/staged.js';
import type { SetSpec } from '../../../src/kernel/nftables/objects.js';
import { normalizeTable } from '../../../src/dryrun/nftables.js';
import { cases } from '../../nftables/cases.js';
import { canRunKernelTests, createNetns, type Netns } from '../../nftables/netns.js';

const skip = canRunKernelTests() ? false : 'needs root for network namespaces';
const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'support', 'apply-elements.js');

describe('nftables elements over netlink, in the kernel', { skip }, () => {
  let viaSocket: Netns;
  let viaNft: Netns;

  before(async () => {
    viaSocket = await createNetns('nle');
    viaNft = await createNetns('nlf');
  });
  after(async () => {
    await viaSocket?.destroy();
    await viaNft?.destroy();
  });

  async function applyOverNetlink(lines: readonly string[], specs: Record<string, SetSpec>, atomic: boolean): Promise<{ millis?: number | null; error?: string }> {
    const r = await viaSocket.exec(process.execPath, [child], { input: JSON.stringify({ lines, specs, atomic }) });
    return JSON.parse(r.stdout) as { millis?: number | null; error?: string };
  }

  const listing = async (n: Netns, fam: string): Promise<string> => normalizeTable((await n.nft(['list', 'table', fam, 'kube-proxy'])).stdout);

  function specsOf(tx: ReturnType<typeof planFull>['tx']): Record<string, SetSpec> {
    const specs: Record<string, SetSpec> = {};
    for (const op of tx.ops) if (op.object.kind === 'set' || op.object.kind === 'map') specs[op.object.name] = op.object.spec;
    return specs;
  }

  for (const c of cases) {
    test(`${c.name}: the elements written over netlink make the table nft -f makes`, async () => {
      const fam = c.state.family === 'IPv6' ? 'ip6' : 'ip';
      await viaSocket.nft(['flush', 'ruleset']);
      await viaNft.nft(['flush', 'ruleset']);
      const p = planFull(c.state, c.cfg, { tableStart: 'create' });
      const st = stageFull(p.tx, 2);
      assert.ok(st, 'a create plan stages');
      assert.ok(st.elementLines.length > 0, 'the case has elements');
      await viaSocket.nft(['-f', '-'], st.skeleton);
      const r = await applyOverNetlink(st.elementLines, specsOf(p.tx), false);
      assert.equal(r.error, undefined);
      assert.equal(typeof r.millis, 'number', 'every set of the layout is written over netlink (none declined)');
      await viaSocket.nft(['-f', '-'], st.hooks);
      await viaNft.nft(['-f', '-'], p.script);
      assert.equal(await listing(viaSocket, fam), await listing(viaNft, fam));
    });
  }

  test('a change is one transaction: a refused message applies none of the batch', async () => {
    await viaSocket.nft(['flush', 'ruleset']);
    const specs: Record<string, SetSpec> = {
      m: { type: 'ipv4_addr . inet_service : ipv4_addr . inet_service' },
      s: { type: 'ipv4_addr' },
    };
    await viaSocket.nft(['-f', '-'], 'add table ip t\nadd map ip t m { type ipv4_addr . inet_service : ipv4_addr . inet_service ; }\nadd set ip t s { type ipv4_addr ; }\nadd element ip t m { 198.19.0.1 . 80 : 198.18.100.1 . 8080 }\n');
    // A swap (delete then add of the same key) in one batch.
    const swap = ['delete element ip t m { 198.19.0.1 . 80 }', 'add element ip t m { 198.19.0.1 . 80 : 198.18.100.2 . 8080 }', 'add element ip t s { 198.18.100.2 }'];
    const ok = await applyOverNetlink(swap, specs, true);
    assert.equal(ok.error, undefined);
    const afterSwap = (await viaSocket.nft(['list', 'table', 'ip', 't'])).stdout;
    assert.match(afterSwap, /198\.19\.0\.1 \. 80 : 198\.18\.100\.2 \. 8080/);
    assert.match(afterSwap, /elements = \{ 198\.18\.100\.2 \}/);
    // An addition and a deletion of a missing element: the kernel refuses the batch, nothing changes.
    const bad = await applyOverNetlink(['add element ip t s { 198.18.100.3 }', 'delete element ip t m { 198.19.0.9 . 80 }'], specs, true);
    assert.match(bad.error ?? '', /ENOENT: delete element ip t m/);
    assert.equal((await viaSocket.nft(['list', 'table', 'ip', 't'])).stdout, afterSwap);
    // Not an element command, or a set whose layout is unknown: declined, nothing sent.
    assert.equal((await applyOverNetlink(['add element ip t s { 198.18.100.4 }', 'flush set ip t s'], specs, true)).millis, null);
    assert.equal((await applyOverNetlink(['add element ip t other { 198.18.100.4 }'], specs, true)).millis, null);
    assert.equal((await viaSocket.nft(['list', 'table', 'ip', 't'])).stdout, afterSwap);
  });

  test('many elements: batches of whole messages, all applied', async () => {
    await viaSocket.nft(['flush', 'ruleset']);
    await viaSocket.nft(['-f', '-'], 'add table ip t\nadd set ip t s { type ipv4_addr . inet_service ; }\n');
    const lines: string[] = [];
    for (let k = 0; k < 40; k++) {
      const els: string[] = [];
      for (let i = 0; i < 1000; i++) els.push(`198.18.${k}.${i % 250} . ${1000 + i}`);
      lines.push(`add element ip t s { ${els.join(', ')} }`);
    }
    const r = await applyOverNetlink(lines, { s: { type: 'ipv4_addr . inet_service' } }, false);
    assert.equal(r.error, undefined);
    const out = (await viaSocket.nft(['list', 'set', 'ip', 't', 's'])).stdout;
    assert.equal(out.match(/198\.18\.\d+\.\d+ \. \d+/g)?.length, 40_000);
    // One transaction of this size does not fit a datagram: declined, nothing sent.
    assert.equal((await applyOverNetlink(lines.map((l) => l.replace(/^add/, 'delete')), { s: { type: 'ipv4_addr . inet_service' } }, true)).millis, null);
  });
});
