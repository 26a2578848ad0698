// --write-config-to output: the effective configuration as kubeproxy.config.k8s.io/v1alpha1 YAML,
// keys sorted like upstream's encoder, readable back by load.ts with an identical result.

import { yaml } from '../util/yaml.js';
import type { KubeProxyConfiguration } from './types.js';

export function renderConfigYAML(config: KubeProxyConfiguration): string {
  const { Document, isScalar, visit } = yaml();
  // YAML 1.1 quoting rules, so strings like "yes", "0777" or "1:20" stay strings when read back by
  // load.ts (and by upstream's goyaml v2 based decoder).
  const doc = new Document(config, { version: '1.1', sortMapEntries: true });
  // A plain `<<` key is YAML 1.1's merge key (goyaml v2 and load.ts read it so); a featureGates or
  // other map key that is the string "<<" must be written quoted to read back as that string.
  visit(doc, {
    Pair(_, pair) {
      // The yaml library writes a merge-tagged key plain whatever its quoting; the str tag makes it `!!str "<<"`.
      if (isScalar(pair.key) && pair.key.value === '<<') Object.assign(pair.key, { type: 'QUOTE_DOUBLE', tag: 'tag:yaml.org,2002:str' });
    },
  });
  return doc.toString({ lineWidth: 0 });
}
