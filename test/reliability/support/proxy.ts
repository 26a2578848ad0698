// The proxy under test, run inside the world's node namespace, and its HTTP endpoints (read with curl
// inside that namespace: the servers listen there, unreachable from this process).

import type { ChildProcess } from 'node:child_process';
import { startProxy } from '../../support/proxy-process.js';
import type { World } from './world.js';

export interface RunningProxy {
  readonly child: ChildProcess;
  /** stdout+stderr so far. */
  output(): string;
  /** Resolves with the exit code/signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, wait up to `ms`, then SIGKILL. */
  stop(ms?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(): Promise<void>;
}

/**
 * `wrap`: a command prefix run inside the namespace before the proxy (e.g. a private mount namespace).
 * `role`: the world's namespace to run in (default the node).
 */
export function startProxyIn(world: World, args: readonly string[], env?: NodeJS.ProcessEnv, wrap: readonly string[] = [], role = 'node'): RunningProxy {
  const child = startProxy(args, { prefix: ['ip', 'netns', 'exec', world.ns(role), ...wrap], env: env ? { ...process.env, ...env } : process.env });
  world.track(child);
  let out = '';
  const cap = 8_000_000;
  const append = (b: Buffer): void => {
    // Bounded: the fuzz test logs a line per rejected object.
    if (out.length < cap) out += b.toString();
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  const isRunning = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    child,
    output: () => out,
    exited,
    async stop(ms = 15_000) {
      if (isRunning()) child.kill('SIGTERM');
      const t = setTimeout(() => {
        if (isRunning()) child.kill('SIGKILL');
      }, ms);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
    async kill() {
      if (isRunning()) child.kill('SIGKILL');
      await exited;
    },
  };
}

export async function httpGet(world: World, url: string, timeoutS = 5): Promise<{ status: number; body: string }> {
  const out = await world.exec('node', ['curl', '-s', '-m', String(timeoutS), '-w', '\n%{http_code}', url], { allowFailure: true, timeoutMs: (timeoutS + 5) * 1000 });
  const i = out.lastIndexOf('\n');
  return { status: Number(out.slice(i + 1)) || 0, body: out.slice(0, i) };
}

/** Sum of a metric's samples whose labels include every `labels` pair (Prometheus text format). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const lbl = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

export interface DebugService {
  clusterIP: string;
  port: number;
  protocol: string;
  hasAnyEndpoints: boolean;
  clusterEndpoints: string[];
}

export interface DebugState {
  initialized: boolean;
  families: Record<string, { generation: number; lastSync: string | null; consecutiveFailures: number; services: Record<string, DebugService> }>;
}

export async function debugState(world: World, port = 10249): Promise<DebugState> {
  const r = await httpGet(world, `http://127.0.0.1:${port}/debug/state`);
  if (r.status !== 200) throw new Error(`/debug/state ${r.status}`);
  return JSON.parse(r.body) as DebugState;
}

export async function metricsText(world: World, port = 10249): Promise<string> {
  const r = await httpGet(world, `http://127.0.0.1:${port}/metrics`);
  if (r.status !== 200) throw new Error(`/metrics ${r.status}`);
  return r.body;
}

/** Poll `fn` until truthy or `timeoutMs` passes (bounded, 100 ms steps by default). */
export async function eventually<T>(fn: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 20_000, stepMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
