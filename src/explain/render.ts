// Human-readable text of an Explanation (the default output of `kube-proxy-ts explain`).

import { joinHostPort } from '../model/ip.js';
import type { Explanation } from './explain.js';

const VERDICT: Record<Explanation['outcome'], string> = {
  forward: 'FORWARD',
  reject: 'REJECT',
  drop: 'DROP',
  local: 'NOT A SERVICE: delivered to this node',
  routed: 'NOT A SERVICE: routed, untouched by kube-proxy',
};

export function renderExplanation(x: Explanation): string {
  const p = x.packet;
  const src = p.srcPort !== null ? joinHostPort(p.src, p.srcPort) : p.src;
  const out: string[] = [];
  out.push(`packet:    ${src} -> ${joinHostPort(p.dst, p.port)}/${p.protocol.toLowerCase()} from ${p.from} (${p.fromReason})`);
  out.push(`proxy:     ${x.mode} mode on node ${x.node}, ${p.family} rules of generation ${x.programmed.generation} programmed ${x.programmed.lastSync ?? 'never'}`);
  out.push(`verdict:   ${VERDICT[x.outcome]}: ${x.reason}`);
  if (x.service) {
    const s = x.service;
    const port = s.portName ? `port ${JSON.stringify(s.portName)} (${s.port})` : `port ${s.port}`;
    out.push(`service:   ${s.namespace}/${s.name} ${port} via ${s.via}${s.via === 'NodePort' ? ` ${s.nodePort}` : ''}, ClusterIP ${s.clusterIP}`);
  }
  if (x.policy) out.push(`policy:    ${x.policy.name}=${x.policy.value}: ${x.policy.effect}`);
  if (x.topology) {
    const td = x.topology.trafficDistribution ? `, trafficDistribution ${x.topology.trafficDistribution}` : '';
    out.push(`topology:  ${x.topology.mode === 'none' ? 'no topology rule applies' : x.topology.mode}${td} (node zone ${x.topology.nodeZone || 'unset'})`);
  }
  if (x.sessionAffinity) out.push(`affinity:  ${x.sessionAffinity.type}${x.sessionAffinity.timeoutSeconds ? `, ${x.sessionAffinity.timeoutSeconds}s` : ''}`);
  if (x.masquerade) out.push(`masquerade: ${x.masquerade.value ? 'yes' : 'no'}: ${x.masquerade.reason}`);
  if (x.endpoints.length > 0) {
    out.push('eligible endpoints:');
    for (const e of x.endpoints) {
      const hair = e.masquerade !== x.masquerade?.value ? ` (masquerade: ${e.masqueradeReason})` : '';
      const cond = e.ready ? 'ready' : e.terminating ? 'terminating, serving' : 'serving';
      out.push(`  ${e.endpoint.padEnd(24)} node ${e.nodeName || '-'}${e.local ? ' (local)' : ''}${e.zone ? `, zone ${e.zone}` : ''}, ${cond}${hair}`);
    }
  }
  if (x.excluded.length > 0) {
    out.push('excluded endpoints:');
    for (const e of x.excluded) out.push(`  ${e.endpoint.padEnd(24)} ${e.reason}: ${e.detail}`);
  }
  if (x.implementation && x.implementation.objects.length > 0) {
    out.push(`implemented by (${x.implementation.mode}):`);
    for (const o of x.implementation.objects) out.push(`  ${o.kind} ${o.name}${o.detail ? `: ${o.detail}` : ''}`);
  }
  for (const w of x.warnings) out.push(`warning:   ${w}`);
  return out.join('\n') + '\n';
}
