// Start-up platform checks (upstream server_linux.go platformCheckSupported, pkg/proxy/nftables
// supported.go, the iptables proxier's route_localnet set-up, the IPVS deprecation notice).
// Everything that touches the kernel goes through an injectable runner so tests can fake it.

import { promises as fsp } from 'node:fs';
import { aggregateMessages, checkBadConfig, checkBadIPConfig, type CheckContext } from '../config/checks.js';
import type { ProxyOptions } from '../config/types.js';
import { routeLocalnetNeeded } from '../dataplane/config.js';
import { detectBackend, toolName } from '../kernel/iptables/tools.js';
import { IPVS_DEPRECATION_MESSAGE } from '../events/recorder.js';
import { createLogger } from '../log/logger.js';
import { parseIPSloppy } from '../model/ip.js';
import type { IPFamily } from '../model/types.js';
import { isUnspecifiedIP } from '../node/addresses.js';
import { ensureSysctl } from '../node/sysctl.js';
import { run, type ExecResult } from '../util/exec.js';

const log = createLogger('server');

export const FAMILIES: readonly IPFamily[] = ['IPv4', 'IPv6'];
/** pkg/util/kernel NFTablesKubeProxyKernelVersion. */
export const NFTABLES_MIN_KERNEL = '5.13';
export const NFTABLES_SKIP_KERNEL_CHECK_ENV = 'KUBE_PROXY_NFTABLES_SKIP_KERNEL_VERSION_CHECK';

export interface PlatformHost {
  /** Run a tool; resolves with the result also on a non-zero exit; rejects when it cannot start. */
  run(cmd: string, args: readonly string[]): Promise<ExecResult>;
  /** The iptables backend in use (iptables-nft or iptables-legacy). */
  iptablesBackend(): Promise<'nft' | 'legacy'>;
  readFile(path: string): Promise<string>;
  exists(path: string): Promise<boolean>;
  ensureSysctl(name: string, value: number): Promise<boolean>;
  env: NodeJS.ProcessEnv;
}

export const realPlatform: PlatformHost = {
  run: (cmd, args) => run(cmd, args, { allowFailure: true, timeoutMs: 30_000 }),
  iptablesBackend: () => detectBackend(),
  readFile: (p) => fsp.readFile(p, 'utf8'),
  exists: (p) =>
    fsp.access(p).then(
      () => true,
      () => false,
    ),
  ensureSysctl,
  env: process.env,
};

export interface FamilySupport {
  readonly supported: Readonly<Record<IPFamily, boolean>>;
  /** Why a family is not supported (for the log line). */
  readonly reasons: Partial<Record<IPFamily, string>>;
}

function firstLine(r: ExecResult): string {
  return (r.stderr.trim() || r.stdout.trim()).split('\n')[0] ?? `exit ${r.code}`;
}

/** Upstream utiliptables Present(): `iptables -S POSTROUTING -t nat` works for the family. */
async function iptablesPresent(family: IPFamily, h: PlatformHost, backend: 'nft' | 'legacy'): Promise<string | null> {
  const bin = toolName('iptables', family, backend);
  try {
    const r = await h.run(bin, ['-w', '5', '-S', 'POSTROUTING', '-t', 'nat']);
    return r.code === 0 ? null : `${bin}: ${firstLine(r)}`;
  } catch (e) {
    return `${bin}: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/**
 * nftables: whether a table with a NAT chain of the family can be created (`nft --check`, nothing is
 * changed). Upstream assumes both families here and fails to start when ip6 nftables is unusable.
 */
async function nftablesPresent(family: IPFamily, h: PlatformHost): Promise<string | null> {
  const fam = family === 'IPv6' ? 'ip6' : 'ip';
  const script = `add table ${fam} kube-proxy-probe ; add chain ${fam} kube-proxy-probe probe { type nat hook postrouting priority 100 ; }`;
  try {
    const r = await h.run('nft', ['--check', script]);
    return r.code === 0 ? null : `nft: ${firstLine(r)}`;
  } catch (e) {
    return `nft: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/**
 * Upstream platformCheckSupported, per family. A kernel booted with ipv6.disable=1 has no
 * /proc/sys/net/ipv6: IPv6 is unsupported in every mode.
 */
export async function detectFamilySupport(mode: ProxyOptions['mode'], h: PlatformHost = realPlatform): Promise<FamilySupport> {
  const reasons: Partial<Record<IPFamily, string>> = {};
  const backend = mode === 'nftables' ? null : await h.iptablesBackend();
  // Both families' probes at once (each starts a tool process).
  const why = await Promise.all(
    FAMILIES.map(async (family): Promise<string | null> => {
      if (family === 'IPv6' && !(await h.exists('/proc/sys/net/ipv6'))) return 'IPv6 is disabled in the kernel (no /proc/sys/net/ipv6; ipv6.disable=1?)';
      return backend === null ? nftablesPresent(family, h) : iptablesPresent(family, h, backend);
    }),
  );
  FAMILIES.forEach((family, i) => {
    if (why[i] !== null) reasons[family] = why[i]!;
  });
  return { supported: { IPv4: reasons.IPv4 === undefined, IPv6: reasons.IPv6 === undefined }, reasons };
}

/**
 * The IP families to run, with upstream's log lines and errors: none supported is fatal, and so is
 * an unsupported primary family. The primary family is that of a non-zero --bind-address; without
 * one it is not known at this point (deliberate deviation: upstream waits for the Node object
 * first), so any supported family will do.
 */
export function chooseFamilies(mode: ProxyOptions['mode'], support: FamilySupport, bindPrimary: IPFamily | null): IPFamily[] {
  const what = mode === 'nftables' ? 'nftables' : 'iptables';
  const families = FAMILIES.filter((f) => support.supported[f]);
  if (families.length === 0) throw new Error(`${what} is not available on this host: ${FAMILIES.map((f) => support.reasons[f]).join('; ')}`);
  for (const f of FAMILIES) {
    if (!support.supported[f]) log.info(`No ${what} support for family`, { ipFamily: f, reason: support.reasons[f] });
  }
  if (bindPrimary !== null && !support.supported[bindPrimary]) throw new Error(`no support for primary IP family ${JSON.stringify(bindPrimary)}`);
  const primary = bindPrimary ?? families[0]!;
  if (families.length === 2) log.info('kube-proxy running in dual-stack mode', { 'primary ipFamily': primary });
  else log.info('kube-proxy running in single-stack mode', { ipFamily: primary });
  return families;
}

/** Kernel release "6.1.0-18-amd64" -> [6, 1]. */
function kernelMajorMinor(release: string): [number, number] | null {
  const m = /^(\d+)\.(\d+)/.exec(release.trim());
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/**
 * nftables mode preflight (knftables.New + getNFTablesInterface): nft must run and be ≥ 1.0.1, and
 * the kernel ≥ 5.13 unless KUBE_PROXY_NFTABLES_SKIP_KERNEL_VERSION_CHECK is non-empty. Throws the
 * upstream error text.
 */
export async function nftablesPreflight(h: PlatformHost = realPlatform): Promise<void> {
  let r: ExecResult;
  try {
    r = await h.run('nft', ['--version']);
  } catch (e) {
    throw new Error(`could not find nftables binary: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (r.code !== 0) throw new Error(`could not run nftables command: ${firstLine(r)}`);
  const out = r.stdout.trim();
  const m = /^nftables v(\d+)\.(\d+)\.(\d+)/.exec(out);
  if (!m || Number(m[1]) < 1 || (Number(m[1]) === 1 && Number(m[2]) === 0 && Number(m[3]) < 1)) {
    throw new Error(`nft version must be v1.0.1 or later (got ${out})`);
  }
  if ((h.env[NFTABLES_SKIP_KERNEL_CHECK_ENV] ?? '') !== '') return;
  let release: string;
  try {
    release = await h.readFile('/proc/sys/kernel/osrelease');
  } catch (e) {
    throw new Error(`could not check kernel version: ${e instanceof Error ? e.message : String(e)}`);
  }
  const v = kernelMajorMinor(release);
  if (!v) throw new Error(`could not check kernel version: cannot parse ${JSON.stringify(release.trim())}`);
  const [maj, min] = NFTABLES_MIN_KERNEL.split('.').map(Number) as [number, number];
  if (v[0] < maj || (v[0] === maj && v[1] < min)) throw new Error(`kube-proxy in nftables mode requires kernel ${NFTABLES_MIN_KERNEL} or later`);
}

/**
 * iptables mode: route_localnet=1 for localhost NodePorts (upstream NewProxier, IPv4 only; the decision
 * is src/dataplane/config.ts routeLocalnetNeeded). A failure is fatal, as upstream. `nodePortAddresses` is the effective list (`primary` resolves to
 * CIDRs of the node IPs; with no known node IP it adds none, which matches all).
 */
export async function setupRouteLocalnet(o: ProxyOptions, families: readonly IPFamily[], h: PlatformHost = realPlatform): Promise<boolean> {
  if (!routeLocalnetNeeded(o.mode, families, o.config.iptables.localhostNodePorts, o.nodePortAddresses)) return false;
  log.info(
    'Setting route_localnet=1 to allow node-ports on localhost; to change this either disable iptables.localhostNodePorts (--iptables-localhost-nodeports) or set nodePortAddresses (--nodeport-addresses) to filter loopback addresses',
  );
  await h.ensureSysctl('net/ipv4/conf/all/route_localnet', 1);
  return true;
}

/** Mode-specific start-up checks: nftables preflight (fatal), the IPVS deprecation warning. */
export async function modePreflight(o: ProxyOptions, h: PlatformHost = realPlatform): Promise<void> {
  if (o.mode === 'nftables') {
    try {
      await nftablesPreflight(h);
    } catch (e) {
      throw new Error(`unable to create proxier: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  // The Node event (reason IPVSDeprecation) is recorded by main.ts.
  if (o.mode === 'ipvs') log.warn(IPVS_DEPRECATION_MESSAGE);
}

/** The check context at start-up: `primary` nodePortAddresses resolve from --bind-address only. */
function checkContext(o: ProxyOptions, primary: IPFamily, podCIDRs: readonly string[]): CheckContext {
  const bind = parseIPSloppy(o.config.bindAddress);
  let npa: readonly string[] = o.nodePortAddresses;
  if (npa.length === 1 && npa[0] === 'primary') {
    // The Node object is not known yet; only a --bind-address names a primary IP here. Without one,
    // `primary` is taken as set (no "unset" warning) since it will resolve to the node's IPs.
    npa = bind && !isUnspecifiedIP(bind.text) ? [`${bind.text}/${bind.family === 'IPv4' ? 32 : 128}`] : ['primary'];
  }
  return { config: o.config, primary, nodePortAddresses: npa, podCIDRs, clusterCIDRs: o.clusterCIDRs };
}

/** Log checkBadConfig / checkBadIPConfig findings; throw when they are fatal. */
export function runConfigChecks(o: ProxyOptions, primary: IPFamily, dualStack: boolean, podCIDRs: readonly string[] = []): void {
  const ctx = checkContext(o, primary, podCIDRs);
  const bad = ctx.nodePortAddresses[0] === 'primary' ? [] : checkBadConfig(ctx);
  if (bad.length > 0) log.error('Kube-proxy configuration may be incomplete or incorrect', { err: aggregateMessages(bad) });
  const ip = checkBadIPConfig(ctx, dualStack);
  if (ip.errors.length === 0) return;
  if (ip.fatal) throw new Error(`kube-proxy configuration is incorrect: ${aggregateMessages(ip.errors)}`);
  log.error('Kube-proxy configuration may be incomplete or incorrect', { err: aggregateMessages(ip.errors) });
}

export interface PlatformSetup {
  /** The IP families to run (one proxier each). */
  readonly families: IPFamily[];
  readonly primary: IPFamily;
}

/**
 * Everything upstream does between loading the configuration and creating the proxier, in its
 * order: mode preflight, supported families, configuration checks, route_localnet. Throws on what
 * is fatal upstream.
 */
export async function platformSetup(o: ProxyOptions, h: PlatformHost = realPlatform): Promise<PlatformSetup> {
  // The preflight and the family probes run at once; a preflight failure is still the error reported.
  const support = detectFamilySupport(o.mode, h);
  support.catch(() => undefined);
  await modePreflight(o, h);
  const bind = parseIPSloppy(o.config.bindAddress);
  const bindPrimary = bind && !isUnspecifiedIP(bind.text) ? bind.family : null;
  const families = chooseFamilies(o.mode, await support, bindPrimary);
  const primary = bindPrimary ?? families[0]!;
  runConfigChecks(o, primary, families.length === 2);
  await setupRouteLocalnet(o, families, h);
  return { families, primary };
}
