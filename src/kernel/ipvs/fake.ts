// In-memory fakes of the IPVS mode's kernel tools, for tests without root or a kernel:
// FakeIpvs (ipvsadm -R/-S -n/-L -n/-C/--set: virtual and real servers), and FakeIpvsHost, one
// network namespace's worth of it plus ipsets (FakeIpset, src/kernel/ipset/fake.ts), kube-ipvs0
// addresses (`ip`) and iptables per family and backend (FakeIptables), answering as a ToolRunner.
// ipvsadm -R applies line by line and stops at the first error (it is not transactional). Output
// is canonical (sorted).

import type { IPFamily, Protocol } from '../../model/types.js';
import { ExecError } from '../../util/exec.js';
import { FakeIptables } from '../iptables/fake.js';
import type { ExecResult, ToolCall, ToolRunner } from '../runner.js';
import { rsLine, vsLine } from './ipvsadm.js';
import { FakeIpset } from '../ipset/fake.js';
import type { MutableVS } from './parse.js';
import { type RealServer, type VirtualServer, hostPort, rsKey, vsKey } from './types.js';

const ok = (stdout = ''): ExecResult => ({ stdout, stderr: '', code: 0, millis: 0 });
const err = (stderr: string, code = 1): ExecResult => ({ stdout: '', stderr, code, millis: 0 });

const PROTO: Record<string, Protocol> = { '-t': 'TCP', '--tcp-service': 'TCP', '-u': 'UDP', '--udp-service': 'UDP', '--sctp-service': 'SCTP' };

function splitHostPort(s: string): { ip: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (!m) throw new Error(`invalid address ${s}`);
  return { ip: m[1]!.toLowerCase(), port: Number(m[2]) };
}

export class FakeIpvs {
  readonly services = new Map<string, MutableVS>();
  timeouts = { tcp: 900, tcpFin: 120, udp: 300 };

  /** One `ipvsadm -R` line (or the argv of one ipvsadm call). Throws on error, like ipvsadm. */
  apply(t: readonly string[]): void {
    const op = t[0];
    if (op === '-C') {
      this.services.clear();
      return;
    }
    const proto = PROTO[t[1] ?? ''];
    if (!proto) throw new Error(`unsupported ipvsadm line: ${t.join(' ')}`);
    const addr = splitHostPort(t[2] ?? '');
    const key = vsKey(proto, addr.ip, addr.port);
    const opt = (name: string): string | undefined => {
      const i = t.indexOf(name);
      return i >= 0 ? t[i + 1] : undefined;
    };
    const vs = this.services.get(key);
    switch (op) {
      case '-A':
      case '-E': {
        if (op === '-A' && vs) throw new Error('Service already exists');
        if (op === '-E' && !vs) throw new Error('No such service');
        const props = {
          scheduler: opt('-s') ?? 'wlc',
          persistence: t.includes('-p') ? Number(opt('-p') ?? 300) : 0,
          flags: (opt('-b') ?? '').split(',').filter((f) => f !== '').sort(),
        };
        if (vs) Object.assign(vs, props);
        else this.services.set(key, { protocol: proto, ip: addr.ip, port: addr.port, ...props, reals: new Map() });
        return;
      }
      case '-D':
        if (!vs) throw new Error('No such service');
        this.services.delete(key);
        return;
      case '-a':
      case '-e':
      case '-d': {
        if (!vs) throw new Error('Service not defined');
        const r = splitHostPort(opt('-r') ?? '');
        const rk = rsKey(r.ip, r.port);
        const have = vs.reals.get(rk);
        if (op === '-a' && have) throw new Error('Destination already exists');
        if (op !== '-a' && !have) throw new Error('No such destination');
        if (op === '-d') vs.reals.delete(rk);
        else vs.reals.set(rk, { ip: r.ip, port: r.port, weight: Number(opt('-w') ?? 1) });
        return;
      }
      default:
        throw new Error(`unsupported ipvsadm line: ${t.join(' ')}`);
    }
  }

  /** `ipvsadm -R` input, line by line; the first failing line stops it (earlier lines stay). */
  restore(input: string): void {
    const lines = input.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const t = lines[i]!.trim().split(/\s+/).filter((x) => x !== '');
      if (t.length === 0) continue;
      try {
        this.apply(t);
      } catch (e) {
        throw new Error(`line ${i + 1}: ${(e as Error).message}`);
      }
    }
  }

  private sorted(): MutableVS[] {
    return [...this.services.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, v]) => v);
  }

  /** `ipvsadm -S -n`, canonical: virtual servers and their real servers sorted by key. */
  save(): string {
    const out: string[] = [];
    for (const vs of this.sorted()) {
      const v: VirtualServer = vs;
      out.push(vsLine('-A', v));
      for (const rk of [...vs.reals.keys()].sort()) out.push(rsLine('-a', v, vs.reals.get(rk)!));
    }
    return out.length > 0 ? out.join('\n') + '\n' : '';
  }

  /** `ipvsadm -L -n` (no connections in a fake: ActiveConn and InActConn are 0). */
  list(): string {
    const out = ['IP Virtual Server version 1.2.1 (size=4096)', 'Prot LocalAddress:Port Scheduler Flags', '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn'];
    for (const vs of this.sorted()) {
      out.push(`${vs.protocol}  ${hostPort(vs.ip, vs.port)} ${vs.scheduler}`);
      for (const rk of [...vs.reals.keys()].sort()) out.push(`  -> ${rk}              Masq    ${vs.reals.get(rk)!.weight}      0          0`);
    }
    return out.join('\n') + '\n';
  }

  handle(args: readonly string[], input: string | undefined): ExecResult {
    try {
      if (args[0] === '-R') this.restore(input ?? '');
      else if (args[0] === '-S') return ok(this.save());
      else if (args[0] === '-L' && args.includes('-c')) return ok('IPVS connection entries\npro expire state       source             virtual            destination\n');
      else if (args[0] === '-L') return ok(this.list());
      else if (args[0] === '--set') this.timeouts = { tcp: Number(args[1]), tcpFin: Number(args[2]), udp: Number(args[3]) };
      else this.apply(args);
      return ok();
    } catch (e) {
      return err(`${(e as Error).message}\n`, 2);
    }
  }
}

const IPTABLES_TOOL = /^(ip6?)tables(?:-(nft|legacy))?(-save|-restore)?$/;

/**
 * One network namespace for IPVS mode (and iptables mode): IPVS, ipsets, links with addresses
 * (kube-ipvs0 and `hostLinks`), and iptables per family and backend. `run` is its ToolRunner.
 */
export class FakeIpvsHost {
  readonly ipvs = new FakeIpvs();
  readonly ipset = new FakeIpset();
  /** Link name -> addresses ("198.19.0.10/32"). */
  readonly links = new Map<string, Set<string>>();
  private readonly iptables = new Map<string, FakeIptables>();

  constructor(hostLinks: Readonly<Record<string, readonly string[]>> = {}) {
    for (const [n, addrs] of Object.entries(hostLinks)) this.links.set(n, new Set(addrs));
  }

  /** The iptables of one family and backend. */
  ipt(family: IPFamily, backend: 'nft' | 'legacy' = 'nft'): FakeIptables {
    const k = `${family}/${backend}`;
    let t = this.iptables.get(k);
    if (!t) this.iptables.set(k, (t = new FakeIptables()));
    return t;
  }

  /** Every kernel object, canonical: for "incremental equals full" comparisons. */
  dump(): string {
    const parts = ['# ipvsadm -S -n', this.ipvs.save(), '# ipset save', this.ipset.save()];
    for (const n of [...this.links.keys()].sort()) parts.push(`# link ${n}`, [...this.links.get(n)!].sort().join('\n'));
    for (const k of [...this.iptables.keys()].sort()) parts.push(`# iptables ${k}`, this.iptables.get(k)!.save());
    return parts.join('\n');
  }

  private ip(args: readonly string[], input: string | undefined): ExecResult {
    const a = [...args];
    let json = false;
    let fam: '4' | '6' | undefined;
    while (a[0]?.startsWith('-') && a[0] !== '-batch') {
      const f = a.shift()!;
      if (f === '-j') json = true;
      else if (f === '-4') fam = '4';
      else if (f === '-6') fam = '6';
    }
    if (a[0] === '-batch') {
      const lines = (input ?? '').split('\n').filter((l) => l.trim() !== '');
      for (let i = 0; i < lines.length; i++) {
        const r = this.ip(lines[i]!.trim().split(/\s+/), undefined);
        if (r.code !== 0) return err(`Command failed -:${i + 1}\n${r.stderr}`);
      }
      return ok();
    }
    const dev = a.includes('dev') ? a[a.indexOf('dev') + 1] : undefined;
    const isV6 = (addr: string): boolean => addr.includes(':');
    const noDev = (): ExecResult => err(`Device "${dev}" does not exist.\n`);
    if (a[0] === 'link') {
      if (a[1] === 'add') {
        const name = a[2]!;
        if (this.links.has(name)) return err('RTNETLINK answers: File exists\n', 2);
        this.links.set(name, new Set());
        return ok();
      }
      if (a[1] === 'show') return dev !== undefined && !this.links.has(dev) ? noDev() : ok(`1: ${dev}: <BROADCAST,NOARP> mtu 1500\n`);
      if (a[1] === 'del') {
        const name = a[2] === 'dev' ? a[3]! : a[2]!;
        if (!this.links.delete(name)) return err(`Cannot find device "${name}"\n`);
        return ok();
      }
    }
    if (a[0] === 'addr' || a[0] === 'address') {
      if (a[1] === 'show') {
        if (dev !== undefined && !this.links.has(dev)) return noDev();
        const names = dev !== undefined ? [dev] : [...this.links.keys()];
        if (!json) return ok(names.join('\n') + '\n');
        return ok(
          JSON.stringify(
            names.map((n) => ({
              ifname: n,
              addr_info: [...this.links.get(n)!].map((x) => ({ family: isV6(x) ? 'inet6' : 'inet', local: x.split('/')[0], prefixlen: Number(x.split('/')[1]) })),
            })),
          ),
        );
      }
      if (a[1] === 'add' || a[1] === 'del') {
        const l = this.links.get(dev ?? '');
        if (!l) return noDev();
        if (a[1] === 'add') {
          if (l.has(a[2]!)) return err('RTNETLINK answers: File exists\n', 2);
          l.add(a[2]!);
        } else if (!l.delete(a[2]!)) return err('RTNETLINK answers: Cannot assign requested address\n', 2);
        return ok();
      }
      if (a[1] === 'flush') {
        const l = this.links.get(dev ?? '');
        if (!l) return noDev();
        for (const x of [...l]) if (fam === undefined || (fam === '6') === isV6(x)) l.delete(x);
        return ok();
      }
    }
    return err(`fake ip: unsupported: ${args.join(' ')}\n`);
  }

  private answer(call: ToolCall): ExecResult {
    const base = call.command.split('/').pop()!;
    if (base === 'ipvsadm') return this.ipvs.handle(call.args, call.input);
    if (base === 'ipset') return this.ipset.handle(call.args, call.input);
    if (base === 'ip') return this.ip(call.args, call.input);
    const m = IPTABLES_TOOL.exec(base);
    if (m) {
      const t = this.ipt(m[1] === 'ip6' ? 'IPv6' : 'IPv4', (m[2] as 'nft' | 'legacy' | undefined) ?? 'nft');
      return t.handle(call, m[3] === '-save' ? 'iptables-save' : m[3] === '-restore' ? 'iptables-restore' : 'iptables');
    }
    return err(`fake host: no such tool ${call.command}\n`, 127);
  }

  /** Tool calls answered so far (command and first argument), for tests that count them. */
  readonly calls: ToolCall[] = [];

  readonly run: ToolRunner = async (command, args, opts = {}) => {
    const call: ToolCall = { command, args: [...args], ...(opts.input !== undefined ? { input: opts.input } : {}) };
    this.calls.push(call);
    const r = this.answer(call);
    if (r.code !== 0 && !opts.allowFailure) throw new ExecError(command, args, r);
    return r;
  };
}
