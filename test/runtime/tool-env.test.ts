// nft runs with glibc's malloc hugetlb tunable (src/util/tool-env.ts); other tools run with the
// environment unchanged; an operator's GLIBC_TUNABLES are kept, after ours so they win.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { run, spawnTool } from '../../src/util/exec.js';
import { toolEnv } from '../../src/util/tool-env.js';

/** The GLIBC_TUNABLES a started `command` sees: the tool override points it at `env`, which prints its environment. */
async function tunablesSeenBy(command: string): Promise<string | undefined> {
  const key = 'KPX_TOOL_' + command.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  process.env[key] = 'env';
  try {
    const r = await run(command, []);
    return /^GLIBC_TUNABLES=(.*)$/m.exec(r.stdout)?.[1];
  } finally {
    delete process.env[key];
  }
}

test('toolEnv: nft gets the hugetlb tunable, the operator’s own tunables last, other tools untouched', () => {
  assert.equal(toolEnv('nft', {}).GLIBC_TUNABLES, 'glibc.malloc.hugetlb=1');
  assert.equal(toolEnv('nft', { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }).GLIBC_TUNABLES, 'glibc.malloc.hugetlb=1:glibc.malloc.hugetlb=0');
  const base = { PATH: '/bin', GLIBC_TUNABLES: 'x=1' };
  assert.equal(toolEnv('iptables-restore', base), base);
});

test('a started nft process really receives the tunable; iptables-restore does not', async (t) => {
  const saved = process.env.GLIBC_TUNABLES;
  delete process.env.GLIBC_TUNABLES;
  t.after(() => {
    if (saved !== undefined) process.env.GLIBC_TUNABLES = saved;
  });
  assert.equal(await tunablesSeenBy('nft'), 'glibc.malloc.hugetlb=1');
  assert.equal(await tunablesSeenBy('iptables-restore'), undefined);
});

test('the long-lived nft -i session gets it too', async () => {
  process.env.KPX_TOOL_NFT = 'env';
  try {
    const child = spawnTool('nft', []);
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    await new Promise((res) => child.on('close', res));
    assert.match(out, /^GLIBC_TUNABLES=.*glibc\.malloc\.hugetlb=1/m);
  } finally {
    delete process.env.KPX_TOOL_NFT;
  }
});
