// --print-rules and --dry-run: the rules each family would program for the current model, from
// scratch, with a dataplane of its own (the running proxier's dataplanes and applied states are not
// touched, and the model's pending changes are not consumed).

import type { DataplaneFactory } from '../dataplane/types.js';
import type { IPFamily } from '../model/types.js';
import type { ServiceModelLike } from './event-intake.js';
import type { FamilyInputResolver } from './family-inputs.js';

export interface RenderedRules {
  readonly family: IPFamily;
  readonly text: string;
}

export async function renderRules(
  families: readonly IPFamily[],
  deps: { readonly model: ServiceModelLike; readonly inputs: FamilyInputResolver; readonly factory: DataplaneFactory; readonly serviceCIDRs: readonly string[] },
  opts: { live?: boolean } = {},
): Promise<RenderedRules[]> {
  const out: RenderedRules[] = [];
  for (const family of families) {
    const { nodeIPs, nodePortAddresses, config } = await deps.inputs.resolve(family);
    // peek: rendering must not consume the changes the next real sync has to see.
    const { state } = deps.model.build(family, { nodeIPs, nodePortAddresses, serviceCIDRs: deps.serviceCIDRs }, { peek: true });
    const dp = deps.factory(config);
    // live (--dry-run): what a sync would apply here and now, host reads included.
    out.push({ family, text: opts.live && dp.renderLive ? await dp.renderLive(state) : dp.render(state) });
  }
  return out;
}
