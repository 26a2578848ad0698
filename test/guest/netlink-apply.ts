// Helper run inside a fresh network namespace of the IPVS guest by netlink.test.ts
// (`ip netns exec NS node netlink-apply.js`): applies the same ipvsadm -R lines once over the netlink
// applier (src/kernel/ipvs/netlink.ts) and once with `ipvsadm -R`, reading `ipvsadm -S -n` after
// each step, and prints one JSON line with both transcripts and the netlink failures.

import { fileURLToPath } from 'node:url';
import { openIpvsNetlink } from '../../src/kernel/ipvs/netlink.js';
import { run } from '../../src/util/exec.js';

/** Steps of lines: every form the planner writes, IPv4 and IPv6, TCP/UDP/SCTP, flags, persistence. */
export const STEPS: readonly (readonly string[])[] = [
  [
    '-A -t 198.19.0.1:80 -s rr',
    '-a -t 198.19.0.1:80 -r 198.18.1.1:8080 -m -w 1',
    '-a -t 198.19.0.1:80 -r 198.18.1.2:8080 -m -w 1',
    '-A -u 198.19.0.2:53 -s mh -b mh-port',
    '-a -u 198.19.0.2:53 -r 198.18.1.3:5353 -m -w 1',
    '-A --sctp-service 198.19.0.3:9 -s sh -b sh-fallback,sh-port -p 10800',
    '-a --sctp-service 198.19.0.3:9 -r 198.18.1.4:9 -m -w 1',
    '-A -t [2001:db8::a]:443 -s lc -p 60',
    '-a -t [2001:db8::a]:443 -r [2001:db8::1:2]:8443 -m -w 1',
  ],
  [
    '-E -t 198.19.0.1:80 -s wrr -p 30',
    '-e -t 198.19.0.1:80 -r 198.18.1.1:8080 -m -w 0',
    '-E -t [2001:db8::a]:443 -s rr',
    '-e -t [2001:db8::a]:443 -r [2001:db8::1:2]:8443 -m -w 5',
  ],
  ['-d -t 198.19.0.1:80 -r 198.18.1.2:8080', '-d -u 198.19.0.2:53 -r 198.18.1.3:5353', '-D --sctp-service 198.19.0.3:9'],
];

/** A step that fails in its middle: the failing line is reported, the others are applied. */
export const FAILING = ['-A -t 198.19.0.9:80 -s rr', '-A -t 198.19.0.9:80 -s rr', '-a -t 198.19.0.9:80 -r 198.18.1.9:80 -m -w 1', '-d -t 198.19.0.9:80 -r 198.18.1.250:1'];

async function save(): Promise<string> {
  return (await run('ipvsadm', ['-S', '-n'])).stdout;
}

async function main(): Promise<void> {
  const nl = await openIpvsNetlink();
  const viaNetlink: string[] = [];
  for (const step of STEPS) {
    const r = await nl.apply(step);
    if (r.failures.length > 0) throw new Error(`netlink step failed: ${JSON.stringify(r.failures)}`);
    viaNetlink.push(await save());
  }
  const failing = await nl.apply(FAILING);
  const afterFailing = await save();
  nl.close();
  await run('ipvsadm', ['-C']);
  const viaIpvsadm: string[] = [];
  for (const step of STEPS) {
    await run('ipvsadm', ['-R'], { input: step.join('\n') + '\n' });
    viaIpvsadm.push(await save());
  }
  process.stdout.write(JSON.stringify({ viaNetlink, viaIpvsadm, failures: failing.failures, afterFailing }) + '\n');
}

// Imported by netlink.test.ts for STEPS/FAILING: run only as the helper process.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
