// `kube-proxy-ts get services|endpoints`: the programmed state as kubectl-style tables.

import { joinHostPort } from '../model/ip.js';
import type { DebugSnapshot, ServicePortJSON } from '../debug/types.js';

export type GetKind = 'services' | 'endpoints';
export type GetOutput = 'table' | 'wide' | 'json';

/** kubectl's column layout: left-aligned, three spaces between columns. */
export function table(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd()).join('\n') + '\n';
}

interface Row {
  readonly namespace: string;
  readonly name: string;
  readonly ports: ServicePortJSON[];
}

function byService(snap: DebugSnapshot, namespace: string | null): Row[] {
  const m = new Map<string, Row>();
  for (const f of snap.families) {
    for (const sp of f.services) {
      if (namespace !== null && sp.namespace !== namespace) continue;
      const k = `${sp.namespace}/${sp.serviceName}`;
      let r = m.get(k);
      if (!r) m.set(k, (r = { namespace: sp.namespace, name: sp.serviceName, ports: [] }));
      r.ports.push(sp);
    }
  }
  return [...m.values()].sort((a, b) => (a.namespace + '/' + a.name < b.namespace + '/' + b.name ? -1 : 1));
}

const uniq = (xs: readonly string[]): string[] => [...new Set(xs)];

function typeOf(r: Row): string {
  if (r.ports.some((p) => p.loadBalancerIPs.length > 0 || p.healthCheckNodePort > 0)) return 'LoadBalancer';
  if (r.ports.some((p) => p.nodePort !== 0)) return 'NodePort';
  return 'ClusterIP';
}

function portsOf(r: Row): string {
  // One entry per port (not per family): kubectl shows "80:30080/TCP".
  return uniq(r.ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol}`)).join(',');
}

function trimmed(list: readonly string[], max = 3): string {
  if (list.length === 0) return '<none>';
  return list.length <= max ? list.join(',') : `${list.slice(0, max).join(',')} + ${list.length - max} more...`;
}

export function renderGet(snap: DebugSnapshot, kind: GetKind, output: GetOutput, namespace: string | null): string {
  const rows = byService(snap, namespace);
  if (output === 'json') {
    const services = snap.families.flatMap((f) => f.services.filter((s) => namespace === null || s.namespace === namespace));
    return JSON.stringify({ kind: kind === 'services' ? 'ServicePortList' : 'EndpointList', mode: snap.mode, node: snap.nodeName, items: services }, null, 2) + '\n';
  }
  const ns = namespace === null;
  const lead = (r: Row): string[] => (ns ? [r.namespace, r.name] : [r.name]);
  const head = ns ? ['NAMESPACE', 'NAME'] : ['NAME'];
  if (kind === 'services') {
    const h = [...head, 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)'];
    if (output === 'wide') h.push('ENDPOINTS', 'TRAFFIC-POLICY', 'AFFINITY', 'PROGRAMMED');
    const out: string[][] = [h];
    for (const r of rows) {
      const ext = uniq(r.ports.flatMap((p) => [...p.loadBalancerIPs, ...p.externalIPs]));
      const row = [...lead(r), typeOf(r), uniq(r.ports.map((p) => p.clusterIP)).join(','), ext.length ? ext.join(',') : '<none>', portsOf(r)];
      if (output === 'wide') {
        const p0 = r.ports[0]!;
        const used = r.ports.reduce((n, p) => n + uniq([...p.clusterEndpoints, ...p.localEndpoints]).length, 0);
        const all = r.ports.reduce((n, p) => n + p.endpoints.length, 0);
        const fams = snap.families.filter((f) => r.ports.some((p) => p.family === f.family));
        row.push(
          `${used}/${all}`,
          `eTP=${p0.externalPolicyLocal ? 'Local' : 'Cluster'},iTP=${p0.internalPolicyLocal ? 'Local' : 'Cluster'}`,
          p0.affinityTimeoutSeconds ? `ClientIP/${p0.affinityTimeoutSeconds}s` : 'None',
          fams.map((f) => f.lastSync ?? 'never').join(','),
        );
      }
      out.push(row);
    }
    return table(out);
  }
  if (output === 'wide') {
    const out: string[][] = [[...head, 'PORT', 'ENDPOINT', 'NODE', 'ZONE', 'READY', 'SERVING', 'TERMINATING', 'USED']];
    for (const r of rows) {
      for (const p of r.ports) {
        for (const e of p.endpoints) {
          const k = joinHostPort(e.ip, e.port);
          const used = [p.clusterEndpoints.includes(k) ? 'cluster' : '', p.localEndpoints.includes(k) ? 'local' : ''].filter(Boolean).join(',') || 'no';
          out.push([...lead(r), `${p.portName || '-'}/${p.protocol}`, k, e.nodeName || '<none>', e.zone || '<none>', String(e.ready), String(e.serving), String(e.terminating), used]);
        }
      }
    }
    return table(out);
  }
  const out: string[][] = [[...head, 'ENDPOINTS']];
  for (const r of rows) {
    // Like kubectl: the ready endpoints.
    const ready = uniq(r.ports.flatMap((p) => p.endpoints.filter((e) => e.ready).map((e) => joinHostPort(e.ip, e.port))));
    out.push([...lead(r), trimmed(ready)]);
  }
  return table(out);
}
