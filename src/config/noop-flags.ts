// Flags accepted for compatibility with upstream kube-proxy that change nothing here: each one
// given gets one start-up warning, so nobody relies on an effect that is not there.

const NOOP: Readonly<Record<string, string>> = {
  profiling: 'no /debug/pprof handler is served',
  vmodule: 'per-file verbosity is not supported; use -v',
  'log-flush-frequency': 'log lines are written unbuffered',
  'log-json-info-buffer-size': 'log lines are written unbuffered',
  'log-json-split-stream': 'all log lines go to stderr',
  'log-text-info-buffer-size': 'log lines are written unbuffered',
  'log-text-split-stream': 'all log lines go to stderr',
  'show-hidden-metrics-for-version': 'no metric is hidden',
  'kube-api-content-type': 'the API client always asks for JSON',
  'config-sync-period': 'there is no periodic configuration refresh',
  'boot-id-file': 'not used by kube-proxy',
  'machine-id-file': 'not used by kube-proxy',
};

/** One warning per no-op flag present in `given` (flag names without dashes). */
export function noopFlagWarnings(given: Iterable<string>): string[] {
  const out: string[] = [];
  for (const name of given) {
    const why = NOOP[name];
    if (why !== undefined) out.push(`Flag --${name} is accepted for compatibility and has no effect in kube-proxy-ts: ${why}`);
  }
  return out;
}
