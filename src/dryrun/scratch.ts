// A throwaway network namespace for --dry-run: the next sync's ruleset is loaded there with the
// same tools, then read back with the same readers as the live kernel, so both sides of the diff
// are in the tools' own canonical form. The namespace belongs to a `sleep` started under
// `unshare --net`: it disappears when that process ends (killed in close(); it also ends on its
// own after HOLD_SECONDS, so a crashed dry-run leaves nothing behind for long). The live
// namespace is only read, never written.

import { readlink } from 'node:fs/promises';
import { resolveTool, run, spawnTool, type ExecOptions, type ExecResult, type ToolProcess } from '../util/exec.js';

const HOLD_SECONDS = 600;
const READY_TIMEOUT_MS = 10_000;

export type ToolRunner = (command: string, args: readonly string[], opts?: ExecOptions) => Promise<ExecResult>;

export class ScratchNetns {
  private constructor(
    private readonly holder: ToolProcess,
    private readonly nsPath: string,
  ) {}

  static async create(): Promise<ScratchNetns> {
    const self = await readlink('/proc/self/ns/net');
    const holder = spawnTool('unshare', ['--net', '--', 'sleep', String(HOLD_SECONDS)]);
    let exited: string | null = null;
    let stderr = '';
    holder.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    holder.on('exit', (code) => (exited = `exited with code ${code}`));
    holder.on('error', (e) => (exited = e.message));
    const nsPath = `/proc/${holder.pid}/ns/net`;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    // unshare switches namespace before it execs sleep: wait until the holder is in a new one.
    for (;;) {
      if (exited !== null) throw new Error(`cannot create a scratch network namespace (unshare --net ${exited}${stderr ? `: ${stderr.trim()}` : ''})`);
      const ns = await readlink(nsPath).catch(() => self);
      if (ns !== self) break;
      if (Date.now() > deadline) {
        holder.kill('SIGKILL');
        throw new Error('cannot create a scratch network namespace (unshare --net did not switch namespace)');
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return new ScratchNetns(holder, nsPath);
  }

  /** Run a kernel tool inside the scratch namespace. */
  readonly run: ToolRunner = (command, args, opts = {}) => run('nsenter', [`--net=${this.nsPath}`, '--', resolveTool(command), ...args], opts);

  async close(): Promise<void> {
    if (this.holder.exitCode !== null || this.holder.signalCode !== null) return;
    const done = new Promise<void>((r) => this.holder.once('exit', () => r()));
    this.holder.kill('SIGKILL');
    await done;
  }
}
