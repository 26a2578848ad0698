// Pure helpers of the end-to-end benchmark (unit-tested): min/median/max of samples, the proxy's
// klog text lines parsed into timed events, and the "where the time goes" timeline across samples.

export interface Stat3 {
  readonly count: number;
  readonly min: number;
  readonly median: number;
  readonly max: number;
}

export function stat3(xs: readonly number[]): Stat3 | null {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { count: s.length, min: s[0]!, median, max: s[s.length - 1]! };
}

export interface LogEvent {
  /** Epoch milliseconds. */
  readonly t: number;
  readonly msg: string;
  readonly fields: Readonly<Record<string, string>>;
}

// klog text: I1205 08:01:02.123456    4242 component] "message" key=value key="quoted value" …
const KLOG = /^([IWEF])(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6})\s+\d+ [^\]]*\] ("(?:[^"\\]|\\.)*")(.*)$/;
const FIELD = /(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g;

/** One klog text line (local time; the year is taken from `ref`), or null when it is not one. */
export function parseKlogLine(line: string, ref: Date = new Date()): LogEvent | null {
  const m = KLOG.exec(line);
  if (!m) return null;
  let msg: string;
  try {
    msg = JSON.parse(m[8]!) as string;
  } catch {
    return null;
  }
  const d = new Date(ref.getFullYear(), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), 0);
  const fields: Record<string, string> = {};
  for (const f of m[9]!.matchAll(FIELD)) {
    let v = f[2]!;
    if (v.startsWith('"')) {
      try {
        v = JSON.parse(v) as string;
      } catch {
        /* keep raw */
      }
    }
    fields[f[1]!] = v;
  }
  return { t: d.getTime() + Number(m[7]) / 1000, msg, fields };
}

/** A short key telling apart repeated messages that matter (per family, per kind). */
export function eventKey(e: LogEvent): string {
  const extra = [e.fields.kind, e.fields.ipFamily].filter(Boolean).join(', ');
  return extra ? `${e.msg} (${extra})` : e.msg;
}

export interface TimelineRow {
  /** Log message (with kind / family), or a marker of the harness in brackets. */
  readonly event: string;
  /** Milliseconds since the proxy process was spawned, over the samples that had the event. */
  readonly at: Stat3;
}

/**
 * The first occurrence of each event before `until` (ms since spawn), per sample, as offsets from
 * the spawn; rows ordered by median offset. `final` is appended (e.g. the first answered
 * connection). At most `maxRows` events (the earliest).
 */
export function timeline(samples: readonly { spawn: number; events: readonly LogEvent[]; untilMs: number }[], final: { event: string; ms: readonly number[] }, maxRows = 24): TimelineRow[] {
  const at = new Map<string, number[]>();
  for (const s of samples) {
    const seen = new Set<string>();
    for (const e of s.events) {
      const off = e.t - s.spawn;
      if (off > s.untilMs) break;
      const k = eventKey(e);
      if (seen.has(k)) continue;
      seen.add(k);
      const list = at.get(k) ?? [];
      list.push(Math.max(0, off));
      at.set(k, list);
    }
  }
  const rows: TimelineRow[] = [];
  for (const [event, xs] of at) {
    const s = stat3(xs);
    if (s) rows.push({ event, at: s });
  }
  rows.sort((a, b) => a.at.median - b.at.median);
  const out = rows.slice(0, maxRows);
  const f = stat3(final.ms);
  if (f) out.push({ event: final.event, at: f });
  return out;
}

/** Nearest-rank percentile (p in 0..1) of samples; NaN for none. */
export function pct(xs: readonly number[], p: number): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}
