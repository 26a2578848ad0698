// Shared test helpers: locate the repo root (tests also run compiled from dist/test/...).

import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Walk up from this file to the directory holding package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

export function fixture(name: string): string {
  return join(repoRoot(), 'test', 'config', 'fixtures', name);
}

/** Write text to a fresh temp file and return its path. */
export function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kpts-config-'));
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
