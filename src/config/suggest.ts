// "did you mean" hints for misspelt names (config fields, flags, manifest fields).

/** Case-insensitive edit distance. */
export function levenshtein(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0] as number;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j] as number;
      d[j] = Math.min((d[j] as number) + 1, (d[j - 1] as number) + 1, prev + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length] as number;
}

/** The closest of `known`, if close enough to be a typo (distance <= max(2, len/3)); else null. */
export function closest(key: string, known: readonly string[]): string | null {
  let best = '';
  let bestD = Infinity;
  for (const k of known) {
    const dist = levenshtein(key, k);
    if (dist < bestD) [best, bestD] = [k, dist];
  }
  return bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : null;
}

/** ' (did you mean "x"?)' or ''. */
export function suggest(key: string, known: readonly string[]): string {
  const best = closest(key, known);
  return best === null ? '' : ` (did you mean ${JSON.stringify(best)}?)`;
}
