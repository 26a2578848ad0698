// Feature gate resolution as kube-proxy's gate does it (component-base/featuregate SetFromMap,
// called at the end of Options.Complete with config.featureGates): unknown names and locked gates
// set away from their default are errors, AllAlpha / AllBeta set every gate of that stage that is
// not named explicitly, and an enabled gate whose dependencies are disabled fails the set.
// Used for both --feature-gates and the config file's featureGates (the flag fills that field).

import { ALL_ALPHA, ALL_BETA, FEATURE_GATES, GATE_DEPENDENCIES, type GateSpec } from './feature-gate-registry.js';

export interface FeatureGates {
  /** Whether a known gate is on; throws for a name the registry does not hold (a programming error, as upstream panics). */
  enabled(name: string): boolean;
}

export type GateResolution = { ok: true; gates: FeatureGates; warnings: string[] } | { ok: false; message: string };

function spec(name: string): GateSpec | undefined {
  return FEATURE_GATES.get(name);
}

/** The effective value of every gate the request touches (explicitly, or through AllAlpha / AllBeta). */
function applyRequested(requested: Readonly<Record<string, boolean>>): { enabled: Map<string, boolean>; errors: string[]; warnings: string[] } {
  const enabled = new Map<string, boolean>();
  const errors: string[] = [];
  const warnings: string[] = [];
  // Own keys only, in the order given (upstream walks a Go map, in random order).
  for (const [name, value] of Object.entries(requested)) {
    const s = spec(name);
    if (!s) {
      // Upstream returns at the first unknown gate, with the errors collected so far.
      errors.push(`unrecognized feature gate: ${name}`);
      return { enabled, errors, warnings };
    }
    if (s.lockToDefault && s.default !== value) {
      errors.push(`cannot set feature gate ${name} to ${value}, feature is locked to ${s.default}`);
      continue;
    }
    if (name === ALL_ALPHA || name === ALL_BETA) {
      const stage = name === ALL_ALPHA ? 'ALPHA' : 'BETA';
      // Only gates not yet set; an explicit value given later overwrites, so explicit always wins.
      for (const [g, gs] of FEATURE_GATES) {
        if (g !== ALL_ALPHA && g !== ALL_BETA && gs.preRelease === stage && !enabled.has(g)) enabled.set(g, value);
      }
      enabled.set(name, value);
      continue;
    }
    enabled.set(name, value);
    if (s.preRelease === 'DEPRECATED') warnings.push(`Setting deprecated feature gate ${name}=${value}. It will be removed in a future release.`);
    else if (s.preRelease === '') warnings.push(`Setting GA feature gate ${name}=${value}. It will be removed in a future release.`);
  }
  return { enabled, errors, warnings };
}

function lookup(enabled: ReadonlyMap<string, boolean>): FeatureGates {
  return {
    enabled(name: string): boolean {
      const v = enabled.get(name);
      if (v !== undefined) return v;
      const s = spec(name);
      if (!s) throw new Error(`feature "${name}" is not registered in FeatureGate`);
      return s.default;
    },
  };
}

/** utilerrors.NewAggregate's message: one error as is, several as "[a, b]". */
function aggregate(errors: readonly string[]): string {
  return errors.length === 1 ? (errors[0] as string) : `[${errors.join(', ')}]`;
}

/** Validate and resolve config.featureGates; the error message is upstream's (without "failed complete: "). */
export function resolveFeatureGates(requested: Readonly<Record<string, boolean>>): GateResolution {
  const { enabled, errors, warnings } = applyRequested(requested);
  if (errors.length > 0) return { ok: false, message: aggregate(errors) };
  const gates = lookup(enabled);
  const depErrors: string[] = [];
  // Default sort: UTF-16 code-unit order, which is Go's byte order for these ASCII names.
  for (const feature of [...GATE_DEPENDENCIES.keys()].sort()) {
    if (!gates.enabled(feature)) continue;
    const deps = GATE_DEPENDENCIES.get(feature) ?? [];
    const off = deps.filter((d) => !gates.enabled(d));
    if (off.length > 0) depErrors.push(`${feature} is enabled, but depends on features that are disabled: [${off.join(' ')}]`);
  }
  if (depErrors.length > 0) return { ok: false, message: aggregate(depErrors) };
  return { ok: true, gates, warnings };
}

/**
 * The gates a (possibly invalid) request resolves to, for code that runs after the request was
 * validated or that must not fail on it (logging validation); unknown and locked entries are ignored.
 */
export function featureGatesOf(requested: Readonly<Record<string, boolean>>): FeatureGates {
  const valid = Object.fromEntries(
    Object.entries(requested).filter(([name, value]) => {
      const s = spec(name);
      return s !== undefined && !(s.lockToDefault && s.default !== value);
    }),
  );
  return lookup(applyRequested(valid).enabled);
}

/** KnownFeatures(): the gates --help lists (GA and deprecated ones are hidden), byte-sorted. */
export function knownFeatures(): string[] {
  const known: string[] = [];
  for (const [name, s] of FEATURE_GATES) {
    if (s.preRelease === '' || s.preRelease === 'DEPRECATED') continue;
    known.push(`${name}=true|false (${s.preRelease} - default=${s.default})`);
  }
  return known.sort();
}
