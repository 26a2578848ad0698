// A node namespace for --dry-run tests: the proxy programs one NodePort Service from a manifests
// directory, stops (rules stay), then --dry-run runs against that kernel state. Used by the host
// test (nftables, iptables) and the IPVS guest test. Namespaces kpx-dr-<random>, addresses from
// 198.18.0.0/15 only, removed in close().

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { eventually, rmDir, serviceObject, sliceObject, tempDir, writeManifest } from '../runtime/fixtures.js';
import { collect, runProxy, startProxy, type RunResult } from '../support/proxy-process.js';

const exec = promisify(execFile);

export const VIP = '198.19.0.10';
export const PODS = ['198.18.100.2', '198.18.100.3'] as const;

export class DryRunWorld {
  private constructor(
    readonly ns: string,
    readonly dir: string,
    readonly mode: string,
  ) {}

  static async create(mode: string): Promise<DryRunWorld> {
    const ns = `kpx-dr-${randomBytes(3).toString('hex')}`;
    await exec('ip', ['netns', 'add', ns]);
    const w = new DryRunWorld(ns, await tempDir('kpx-dr-'), mode);
    try {
      await w.sh('ip', ['link', 'set', 'lo', 'up']);
      await w.sh('ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
      await w.sh('ip', ['addr', 'add', '198.18.0.1/24', 'dev', 'eth0']);
      await w.sh('ip', ['link', 'set', 'eth0', 'up']);
      await writeManifest(w.dir, 'web.json', [
        serviceObject({ name: 'web', clusterIP: VIP, port: 80, portName: 'http', type: 'NodePort', nodePort: 30080 }),
        sliceObject('web', 8080, PODS.map((ip) => ({ ip })), { portName: 'http' }),
      ]);
    } catch (e) {
      await w.close();
      throw e;
    }
    return w;
  }

  /** Run a command in the namespace; returns stdout. */
  async sh(cmd: string, args: string[]): Promise<string> {
    return (await exec('ip', ['netns', 'exec', this.ns, cmd, ...args], { timeout: 60_000, maxBuffer: 64 << 20 })).stdout;
  }

  private args(extra: string[] = []): string[] {
    return ['--manifests', this.dir, '--proxy-mode', this.mode, '--hostname-override', 'node-a', ...extra];
  }

  /** Run the proxy until `programmed()` holds, then stop it: its rules stay in the kernel. Returns its log. */
  async programOnce(programmed: () => Promise<boolean>, timeoutMs = 60_000): Promise<string> {
    const child = startProxy(this.args(['--metrics-bind-address', '127.0.0.1:10249', '--healthz-bind-address', '127.0.0.1:10256']), { prefix: ['ip', 'netns', 'exec', this.ns] });
    const done = collect(child, timeoutMs + 30_000);
    try {
      await eventually(async () => (await programmed().catch(() => false)) || undefined, 'the proxy programmed the service', timeoutMs);
    } finally {
      child.kill('SIGTERM');
    }
    const r = await done;
    if (r.code !== 0 && r.signal === null) throw new Error(`proxy exited ${r.code}: ${r.stderr.slice(-2000)}`);
    return r.stderr;
  }

  dryRun(timeoutMs = 120_000): Promise<RunResult> {
    return runProxy(['--dry-run', ...this.args()], { prefix: ['ip', 'netns', 'exec', this.ns], timeoutMs });
  }

  async close(): Promise<void> {
    await exec('ip', ['netns', 'del', this.ns]).catch(() => undefined);
    await rmDir(this.dir);
  }
}

/** The `+`/`-` lines of a dry-run diff, with the `@@ group` they belong to, e.g. "@@ map service-ips|+ 198.19…". */
export function diffLines(stdout: string): string[] {
  const out: string[] = [];
  let group = '';
  for (const l of stdout.split('\n')) {
    if (l.startsWith('@@ ')) group = l;
    else if ((l.startsWith('+ ') || l.startsWith('- ')) && group !== '') out.push(`${group}|${l}`);
    else if (l.startsWith('# ')) group = '';
  }
  return out;
}
