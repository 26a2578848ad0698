// JSON-lines RPC with a child process: {id, op, ...args} on its stdin -> {id, ok, result | error} on
// its stdout. The child's first line with id 0 means "ready" (its result is returned by whenReady()).
// Used for the traffic agents (test/support/backend.ts), the reliability suite's agents and its
// in-namespace test API server driver: this test process
// cannot enter a network namespace itself, so everything that must live there is a child.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export class RpcChild {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly ready: Promise<unknown>;
  protected exited = false;
  readonly child: ChildProcess;
  stderr = '';

  constructor(
    readonly label: string,
    argv: readonly string[],
    opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
  ) {
    this.child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], cwd: opts.cwd, env: opts.env ?? process.env });
    this.child.stderr!.on('data', (b: Buffer) => {
      // Bounded: only the tail matters for error messages.
      this.stderr = (this.stderr + b.toString()).slice(-20_000);
    });
    this.ready = new Promise((resolve, reject) => this.pending.set(0, { resolve, reject }));
    this.ready.catch(() => undefined);
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let msg: { id: number; ok: boolean; result?: unknown; error?: string };
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return;
      }
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(`${label}: ${msg.error}`));
    });
    this.child.on('exit', (code, sig) => {
      this.exited = true;
      for (const p of this.pending.values()) p.reject(new Error(`${label} exited (${code ?? sig}): ${this.stderr.slice(-2000)}`));
      this.pending.clear();
    });
    this.child.stdin!.on('error', () => undefined);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return !this.exited;
  }

  whenReady<T = unknown>(timeoutMs = 30_000): Promise<T> {
    return Promise.race([
      this.ready as Promise<T>,
      new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${this.label} not ready after ${timeoutMs} ms: ${this.stderr}`)), timeoutMs).unref()),
    ]);
  }

  call<T>(op: string, args: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.label} is not running`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.label}: ${op} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.stdin!.write(JSON.stringify({ id, op, ...args }) + '\n');
    });
  }

  /** SIGKILL by PID (the `ip netns exec` wrapper execs node, so the PID is the child itself). */
  kill(): void {
    if (!this.exited && this.child.pid) {
      try {
        process.kill(this.child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
}

/** The child's side: one answer line for request `id`. */
export function rpcReply(id: number, ok: boolean, v: unknown): void {
  process.stdout.write(JSON.stringify(ok ? { id, ok, result: v } : { id, ok, error: String(v instanceof Error ? v.message : v) }) + '\n');
}

export type RpcOps = Record<string, (a: Record<string, unknown>) => unknown>;

/**
 * The child's side of the protocol: answers every request line with `ops[op]`'s result (or error),
 * calls `onEnd` when stdin closes, and announces readiness with `ready` as id 0's result.
 */
export function serveRpc(ops: RpcOps, ready: unknown, onEnd: () => void): void {
  createInterface({ input: process.stdin }).on('line', (line) => {
    let m: { id: number; op: string } & Record<string, unknown>;
    try {
      m = JSON.parse(line) as typeof m;
    } catch {
      return;
    }
    const f = ops[m.op];
    if (!f) return rpcReply(m.id, false, `unknown op ${m.op}`);
    Promise.resolve()
      .then(() => f(m))
      .then(
        (v) => rpcReply(m.id, true, v),
        (e: unknown) => rpcReply(m.id, false, e),
      );
  });
  process.stdin.on('end', onEnd);
  rpcReply(0, true, ready);
}
