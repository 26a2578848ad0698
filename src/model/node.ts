// This node's Node object: only the topology labels feed endpoint selection; the rest
// (addresses, podCIDRs) is exposed raw through ServiceModel.node() for the node manager.

import { get, isRecord, readLabel, readMeta } from './raw.js';
import { LABEL_HOSTNAME, LABEL_TOPOLOGY_ZONE } from './topology.js';

export interface ParsedNode {
  readonly name: string;
  /** Only the topology labels (zone, hostname) that exist on the node. */
  readonly topologyLabels: Readonly<Record<string, string>>;
  /** Signature of everything a consumer of this node can react to (labels, addresses, podCIDRs). */
  readonly signature: string;
}

/** Validate a Node. Throws InvalidObject. */
export function parseNode(obj: unknown): ParsedNode {
  const meta = readMeta(obj, 'dns1123subdomain', false);
  const topologyLabels: Record<string, string> = {};
  const zone = readLabel(meta.labels, LABEL_TOPOLOGY_ZONE);
  if (zone !== undefined) topologyLabels[LABEL_TOPOLOGY_ZONE] = zone;
  const host = readLabel(meta.labels, LABEL_HOSTNAME);
  if (host !== undefined) topologyLabels[LABEL_HOSTNAME] = host;
  const o = obj as Record<string, unknown>;
  const spec = get(o, 'spec');
  const status = get(o, 'status');
  const podCIDRs = isRecord(spec) ? [get(spec, 'podCIDR'), get(spec, 'podCIDRs')] : null;
  const addresses = isRecord(status) ? get(status, 'addresses') : null;
  let signature: string;
  try {
    signature = JSON.stringify([topologyLabels, podCIDRs, addresses]);
  } catch {
    // Not JSON-representable (cannot come from the wire): treat every version as new.
    signature = `unrepresentable:${Math.random()}`;
  }
  return { name: meta.name, topologyLabels, signature };
}
