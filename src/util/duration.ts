// Go durations (time.ParseDuration / Duration.String), exactly as kube-proxy reads and writes them
// in flags (`--iptables-sync-period=1h2m3s`) and config files (`syncPeriod: 30s`).
// Values are nanoseconds as bigint: Go durations are int64 ns, which a double cannot hold exactly.

const UNITS: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['us', 1_000n],
  ['\u00b5s', 1_000n], // U+00B5 micro sign
  ['\u03bcs', 1_000n], // U+03BC Greek mu
  ['ms', 1_000_000n],
  ['s', 1_000_000_000n],
  ['m', 60_000_000_000n],
  ['h', 3_600_000_000_000n],
]);

const MAX_NEG = 1n << 63n; // |min int64|
const MAX_POS = MAX_NEG - 1n;

export const NS_PER_MS = 1_000_000n;
export const NS_PER_SECOND = 1_000_000_000n;

/** Go's time.quote: ASCII printable kept, `"` and `\` escaped, other bytes as \xNN. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp >= 0x80 || cp < 0x20) {
      for (const b of Buffer.from(ch, 'utf8')) out += '\\x' + b.toString(16).padStart(2, '0');
    } else {
      if (ch === '"' || ch === '\\') out += '\\';
      out += ch;
    }
  }
  return out + '"';
}

export class DurationError extends Error {}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

/** Parse like Go's time.ParseDuration; returns nanoseconds or throws DurationError with Go's message. */
export function parseDuration(orig: string): bigint {
  const invalid = (): DurationError => new DurationError(`time: invalid duration ${goQuote(orig)}`);
  let s = orig;
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw invalid();
  let d = 0n;
  while (s !== '') {
    if (!(s[0] === '.' || isDigit(s[0]))) throw invalid();
    // Integer part; overflow beyond 2^63 is an error, as in Go's leadingInt.
    let i = 0;
    let v = 0n;
    while (isDigit(s[i])) {
      if (v > MAX_NEG / 10n) throw invalid();
      v = v * 10n + BigInt(s.charCodeAt(i) - 48);
      if (v > MAX_NEG) throw invalid();
      i++;
    }
    const pre = i > 0;
    s = s.slice(i);
    // Fraction: stops accumulating precision on overflow, like Go's leadingFraction.
    let post = false;
    let f = 0n;
    let scale = 1;
    if (s !== '' && s[0] === '.') {
      s = s.slice(1);
      let j = 0;
      let overflow = false;
      while (isDigit(s[j])) {
        if (!overflow) {
          if (f > MAX_POS / 10n) overflow = true;
          else {
            const y = f * 10n + BigInt(s.charCodeAt(j) - 48);
            if (y > MAX_NEG) overflow = true;
            else {
              f = y;
              scale *= 10;
            }
          }
        }
        j++;
      }
      post = j > 0;
      s = s.slice(j);
    }
    if (!pre && !post) throw invalid();
    let k = 0;
    while (k < s.length && !(s[k] === '.' || isDigit(s[k]))) k++;
    if (k === 0) throw new DurationError(`time: missing unit in duration ${goQuote(orig)}`);
    const u = s.slice(0, k);
    s = s.slice(k);
    const unit = UNITS.get(u);
    if (unit === undefined) throw new DurationError(`time: unknown unit ${goQuote(u)} in duration ${goQuote(orig)}`);
    if (v > MAX_NEG / unit) throw invalid();
    v *= unit;
    if (f > 0n) {
      // Go uses float64 here too ("nanosecond accurate for fractions of hours").
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > MAX_NEG) throw invalid();
    }
    d += v;
    if (d > MAX_NEG) throw invalid();
  }
  if (neg) return -d;
  if (d > MAX_POS) throw invalid();
  return d;
}

/** Fraction of v/10^prec without trailing zeros (".5"), and the integer part. */
function fmtFrac(v: bigint, prec: number): { frac: string; rest: bigint } {
  let digits = '';
  let print = false;
  for (let i = 0; i < prec; i++) {
    const digit = v % 10n;
    print = print || digit !== 0n;
    if (print) digits = digit.toString() + digits;
    v /= 10n;
  }
  return { frac: print ? '.' + digits : '', rest: v };
}

/** Format like Go's Duration.String(): "0s", "1.5s", "300ms", "1m0s", "24h0m0s", "-1s". */
export function formatDuration(ns: bigint): string {
  const neg = ns < 0n;
  let u = neg ? -ns : ns;
  let out: string;
  if (u < NS_PER_SECOND) {
    if (u === 0n) return '0s';
    let prec: number;
    let unit: string;
    if (u < 1_000n) {
      prec = 0;
      unit = 'ns';
    } else if (u < NS_PER_MS) {
      prec = 3;
      unit = '\u00b5s';
    } else {
      prec = 6;
      unit = 'ms';
    }
    const { frac, rest } = fmtFrac(u, prec);
    out = rest.toString() + frac + unit;
  } else {
    const { frac, rest } = fmtFrac(u, 9);
    u = rest;
    out = (u % 60n).toString() + frac + 's';
    u /= 60n;
    if (u > 0n) {
      out = (u % 60n).toString() + 'm' + out;
      u /= 60n;
      if (u > 0n) out = u.toString() + 'h' + out;
    }
  }
  return neg ? '-' + out : out;
}

/** Nanoseconds to (possibly fractional) milliseconds for timers. */
export function durationToMs(ns: bigint): number {
  return Number(ns) / 1e6;
}

/** A configured Go duration in whole seconds; null/empty -> 0 (unset); an invalid one throws DurationError. */
export function durationSeconds(d: string | null | undefined): number {
  if (!d) return 0;
  return Number(parseDuration(d) / NS_PER_SECOND);
}
