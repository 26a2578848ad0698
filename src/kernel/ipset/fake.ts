// An in-memory ipset for tests without root or a kernel: `ipset restore [-exist]` (create, add,
// del, flush, destroy, swap; applied line by line, stopping at the first error, as ipset is not
// transactional), `ipset save` (canonical: sets by name, entries sorted), `list -n` and `test`.
// FakeIpvsHost (src/kernel/ipvs/fake.ts) answers ipset calls with it.

import type { ExecResult } from '../runner.js';
import { normaliseSetEntry } from './parse.js';

const ok = (stdout = ''): ExecResult => ({ stdout, stderr: '', code: 0, millis: 0 });
const err = (stderr: string, code = 1): ExecResult => ({ stdout: '', stderr, code, millis: 0 });

interface IpSet {
  header: string;
  entries: Set<string>;
}

export class FakeIpset {
  readonly sets = new Map<string, IpSet>();

  /** One ipset command (`create`, `add`, `del`, `test`, `flush`, `destroy`, `swap`); throws on error. */
  apply(t: readonly string[], exist: boolean): void {
    const [cmd, name, ...rest] = t;
    const set = this.sets.get(name ?? '');
    const need = (): IpSet => {
      if (!set) throw new Error(`The set with the given name does not exist: ${name}`);
      return set;
    };
    switch (cmd) {
      case 'create': {
        const header = rest.join(' ');
        if (set) {
          if (!exist || set.header !== header) throw new Error(`Set cannot be created: set with the same name already exists: ${name}`);
          return;
        }
        this.sets.set(name!, { header, entries: new Set() });
        return;
      }
      case 'add':
      case 'del': {
        const s = need();
        const e = normaliseSetEntry((rest[0] ?? '').toLowerCase());
        if (cmd === 'add') {
          if (s.entries.has(e) && !exist) throw new Error("Element cannot be added to the set: it's already added");
          s.entries.add(e);
        } else {
          if (!s.entries.has(e) && !exist) throw new Error("Element cannot be deleted from the set: it's not added");
          s.entries.delete(e);
        }
        return;
      }
      case 'test': {
        // ipset test exits 1 ("is NOT in set") when the entry is absent.
        if (!need().entries.has(normaliseSetEntry((rest[0] ?? '').toLowerCase()))) throw new Error(`${rest[0]} is NOT in set ${name}.`);
        return;
      }
      case 'flush':
        if (name === undefined) for (const s of this.sets.values()) s.entries.clear();
        else need().entries.clear();
        return;
      case 'destroy':
        if (name === undefined) this.sets.clear();
        else {
          need();
          this.sets.delete(name);
        }
        return;
      case 'swap': {
        const a = need();
        const b = this.sets.get(rest[0] ?? '');
        if (!b) throw new Error(`The set with the given name does not exist: ${rest[0]}`);
        this.sets.set(name!, b);
        this.sets.set(rest[0]!, a);
        return;
      }
      default:
        throw new Error(`unsupported ipset command: ${t.join(' ')}`);
    }
  }

  /** `ipset restore [-exist]`: line by line; the first failing line stops it. */
  restore(input: string, exist: boolean): void {
    const lines = input.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const t = lines[i]!.trim().split(/\s+/).filter((x) => x !== '');
      if (t.length === 0 || t[0] === 'COMMIT') continue;
      try {
        this.apply(t, exist);
      } catch (e) {
        throw new Error(`Error in line ${i + 1}: ${(e as Error).message}`);
      }
    }
  }

  /** `ipset save`, canonical: sets by name, entries sorted. */
  save(): string {
    const out: string[] = [];
    for (const name of [...this.sets.keys()].sort()) {
      const s = this.sets.get(name)!;
      out.push(`create ${name} ${s.header}`);
      for (const e of [...s.entries].sort()) out.push(`add ${name} ${e}`);
    }
    return out.length > 0 ? out.join('\n') + '\n' : '';
  }

  handle(args: readonly string[], input: string | undefined): ExecResult {
    try {
      const exist = args.includes('-exist');
      const a = args.filter((x) => x !== '-exist');
      if (a[0] === 'restore') this.restore(input ?? '', exist);
      else if (a[0] === 'save') return ok(this.save());
      else if (a[0] === 'list' && a[1] === '-n') {
        if (a[2] !== undefined) return this.sets.has(a[2]) ? ok(`${a[2]}\n`) : err(`ipset v7.17: The set with the given name does not exist\n`);
        return ok([...this.sets.keys()].sort().map((n) => n + '\n').join(''));
      } else this.apply(a, exist);
      return ok();
    } catch (e) {
      return err(`ipset v7.17: ${(e as Error).message}\n`);
    }
  }
}
