// The stale UDP flow reconciler against the real conntrack table of a throwaway namespace: flows are
// inserted with `conntrack -I`, the reconciler runs inside the namespace, and what is left is listed.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import type { ServicePort } from '../../src/model/types.js';
import { endpoint as ep, udpServicePort } from './fixtures.js';

const exec = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const ns = `kpx-rt-${randomBytes(4).toString('hex')}`;
const self = fileURLToPath(import.meta.url);
const child = path.join(path.dirname(self), `conntrack-clean.child${path.extname(self)}`);
const loader = child.endsWith('.ts') ? ['--import', 'tsx'] : [];

async function inNs(cmd: string, args: string[]) {
  return exec('ip', ['netns', 'exec', ns, cmd, ...args], { timeout: 30_000 });
}

/** Insert a UDP flow: client 198.18.0.2:sport -> dst:dport, answered by replySrc:replyPort. */
async function flow(dst: string, dport: number, sport: number, replySrc: string, replyPort: number): Promise<void> {
  await inNs('conntrack', [
    '-I', '-p', 'udp', '-s', '198.18.0.2', '-d', dst, '--sport', String(sport), '--dport', String(dport),
    '--reply-src', replySrc, '--reply-dst', '198.18.0.2', '--reply-port-src', String(replyPort), '--reply-port-dst', String(sport),
    '-t', '300', '-u', 'SEEN_REPLY',
  ]);
}

async function flows(): Promise<string[]> {
  const { stdout } = await inNs('conntrack', ['-L', '-f', 'ipv4', '-p', 'udp']);
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('udp'))
    .map((l) => {
      const m = [...l.matchAll(/(src|dst|sport|dport)=(\S+)/g)].map((x) => x[2]);
      return `${m[1]}:${m[3]}<-${m[4]}`; // origDst:origDport<-replySrc
    })
    .sort();
}

async function reconcile(state: ServicePort[], previous: ServicePort[] | null = null): Promise<number> {
  const { stdout } = await exec('ip', ['netns', 'exec', ns, process.execPath, ...loader, child, JSON.stringify({ state, previous })], { timeout: 60_000 });
  return Number(stdout.trim());
}

before(async () => {
  if (isRoot) await exec('ip', ['netns', 'add', ns]);
});
after(async () => {
  if (isRoot) await exec('ip', ['netns', 'del', ns]).catch(() => undefined);
});

test('stale flows to a UDP ClusterIP and NodePort are deleted; flows to serving endpoints stay', { skip: !isRoot && 'needs root' }, async () => {
  await flow('198.19.0.53', 53, 40000, '198.18.100.9', 5353); // old endpoint: stale
  await flow('198.19.0.53', 53, 40001, '198.18.100.4', 5353); // serving endpoint: kept
  await flow('198.18.0.1', 30053, 40002, '198.18.100.9', 5353); // NodePort to the old endpoint: stale
  await flow('198.19.0.77', 53, 40003, '198.18.100.9', 5353); // not a service: untouched
  const deleted = await reconcile([udpServicePort('dns', '198.19.0.53', 53, [ep('198.18.100.4', 5353)], { nodePort: 30053 })]);
  assert.equal(deleted, 2);
  assert.deepEqual(await flows(), ['198.19.0.53:53<-198.18.100.4', '198.19.0.77:53<-198.18.100.9']);
});

test('a UDP service scaled to zero has its DNATed flows cleared (upstream #139628 skips it)', { skip: !isRoot && 'needs root' }, async () => {
  await flow('198.19.0.60', 8125, 41000, '198.18.100.5', 8125);
  const deleted = await reconcile([udpServicePort('statsd', '198.19.0.60', 8125, [])]);
  assert.equal(deleted, 1);
  assert.ok(!(await flows()).some((f) => f.startsWith('198.19.0.60:')), 'statsd flow gone');
});

test('a removed UDP service has its flows cleared', { skip: !isRoot && 'needs root' }, async () => {
  await flow('198.19.0.61', 514, 42000, '198.18.100.6', 514);
  const gone = udpServicePort('syslog', '198.19.0.61', 514, [ep('198.18.100.6', 514)]);
  assert.equal(await reconcile([], [gone]), 1);
  assert.ok(!(await flows()).some((f) => f.startsWith('198.19.0.61:')));
});
