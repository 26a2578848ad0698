// The one way dataplane code runs a kernel tool: a ToolRunner. Production passes `realRunner`
// (util/exec: no shell, KPX_TOOL_* overrides for fault injection); tests pass a RecordingRunner,
// which records every call and answers from scripted handlers, so planners and appliers can be
// exercised without root and without a kernel.

import { ExecError, run, type ExecOptions, type ExecResult } from '../util/exec.js';

export type { ExecOptions, ExecResult };
export { ExecError };

/** Runs `command args`; rejects with ExecError on a non-zero exit unless opts.allowFailure. */
export type ToolRunner = (command: string, args: readonly string[], opts?: ExecOptions) => Promise<ExecResult>;

export const realRunner: ToolRunner = run;

export interface ToolCall {
  readonly command: string;
  readonly args: readonly string[];
  readonly input?: string;
}

/** What a scripted handler answers; `undefined` lets the next handler (or the default) answer. */
export type ToolHandler = (call: ToolCall) => Partial<ExecResult> | undefined;

/** A fake ToolRunner: records calls; answers with the first handler that claims the call. */
export class RecordingRunner {
  readonly calls: ToolCall[] = [];
  private readonly handlers: ToolHandler[] = [];

  /** Adds a handler, consulted in the order added. */
  on(handler: ToolHandler): this {
    this.handlers.push(handler);
    return this;
  }

  /** Calls whose command (basename) is `command`. */
  callsOf(command: string): ToolCall[] {
    return this.calls.filter((c) => c.command === command);
  }

  readonly run: ToolRunner = async (command, args, opts = {}) => {
    const call: ToolCall = { command, args: [...args], ...(opts.input !== undefined ? { input: opts.input } : {}) };
    this.calls.push(call);
    let answer: Partial<ExecResult> | undefined;
    for (const h of this.handlers) {
      answer = h(call);
      if (answer) break;
    }
    const result: ExecResult = { stdout: '', stderr: '', code: 0, millis: 0, ...answer };
    if (result.code !== 0 && !opts.allowFailure) throw new ExecError(command, args, result);
    return result;
  };
}
