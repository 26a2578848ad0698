// The metrics server (metricsBindAddress, default 127.0.0.1:10249), upstream server.go serveMetrics:
//   /metrics       Prometheus text of the registry
//   /metrics/slis  the health-check SLIs (kubernetes_healthcheck{,s_total}); DELETE resets them
//   /healthz       "ok" (generic liveness of the process, like upstream's healthz.InstallHandler; the
//                  root path records its "ping" check in the SLIs, /healthz/ping does not, as upstream)
//   /proxyMode     the mode, text/plain, no newline
//   /configz       {"kubeproxy.config.k8s.io": <effective configuration>}
//   /debug/*       kube-proxy-ts only: /debug/state, /debug/services, /debug/rules (src/debug/handler.ts)
// Anything else is 404. The kubeconfig path is part of the configuration (as upstream's /configz);
// no file content, token or certificate is ever served.

import type http from 'node:http';
import type { KubeProxyConfiguration } from '../config/types.js';
import { registry } from '../metrics/metrics.js';
import { observeHealthcheck, resetHealthMetrics, sliRegistry } from '../metrics/slis.js';
import type { ProxyMode } from '../config/types.js';
import type { DebugRoutes } from '../debug/handler.js';

export interface MetricsServerDeps {
  readonly mode: ProxyMode;
  readonly config: KubeProxyConfiguration;
  /** The /debug/* routes (null for other paths); absent: every /debug path is 404. */
  readonly debug?: DebugRoutes;
}

function send(res: http.ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { 'Content-Type': type, 'X-Content-Type-Options': 'nosniff' });
  res.end(body);
}

export function metricsHandler(deps: MetricsServerDeps): http.RequestListener {
  const configz = JSON.stringify({ 'kubeproxy.config.k8s.io': deps.config });
  return (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    switch (path) {
      case '/metrics':
        registry.metrics().then(
          (text) => send(res, 200, registry.contentType, text),
          (e: unknown) => send(res, 500, 'text/plain; charset=utf-8', `error gathering metrics: ${String(e)}\n`),
        );
        return;
      case '/metrics/slis':
        if (req.method === 'DELETE') {
          resetHealthMetrics();
          return send(res, 200, 'text/plain; charset=utf-8', 'metrics reset\n');
        }
        sliRegistry.metrics().then(
          (text) => send(res, 200, sliRegistry.contentType, text),
          (e: unknown) => send(res, 500, 'text/plain; charset=utf-8', `error gathering metrics: ${String(e)}\n`),
        );
        return;
      case '/healthz':
        observeHealthcheck('ping', 'healthz', true);
        return send(res, 200, 'text/plain; charset=utf-8', 'ok');
      case '/healthz/ping':
        return send(res, 200, 'text/plain; charset=utf-8', 'ok');
      case '/proxyMode':
        return send(res, 200, 'text/plain; charset=utf-8', deps.mode);
      case '/configz':
        return send(res, 200, 'application/json', configz);
      default: {
        const r = path.startsWith('/debug/') ? deps.debug?.(path, new URLSearchParams(q < 0 ? '' : url.slice(q + 1))) : null;
        if (!r) return send(res, 404, 'text/plain; charset=utf-8', '404 page not found\n');
        r.then(
          (x) => send(res, x.status, x.type, x.body),
          (e: unknown) => send(res, 500, 'text/plain; charset=utf-8', `debug view failed: ${e instanceof Error ? e.message : String(e)}\n`),
        );
        return;
      }
    }
  };
}
