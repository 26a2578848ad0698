// A long-lived `nft -i` process for small incremental transactions.
//
// Why: every `nft -f` process pays process start plus a full cache fill (all chains, sets and
// tables of the netns) before it can apply even one element: 20-60 ms with ~12k chains. An
// interactive nft keeps its cache between lines and only re-fetches what a command needs when the
// ruleset generation changed, so an element-only transaction costs ~10 ms (docs/nftables.md).
//
// Protocol: one input line is one atomic transaction (commands joined with "; ", never a newline
// inside). After each transaction line we send a marker line, `list set <fam> <table> <marker>`,
// an always-present empty set: its listing on stdout says nft finished the transaction. Adds and
// deletes print nothing on success, so stdout carries only marker listings (each ends with a
// top-level "}" line), and whatever nft wrote to stderr before the marker belongs to the
// transaction. A failing marker (table gone) still completes the exchange: its own error names the
// marker set. The marker must be a separate line: an error anywhere on a line fails the whole line.
//
// The process runs `nft -i` (spawnTool: resolveTool('nft'), no shell) in this process's network namespace, like `nft -f -`,
// so KPX_TOOL_NFT wrappers (tests, fault injection) apply to it too.
//
// Dataplanes see it as an NftStream (made by an NftStreamFactory they are given), so tests can put
// a fake in its place (FakeNftables.stream()).

import type { Socket } from 'node:net';
import { spawnTool, type ToolProcess } from '../../util/exec.js';

/** A long-lived channel for small transactions (NftSession, or a fake). */
export interface NftStream {
  /** A process is running (the next transaction does not pay process start and cache fill). */
  readonly alive: boolean;
  /** Start now, off the next change's path; errors are reported by the next apply(). */
  warm(): void;
  /** Apply one transaction (commands without newlines). Rejects with NftSessionError / NftSessionUnsupported. */
  apply(commands: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** Makes the stream of one table; `marker` names an always-present empty set of that table. */
export type NftStreamFactory = (family: 'ip' | 'ip6', table: string, marker: string) => NftStream;

export const nftSessionFactory: NftStreamFactory = (family, table, marker) => new NftSession(family, table, marker);

export class NftSessionError extends Error {
  constructor(
    message: string,
    /** nft's stderr for the transaction (or the process's last words). */
    readonly stderr: string,
    /** The process died or timed out: the transaction may or may not have been committed. */
    readonly sessionLost: boolean,
  ) {
    super(message);
    this.name = 'NftSessionError';
  }
}

/** `nft -i` cannot be used here (see NftSession.handshake); nothing was sent. */
export class NftSessionUnsupported extends Error {
  constructor(readonly stderr: string) {
    super(`nft -i unusable: ${stderr || 'no answer'}`);
    this.name = 'NftSessionUnsupported';
  }
}

interface Pending {
  resolve: () => void;
  reject: (e: NftSessionError) => void;
  timer: NodeJS.Timeout;
}

export class NftSession implements NftStream {
  private child: ToolProcess | null = null;
  private stdout = '';
  private stderr = '';
  private pending: Pending | null = null;
  private exitText = '';
  private timedOut = false;
  /** Serialises transactions: one line and its marker in flight at a time. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly fam: 'ip' | 'ip6',
    private readonly table: string,
    /** Name of the empty set listed as the completion marker (declared by the full plan). */
    private readonly marker: string,
    private readonly timeoutMs = 60_000,
    /** First answer of a new process (start + cache fill; generous for loaded machines). */
    private readonly handshakeMs = 5_000,
    private readonly spawn: (command: string, args: readonly string[]) => ToolProcess = spawnTool,
  ) {}

  get alive(): boolean {
    return this.child !== null;
  }

  private markerLine(): string {
    return `list set ${this.fam} ${this.table} ${this.marker}\n`;
  }

  private start(): ToolProcess {
    const child = this.spawn('nft', ['-i']);
    this.child = child;
    this.stdout = '';
    this.stderr = '';
    this.exitText = '';
    this.timedOut = false;
    // An idle session must not keep Node alive (the Dataplane interface has no mandatory close):
    // while a transaction is in flight its timeout timer does.
    child.unref();
    // The stdio pipes are net.Sockets at runtime (typed as plain streams).
    for (const st of [child.stdin, child.stdout, child.stderr]) (st as unknown as Partial<Socket>).unref?.();
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      this.stdout += s;
      this.check();
    });
    child.stderr.on('data', (s: string) => {
      this.stderr += s;
      this.check();
    });
    child.stdin.on('error', () => {
      /* the exit handler reports it */
    });
    child.on('error', (e) => this.lost(child, `failed: ${e.message}`));
    // The proxy may exit without closing us (process.exit, a crash): kill nft with it, so no
    // orphan keeps the network namespace's devices alive after the proxy is gone.
    const killOnExit = (): void => {
      child.kill('SIGKILL');
    };
    process.once('exit', killOnExit);
    child.on('close', (code, signal) => {
      process.removeListener('exit', killOnExit);
      this.lost(child, `exited (${signal ?? code})`);
    });
    return child;
  }

  private lost(child: ToolProcess, why: string): void {
    if (this.child !== child) return;
    this.child = null;
    child.stdin.end();
    const p = this.pending;
    this.pending = null;
    if (p) {
      clearTimeout(p.timer);
      p.reject(new NftSessionError(`nft -i ${why}`, (this.stderr + this.exitText).trim(), true));
    }
  }

  /** Completion: a marker listing on stdout, or the marker's own error on stderr. */
  private check(): void {
    if (!this.pending) return;
    const out = this.stdout.indexOf('\n}\n');
    const markerErr = this.stderr.indexOf(`list set ${this.fam} ${this.table} ${this.marker}`);
    if (out < 0 && markerErr < 0) return;
    // stdout and stderr are separate pipes: the transaction's errors were written before the
    // marker's listing, but their 'data' event may come later in this same poll phase. Decide
    // after the poll phase has delivered everything that was readable.
    const p = this.pending;
    this.pending = null;
    setImmediate(() => {
      clearTimeout(p.timer);
      let err = this.stderr;
      let markerFailed = false;
      const m = err.indexOf(`list set ${this.fam} ${this.table} ${this.marker}`);
      if (m >= 0) {
        // Drop the marker's own error (the "Error: …" line before the echoed command and after).
        const start = err.lastIndexOf('Error:', m);
        err = err.slice(0, start >= 0 ? start : m);
        markerFailed = true;
      }
      const all = this.stderr.trim();
      this.stdout = '';
      this.stderr = '';
      if (err.trim() !== '') p.reject(new NftSessionError('nft transaction failed', err.trim(), false));
      else if (markerFailed) p.reject(new NftSessionError('nft completion marker failed (table gone?)', all, false));
      else p.resolve();
    });
  }

  /**
   * Send `line` (may be empty: marker only) and wait for the marker. A timeout kills the process
   * and rejects like an exit (sessionLost).
   */
  private exchange(child: ToolProcess, line: string, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.timedOut = true;
        this.exitText = `\n(no answer after ${timeoutMs} ms)`;
        child.kill('SIGKILL');
        // A wrapper's children may hold the pipes open: do not wait for 'close'.
        this.lost(child, 'timed out');
      }, timeoutMs);
      this.pending = { resolve, reject, timer };
      this.stdout = '';
      this.stderr = '';
      child.stdin.write(line === '' ? this.markerLine() : line + '\n' + this.markerLine());
    });
  }

  /**
   * Start the process and wait for a first marker. A process that does not answer in time cannot
   * stream (e.g. a KPX_TOOL_NFT wrapper that reads all of stdin before running nft) and one built
   * without CLI support says so: both mean "use nft -f" (NftSessionUnsupported). Any other exit is
   * an nft failure like a failed `nft -f` (fault-injection wrappers fail here).
   */
  private async handshake(): Promise<ToolProcess> {
    const child = this.start();
    try {
      await this.exchange(child, '', this.handshakeMs);
    } catch (e) {
      if (e instanceof NftSessionError && e.sessionLost && (this.timedOut || /not supported/i.test(e.stderr))) {
        throw new NftSessionUnsupported(e.stderr);
      }
      throw e;
    }
    return child;
  }

  /**
   * Start the process now (if needed) so the next transaction does not pay process start and cache
   * fill. Errors are ignored: the next apply() starts again and reports them.
   */
  warm(): void {
    const run = async (): Promise<void> => {
      if (!this.child) await this.handshake();
    };
    this.queue = this.queue.then(run, run).catch(() => undefined);
  }

  /** Apply one transaction (commands without newlines); rejects with nft's stderr on failure. */
  apply(commands: readonly string[]): Promise<void> {
    const line = commands.join('; ');
    if (line.includes('\n')) throw new Error('nft session: a transaction line must not contain a newline');
    const run = async (): Promise<void> => {
      const child = this.child ?? (await this.handshake());
      await this.exchange(child, line, this.timeoutMs);
    };
    const r = this.queue.then(run, run);
    this.queue = r.catch(() => undefined);
    return r;
  }

  /** End the process (end of input) and wait for it to exit, at most 1 s before SIGKILL. */
  async close(): Promise<void> {
    const c = this.child;
    this.child = null;
    if (!c) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        c.kill('SIGKILL');
        resolve();
      }, 1000);
      c.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      c.stdin.end();
    });
  }
}
