// Per-Service health check NodePorts (upstream pkg/proxy/healthcheck/service_health.go): one HTTP
// listener per healthCheckNodePort of LoadBalancer Services with externalTrafficPolicy=Local, on each
// NodePort address (all addresses when nodePortAddresses matches all). Any path and method answer
// 200 iff the Service has local ready endpoints and the proxy is healthy, else 503. A port that
// fails to open is logged and retried on the next sync.

import http from 'node:http';
import { recordEvent } from '../events/recorder.js';
import { createLogger } from '../log/logger.js';
import type { IPFamily } from '../model/types.js';
import { listenOnce } from '../net/listen.js';

const log = createLogger('healthcheck');

/** The exact upstream body: tab-indented, no trailing newline. */
export function serviceHealthBody(namespace: string, name: string, localEndpoints: number, healthy: boolean): string {
  return [
    '{',
    '\t"service": {',
    `\t\t"namespace": ${JSON.stringify(namespace)},`,
    `\t\t"name": ${JSON.stringify(name)}`,
    '\t},',
    `\t"localEndpoints": ${localEndpoints},`,
    `\t"serviceProxyHealthy": ${healthy}`,
    '}',
  ].join('\n');
}

/** Local ready endpoints per family (upstream: one health server, hence one count, per family). */
export type EndpointCounts = number | ReadonlyMap<IPFamily, number>;

interface Instance {
  readonly port: number;
  readonly addresses: string;
  readonly servers: http.Server[];
  endpoints: EndpointCounts;
}

/**
 * The count a listener reports: that of its address's family; a listener on all addresses reports
 * the first family listed (the proxier lists them in start order).
 */
export function countFor(counts: EndpointCounts, listenHost: string): number {
  if (typeof counts === 'number') return counts;
  if (listenHost === '') return counts.values().next().value ?? 0;
  return counts.get(listenHost.includes(':') ? 'IPv6' : 'IPv4') ?? 0;
}

export interface ServiceHealthOptions {
  readonly isHealthy: () => boolean;
  /** For the FailedToStartServiceHealthcheck event's note. */
  readonly nodeName?: string;
}

/** Key of a Service: "namespace/name". */
export type ServiceName = string;

export class ServiceHealthServer {
  private readonly services = new Map<ServiceName, Instance>();

  constructor(private readonly opts: ServiceHealthOptions) {}

  /** Ports currently served, for tests and the debug view. */
  ports(): Map<ServiceName, number> {
    return new Map([...this.services].map(([k, v]) => [k, v.port]));
  }

  /**
   * Make `wanted` (service -> health check port) the open set, listening on `addresses`
   * (IPs; empty means all addresses). Closes ports no longer wanted or whose addresses changed.
   */
  async syncServices(wanted: ReadonlyMap<ServiceName, number>, addresses: readonly string[]): Promise<void> {
    const addrKey = [...addresses].sort().join(',');
    for (const [nsn, inst] of this.services) {
      if (wanted.get(nsn) !== inst.port || inst.addresses !== addrKey) {
        log.v(2).info('Closing healthcheck', { service: nsn, port: inst.port });
        this.services.delete(nsn);
        await closeAll(inst.servers);
      }
    }
    for (const [nsn, port] of wanted) {
      if (this.services.has(nsn)) continue;
      log.v(2).info('Opening healthcheck', { service: nsn, port });
      const inst: Instance = { port, addresses: addrKey, servers: [], endpoints: 0 };
      try {
        for (const host of addresses.length > 0 ? addresses : ['']) {
          const srv = http.createServer((req, res) => this.handle(nsn, host, req, res));
          inst.servers.push(srv);
          await listenOnce(srv, host, port);
        }
        this.services.set(nsn, inst);
      } catch (e) {
        await closeAll(inst.servers);
        log.error('Failed to start healthcheck', { service: nsn, port, err: e });
        const slash = nsn.indexOf('/');
        recordEvent('FailedToStartServiceHealthcheck', 'Warning', `node ${this.opts.nodeName ?? ''} failed to start healthcheck "${nsn}" on port ${port}: ${(e as Error).message}`, {
          action: 'Listen',
          regarding: { kind: 'Service', namespace: nsn.slice(0, slash), name: nsn.slice(slash + 1), uid: nsn },
        });
      }
    }
  }

  /** Local ready endpoint counts by service (and family); services absent from `counts` have 0. */
  syncEndpoints(counts: ReadonlyMap<ServiceName, EndpointCounts>): void {
    for (const [nsn, inst] of this.services) inst.endpoints = counts.get(nsn) ?? 0;
  }

  async close(): Promise<void> {
    const all = [...this.services.values()];
    this.services.clear();
    for (const inst of all) await closeAll(inst.servers);
  }

  private handle(nsn: ServiceName, host: string, _req: http.IncomingMessage, res: http.ServerResponse): void {
    const inst = this.services.get(nsn);
    if (!inst) {
      log.error('Received request for closed healthcheck', { service: nsn });
      res.destroy();
      return;
    }
    const count = countFor(inst.endpoints, host);
    const healthy = this.opts.isHealthy();
    const slash = nsn.indexOf('/');
    res.writeHead(count !== 0 && healthy ? 200 : 503, {
      'Content-Type': 'application/json',
      'X-Content-Type-Options': 'nosniff',
      'X-Load-Balancing-Endpoint-Weight': String(count),
    });
    res.end(serviceHealthBody(nsn.slice(0, slash), nsn.slice(slash + 1), count, healthy));
  }
}

function closeAll(servers: readonly http.Server[]): Promise<void> {
  return Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (!s.listening) return resolve();
          s.close(() => resolve());
          s.closeAllConnections();
        }),
    ),
  ).then(() => undefined);
}
