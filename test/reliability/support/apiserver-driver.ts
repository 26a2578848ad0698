// Child process: the project's test API server, run inside a network namespace (the proxy in that
// namespace cannot reach the root namespace's loopback), driven over JSON lines on stdin/stdout
// (see rpc.ts). Writes go straight to the store, so they also happen while the server is "down".

import { serveRpc, type RpcOps } from '../../support/rpc-child.js';
import { startTestApiServer, type TestApiServer } from '../../../tools/test-apiserver/server.js';
import type { Obj } from '../../../tools/test-apiserver/store.js';

export type DriverOp =
  | { readonly t: 'create'; readonly obj: Obj }
  | { readonly t: 'update'; readonly obj: Obj }
  | { readonly t: 'delete'; readonly kind: string; readonly ns: string; readonly name: string };

async function main(): Promise<void> {
  const hostArg = process.argv.find((a) => a.startsWith('--host='));
  const srv: TestApiServer = await startTestApiServer({
    tls: process.argv.includes('--tls'),
    bookmarkIntervalMs: Number(process.argv.find((a) => a.startsWith('--bookmark-ms='))?.slice('--bookmark-ms='.length) ?? 1000),
    ...(hostArg ? { host: hostArg.slice('--host='.length) } : {}),
  });
  const ops: RpcOps = {
    apply: (a) => {
      let done = 0;
      const errors: string[] = [];
      for (const op of a.ops as DriverOp[]) {
        try {
          if (op.t === 'create') srv.create(op.obj);
          else if (op.t === 'update') srv.update(op.obj);
          else srv.delete(op.kind, op.ns, op.name);
          done++;
        } catch (e) {
          errors.push((e as Error).message);
        }
      }
      return { done, errors: errors.slice(0, 20), failed: errors.length, rv: srv.resourceVersion() };
    },
    compact: () => {
      srv.compact();
      return srv.resourceVersion();
    },
    dropWatches: () => {
      srv.dropWatches();
      return true;
    },
    restart: async (a) => {
      // compactWhileDown: while no client is connected, write once (so the history moves past every
      // client's resourceVersion) and compact it: each resuming watch then gets 410 Expired.
      const whileDown = a.compactWhileDown
        ? (): void => {
            srv.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `compaction-${srv.resourceVersion()}`, namespace: 'default' }, data: {} });
            srv.compact();
          }
        : undefined;
      await srv.restart({ downMs: Number(a.downMs ?? 0), ...(whileDown ? { whileDown } : {}) });
      return true;
    },
    counts: () => srv.counts(),
    resetCounts: () => {
      srv.resetCounts();
      return true;
    },
    /** This process's CPU time (user+system, µs) and RSS (bytes): the API server's cost. */
    usage: () => {
      const c = process.cpuUsage();
      return { cpuMicros: c.user + c.system, rss: process.memoryUsage().rss };
    },
    /** Write one EndpointSlice with its trigger-time annotation set to the moment of the write. */
    touch: (a) => {
      const cur = srv.get('EndpointSlice', String(a.ns), String(a.name));
      if (!cur) throw new Error(`no EndpointSlice ${String(a.ns)}/${String(a.name)}`);
      const meta = { ...(cur.metadata as Record<string, unknown>) };
      const at = new Date();
      meta.annotations = { ...((meta.annotations as Record<string, string> | undefined) ?? {}), 'endpoints.kubernetes.io/last-change-trigger-time': at.toISOString() };
      srv.update({ ...cur, metadata: meta, endpoints: a.endpoints });
      return { at: at.getTime(), rv: srv.resourceVersion() };
    },
    failNext: (a) => {
      srv.failNext(Number(a.n), Number(a.code ?? 500));
      return true;
    },
    setTokens: (a) => {
      srv.setTokens(a.tokens as string[]);
      return true;
    },
    silenceWatches: () => srv.silenceWatches(),
    setServerCert: async (a) => {
      await srv.setServerCert(a.variant as Parameters<TestApiServer['setServerCert']>[0]);
      return true;
    },
    setForbidden: (a) => {
      srv.setForbidden(Boolean(a.forbidden));
      return true;
    },
    activeWatches: () => srv.activeWatches(),
    rv: () => srv.resourceVersion(),
    list: (a) => srv.list(String(a.kind)),
    requests: () => srv.requests.map((r) => ({ method: r.method, path: r.path, query: r.query, status: r.status, at: r.at, token: r.token })),
    stop: async () => {
      await srv.stop();
      setTimeout(() => process.exit(0), 50);
      return true;
    },
  };
  serveRpc(ops, { kubeconfigPath: srv.kubeconfigPath, token: srv.token, url: srv.url }, () => void srv.stop().finally(() => process.exit(0)));
}

main().catch((e: unknown) => {
  process.stderr.write(`apiserver-driver: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
