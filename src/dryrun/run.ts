// --dry-run: the next sync's full ruleset (Proxier.renderRules, live) against what the kernel
// holds now, per IP family, as a diff. Exit status like diff(1): 0 same, 2 different.

import type { IPFamily } from '../model/types.js';
import type { ProxyMode } from '../config/types.js';
import { countChanges, diffCanonical, formatDiff, restrictToOwned } from './canonical.js';
import { liveRunner, modeIO } from './kernel.js';
import { ScratchNetns } from './scratch.js';

export interface DryRunResult {
  readonly text: string;
  readonly changes: number;
}

export async function dryRunDiff(mode: ProxyMode, rendered: readonly { family: IPFamily; text: string }[], opts: { ipvsExcludeCIDRs: readonly string[] }): Promise<DryRunResult> {
  let text = '';
  let changes = 0;
  for (const { family, text: rules } of rendered) {
    const io = await modeIO(mode, family, opts);
    const kernelAll = await io.read(liveRunner);
    // A fresh scratch namespace per family: the two families' iptables/ipset state must not mix.
    const scratch = await ScratchNetns.create();
    let desired;
    try {
      desired = await io.desired(scratch.run, rules);
    } finally {
      await scratch.close();
    }
    const kernel = restrictToOwned(kernelAll, desired, (k) => io.owned(k));
    const diffs = diffCanonical(kernel, desired);
    changes += countChanges(diffs);
    text += formatDiff(`${mode} ${family}`, diffs, kernel, desired);
  }
  return { text, changes };
}
