// component-base's kubernetes_feature_enabled (featuregate AddMetrics, called by kube-proxy before it
// runs): one series per known gate, labelled with its name and stage, 1 when enabled.

import { Gauge } from 'prom-client';
import { FEATURE_GATES } from '../config/feature-gate-registry.js';
import type { FeatureGates } from '../config/feature-gates.js';
import { registry } from './metrics.js';

const featureEnabled = new Gauge({
  name: 'kubernetes_feature_enabled',
  help: 'This metric records the data about the stage and enablement of a k8s feature.',
  labelNames: ['name', 'stage'] as const,
  registers: [],
});

/** Register the family (idempotent) and set every gate's value; stage is upstream's prerelease ("" for GA). */
export function recordFeatureGates(gates: FeatureGates): void {
  if (!registry.getSingleMetric('kubernetes_feature_enabled')) registry.registerMetric(featureEnabled);
  for (const [name, spec] of FEATURE_GATES) featureEnabled.set({ name, stage: spec.preRelease }, gates.enabled(name) ? 1 : 0);
}
