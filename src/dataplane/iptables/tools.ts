// The iptables command-line tools for one family and backend, optionally inside a named network
// namespace (`ip netns exec`), plus upstream-style backend detection (iptables-wrapper).

import type { IPFamily } from '../../model/types.js';
import { resolveTool, run, type ExecResult } from '../../util/exec.js';

export type Backend = 'nft' | 'legacy';
export type BackendChoice = Backend | 'auto';
export type ToolKind = 'iptables' | 'iptables-save' | 'iptables-restore';

/** Wait for the xtables lock instead of failing (the lock file is shared machine-wide). */
export const WAIT = ['-w', '5'];

export interface Tools {
  readonly family: IPFamily;
  readonly backend: Backend;
  /** Runs the tool; resolves with the result even on a non-zero exit when allowFailure is set. */
  run(kind: ToolKind, args: readonly string[], opts?: { input?: string; allowFailure?: boolean; timeoutMs?: number }): Promise<ExecResult>;
}

export function toolName(kind: ToolKind, family: IPFamily, backend: Backend): string {
  const base = family === 'IPv6' ? 'ip6tables' : 'iptables';
  const suffix = kind === 'iptables' ? '' : kind.slice('iptables'.length);
  return `${base}-${backend}${suffix}`;
}

/** Run `bin args` directly, or as `ip netns exec <netns> bin args`. */
export function execIn(netns: string | undefined, bin: string, args: readonly string[], opts: { input?: string; allowFailure?: boolean; timeoutMs?: number } = {}): Promise<ExecResult> {
  if (netns === undefined) return run(bin, args, opts);
  return run('ip', ['netns', 'exec', netns, resolveTool(bin), ...args], opts);
}

export function makeTools(family: IPFamily, backend: Backend, netns?: string): Tools {
  return {
    family,
    backend,
    run: (kind, args, opts = {}) => execIn(netns, toolName(kind, family, backend), args, opts),
  };
}

const HINT_CHAINS = /^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY) /m;

async function saveText(netns: string | undefined, tool: string, args: readonly string[]): Promise<string> {
  try {
    const r = await execIn(netns, tool, args, { allowFailure: true, timeoutMs: 30_000 });
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
export async function detectBackend(netns?: string): Promise<Backend> {
  const env = process.env.KPX_IPTABLES_BACKEND;
  if (env === 'nft' || env === 'legacy') return env;
  if (HINT_CHAINS.test(await saveText(netns, 'iptables-nft-save', ['-t', 'mangle']))) return 'nft';
  // No `-t` for legacy: iptables-legacy-save then dumps only tables that already exist, while
  // naming a table would load (create) it.
  const [legacy4, legacy6, nft4, nft6] = await Promise.all([
    saveText(netns, 'iptables-legacy-save', []),
    saveText(netns, 'ip6tables-legacy-save', []),
    saveText(netns, 'iptables-nft-save', []),
    saveText(netns, 'ip6tables-nft-save', []),
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
