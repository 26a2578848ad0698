// Input objects a source or the model refused, for the one-shot commands' exit status:
// `--print-rules` / `--dry-run` output that silently leaves an object out must not exit 0.

import { metrics } from '../metrics/metrics.js';

let sourceRejections = 0;

/** A source could not use an input (unparseable file, unsupported apiVersion, no name). */
export function noteRejectedInput(): void {
  sourceRejections++;
}

/** Rejections so far: the source's plus the model's invalid objects (kubeproxy_ts_invalid_objects_total). */
export async function rejectedInputCount(): Promise<number> {
  const m = await metrics.invalidObjectsTotal.get();
  return sourceRejections + m.values.reduce((n, v) => n + v.value, 0);
}
