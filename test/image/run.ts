// `make image-test`: the built image, run as the DaemonSet in deploy/ runs it. Not a node:test file (the
// host suite must not need podman or an image): run as `node dist/test/image/run.js IMAGE` with
// CONTAINERS_CONF from scripts/image.sh (scripts/image-test.sh does both). Every container joins a
// kpx- network namespace this run creates (`--network ns:/run/netns/…`), never the host's network.
//
// Checks: the image's contents (Node >= 20, no npm, production dependencies only); --version and
// --print-rules of every mode equal the host build's; the DaemonSet's own command, env, mounts and
// ConfigMap with the in-cluster configuration (test API server with TLS, token and CA at the
// service-account path, KUBERNETES_SERVICE_HOST/PORT) program a ClusterIP that answers real traffic,
// the liveness probe answers, the host's global conntrack knobs are untouched, and --cleanup from the
// image leaves nothing. Prints `N passed, N failed` last; exits 1 on any failure.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { run } from '../../src/util/exec.js';
import { NsApiServer } from '../reliability/support/apiserver.js';
import { eventually, httpGet } from '../reliability/support/proxy.js';
import { NODE_IP, podIP, POD_PORT, World } from '../reliability/support/world.js';
import { nodeObject, rmDir, serviceObject, sliceObject, tempDir } from '../runtime/fixtures.js';
import { SERVICE_ACCOUNT_DIR, writeServiceAccountDir } from '../support/incluster.js';
import { proxyCommand, repoRoot } from '../support/proxy-process.js';

type Obj = Record<string, any>; // parsed deploy/ YAML of several kinds; fields are read one by one below

const image = process.argv[2];
if (!image) {
  process.stderr.write('usage: node dist/test/image/run.js IMAGE\n');
  process.exit(2);
}
const MODES = ['nftables', 'iptables', 'ipvs'] as const;
const CLUSTER_IP = '198.19.0.10';
const SVC_PORT = 80;
const results: { name: string; ok: boolean; err?: string }[] = [];

async function check(name: string, fn: () => Promise<void>): Promise<void> {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    process.stdout.write(`ok - ${name} (${Date.now() - t0} ms)\n`);
  } catch (e) {
    const err = e instanceof Error ? e.message : String(e);
    results.push({ name, ok: false, err });
    process.stdout.write(`not ok - ${name}\n${err.replace(/^/gm, '  # ')}\n`);
  }
}

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

async function podman(args: readonly string[], o: { allowFailure?: boolean; timeoutMs?: number } = {}) {
  return run('podman', args, { allowFailure: o.allowFailure, timeoutMs: o.timeoutMs ?? 120_000 });
}

/** A one-off container in namespace `ns` (or none); returns its exit code and output. */
async function runInImage(ns: string | null, args: readonly string[], extra: readonly string[] = []) {
  const net = ns ? ['--network', `ns:/run/netns/${ns}`] : ['--network', 'none'];
  return podman(['run', '--rm', ...net, ...extra, image!, ...args], { allowFailure: true });
}

/**
 * A kernel tool of the image, in namespace `ns` (stdout). The host's own tools may be older: Debian
 * 12's nft 1.0.6 crashed (SIGSEGV) listing the tables that the image's nft 1.1 had written.
 */
async function imageTool(ns: string, argv: readonly string[]): Promise<string> {
  const r = await runInImage(ns, argv.slice(1), ['--privileged', '--entrypoint', argv[0]!]);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} in the image exited ${r.code}: ${r.stderr.slice(-1000)}`);
  return r.stdout;
}

/** The same command from the host build, inside namespace `ns` (the proxy never runs outside one). */
async function runOnHost(world: World, role: string, args: readonly string[]) {
  const { command, args: a } = proxyCommand(args);
  return run('ip', ['netns', 'exec', world.ns(role), command, ...a], { allowFailure: true, timeoutMs: 120_000 });
}

/** deploy/: the DaemonSet's container and the ConfigMap it mounts. */
async function loadDeploy(): Promise<{ container: Obj; pod: Obj; configMaps: Map<string, Obj> }> {
  const dir = path.join(repoRoot, 'deploy');
  const objs: Obj[] = [];
  for (const f of (await fsp.readdir(dir)).filter((n) => /\.ya?ml$/.test(n) && n !== 'kustomization.yaml').sort()) {
    for (const d of parseAllDocuments(await fsp.readFile(path.join(dir, f), 'utf8'))) {
      const o = d.toJS() as Obj | null;
      if (o) objs.push(o);
    }
  }
  const ds = objs.find((o) => o.kind === 'DaemonSet');
  assert(ds, 'deploy/ has no DaemonSet');
  const pod = ds.spec.template.spec as Obj;
  const configMaps = new Map(objs.filter((o) => o.kind === 'ConfigMap').map((o) => [o.metadata.name as string, o]));
  return { container: pod.containers[0] as Obj, pod, configMaps };
}

/** Kubernetes' $(VAR) expansion in command/args ($$ escapes). */
function expand(s: string, env: Map<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string | undefined) => (name === undefined ? '$' : (env.get(name) ?? m)));
}

async function main(): Promise<number> {
  const nodeName = 'node-a';
  const host = {
    conntrackMax: await fsp.readFile('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8').catch(() => 'absent'),
    hashsize: await fsp.readFile('/sys/module/nf_conntrack/parameters/hashsize', 'utf8').catch(() => 'absent'),
  };
  const world = await World.create({ pods: 2, client: true });
  const tmp = await tempDir('kpx-image-');
  const name = `kpx-image-${randomBytes(3).toString('hex')}`;
  let container: ChildProcess | null = null;
  try {
    await world.addScratch('print');

    await check('image contents: Node >= 20, no npm, production dependencies only, root by default', async () => {
      const r = await podman(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', image!, '-c',
        'node -p process.versions.node; id -u; command -v npm || echo no-npm; ls /app/node_modules; ls /app/dist/bundle/main.js']);
      const [ver, uid, npm, ...rest] = r.stdout.trim().split('\n');
      assert(Number(ver!.split('.')[0]) >= 20, `Node ${ver}`);
      assert(uid === '0', `uid ${uid}`);
      assert(npm === 'no-npm', `npm in the runtime image: ${npm}`);
      const pkg = JSON.parse(await fsp.readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
      for (const d of Object.keys(pkg.dependencies)) assert(rest.includes(d.split('/')[0]!), `production dependency ${d} missing`);
      for (const d of Object.keys(pkg.devDependencies)) assert(!rest.includes(d.split('/')[0]!) || d.startsWith('@types'), `dev dependency ${d} in the image`);
      assert(!rest.includes('typescript') && !rest.includes('tsx'), 'TypeScript toolchain in the image');
    });

    await check('IPVS mode\'s netlink addon loads in the image and opens a generic netlink socket', async () => {
      // The prebuilt binary is loaded at run time (no install scripts ran in the build); a socket of
      // its own needs no privilege and no IPVS, so a broken binary fails here, not in a cluster.
      const r = await podman(['run', '--rm', '--network', 'none', '--entrypoint', 'node', image!, '-e',
        "const { RawNetlinkSocket } = require('/app/node_modules/netlink/dist/raw.js'); const s = new RawNetlinkSocket(16, {}); console.log('port', s.address().port); s.close();"], { allowFailure: true });
      assert(r.code === 0 && /^port \d+$/m.test(r.stdout), `exit ${r.code}: ${r.stdout}${r.stderr.slice(-500)}`);
    });

    await check('--version equals the host build\'s', async () => {
      const [a, b] = await Promise.all([runInImage(world.ns('print'), ['--version']), runOnHost(world, 'print', ['--version'])]);
      assert(a.code === 0 && b.code === 0, `exit ${a.code}/${b.code}: ${a.stderr}${b.stderr}`);
      assert(a.stdout === b.stdout && /kube-proxy-ts v/.test(a.stdout), `image ${JSON.stringify(a.stdout)} vs host ${JSON.stringify(b.stdout)}`);
    });

    const manifests = path.join(repoRoot, 'examples/manifests');
    for (const mode of MODES) {
      await check(`--print-rules --proxy-mode ${mode} equals the host build's (image run as a non-root user)`, async () => {
        const args = ['--manifests', '/manifests', '--proxy-mode', mode, '--hostname-override', nodeName, '--print-rules'];
        const [a, b] = await Promise.all([
          // Printing needs no privilege: the image's program runs as nobody for it.
          runInImage(world.ns('print'), args, ['-v', `${manifests}:/manifests:ro`, '--user', '65534:65534']),
          runOnHost(world, 'print', args.map((x) => (x === '/manifests' ? manifests : x))),
        ]);
        assert(a.code === 0 && b.code === 0, `exit ${a.code}/${b.code}: ${a.stderr.slice(-2000)}${b.stderr.slice(-2000)}`);
        assert(a.stdout.length > 100, `empty ruleset: ${a.stdout}`);
        assert(a.stdout === b.stdout, `rules differ (image ${a.stdout.length} bytes, host ${b.stdout.length} bytes)`);
      });
    }

    // The API server with TLS in the node namespace, holding this node, a Service and its slice.
    const srv = await NsApiServer.start(world, { tls: true });
    const w = await srv.apply([
      { t: 'create', obj: nodeObject(nodeName, [NODE_IP]) },
      { t: 'create', obj: serviceObject({ name: 'web', clusterIP: CLUSTER_IP, port: SVC_PORT }) },
      { t: 'create', obj: sliceObject('web', POD_PORT, [{ ip: podIP(1), nodeName }, { ip: podIP(2), nodeName }]) },
    ]);
    assert(w.failed === 0, w.errors.join('; '));

    // The pod as kubelet would make it from deploy/: command/args with $(VAR) expanded, env, mounts.
    const { container: c, pod, configMaps } = await loadDeploy();
    const sa = path.join(tmp, 'serviceaccount');
    const api = await writeServiceAccountDir(srv.kubeconfigPath, sa);
    const env = new Map<string, string>([
      ['KUBERNETES_SERVICE_HOST', api.host],
      ['KUBERNETES_SERVICE_PORT', api.port],
    ]);
    for (const e of (c.env ?? []) as Obj[]) {
      if (e.value !== undefined) env.set(e.name, String(e.value));
      else if (e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') env.set(e.name, nodeName);
      else throw new Error(`the image test does not know how to fill env ${e.name}`);
    }
    const mounts: string[] = ['-v', `${sa}:${SERVICE_ACCOUNT_DIR}:ro`];
    for (const m of (c.volumeMounts ?? []) as Obj[]) {
      const vol = (pod.volumes as Obj[]).find((v) => v.name === m.name)!;
      const ro = m.readOnly ? ':ro' : '';
      if (vol.configMap) {
        const cm = configMaps.get(vol.configMap.name);
        assert(cm, `ConfigMap ${vol.configMap.name} is not in deploy/`);
        const dir = path.join(tmp, `cm-${m.name}`);
        await fsp.mkdir(dir);
        for (const [k, v] of Object.entries(cm.data as Record<string, string>)) await fsp.writeFile(path.join(dir, k), v);
        mounts.push('-v', `${dir}:${m.mountPath}${ro}`);
      } else if (vol.hostPath) {
        // Stand-ins for the node's files: an empty module tree, this run's own xtables lock.
        const p = path.join(tmp, `host-${m.name}`);
        if (vol.hostPath.type === 'FileOrCreate') await fsp.writeFile(p, '');
        else await fsp.mkdir(p);
        mounts.push('-v', `${p}:${m.mountPath}${ro}`);
      } else throw new Error(`the image test does not know volume ${m.name}`);
    }
    const argv = [...((c.command ?? []) as string[]), ...((c.args ?? []) as string[])].map((s) => expand(s, env));
    assert(argv.length > 0, 'the DaemonSet container has no command');
    const privileged = c.securityContext?.privileged === true;
    const caps = ((c.securityContext?.capabilities?.add ?? []) as string[]).flatMap((x) => ['--cap-add', x]);

    let log = '';
    await check('DaemonSet pod with the in-cluster configuration: the ClusterIP answers through the image\'s rules', async () => {
      container = spawn('podman', [
        'run', '--rm', '--name', name, '--network', `ns:/run/netns/${world.ns('node')}`,
        ...(privileged ? ['--privileged'] : caps),
        ...[...env].flatMap(([k, v]) => ['-e', `${k}=${v}`]),
        ...mounts, '--entrypoint', argv[0]!, image!, ...argv.slice(1),
      ], { stdio: ['ignore', 'pipe', 'pipe'] });
      world.track(container);
      const grab = (b: Buffer) => (log = (log + b.toString()).slice(-200_000));
      container.stdout!.on('data', grab);
      container.stderr!.on('data', grab);
      const client = await world.agent('client');
      const seen = new Set<string>();
      await eventually(async () => {
        if (container!.exitCode !== null) throw new Error(`container exited ${container!.exitCode}:\n${log.slice(-3000)}`);
        const r = await client.probe({ host: CLUSTER_IP, port: SVC_PORT }, 1000);
        return r.ok;
      }, `${CLUSTER_IP}:${SVC_PORT} answering from the client`, 90_000, 500);
      for (let i = 0; i < 30; i++) {
        const r = await client.probe({ host: CLUSTER_IP, port: SVC_PORT }, 2000);
        assert(r.ok, `request ${i} failed: ${r.err}`);
        seen.add(r.by!);
      }
      assert(seen.has('p1') && seen.has('p2'), `30 requests reached only ${[...seen].join(', ')}`);
      assert(log.includes(`https://${api.host}:${api.port}`), `the proxy did not log the in-cluster server URL:\n${log.slice(-2000)}`);
    });

    await check('the DaemonSet\'s liveness probe answers 200', async () => {
      const probe = c.livenessProbe?.httpGet as Obj;
      assert(probe, 'no httpGet liveness probe');
      const r = await eventually(async () => {
        const x = await httpGet(world, `http://${probe.host ?? '127.0.0.1'}:${probe.port}${probe.path}`);
        return x.status === 200 ? x : null;
      }, 'liveness 200', 30_000, 500);
      assert(r.status === 200, `status ${r.status}`);
    });

    await check('the host\'s global conntrack knobs are left alone from a namespace', async () => {
      const now = {
        conntrackMax: await fsp.readFile('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8').catch(() => 'absent'),
        hashsize: await fsp.readFile('/sys/module/nf_conntrack/parameters/hashsize', 'utf8').catch(() => 'absent'),
      };
      assert(JSON.stringify(now) === JSON.stringify(host), `changed: ${JSON.stringify(host)} -> ${JSON.stringify(now)}`);
      // The host's values may already exceed the ConfigMap's, so the decision itself is checked too:
      // PID 1 in the container is the proxy, yet it must know it is not in the host's namespace.
      assert(log.includes('Not in the initial network namespace'), `the proxy did not detect its namespace:\n${log.slice(-2000)}`);
    });

    await check('SIGTERM (podman stop): the container exits 0 and leaves its rules, as upstream', async () => {
      assert(container && container.exitCode === null, 'container not running');
      const exited = new Promise<number | null>((r) => container!.on('close', (code) => r(code)));
      await podman(['stop', '-t', '20', name], { allowFailure: true, timeoutMs: 60_000 });
      const code = await exited;
      assert(code === 0, `exit ${code}:\n${log.slice(-3000)}`);
      const rules = await imageTool(world.ns('node'), ['nft', 'list', 'tables']);
      assert(/kube-proxy/.test(rules), `no kube-proxy table after stop: ${rules}`);
    });

    await check('--cleanup from the image leaves nothing in the namespace', async () => {
      const r = await runInImage(world.ns('node'), ['--cleanup'], ['--privileged']);
      assert(r.code === 0, `--cleanup exit ${r.code}: ${r.stderr.slice(-2000)}`);
      const nft = await imageTool(world.ns('node'), ['nft', 'list', 'ruleset']);
      assert(!/kube-proxy|KUBE-/.test(nft), `nft ruleset still has kube-proxy objects:\n${nft.slice(0, 2000)}`);
      for (const save of ['iptables-save', 'ip6tables-save']) {
        const t = await imageTool(world.ns('node'), [save]);
        assert(!/KUBE-/.test(t), `${save} still has KUBE- chains`);
      }
      const sets = await imageTool(world.ns('node'), ['ipset', 'list', '-n']);
      assert(!/KUBE-/.test(sets), `ipsets left: ${sets}`);
    });
  } catch (e) {
    results.push({ name: 'set-up', ok: false, err: (e as Error).message });
    process.stdout.write(`not ok - set-up\n  # ${(e as Error).message}\n`);
  } finally {
    await podman(['rm', '-f', '-t', '0', name], { allowFailure: true });
    await world.destroy();
    await rmDir(tmp);
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stdout.write(`not ok - image test\n  # ${(e as Error).stack ?? String(e)}\n0 passed, 1 failed\n`);
    process.exit(1);
  },
);
