// IPVS dataplane: apply, probe, cleanup around the pure planner/diff - the mode's only I/O, every
// tool (ipvsadm, ipset, ip, iptables of the detected backend) run through one ToolRunner. Order of one sync, chosen so
// that a failing step leaves every service either as before or fully updated, or at worst with
// the union of its old and new real servers (never with none it should have):
//   1. ipset restore -exist: create sets (full sync) and add new entries (harmless early);
//   2. the virtual and real servers, as `ipvsadm -R` lines sent over one generic netlink socket in
//      batches (kernel/ipvs/netlink.ts; `ipvsadm -R` itself where that socket is unavailable):
//      add/edit virtual servers, add/re-weight real servers, then delete real servers (UDP/SCTP)
//      and stale virtual servers - per service additions strictly precede removals;
//   3. ip -batch: bind new VIPs to kube-ipvs0 (after their virtual server exists);
//   4. iptables-restore -w 5 --noflush: our chains (only when the text changed, or on full syncs),
//      with the backend (nft or legacy) detected as in iptables mode (src/kernel/iptables/tools.ts);
//   5. ip -batch: unbind stale VIPs; ipset restore: delete stale entries.
// Any failure throws and forces the next sync to be full, which re-reads the kernel
// (ipvsadm -S -n, ipset save, ip -j addr, iptables-save) and converges from there.

import * as os from 'node:os';
import type { IPFamily, ProxyState } from '../../model/types.js';
import type { DataplaneConfig } from '../config.js';
import type { CleanupOptions, Dataplane, SyncOptions, SyncResult } from '../types.js';
import { ExecError, realRunner, type ExecOptions, type ExecResult, type ToolRunner } from '../../kernel/runner.js';
import { ensureSysctl as ensureSysctlDefault } from '../../node/sysctl.js';
import { createLogger } from '../../log/logger.js';
import { metrics } from '../../metrics/metrics.js';
import { needsLocalAddresses, planIpvs, type IpvsOps, type PendingRS, diffIpvs, dropDrained } from './planner.js';
import { IpvsUnavailableError, ipvsadmRestore, ipvsUnavailableText, vsSpec } from '../../kernel/ipvs/ipvsadm.js';
import type { IpvsState } from '../../kernel/ipvs/types.js';
import { openIpvsNetlink, type IpvsNetlink } from '../../kernel/ipvs/netlink.js';
import { parseLocalAddresses, parseIpAddrJson, parseIpvsadmConnCounts, parseIpvsadmSave } from '../../kernel/ipvs/parse.js';
import { ipsetExists, ipsetHas, ipsetNames, ipsetRestore, ipsetSave } from '../../kernel/ipset/ipset.js';
import { parseIpsetSave } from '../../kernel/ipset/parse.js';
import { renderIpvsText } from './render.js';
import { DUMMY_DEVICE, JUMPS, SET_INFO, setName, setSpecs } from './layout.js';
import { cleanupIptablesLeftovers } from '../shared/iptables-cleanup.js';
import { insertJumps, jumpArgs, missingJumpsInSave, type TableLine } from '../../kernel/iptables/jumps.js';
import { WAIT, backendTools, type BackendChoice, type Tools } from '../../kernel/iptables/tools.js';

export { insertJumps } from '../../kernel/iptables/jumps.js';

const log = createLogger('proxier_ipvs');

/** How long drained TCP real servers are re-checked at the latest (upstream rsCheckDeleteInterval). */
export const DRAIN_CHECK_MS = 60_000;
/** How often a mode switch re-counts the IPVS connections it waits for. */
const DRAIN_POLL_MS = 1000;

export interface IpvsDataplaneOptions {
  /** Runs every tool (sync, probe, cleanup; tests inject a fake); default: the real runner. */
  readonly run?: ToolRunner;
  /** Drain re-check period in ms (default 60 s); 0 disables the timer. */
  readonly drainCheckMs?: number;
  /** Sysctl writer (tests inject one); default node/sysctl ensureSysctl. */
  readonly sysctl?: (name: string, value: number) => Promise<unknown>;
  /** iptables backend; 'auto' (default) detects it through `run`, exactly as iptables mode does. */
  readonly backend?: BackendChoice;
  /**
   * How virtual and real servers are written: 'netlink' (one generic netlink socket, batched; falls
   * back to ipvsadm where it cannot be opened) or 'ipvsadm' (`ipvsadm -R` through `run`). Default:
   * 'netlink', or 'ipvsadm' when `run` is given (a fake runner stands for a kernel the socket would
   * not reach).
   */
  readonly applier?: 'netlink' | 'ipvsadm';
}

/** Kernel "major.minor" compare, for conn_reuse_mode (upstream: set 0 only on 4.1 <= kernel < 5.9). */
export function connReuseModeWanted(release: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const v = Number(m[1]) * 1000 + Number(m[2]);
  return v >= 4001 && v < 5009;
}

class IpvsDataplane implements IpvsDataplaneHandle {
  readonly mode = 'ipvs' as const;
  readonly family: IPFamily;
  private readonly run: ToolRunner;
  private applied: IpvsState | null = null;
  private appliedIptables = '';
  private pending = new Map<string, PendingRS>();
  private needFull = true;
  private initialised = false;
  private lock: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private toolMillis = 0;
  /** The iptables tools of the detected backend (nft or legacy), resolved on first use. */
  private readonly iptTools: () => Promise<Tools>;
  /** The netlink applier: null until opened (or when it cannot be: then ipvsadm -R is used). */
  private netlink: IpvsNetlink | null = null;
  private netlinkUnavailableLogged = false;

  constructor(
    private readonly cfg: DataplaneConfig,
    private readonly opts: IpvsDataplaneOptions = {},
  ) {
    this.family = cfg.family;
    this.run = opts.run ?? realRunner;
    this.iptTools = backendTools(this.family, opts.backend ?? 'auto', this.run, log);
  }

  private async tool(cmd: string, args: readonly string[], o: ExecOptions = {}): Promise<ExecResult> {
    const r = await this.run(cmd, args, o);
    this.toolMillis += r.millis;
    log.v(4).info('Ran tool', { ipFamily: this.family, tool: `${cmd} ${args.join(' ')}`, millis: Math.round(r.millis), inputLines: o.input ? o.input.split('\n').length - 1 : 0 });
    return r;
  }

  /**
   * Writes virtual/real servers (`ipvsadm -R` lines): over netlink when it opens, else ipvsadm -R.
   * Any line failing fails the sync (as a failed `ipvsadm -R` does): the next one is full.
   */
  private async applyIpvs(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    const nl = await this.openNetlink();
    if (!nl) {
      await ipvsadmRestore((c, a, o) => this.tool(c, a, o), lines);
      return;
    }
    const r = await this.onSocket(nl, () => nl.apply(lines));
    this.toolMillis += r.millis;
    log.v(4).info('Applied IPVS commands over netlink', { ipFamily: this.family, commands: lines.length, failed: r.failures.length, millis: Math.round(r.millis) });
    if (r.failures.length > 0) {
      const shown = r.failures.slice(0, 5).map((f) => `"${f.line}": ${f.code}`);
      throw new Error(`IPVS netlink: ${r.failures.length} of ${lines.length} commands failed: ${shown.join('; ')}${r.failures.length > 5 ? '; …' : ''}`);
    }
  }

  /** Runs `fn` on the open socket; a socket that failed (state unknown) is closed: a new one next time. */
  private async onSocket<T>(nl: IpvsNetlink, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      nl.close();
      this.netlink = null;
      throw e;
    }
  }

  private async openNetlink(): Promise<IpvsNetlink | null> {
    if ((this.opts.applier ?? (this.opts.run ? 'ipvsadm' : 'netlink')) !== 'netlink') return null;
    if (this.netlink) return this.netlink;
    try {
      this.netlink = await openIpvsNetlink();
      log.v(2).info('Writing IPVS virtual servers over netlink', { ipFamily: this.family });
    } catch (e) {
      // Tried again on the next write: the module may be loaded by then.
      if (!this.netlinkUnavailableLogged) log.info('IPVS netlink socket unavailable; using ipvsadm -R', { ipFamily: this.family, err: e });
      this.netlinkUnavailableLogged = true;
    }
    return this.netlink;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.lock.then(fn, fn);
    this.lock = p.catch(() => undefined);
    return p;
  }

  private async init(): Promise<void> {
    // Per network namespace: these only affect the namespace kube-proxy runs in.
    const ensureSysctl = this.opts.sysctl ?? ensureSysctlDefault;
    await ensureSysctl('net/ipv4/vs/conntrack', 1);
    if (connReuseModeWanted(os.release())) await ensureSysctl('net/ipv4/vs/conn_reuse_mode', 0);
    await ensureSysctl('net/ipv4/vs/expire_nodest_conn', 1);
    await ensureSysctl('net/ipv4/vs/expire_quiescent_template', 1);
    await ensureSysctl('net/ipv4/ip_forward', 1);
    if (this.cfg.ipvsStrictARP) {
      await ensureSysctl('net/ipv4/conf/all/arp_ignore', 1);
      await ensureSysctl('net/ipv4/conf/all/arp_announce', 2);
    }
    const t = this.cfg.ipvsTimeouts;
    if (t.tcp > 0 || t.tcpFin > 0 || t.udp > 0) {
      await this.tool('ipvsadm', ['--set', ...[t.tcp, t.tcpFin, t.udp].map((x) => String(Math.floor(x)))]);
    }
    this.initialised = true;
  }

  /** Read what the kernel holds (full sync), creating kube-ipvs0 when missing. */
  private async readKernel(ipt: Tools): Promise<{ state: IpvsState; iptablesSave: string }> {
    let addr = await this.tool('ip', ['-j', 'addr', 'show', 'dev', DUMMY_DEVICE], { allowFailure: true });
    if (addr.code !== 0) {
      await this.tool('ip', ['link', 'add', DUMMY_DEVICE, 'type', 'dummy']);
      addr = await this.tool('ip', ['-j', 'addr', 'show', 'dev', DUMMY_DEVICE]);
    }
    const [vs, sets, save] = await Promise.all([
      this.tool('ipvsadm', ['-S', '-n']),
      ipsetSave((c, a, o) => this.tool(c, a, o)),
      this.tool(ipt.bin('iptables-save'), []),
    ]);
    const names = new Set(SET_INFO.map((s) => setName(s.id, this.family)));
    return {
      state: {
        family: this.family,
        addresses: parseIpAddrJson(addr.stdout, this.family),
        virtualServers: parseIpvsadmSave(vs.stdout, this.family),
        sets: parseIpsetSave(sets.stdout, names),
      },
      iptablesSave: save.stdout,
    };
  }

  sync(state: ProxyState, opts: SyncOptions): Promise<SyncResult> {
    return this.serial(() => this.doSync(state, opts));
  }

  private async doSync(state: ProxyState, opts: SyncOptions): Promise<SyncResult> {
    const full = opts.full || this.needFull || this.applied === null;
    this.toolMillis = 0;
    this.needFull = true; // cleared only on success
    let operations = 0;
    try {
      if (!this.initialised) await this.init();
      const ipt = await this.iptTools();
      // Match-all NodePorts follow the local addresses (upstream reads them every sync too).
      let localIPs: string[] | undefined;
      if (state.nodePortAddresses.matchAll && needsLocalAddresses(state)) {
        localIPs = parseLocalAddresses((await this.tool('ip', ['-j', 'addr', 'show'])).stdout, this.family, DUMMY_DEVICE);
      }
      const plan = planIpvs(state, this.cfg, localIPs);
      let cur: IpvsState;
      let jumps: TableLine[] = [];
      if (full) {
        const k = await this.readKernel(ipt);
        cur = k.state;
        jumps = missingJumpsInSave(k.iptablesSave, JUMPS);
      } else cur = this.applied!;
      const ops: IpvsOps = diffIpvs(cur, plan, {
        createSets: full,
        sets: setSpecs(this.family),
        excludeCIDRs: this.cfg.ipvsExcludeCIDRs,
        pending: this.pending,
      });
      const tool: ToolRunner = (c, a, o) => this.tool(c, a, o);
      await ipsetRestore(tool, ops.setAdds, { exist: true });
      await this.applyIpvs(ops.ipvs);
      if (ops.addrAdds.length > 0) await this.tool('ip', ['-batch', '-'], { input: ops.addrAdds.join('\n') + '\n' });
      if (full || plan.iptables !== this.appliedIptables) {
        let text = plan.iptables;
        if (jumps.length > 0) text = insertJumps(text, jumps);
        try {
          await this.tool(ipt.bin('iptables-restore'), [...WAIT, '--noflush'], { input: text });
        } catch (e) {
          metrics.iptablesRestoreFailuresTotal.inc();
          throw e;
        }
        operations += text.split('\n').length;
      }
      if (ops.addrDels.length > 0) await this.tool('ip', ['-batch', '-'], { input: ops.addrDels.join('\n') + '\n' });
      await ipsetRestore(tool, ops.setDels, { exist: true });
      operations += ops.setAdds.length + ops.ipvs.length + ops.addrAdds.length + ops.addrDels.length + ops.setDels.length;
      this.applied = ops.next;
      this.appliedIptables = plan.iptables;
      this.pending = new Map(ops.pending);
      if (this.pending.size > 0) operations += await this.drainCheck();
      this.needFull = false;
      this.armTimer();
      return { full, operations, toolMillis: this.toolMillis };
    } catch (e) {
      log.error('IPVS sync failed; the next sync will be full', { ipFamily: this.family, err: e });
      throw e;
    }
  }

  /** Delete drained TCP real servers that have no connections left. Returns lines sent. */
  private async drainCheck(): Promise<number> {
    if (this.pending.size === 0 || !this.applied) return 0;
    const vss = new Map<string, PendingRS>();
    for (const p of this.pending.values()) vss.set(p.vsKey, p);
    let counts: Map<string, number>;
    const nl = await this.openNetlink();
    if (nl) {
      // One dump of the real servers of each draining service, over the socket (no process).
      const r = await this.onSocket(nl, () => nl.connCounts([...vss.values()].map((p) => ({ protocol: p.protocol, ip: p.vip, port: p.vport }))));
      this.toolMillis += r.millis;
      counts = r.counts;
    } else {
      // Few draining services: list just those (cheap at 10k services); many: one full listing.
      const lists =
        vss.size <= 4
          ? await Promise.all([...vss.values()].map((p) => this.tool('ipvsadm', ['-L', '-n', ...vsSpec({ protocol: p.protocol, ip: p.vip, port: p.vport }).split(' ')], { allowFailure: true })))
          : [await this.tool('ipvsadm', ['-L', '-n'])];
      counts = parseIpvsadmConnCounts(lists.map((l) => l.stdout).join('\n'));
    }
    const done = [...this.pending.keys()].filter((k) => (counts.get(k) ?? 0) === 0);
    if (done.length === 0) return 0;
    const r = dropDrained(this.applied, this.pending, done);
    await this.applyIpvs(r.lines);
    this.applied = r.next;
    this.pending = r.pending;
    log.v(2).info('Deleted drained real servers', { ipFamily: this.family, count: r.lines.length });
    return r.lines.length;
  }

  private armTimer(): void {
    const period = this.opts.drainCheckMs ?? DRAIN_CHECK_MS;
    if (this.pending.size === 0 || period <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      void this.serial(async () => {
        if (this.needFull) return;
        try {
          await this.drainCheck();
        } catch (e) {
          this.needFull = true;
          log.error('Graceful termination check failed', { ipFamily: this.family, err: e });
        }
        if (this.pending.size === 0 && this.timer) {
          clearInterval(this.timer);
          this.timer = null;
        }
      });
    }, period);
    this.timer.unref();
  }

  /** Real servers currently draining ("vsKey/rsKey"), for tests and logs. */
  drainingRealServers(): string[] {
    return [...this.pending.keys()].sort();
  }

  /**
   * Canaries of what someone else may wipe: kube-ipvs0 (`ip link del`), the nat PREROUTING jump
   * (`iptables -t nat -F`), and — since syncs are partial, from what was applied — one programmed
   * virtual server (`ipvsadm -C`) and one entry of the ClusterIP set (`ipset flush`; `ipset list -n`
   * alone sees only `ipset destroy`). Upstream's IPVS proxier reconciles all of it on every sync; we
   * check one of each and do a full sync (which re-reads the kernel) when one is gone.
   */
  async detectDrift(): Promise<boolean> {
    const missing = (what: string): boolean => {
      log.info('IPVS drift: missing, forcing a full sync', { ipFamily: this.family, what });
      return true;
    };
    const link = await this.run('ip', ['link', 'show', 'dev', DUMMY_DEVICE], { allowFailure: true });
    if (link.code !== 0) return missing(`dummy device ${DUMMY_DEVICE}`);
    const clusterSet = setName('clusterIP', this.family);
    if (!(await ipsetExists(this.run, clusterSet))) return missing(`ipset ${clusterSet}`);
    const j = JUMPS[1]!; // nat PREROUTING -> KUBE-SERVICES
    const ipt = await this.iptTools();
    const chk = await this.run(ipt.bin('iptables'), [...WAIT, '-t', j.table, '-C', j.src, ...jumpArgs(j)], {
      allowFailure: true,
    });
    if (chk.code !== 0) return missing(`${j.table} ${j.src} jump`);
    const applied = this.applied;
    if (applied === null) return false;
    const vs = applied.virtualServers.values().next();
    if (!vs.done) {
      const spec = vsSpec(vs.value);
      const r = await this.run('ipvsadm', ['-L', '-n', ...spec.split(' ')], { allowFailure: true });
      if (r.code !== 0) return missing(`virtual server ${spec}`);
    }
    const entry = applied.sets.get(clusterSet)?.values().next();
    if (entry && !entry.done) {
      if (!(await ipsetHas(this.run, clusterSet, entry.value))) return missing(`ipset ${clusterSet} entry ${entry.value}`);
    }
    return false;
  }

  render(state: ProxyState): string {
    return renderIpvsText(planIpvs(state, this.cfg));
  }

  async renderLive(state: ProxyState): Promise<string> {
    // The same local addresses doSync reads, so the plan is the one a sync would apply.
    let localIPs: string[] | undefined;
    if (state.nodePortAddresses.matchAll && needsLocalAddresses(state)) {
      localIPs = parseLocalAddresses((await this.run('ip', ['-j', 'addr', 'show'])).stdout, this.family, DUMMY_DEVICE);
    }
    return renderIpvsText(planIpvs(state, this.cfg, localIPs));
  }

  cleanup(opts: CleanupOptions = {}): Promise<void> {
    return this.serial(() => this.doCleanup(opts));
  }

  /** Live IPVS connections (`ipvsadm -L -n -c`) whose virtual address is of this family. */
  private async connectionCount(): Promise<number> {
    const r = await this.run('ipvsadm', ['-L', '-n', '-c'], { allowFailure: true });
    if (r.code !== 0) return 0;
    // Entries that carry no more traffic (TIME_WAIT, CLOSE) or are affinity templates (NONE) do
    // not hold the drain up.
    const rows = r.stdout.split('\n').filter((l) => /^(TCP|UDP|SCTP)\s/.test(l) && !/\s(TIME_WAIT|CLOSE|NONE)\s/.test(l));
    return rows.filter((l) => l.includes('[') === (this.family === 'IPv6')).length;
  }

  /**
   * After a drain: this family's virtual servers and kube-ipvs0 addresses only (the other family
   * may still be draining); the link goes with its last address.
   */
  private async removeFamilyVirtualServers(): Promise<void> {
    const vss = parseIpvsadmSave((await this.run('ipvsadm', ['-S', '-n'])).stdout, this.family);
    const lines = [...vss.values()].map((vs) => `-D ${vsSpec(vs)}`);
    await ipvsadmRestore(this.run, lines);
    const l = await this.run('ip', ['-j', 'addr', 'show', 'dev', DUMMY_DEVICE], { allowFailure: true });
    if (l.code !== 0) return;
    await this.run('ip', [this.family === 'IPv6' ? '-6' : '-4', 'addr', 'flush', 'dev', DUMMY_DEVICE]);
    const left = parseIpAddrJson((await this.run('ip', ['-j', 'addr', 'show', 'dev', DUMMY_DEVICE])).stdout, this.family === 'IPv6' ? 'IPv4' : 'IPv6');
    if (left.size === 0) await this.run('ip', ['link', 'del', DUMMY_DEVICE], { allowFailure: true });
  }

  private async doCleanup(opts: CleanupOptions): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.applied = null;
    this.pending.clear();
    this.needFull = true;
    const errors: string[] = [];
    /** Failing ipvsadm calls: when they are all the failures and all say "no IPVS", there is nothing to clean. */
    let noIpvs = 0;
    const attempt = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      try {
        await fn();
      } catch (e) {
        errors.push(`${what}: ${(e as Error).message}`);
        // Only ipvsadm prints this (also when run through `ip netns exec`).
        if (e instanceof ExecError && ipvsUnavailableText(e.result.stderr)) noIpvs++;
      }
    };
    const drain = opts.drainMs !== undefined;
    if (!drain) {
      // As upstream: flush every virtual server of the namespace.
      await attempt('ipvsadm -C', () => this.run('ipvsadm', ['-C']));
      await attempt('kube-ipvs0', async () => {
        const l = await this.run('ip', ['link', 'show', 'dev', DUMMY_DEVICE], { allowFailure: true });
        if (l.code === 0) await this.run('ip', ['link', 'del', DUMMY_DEVICE]);
      });
    }
    // Both backends, every mode's chains (shared with iptables mode): order-independent, and what
    // an earlier partial cleanup left is no obstacle. Before the ipsets: rules reference them.
    for (const b of ['nft', 'legacy'] as const) {
      await attempt(`iptables (${b})`, () => cleanupIptablesLeftovers(this.family, b, this.run, opts.keep));
    }
    await attempt('ipset', async () => {
      const have = await ipsetNames(this.run);
      const ops = SET_INFO.map((s) => setName(s.id, this.family))
        .filter((n) => have.has(n))
        .map((set) => ({ op: 'destroy', set }) as const);
      await ipsetRestore(this.run, ops, { exist: false });
    });
    if (drain && errors.length === 0) {
      // Mode switch: new connections are NATed by the new mode before routing and never reach
      // IPVS; established ones still arrive at their (local) VIP and need their virtual server.
      const until = Date.now() + opts.drainMs!;
      let n = await this.connectionCount();
      while (n > 0 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
        n = await this.connectionCount();
      }
      log.info('Removing IPVS virtual servers left by ipvs mode', { ipFamily: this.family, connectionsLeft: n });
      await attempt('virtual servers', () => this.removeFamilyVirtualServers());
    }
    // The only failure is ipvsadm finding no IPVS in the kernel (`ipvsadm -C` in a cleanup, or the
    // `ipvsadm -S` of a mode switch's drain step).
    if (errors.length === 1 && noIpvs === 1) throw new IpvsUnavailableError(`IPVS cleanup: ${errors[0]}`);
    if (errors.length > 0) throw new Error(`IPVS cleanup: ${errors.join('; ')}`);
  }
}

/** The Dataplane plus an introspection hook for tests and logs. */
export interface IpvsDataplaneHandle extends Dataplane {
  /** Real servers currently draining, as "vsKey/rsKey" (e.g. "TCP/198.19.0.10:80/198.18.1.2:8080"). */
  drainingRealServers(): string[];
}

export function createIpvsDataplane(cfg: DataplaneConfig, opts?: IpvsDataplaneOptions): IpvsDataplaneHandle {
  return new IpvsDataplane(cfg, opts);
}
