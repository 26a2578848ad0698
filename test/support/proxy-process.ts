// How tests start the proxy: `node <root>/dist/bundle/main.js` (the bundled program users run, built
// by `npm run build`) when the test itself runs from dist/ (as CI does), else
// `node --import tsx <root>/src/main.ts`.

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
/** True when this module is the compiled copy under dist/. */
export const fromDist = here.endsWith(path.join('dist', 'test', 'support'));
/** The repository root (…/dist/test/support -> …, or …/test/support -> …). */
export const repoRoot = fromDist ? path.resolve(here, '../../..') : path.resolve(here, '../..');

/** The program's entry as built (scripts/bundle.mjs): what `kube-proxy-ts` and the image run. */
export const bundledMain = path.join(repoRoot, 'dist/bundle/main.js');

/** The command and arguments that run the proxy with `args`. */
export function proxyCommand(args: readonly string[] = []): { command: string; args: string[] } {
  const pre = fromDist ? [bundledMain] : ['--import', 'tsx', path.join(repoRoot, 'src/main.ts')];
  return { command: process.execPath, args: [...pre, ...args] };
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run the proxy to completion (bounded by timeoutMs; killed after). `prefix` wraps it, e.g. ['ip','netns','exec',ns]. */
export function runProxy(args: readonly string[], opts: { timeoutMs?: number; prefix?: readonly string[]; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  const child = startProxy(args, opts);
  return collect(child, opts.timeoutMs ?? 60_000);
}

/** Start the proxy in the background; the caller stops it. Runs from the repo root so tsx finds its config. */
export function startProxy(args: readonly string[], opts: { prefix?: readonly string[]; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  const { command, args: a } = proxyCommand(args);
  const full = [...(opts.prefix ?? []), command, ...a];
  return spawn(full[0]!, full.slice(1), { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
}

/** Wait for `child` to exit and return its output; SIGKILL after timeoutMs. */
export function collect(child: ChildProcess, timeoutMs: number): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
