// --write-config-to output: the effective configuration as kubeproxy.config.k8s.io/v1alpha1 YAML,
// keys sorted like upstream's encoder, readable back by load.ts with an identical result.

import { stringify } from 'yaml';
import type { KubeProxyConfiguration } from './types.js';

export function renderConfigYAML(config: KubeProxyConfiguration): string {
  // YAML 1.1 quoting rules, so strings like "yes", "0777" or "1:20" stay strings when read back by
  // load.ts (and by upstream's goyaml v2 based decoder).
  return stringify(config, { version: '1.1', sortMapEntries: true, lineWidth: 0 });
}
