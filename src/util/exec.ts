// Runs kernel tools without a shell: argument arrays and stdin only, so no object field can
// ever be interpreted by a shell.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
  readonly millis: number;
}

export class ExecError extends Error {
  constructor(
    readonly command: string,
    readonly args: readonly string[],
    readonly result: ExecResult,
  ) {
    super(`${command} ${args.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
    this.name = 'ExecError';
  }
}

export interface ExecOptions {
  /** Written to the child's stdin, then stdin is closed. */
  readonly input?: string;
  /** Kill the child after this many milliseconds (default 120 s). */
  readonly timeoutMs?: number;
  /** Resolve instead of throwing on a non-zero exit. */
  readonly allowFailure?: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Tool-name overrides, for fault injection in tests: KPX_TOOL_<NAME>=/path/to/wrapper
 * (NAME upper-cased, '-' -> '_'), e.g. KPX_TOOL_NFT=/tmp/fail-once-nft.
 */
export function resolveTool(command: string): string {
  const key = 'KPX_TOOL_' + command.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  return process.env[key] || command;
}

export function run(command: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const start = process.hrtime.bigint();
  const bin = resolveTool(command);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: ExecResult = {
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + (timedOut ? `\n(killed after ${opts.timeoutMs ?? 120_000} ms)` : ''),
        code: code ?? (signal ? 128 : 1),
        millis: Number(process.hrtime.bigint() - start) / 1e6,
      };
      if (result.code !== 0 && !opts.allowFailure) reject(new ExecError(command, args, result));
      else resolve(result);
    });
    child.stdin.on('error', () => {
      /* the child may exit before reading all input; its exit code tells what happened */
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/**
 * Starts a long-lived kernel tool (e.g. `nft -i`) with piped stdio, through the same tool
 * resolution and without a shell; the caller owns the process and its lifetime.
 */
export type ToolProcess = ChildProcessWithoutNullStreams;

export function spawnTool(command: string, args: readonly string[]): ToolProcess {
  const bin = resolveTool(command);
  return spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
}
