// Proxy health bookkeeping (upstream pkg/proxy/healthcheck/proxy_health.go, 1.34+ shape).
// Per family: Updated() after a successful sync clears the pending mark; QueuedUpdate() on every sync
// request sets it if unset. A family is unhealthy iff an update has been pending longer than
// healthTimeout (2 x syncPeriod). /healthz also requires an eligible node.

import type { IPFamily } from '../model/types.js';

export interface ProxierHealth {
  readonly lastUpdated: Date;
  readonly healthy: boolean;
}

export interface ProxyHealthStatus {
  /** Latest lastUpdated over families (zero time when none). */
  readonly lastUpdated: Date;
  readonly currentTime: Date;
  readonly healthy: boolean;
  /** Per family, only for families that have reported Updated at least once. */
  readonly status: ReadonlyMap<IPFamily, ProxierHealth>;
}

/** Go's zero time.Time, as json.Marshal writes it. */
export const ZERO_TIME: Date = (() => {
  const d = new Date(0);
  d.setUTCFullYear(1, 0, 1); // Date.UTC would read year 1 as 1901
  return d;
})();

export class ProxyHealth {
  private readonly lastUpdated = new Map<IPFamily, number>();
  private readonly oldestPending = new Map<IPFamily, number>();
  /** Returns this node's eligibility; set by the proxier from the Node object. */
  nodeEligible: () => boolean = () => true;

  constructor(
    readonly healthTimeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  updated(family: IPFamily): void {
    this.oldestPending.delete(family);
    this.lastUpdated.set(family, this.now());
  }

  queuedUpdate(family: IPFamily): void {
    if (!this.oldestPending.has(family)) this.oldestPending.set(family, this.now());
  }

  health(): ProxyHealthStatus {
    const now = this.now();
    let latest = ZERO_TIME.getTime();
    let healthy = true;
    const status = new Map<IPFamily, ProxierHealth>();
    // Go marshals map keys sorted: IPv4 before IPv6.
    for (const family of [...this.lastUpdated.keys()].sort()) {
      const last = this.lastUpdated.get(family)!;
      if (last > latest) latest = last;
      const pending = this.oldestPending.get(family);
      const ok = pending === undefined || now - pending < this.healthTimeoutMs;
      if (!ok) healthy = false;
      status.set(family, { lastUpdated: new Date(last), healthy: ok });
    }
    return { lastUpdated: new Date(latest), currentTime: new Date(now), healthy, status };
  }

  isHealthy(): boolean {
    return this.health().healthy;
  }
}

/** Go time.Time JSON form: RFC3339Nano in UTC, fractional zeros trimmed. */
export function goTime(d: Date): string {
  const iso = d.toISOString(); // 2025-06-01T10:00:00.120Z; year 1 is "0001-…" as in Go
  return iso.replace(/\.(\d*?)0*Z$/, (_m, frac: string) => (frac ? `.${frac}Z` : 'Z'));
}

/** The /healthz (with nodeEligible) or /livez (without) body, field order as upstream's json.Marshal. */
export function healthBody(h: ProxyHealthStatus, lastUpdated: Date, nodeEligible: boolean | undefined): string {
  const parts: string[] = [`"lastUpdated":${JSON.stringify(goTime(lastUpdated))}`, `"currentTime":${JSON.stringify(goTime(h.currentTime))}`];
  if (nodeEligible !== undefined) parts.push(`"nodeEligible":${nodeEligible}`);
  parts.push(`"healthy":${h.healthy}`);
  if (h.status.size > 0) {
    const fams = [...h.status.entries()].map(
      ([f, s]) => `${JSON.stringify(f)}:{"lastUpdated":${JSON.stringify(goTime(s.lastUpdated))},"healthy":${s.healthy}}`,
    );
    parts.push(`"status":{${fams.join(',')}}`);
  }
  return `{${parts.join(',')}}`;
}
