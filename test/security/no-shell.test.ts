// Static guard: the proxy runs kernel tools without a shell. Only src/util/exec.ts may use
// node:child_process, it must spawn with an argument array and never set `shell`, and nothing in src
// may build a shell command line (sh -c / bash -c) or use exec/execSync, which go through a shell.

import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../support/proxy-process.js';

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

test('only src/util/exec.ts spawns processes, without a shell', async (t) => {
  const files = await sources(path.join(repoRoot, 'src'));
  const spawners: string[] = [];
  const shelly: string[] = [];
  for (const f of files) {
    const text = await fsp.readFile(f, 'utf8');
    const rel = path.relative(repoRoot, f);
    if (/from ['"](node:)?child_process['"]/.test(text)) spawners.push(rel);
    for (const [i, line] of text.split('\n').entries()) {
      if (/^\s*(\/\/|\*)/.test(line)) continue;
      if (/\bshell\s*:\s*(true|['"`])/.test(line) || /\bexecSync\s*\(|\bexec\s*\(\s*['"`]/.test(line) || /['"](ba)?sh['"]\s*,\s*\[\s*['"]-c['"]/.test(line)) {
        shelly.push(`${rel}:${i + 1}: ${line.trim()}`);
      }
    }
  }
  t.diagnostic(`${files.length} source files scanned; child_process users: ${spawners.join(', ')}`);
  assert.deepEqual(spawners, ['src/util/exec.ts']);
  assert.deepEqual(shelly, []);
  const exec = await fsp.readFile(path.join(repoRoot, 'src/util/exec.ts'), 'utf8');
  assert.match(exec, /spawn\(bin, args, \{/, 'spawn with an argument array');
  assert.doesNotMatch(exec.replace(/\/\/.*$/gm, ''), /\bshell\s*:/, 'no shell option');
});
