// The thin part of --dry-run: per mode, read one family's ruleset with the kernel tools (live
// namespace or scratch namespace, through the same reader) and load a rendered ruleset into the
// scratch namespace. Parsing is in nftables.ts / iptables.ts / ipvs.ts.

import { DEFAULT_TABLE } from '../dataplane/nftables/layout.js';
import { JUMP_RULES } from '../dataplane/iptables/layout.js';
import { insertJumps, jumpRestoreSpec, missingJumpsInSave } from '../kernel/iptables/jumps.js';
import { detectBackend, toolName, WAIT, type Backend } from '../kernel/iptables/tools.js';
import { DUMMY_DEVICE, JUMPS as IPVS_JUMPS } from '../dataplane/ipvs/layout.js';
import { parseIpAddrJson } from '../kernel/ipvs/parse.js';
import type { IPFamily } from '../model/types.js';
import type { ProxyMode } from '../config/types.js';
import { run } from '../util/exec.js';
import type { Canonical } from './canonical.js';
import { iptablesCanonical, isServiceChainKey } from './iptables.js';
import { ipvsCanonical, splitIpvsRender } from './ipvs.js';
import { nftCanonical } from './nftables.js';
import type { ToolRunner } from './scratch.js';

export const liveRunner: ToolRunner = (command, args, opts) => run(command, args, opts);

export interface ModeIO {
  /** Read the family's ruleset through `runner` (the live namespace) as canonical groups. */
  read(runner: ToolRunner): Promise<Canonical>;
  /**
   * The next sync's side: `rendered` (Dataplane.render output, plus what the sync adds around it)
   * loaded into the scratch namespace and read back like the live one.
   */
  desired(scratch: ToolRunner, rendered: string): Promise<Canonical>;
  /** Kernel groups the next sync would delete although it does not write them (stale service chains). */
  owned(key: string): boolean;
}

function nftIO(family: IPFamily): ModeIO {
  const fam = family === 'IPv6' ? 'ip6' : 'ip';
  return {
    async read(runner) {
      const r = await runner('nft', ['-s', 'list', 'table', fam, DEFAULT_TABLE], { allowFailure: true, timeoutMs: 300_000 });
      if (r.code !== 0) {
        if (/No such file or directory/.test(r.stderr)) return new Map(); // nothing programmed
        throw new Error(`nft list table ${fam} ${DEFAULT_TABLE}: ${r.stderr.trim()}`);
      }
      return nftCanonical(r.stdout);
    },
    async desired(scratch, rendered) {
      await scratch('nft', ['-f', '-'], { input: rendered, timeoutMs: 300_000 });
      return this.read(scratch);
    },
    // The table is ours as a whole: every group in it is compared.
    owned: () => true,
  };
}

async function iptablesSave(runner: ToolRunner, tool: string): Promise<string> {
  return (await runner(tool, [], { timeoutMs: 300_000 })).stdout;
}

function iptablesIO(family: IPFamily, backend: Backend): ModeIO {
  return {
    read: async (runner) => iptablesCanonical(await iptablesSave(runner, toolName('iptables-save', family, backend))),
    async desired(scratch, rendered) {
      // The sync also ensures the jumps from the built-in chains (iptables/layout.ts JUMP_RULES).
      const jumps = JUMP_RULES.map((j) => ({ table: j.table, line: `-A ${j.src} ${jumpRestoreSpec(j)}` }));
      await scratch(toolName('iptables-restore', family, backend), [...WAIT, '--noflush'], { input: insertJumps(rendered, jumps), timeoutMs: 300_000 });
      return this.read(scratch);
    },
    owned: (key) => isServiceChainKey(key) || /^(nat|filter) chain [A-Z]+$/.test(key),
  };
}

function ipvsIO(family: IPFamily, excludeCIDRs: readonly string[], backend: Backend): ModeIO {
  // The backend IPVS mode writes to (detected as in iptables mode).
  const save = toolName('iptables-save', family, backend);
  const restore = toolName('iptables-restore', family, backend);
  return {
    async read(runner) {
      const [vs, sets, addr, ipt] = await Promise.all([
        runner('ipvsadm', ['-S', '-n'], { timeoutMs: 300_000 }),
        runner('ipset', ['save'], { timeoutMs: 300_000 }),
        runner('ip', ['-j', 'addr', 'show', 'dev', DUMMY_DEVICE], { allowFailure: true }),
        iptablesSave(runner, save),
      ]);
      const addresses = addr.code === 0 ? [...parseIpAddrJson(addr.stdout, family)] : [];
      return new Map([...ipvsCanonical({ ipvsadm: vs.stdout, ipset: sets.stdout, addresses }, family, excludeCIDRs), ...iptablesCanonical(ipt)]);
    },
    async desired(scratch, rendered) {
      const parts = splitIpvsRender(rendered);
      // Virtual servers, sets and addresses are already in the tools' format; only the iptables
      // part needs the round trip (its set matches need the sets to exist there).
      await scratch('ipset', ['restore', '-exist'], { input: parts.ipset + '\n' });
      await scratch(restore, [...WAIT, '--noflush'], { input: insertJumps(parts.iptables, missingJumpsInSave('', IPVS_JUMPS)) });
      const ipt = iptablesCanonical(await iptablesSave(scratch, save));
      return new Map([...ipvsCanonical({ ipvsadm: parts.ipvsadm, ipset: parts.ipset, addresses: parts.addresses }, family, excludeCIDRs), ...ipt]);
    },
    owned: (key) => /^(nat|filter) chain [A-Z]+$/.test(key) || key.startsWith('virtual-server ') || key.startsWith('ipset ') || key.startsWith('addresses '),
  };
}

export async function modeIO(mode: ProxyMode, family: IPFamily, opts: { ipvsExcludeCIDRs: readonly string[] }): Promise<ModeIO> {
  if (mode === 'nftables') return nftIO(family);
  if (mode === 'iptables') return iptablesIO(family, await detectBackend());
  return ipvsIO(family, opts.ipvsExcludeCIDRs, await detectBackend());
}
