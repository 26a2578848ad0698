// inInitialNetns from inside a throwaway namespace, also when the process is PID 1 of its own PID
// namespace (as in a container joined to a non-host network namespace): both must say "not initial",
// so the machine-global conntrack knobs are never written from there.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { run } from '../../src/util/exec.js';
import { fromDist, repoRoot } from '../support/proxy-process.js';

const isRoot = process.getuid?.() === 0;
const ns = `kpx-netns-${randomBytes(3).toString('hex')}`;
const mod = path.join(repoRoot, fromDist ? 'dist/src/node/netns.js' : 'src/node/netns.ts');
const script = `import(${JSON.stringify(mod)}).then((m) => m.inInitialNetns()).then((r) => console.log(process.pid, r))`;
const node = fromDist ? [process.execPath] : [process.execPath, '--import', 'tsx'];

before(async () => {
  if (!isRoot) return;
  await run('ip', ['netns', 'add', ns]);
  // nf_conntrack's sysctls exist per namespace once the module is loaded; a conntrack rule needs it.
  await run('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: 'table ip kpx { chain c { ct state established accept; }; }\n' });
});

after(async () => {
  if (isRoot) await run('ip', ['netns', 'del', ns], { allowFailure: true });
});

test('inside a namespace: not the initial network namespace', { skip: !isRoot && 'needs root' }, async () => {
  const r = await run('ip', ['netns', 'exec', ns, ...node, '-e', script], { timeoutMs: 30_000 });
  assert.match(r.stdout.trim(), / false$/);
});

test('PID 1 of its own PID namespace inside a network namespace: still not initial', { skip: !isRoot && 'needs root' }, async () => {
  const r = await run('ip', ['netns', 'exec', ns, 'unshare', '--pid', '--fork', '--mount-proc', ...node, '-e', script], { timeoutMs: 30_000 });
  // PID 1 shares our network namespace here, so only the nf_conntrack_max marker can tell.
  assert.equal(r.stdout.trim(), '1 false');
});
