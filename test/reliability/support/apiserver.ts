// Handle on the test API server running inside a namespace (apiserver-driver.ts).

import path from 'node:path';
import { fromDist, repoRoot } from '../../support/proxy-process.js';
import type { DriverOp } from './apiserver-driver.js';
import { RpcChild } from '../../support/rpc-child.js';
import type { World } from './world.js';

export type { DriverOp };
export type Obj = Record<string, unknown>;

export class NsApiServer extends RpcChild {
  kubeconfigPath = '';
  token = '';
  url = '';

  private constructor(world: World, role: string, tls: boolean) {
    const script = fromDist
      ? [path.join(repoRoot, 'dist/test/reliability/support/apiserver-driver.js')]
      : ['--import', 'tsx', path.join(repoRoot, 'test/reliability/support/apiserver-driver.ts')];
    super(`test API server in ${world.ns(role)}`, ['ip', 'netns', 'exec', world.ns(role), process.execPath, ...script, ...(tls ? ['--tls'] : [])], { cwd: repoRoot });
    world.track(this);
  }

  static async start(world: World, o: { role?: string; tls?: boolean } = {}): Promise<NsApiServer> {
    const s = new NsApiServer(world, o.role ?? 'node', o.tls ?? false);
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

  list(kind: string): Promise<Obj[]> {
    return this.call('list', { kind }, 60_000);
  }
}
