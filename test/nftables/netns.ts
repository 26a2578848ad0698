// Kernel tests run nft only inside a throw-away network namespace (never the root one).

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { run, type ExecResult } from '../../src/util/exec.js';

export interface Netns {
  readonly name: string;
  /** Run a command inside the namespace (argument array, no shell). */
  exec(cmd: string, args: readonly string[], opts?: { input?: string; allowFailure?: boolean; timeoutMs?: number }): Promise<ExecResult>;
  nft(args: readonly string[], input?: string, allowFailure?: boolean): Promise<ExecResult>;
  /** PIDs of the processes in the namespace (`ip netns pids`). */
  pidsSync(): number[];
  destroy(): Promise<void>;
}

export async function createNetns(tag = 'nft'): Promise<Netns> {
  const name = `kpx-${tag}-${randomBytes(4).toString('hex')}`;
  await run('ip', ['netns', 'add', name]);
  const exec: Netns['exec'] = (cmd, args, opts = {}) =>
    run('ip', ['netns', 'exec', name, cmd, ...args], {
      ...(opts.input !== undefined ? { input: opts.input } : {}),
      ...(opts.allowFailure ? { allowFailure: true } : {}),
      timeoutMs: opts.timeoutMs ?? 600_000,
    });
  return {
    name,
    exec,
    nft: (args, input, allowFailure) =>
      exec('nft', args, { ...(input !== undefined ? { input } : {}), ...(allowFailure ? { allowFailure } : {}) }),
    pidsSync: () =>
      execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map(Number),
    destroy: async () => {
      await run('ip', ['netns', 'del', name], { allowFailure: true });
    },
  };
}

export function canRunKernelTests(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
