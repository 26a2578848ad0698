// The proxy health server (healthzBindAddress, default 0.0.0.0:10256): /healthz and /livez only,
// with upstream's bodies, status codes, headers and kubeproxy_proxy_{healthz,livez}_total counters.

import type http from 'node:http';
import { healthBody, type ProxyHealth } from '../health/proxy-health.js';
import { metrics } from '../metrics/metrics.js';

export function healthzHandler(health: ProxyHealth): http.RequestListener {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/healthz' && path !== '/livez') {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
      res.end('404 page not found\n');
      return;
    }
    const h = health.health();
    const withNode = path === '/healthz';
    const eligible = withNode ? health.nodeEligible() : undefined;
    const ok = h.healthy && eligible !== false;
    // Upstream reports "now" as lastUpdated when healthy, for compatibility with older releases.
    const lastUpdated = ok ? h.currentTime : h.lastUpdated;
    const code = ok ? 200 : 503;
    (withNode ? metrics.healthzTotal : metrics.livezTotal).inc({ code: String(code) });
    res.writeHead(code, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' });
    res.end(healthBody(h, lastUpdated, eligible));
  };
}
