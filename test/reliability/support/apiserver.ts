// Handle on the test API server running inside a namespace (apiserver-driver.ts).

import path from 'node:path';
import { fromDist, repoRoot } from '../../support/proxy-process.js';
import type { DriverOp } from './apiserver-driver.js';
import type { RequestCounts } from '../../../tools/test-apiserver/server.js';
import { RpcChild } from '../../support/rpc-child.js';
import type { World } from './world.js';

export type { DriverOp };
export type Obj = Record<string, unknown>;

export class NsApiServer extends RpcChild {
  kubeconfigPath = '';
  token = '';
  url = '';

  private constructor(world: World, role: string, tls: boolean, host?: string, bookmarkMs?: number) {
    const script = fromDist
      ? [path.join(repoRoot, 'dist/test/reliability/support/apiserver-driver.js')]
      : ['--import', 'tsx', path.join(repoRoot, 'test/reliability/support/apiserver-driver.ts')];
    super(`test API server in ${world.ns(role)}`, ['ip', 'netns', 'exec', world.ns(role), process.execPath, ...script, ...(tls ? ['--tls'] : []), ...(host ? [`--host=${host}`] : []), ...(bookmarkMs ? [`--bookmark-ms=${bookmarkMs}`] : [])], {
      cwd: repoRoot,
    });
    world.track(this);
  }

  /**
   * `host`: the address to listen on (default 127.0.0.1: only the namespace itself reaches it).
   * `bookmarkMs`: BOOKMARK interval on watches that allow them (default 1000 ms; kube-apiserver: about a minute).
   */
  static async start(world: World, o: { role?: string; tls?: boolean; host?: string; bookmarkMs?: number } = {}): Promise<NsApiServer> {
    const s = new NsApiServer(world, o.role ?? 'node', o.tls ?? false, o.host, o.bookmarkMs);
    const r = await s.whenReady<{ kubeconfigPath: string; token: string; url: string }>(60_000);
    s.kubeconfigPath = r.kubeconfigPath;
    s.token = r.token;
    s.url = r.url;
    return s;
  }

  apply(ops: readonly DriverOp[]): Promise<{ done: number; failed: number; errors: string[]; rv: number }> {
    return this.call('apply', { ops }, 120_000);
  }

  /** Accept only these bearer tokens from now on (a rotated service-account token). */
  setTokens(tokens: readonly string[]): Promise<boolean> {
    return this.call('setTokens', { tokens });
  }

  /** Cut every open watch: clients must come back with a new request (and credentials). */
  dropWatches(): Promise<boolean> {
    return this.call('dropWatches');
  }

  /** Every watch open now goes silent (connected, nothing delivered); returns how many. */
  silenceWatches(): Promise<number> {
    return this.call('silenceWatches');
  }

  /** Serve another certificate (TLS servers): 'same-ca', 'other-ca', 'expired' or 'original'; cuts every connection. */
  setServerCert(variant: 'same-ca' | 'other-ca' | 'expired' | 'original'): Promise<boolean> {
    return this.call('setServerCert', { variant }, 60_000);
  }

  /** Answer every API request 403 Forbidden (RBAC without a binding) while on. */
  setForbidden(forbidden: boolean): Promise<boolean> {
    return this.call('setForbidden', { forbidden });
  }

  /** The server's request log (oldest first; bearer tokens included: test tokens only). */
  requests(): Promise<{ method: string; path: string; query: Record<string, string>; status?: number; at: number; token?: string }[]> {
    return this.call('requests', {}, 60_000);
  }

  /** LIST (first pages), LIST pages and WATCH requests by resource since the start or resetCounts(). */
  counts(): Promise<RequestCounts> {
    return this.call('counts');
  }

  resetCounts(): Promise<boolean> {
    return this.call('resetCounts');
  }

  /** Stop listening for `downMs`, optionally compacting the history while down, and listen again. */
  restart(downMs: number, compactWhileDown = false): Promise<boolean> {
    return this.call('restart', { downMs, compactWhileDown }, downMs + 60_000);
  }

  /** The server process's CPU time (µs, user+system) and RSS (bytes). */
  usage(): Promise<{ cpuMicros: number; rss: number }> {
    return this.call('usage');
  }

  /** Replace a slice's endpoints, trigger-time annotation = the write's time; returns that time (epoch ms). */
  touch(ns: string, name: string, endpoints: readonly Obj[]): Promise<{ at: number; rv: number }> {
    return this.call('touch', { ns, name, endpoints });
  }

  list(kind: string): Promise<Obj[]> {
    return this.call('list', { kind }, 60_000);
  }
}
