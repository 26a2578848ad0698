// The iptables command-line tools for one family and backend, run through a ToolRunner
// (optionally inside a named network namespace, `ip netns exec`), plus upstream-style backend
// detection (iptables-wrapper). Both modes that write iptables rules (iptables, IPVS) get their
// tools from backendTools here, so they always detect, and write to, the same backend.

import type { Logger } from '../../log/logger.js';
import type { IPFamily } from '../../model/types.js';
import { resolveTool } from '../../util/exec.js';
import { realRunner, type ExecOptions, type ExecResult, type ToolRunner } from '../runner.js';

export type Backend = 'nft' | 'legacy';
export type BackendChoice = Backend | 'auto';
export type ToolKind = 'iptables' | 'iptables-save' | 'iptables-restore';

/** Wait for the xtables lock instead of failing (the lock file is shared machine-wide). */
export const WAIT = ['-w', '5'];

export interface Tools {
  readonly family: IPFamily;
  readonly backend: Backend;
  /** The binary of `kind` for this family and backend, e.g. ip6tables-legacy-restore. */
  bin(kind: ToolKind): string;
  /** Runs the tool; resolves with the result even on a non-zero exit when allowFailure is set. */
  run(kind: ToolKind, args: readonly string[], opts?: { input?: string; allowFailure?: boolean; timeoutMs?: number }): Promise<ExecResult>;
}

export function toolName(kind: ToolKind, family: IPFamily, backend: Backend): string {
  const base = family === 'IPv6' ? 'ip6tables' : 'iptables';
  const suffix = kind === 'iptables' ? '' : kind.slice('iptables'.length);
  return `${base}-${backend}${suffix}`;
}

/** Run `bin args` through `runner` directly, or as `ip netns exec <netns> bin args`. */
export function execIn(netns: string | undefined, bin: string, args: readonly string[], opts: ExecOptions = {}, runner: ToolRunner = realRunner): Promise<ExecResult> {
  if (netns === undefined) return runner(bin, args, opts);
  return runner('ip', ['netns', 'exec', netns, resolveTool(bin), ...args], opts);
}

/** A ToolRunner that runs every tool inside `netns` (undefined: the current namespace). */
export function netnsRunner(netns: string | undefined, runner: ToolRunner = realRunner): ToolRunner {
  return netns === undefined ? runner : (bin, args, opts) => execIn(netns, bin, args, opts, runner);
}

export function makeTools(family: IPFamily, backend: Backend, exec: ToolRunner = realRunner): Tools {
  return {
    family,
    backend,
    bin: (kind) => toolName(kind, family, backend),
    run: (kind, args, opts = {}) => exec(toolName(kind, family, backend), args, opts),
  };
}

/**
 * The tools of `choice` ('auto': detectBackend through `exec`), resolved on first use and cached;
 * a failed detection is retried on the next call. The iptables and IPVS dataplanes both use this.
 */
export function backendTools(family: IPFamily, choice: BackendChoice, exec: ToolRunner, log: Logger): () => Promise<Tools> {
  let toolsP: Promise<Tools> | undefined;
  return () => {
    toolsP ??= (async () => {
      const backend: Backend = choice === 'auto' ? await detectBackend(exec) : choice;
      log.v(2).info('Using iptables backend', { ipFamily: family, backend });
      return makeTools(family, backend, exec);
    })().catch((e: unknown) => {
      toolsP = undefined; // retry detection on the next call
      throw e;
    });
    return toolsP;
  };
}

const HINT_CHAINS = /^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY) /m;

async function saveText(exec: ToolRunner, tool: string, args: readonly string[]): Promise<string> {
  try {
    const r = await exec(tool, args, { allowFailure: true, timeoutMs: 30_000 });
    return r.code === 0 ? r.stdout : '';
  } catch {
    return ''; // tool not installed
  }
}

/**
 * Pick the backend the host uses, like kube-proxy's iptables-wrapper: an explicit override
 * (KPX_IPTABLES_BACKEND=nft|legacy), else the backend whose mangle table holds kubelet's
 * KUBE-IPTABLES-HINT / KUBE-KUBELET-CANARY chain, else the one with more rules; nft by default.
 */
export async function detectBackend(exec: ToolRunner = realRunner): Promise<Backend> {
  const env = process.env.KPX_IPTABLES_BACKEND;
  if (env === 'nft' || env === 'legacy') return env;
  if (HINT_CHAINS.test(await saveText(exec, 'iptables-nft-save', ['-t', 'mangle']))) return 'nft';
  // No `-t` for legacy: iptables-legacy-save then dumps only tables that already exist, while
  // naming a table would load (create) it.
  const [legacy4, legacy6, nft4, nft6] = await Promise.all([
    saveText(exec, 'iptables-legacy-save', []),
    saveText(exec, 'ip6tables-legacy-save', []),
    saveText(exec, 'iptables-nft-save', []),
    saveText(exec, 'ip6tables-nft-save', []),
  ]);
  if (HINT_CHAINS.test(legacy4) || HINT_CHAINS.test(legacy6)) return 'legacy';
  const rules = (...texts: string[]): number => texts.join('\n').split('\n').filter((l) => l.startsWith('-')).length;
  return rules(legacy4, legacy6) > rules(nft4, nft6) ? 'legacy' : 'nft';
}

/** Chain names declared in iptables-save output (`:NAME POLICY [p:b]`). */
export function chainsFromSave(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith(':')) {
      const end = line.indexOf(' ');
      out.push(end === -1 ? line.slice(1) : line.slice(1, end));
    }
  }
  return out;
}
