// Manual measurement (not a test): what an idle proxy costs. One proxy (nftables, its own network
// namespace, as in the fleet: support/fleet.ts) watches the test API server holding N services x 10
// endpoints; once programmed and settled, nothing is written for T seconds and the proxy's CPU time is
// read from /proc (utime+stime of the proxy, plus its children: the `nft -i` session while alive and,
// through cutime/cstime, every short-lived `nft` it waited for). Prints one JSON document.
//   node dist/test/reliability/idle.manual.js [N=1000] [T=60] [--dry]
// KPX_IDLE_CPU_PROF=<dir>: the proxy writes a V8 CPU profile there when it stops (node --cpu-prof).
// --dry: the test-only dry dataplane (KPX_TEST_DRY_DATAPLANE=1, docs/reliability.md section 11).
// Root only; bounded (T ≤ 600); the namespace and processes are removed at the end.

import { promises as fsp } from 'node:fs';
import { Fleet } from './support/fleet.js';
import { sleep } from './support/proxy.js';

const nums = process.argv.slice(2).filter((a) => /^\d+$/.test(a)).map(Number);
const [N = 1000, T = 60] = nums;
const dry = process.argv.includes('--dry');
const log = (l: string): void => void process.stderr.write(`[idle ${new Date().toISOString().slice(11, 19)}] ${l}\n`);

/** CPU ms (clock ticks of 10 ms) of `pid` itself, and of its children: reaped (cutime+cstime) plus live ones. */
async function treeCpuMs(pid: number): Promise<{ self: number; children: number }> {
  const fields = async (p: number): Promise<number[]> => {
    const st = await fsp.readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return [11, 12, 13, 14].map((i) => Number(f[i] ?? 0) * 10);
  };
  const [u = 0, s = 0, cu = 0, cs = 0] = await fields(pid);
  let children = cu + cs;
  for (const task of await fsp.readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const kids = (await fsp.readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '')).trim();
    for (const k of kids ? kids.split(/\s+/) : []) children += (await fields(Number(k))).reduce((a, b) => a + b, 0);
  }
  return { self: u + s, children };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces)');
  if (T > 600) throw new Error('at most 600 s');
  const env: NodeJS.ProcessEnv = {};
  const prof = process.env.KPX_IDLE_CPU_PROF;
  // --cpu-prof is refused in NODE_OPTIONS: a shell inserts it before the proxy's script (and execs node: same pid).
  const wrap = prof ? ['sh', '-c', `exec "$0" --cpu-prof --cpu-prof-dir=${prof} "$@"`] : [];
  const { fleet, startMs } = await Fleet.start({ proxies: 1, services: N, endpoints: 10, log, env, wrap, dry, startTimeoutMs: 300_000 });
  try {
    const pid = fleet.proxies[0]!.child.pid!;
    log(`programmed ${N} services in ${startMs} ms; settling 35 s (first periodic run)`);
    await sleep(35_000);
    const perInterval: number[] = [];
    const c0 = await treeCpuMs(pid);
    let prev = c0;
    for (let s = 0; s < T; s += 10) {
      await sleep(10_000);
      const c = await treeCpuMs(pid);
      perInterval.push(c.self + c.children - prev.self - prev.children);
      prev = c;
    }
    const self = prev.self - c0.self;
    const children = prev.children - c0.children;
    const total = self + children;
    const rss = Number(/VmRSS:\s+(\d+)/.exec(await fsp.readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    const out = {
      services: N,
      dataplane: dry ? 'dry' : 'nftables',
      seconds: T,
      cpuMs: { total, proxy: self, children },
      cpuMsPerSecond: Math.round((total / T) * 100) / 100,
      cpuMsPer10s: perInterval,
      rssMB: Math.round(rss / 1024),
    };
    process.stdout.write(JSON.stringify(out) + '\n');
  } finally {
    await fleet.close();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`idle.manual: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
