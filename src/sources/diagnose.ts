// Why a request to the API server failed, in words an operator can act on (the kubectl / client-go
// phrasing where there is one), and one log line per outage instead of one per reflector and retry.
// TLS failures carry OpenSSL's verify code on the error (`code`); HTTP failures carry the status.

import type { Logger } from '../log/logger.js';

export interface ApiFailure {
  /** Short, stable cause: what a log search or a runbook matches on. */
  readonly cause: string;
  /** What to check. */
  readonly hint: string;
}

/** OpenSSL verify results that mean "the chain does not end at a CA we trust". */
const UNKNOWN_CA = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
]);

/** An error the transport or the API server produced, as an operator-facing cause; undefined for others. */
export function diagnoseApiError(e: unknown): ApiFailure | undefined {
  if (!(e instanceof Error)) return undefined;
  const status = (e as { status?: unknown }).status;
  if (typeof status === 'number') {
    if (status === 401) {
      return { cause: 'Unauthorized: check the token', hint: 'the API server rejected the credentials (expired, rotated or revoked service-account token, or a wrong client certificate)' };
    }
    if (status === 403) {
      return { cause: 'Forbidden: RBAC denies kube-proxy', hint: 'kube-proxy needs list and watch on services, endpointslices, nodes and servicecidrs (ClusterRole system:node-proxier)' };
    }
    if (status === 429) return { cause: 'Too many requests', hint: 'the API server is throttling this client (API priority and fairness)' };
    if (status >= 500) return { cause: `API server error ${status}`, hint: 'the API server or a proxy in front of it failed the request' };
    return undefined;
  }
  const code = (e as NodeJS.ErrnoException).code ?? '';
  if (UNKNOWN_CA.has(code)) {
    return { cause: 'certificate signed by unknown authority', hint: "the server's certificate does not chain to the configured CA (certificate-authority in the kubeconfig, or the service account's ca.crt)" };
  }
  if (code === 'CERT_HAS_EXPIRED') return { cause: 'certificate has expired', hint: "the API server's serving certificate is past its notAfter date (or this node's clock is wrong)" };
  if (code === 'CERT_NOT_YET_VALID') return { cause: 'certificate is not yet valid', hint: "the API server's serving certificate starts in the future (or this node's clock is wrong)" };
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return { cause: 'certificate is not valid for this server name', hint: 'the server URL (or tls-server-name) is not among the certificate\'s subject alternative names' };
  if (code === 'ECONNREFUSED') return { cause: 'connection refused', hint: 'nothing listens at the server URL (API server down or restarting?)' };
  if (code === 'ECONNRESET' || code === 'EPIPE') return { cause: 'connection reset', hint: 'the API server or a load balancer closed the connection' };
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return { cause: 'server unreachable', hint: 'no route or no answer from the server address' };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { cause: 'server name not resolved', hint: 'DNS lookup of the server host failed' };
  return undefined;
}

/** A failed verification of the server's certificate: the CA (or client certificate) files are worth re-reading at once. */
export function isCertificateFailure(e: unknown): boolean {
  return diagnoseApiError(e)?.cause.startsWith('certificate') ?? false;
}

/**
 * Shared by the reflectors of one API connection: logs one error line when requests start failing for a
 * cause (and again only when the cause changes), and one line when a request succeeds again. The
 * reflectors' own per-retry lines stay as they are (warnings with the backoff).
 */
export class ConnectionStatus {
  private current: string | undefined;
  private since = 0;

  constructor(
    private readonly log: Logger,
    private readonly server: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** The cause currently reported, if requests are failing. */
  get failing(): string | undefined {
    return this.current;
  }

  failed(e: unknown): void {
    const f = diagnoseApiError(e);
    if (!f || f.cause === this.current) return;
    if (this.current === undefined) this.since = this.now();
    this.current = f.cause;
    this.log.error(`API server requests failing: ${f.cause}`, { server: this.server, hint: f.hint, err: e });
  }

  ok(): void {
    if (this.current === undefined) return;
    this.log.info('API server requests succeed again', { server: this.server, after: this.current, failingForMs: this.now() - this.since });
    this.current = undefined;
  }
}
