// The metrics server (metricsBindAddress, default 127.0.0.1:10249), upstream server.go serveMetrics:
//   /metrics       Prometheus text of the registry
//   /healthz       "ok" (generic liveness of the process, like upstream's healthz.InstallHandler)
//   /proxyMode     the mode, text/plain, no newline
//   /configz       {"kubeproxy.config.k8s.io": <effective configuration>}
//   /debug/state   kube-proxy-ts only: the last programmed state per family (see docs/operations.md)
// Anything else is 404. The kubeconfig path is part of the configuration (as upstream's /configz);
// no file content, token or certificate is ever served.

import type http from 'node:http';
import type { KubeProxyConfiguration } from '../config/types.js';
import { registry } from '../metrics/metrics.js';
import type { ProxyMode } from '../model/types.js';

export interface MetricsServerDeps {
  readonly mode: ProxyMode;
  readonly config: KubeProxyConfiguration;
  /** JSON-serialisable view for /debug/state. */
  readonly debugState: () => unknown;
}

function send(res: http.ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { 'Content-Type': type, 'X-Content-Type-Options': 'nosniff' });
  res.end(body);
}

export function metricsHandler(deps: MetricsServerDeps): http.RequestListener {
  const configz = JSON.stringify({ 'kubeproxy.config.k8s.io': deps.config });
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/metrics':
        registry.metrics().then(
          (text) => send(res, 200, registry.contentType, text),
          (e: unknown) => send(res, 500, 'text/plain; charset=utf-8', `error gathering metrics: ${String(e)}\n`),
        );
        return;
      case '/healthz':
      case '/healthz/ping':
        return send(res, 200, 'text/plain; charset=utf-8', 'ok');
      case '/proxyMode':
        return send(res, 200, 'text/plain; charset=utf-8', deps.mode);
      case '/configz':
        return send(res, 200, 'application/json', configz);
      case '/debug/state':
        return send(res, 200, 'application/json', JSON.stringify(deps.debugState(), null, 2) + '\n');
      default:
        return send(res, 404, 'text/plain; charset=utf-8', '404 page not found\n');
    }
  };
}
