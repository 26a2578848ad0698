// Scale measurement (not a test): N services × E endpoints in a throw-away network namespace.
//   node --import tsx test/nftables/scale.manual.ts [services=10000] [endpoints=10] [shared|distinct] [session|file] [changes=200]
// `file` applies incremental transactions with `nft -f -` per sync (the Dataplane's
// `interactive: false`) instead of the persistent `nft -i` session.
// Prints wall time of planning and of `nft -f` for a full sync, a second full sync replacing the
// table, and single changes (one endpoint replaced, one endpoint added, one service added/removed).
// `shared` (default): endpoint IPs 198.18.<j>.<i & 255>, so only 2,560 distinct IPs (the hairpin
// set stays small); `distinct`: every endpoint has its own IP (a hairpin element each, as in a
// cluster where every pod backs one service).

import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNftablesDataplane } from '../../src/dataplane/nftables/index.js';
import { plan, planFull } from '../../src/dataplane/nftables/planner.js';
import type { ServicePort } from '../../src/model/types.js';
import { config, ep, sp, state } from './fixtures.js';
import { createNetns } from './netns.js';

const N = Number(process.argv[2] ?? 10000);
const E = Number(process.argv[3] ?? 10);
const DISTINCT = process.argv[4] === 'distinct';
const INTERACTIVE = process.argv[5] !== 'file';
const CHANGES = Number(process.argv[6] ?? 200);

/** The k-th address of 198.18.0.0/15, skipping 198.19.0.0-198.19.39.255 (the ClusterIPs). */
function distinctIP(k: number): string {
  const v = ((198 << 24) >>> 0) + (18 << 16) + k + (k >= 65536 ? 40 * 256 : 0);
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

function svc(i: number, e = E, salt = 0): ServicePort {
  const eps = Array.from({ length: e }, (_, j) =>
    DISTINCT
      ? ep(distinctIP((i * E + ((j + salt) % (E + 8))) % 120000), { port: 8080 })
      : ep(`198.18.${(j + salt) % 250}.${i & 255}`, { port: 1000 + (i >> 8) }),
  );
  return sp('ns', `s${i}`, { clusterIP: `198.19.${i >> 8}.${i & 255}`, nodePort: i < 2000 ? 30000 + i : 0, endpoints: eps });
}

function ms(t0: bigint): number {
  return Math.round(Number(process.hrtime.bigint() - t0) / 1e5) / 10;
}

async function main(): Promise<void> {
  const ns = await createNetns('nftscale');
  const dir = mkdtempSync(join(tmpdir(), 'kpx-nft-'));
  try {
    const wrapper = join(dir, 'nft');
    const timeLog = join(dir, 'times');
    // Wall time suffers when the machine is shared; /usr/bin/time also records nft's CPU time.
    // `nft -i` (the session) runs without /usr/bin/time (which reports only at exit): its CPU time
    // is read from /proc/<pid>/schedstat around each change instead.
    writeFileSync(
      wrapper,
      `#!/bin/sh\n[ "$1" = "-i" ] && exec ip netns exec ${ns.name} nft "$@"\nexec /usr/bin/time -a -o ${timeLog} -f "%e %U %S" ip netns exec ${ns.name} nft "$@"\n`,
    );
    chmodSync(wrapper, 0o755);
    process.env.KPX_TOOL_NFT = wrapper;
    const cfg = config();
    let svcs = Array.from({ length: N }, (_, i) => svc(i));
    const st0 = state(svcs);

    // The first plan in a process is cold (JIT, chain-name hashes); later full plans (resyncs,
    // after a failure or drift) are warm.
    let t = process.hrtime.bigint();
    for (let round = 0; round < 4; round++) {
      t = process.hrtime.bigint();
      const c0 = process.cpuUsage();
      const p = planFull(st0, cfg);
      const c1 = process.cpuUsage(c0);
      console.log(
        `plan full (${round === 0 ? 'cold' : 'warm'}): wall ${ms(t)} ms, cpu ${Math.round((c1.user + c1.system) / 1000)} ms, ${p.ops} ops, ${(p.script.length / 1e6).toFixed(1)} MB`,
      );
    }

    const cpu = (): string => {
      const last = readFileSync(timeLog, 'utf8').trim().split('\n').pop()!;
      const [, user, sys] = last.split(' ').map(Number);
      return `nft cpu ${Math.round((user! + sys!) * 1000)} ms (user ${user} s, sys ${sys} s)`;
    };
    console.log(`load average at start: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    const dp = createNftablesDataplane(cfg, { interactive: INTERACTIVE });
    t = process.hrtime.bigint();
    let r = await dp.sync(st0, { full: true });
    console.log(`full sync (empty kernel): wall ${ms(t)} ms, nft wall ${Math.round(r.toolMillis)} ms, ${cpu()}`);
    t = process.hrtime.bigint();
    r = await dp.sync(st0, { full: true });
    console.log(`full sync (replacing the table): wall ${ms(t)} ms, nft wall ${Math.round(r.toolMillis)} ms, ${cpu()}`);

    const change = async (what: string, next: ServicePort[]): Promise<void> => {
      svcs = next;
      const cpu0 = INTERACTIVE ? sessionCpuNs() : 0;
      const t1 = process.hrtime.bigint();
      const res = await dp.sync(state(svcs), { full: false });
      const nftCpuText = INTERACTIVE ? `nft -i cpu ${((sessionCpuNs() - cpu0) / 1e6).toFixed(1)} ms` : cpu();
      console.log(`${what}: wall ${ms(t1)} ms, nft wall ${Math.round(res.toolMillis)} ms, ${res.operations > 0 ? nftCpuText : 'no nft run'}, ${res.operations} ops, full=${res.full}`);
    };
    // Latency of single endpoint changes (event -> dp.sync returned), over CHANGES changes on
    // pseudo-random services: cycles of one endpoint replaced, one added, one removed.
    const cur = svcs.map(() => ({ e: E, salt: 0 }));
    const wall: number[] = [];
    const toolWall: number[] = [];
    const nftCpu: number[] = [];
    let fulls = 0;
    let seed = 12345;
    const sessionCpuNs = (): number => {
      // The nft -i process of the session is the only long-lived process in the namespace.
      const pids = ns.pidsSync();
      let total = 0;
      for (const pid of pids) {
        try {
          total += Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
        } catch {
          /* exited */
        }
      }
      return total;
    };
    const fileCpuMs = (): number => {
      const last = readFileSync(timeLog, 'utf8').trim().split('\n').pop()!;
      const [, user, sys] = last.split(' ').map(Number);
      return (user! + sys!) * 1000;
    };
    let i = 0;
    for (let j = 0; j < CHANGES; j++) {
      const kind = j % 3;
      // One service per replace/add/remove cycle.
      if (kind === 0) {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        i = seed % N;
      }
      const c = cur[i]!;
      if (kind === 0) c.salt++;
      else if (kind === 1) c.e = E + 1;
      else c.e = E;
      svcs = svcs.map((s, x) => (x === i ? svc(i, c.e, c.salt) : s));
      const st = state(svcs);
      const cpu0 = INTERACTIVE ? sessionCpuNs() : 0;
      const t1 = process.hrtime.bigint();
      const res = await dp.sync(st, { full: false });
      wall.push(Number(process.hrtime.bigint() - t1) / 1e6);
      toolWall.push(res.toolMillis);
      if (res.full) fulls++;
      nftCpu.push(INTERACTIVE ? (sessionCpuNs() - cpu0) / 1e6 : fileCpuMs());
    }
    const pct = (a: number[], q: number): number => {
      if (a.length === 0) return NaN;
      const s = [...a].sort((x, y) => x - y);
      return Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 10) / 10;
    };
    console.log(
      `${CHANGES} single endpoint changes (${INTERACTIVE ? 'nft -i session' : 'nft -f per sync'}): wall p50 ${pct(wall, 0.5)} ms, p90 ${pct(wall, 0.9)} ms, p99 ${pct(wall, 0.99)} ms, max ${pct(wall, 1)} ms; nft wall p50 ${pct(toolWall, 0.5)} ms, p99 ${pct(toolWall, 0.99)} ms; nft cpu p50 ${pct(nftCpu, 0.5)} ms, p99 ${pct(nftCpu, 0.99)} ms; ${fulls} full`,
    );
    for (const [name, kind] of [['replaced', 0], ['added', 1], ['removed', 2]] as const) {
      const w = wall.filter((_, x) => x % 3 === kind);
      console.log(`  endpoint ${name}: wall p50 ${pct(w, 0.5)} ms, p99 ${pct(w, 0.99)} ms`);
    }

    const k = Math.floor(N / 2);
    await change('one endpoint replaced', svcs.map((s, i) => (i === k ? svc(i, E, 7) : s)));
    await change('one endpoint added', svcs.map((s, i) => (i === k ? svc(i, E + 1, 7) : s)));
    await change('one service added', [...svcs, svc(N)]);
    await change('one service removed', svcs.slice(0, -1));
    await change('100 services changed', svcs.map((s, i) => (i % Math.floor(N / 100) === 0 ? svc(i, E, 3) : s)));
    await change('no change', svcs);

    // Planning cost alone for a one-endpoint change at this scale (no kernel).
    const base = planFull(state(svcs), cfg).next;
    const changedState = state(svcs.map((s, i) => (i === 1 ? svc(i, E, 9) : s)));
    t = process.hrtime.bigint();
    const c2 = process.cpuUsage();
    plan(base, changedState, cfg);
    const c3 = process.cpuUsage(c2);
    console.log(`plan one change: wall ${ms(t)} ms, cpu ${Math.round((c3.user + c3.system) / 1000)} ms`);

    t = process.hrtime.bigint();
    const drift = await dp.detectDrift();
    console.log(`detectDrift: wall ${ms(t)} ms, ${cpu()} (drift=${drift})`);
    await dp.close?.();
    console.log(`load average at end: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  } finally {
    delete process.env.KPX_TOOL_NFT;
    await ns.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
