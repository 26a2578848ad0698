// detect-local-mode NodeCIDR start-up and life cycle (upstream server_linux.go waitForPodCIDR and
// pkg/proxy/node.go NodeManager): wait up to 5 minutes for this node's podCIDRs (a Node being
// deleted does not count), fail start-up after that, and exit when they change later, so the
// DaemonSet restarts the proxy with the new local-traffic detector.

import { createLogger } from '../log/logger.js';

const log = createLogger('node');

/** Upstream timeoutForNodePodCIDR. */
export const POD_CIDR_TIMEOUT_MS = 5 * 60 * 1000;

function rec(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** spec.podCIDRs when the node qualifies (spec.podCIDR set, podCIDRs non-empty, not being deleted), else null. */
export function readyPodCIDRs(node: unknown): string[] | null {
  const n = rec(node);
  const spec = rec(n?.spec);
  if (!spec || rec(n?.metadata)?.deletionTimestamp) return null;
  const cidrs = Array.isArray(spec.podCIDRs) ? spec.podCIDRs.filter((c): c is string => typeof c === 'string') : [];
  return typeof spec.podCIDR === 'string' && spec.podCIDR !== '' && cidrs.length > 0 ? cidrs : null;
}

export interface PodCIDRGateOptions {
  readonly nodeName: string;
  readonly timeoutMs?: number;
  /** Start-up failed (timeout) or the podCIDRs changed: the process must exit with status 1. */
  readonly onFatal: (e: Error) => void;
  /** The node's podCIDRs became known. */
  readonly onReady: (podCIDRs: readonly string[]) => void;
}

export class PodCIDRGate {
  private cidrs: string[] | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: PodCIDRGateOptions) {}

  get ready(): boolean {
    return this.cidrs !== null;
  }

  get podCIDRs(): readonly string[] {
    return this.cidrs ?? [];
  }

  start(): void {
    if (this.ready || this.timer) return;
    log.info('Watching for node, awaiting podCIDR allocation', { hostname: this.opts.nodeName });
    this.timer = setTimeout(() => {
      this.timer = null;
      this.opts.onFatal(
        new Error(`timeout waiting for PodCIDR allocation to configure detect-local-mode NodeCIDR: node ${JSON.stringify(this.opts.nodeName)} does not have any PodCIDR allocated`),
      );
    }, this.opts.timeoutMs ?? POD_CIDR_TIMEOUT_MS);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Feed every event of this node's Node object. */
  onNode(type: 'ADDED' | 'MODIFIED' | 'DELETED', node: unknown): void {
    if (type === 'DELETED') return;
    const spec = rec(rec(node)?.spec);
    if (this.cidrs === null) {
      const cidrs = readyPodCIDRs(node);
      if (cidrs === null) return;
      this.cidrs = cidrs;
      this.stop();
      log.info('NodeInfo', { podCIDRs: cidrs });
      this.opts.onReady(cidrs);
      return;
    }
    const now = Array.isArray(spec?.podCIDRs) ? (spec.podCIDRs as unknown[]).filter((c): c is string => typeof c === 'string') : [];
    if (JSON.stringify(now) !== JSON.stringify(this.cidrs)) {
      log.info('PodCIDRs changed for the node', { node: this.opts.nodeName, newPodCIDRs: now, oldPodCIDRs: this.cidrs });
      this.opts.onFatal(new Error('PodCIDRs changed for the node'));
    }
  }
}
