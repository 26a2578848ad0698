// Exponential backoff with jitter and reset, as client-go's exponentialBackoffManager (the reflector's:
// 0.8 s initial, x2, 30 s cap, jitter 1.0, reset when the last backoff is older than 2 minutes).

export interface BackoffOptions {
  readonly initialMs?: number;
  readonly maxMs?: number;
  readonly factor?: number;
  /** Adds up to jitter*delay of random extra delay. */
  readonly jitter?: number;
  /** Start over from initialMs when the previous backoff was this long ago (a healthy period). */
  readonly resetAfterMs?: number;
}

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly resetAfterMs: number;
  private current = 0;
  private lastAt = 0;

  constructor(opts: BackoffOptions = {}, private readonly now: () => number = Date.now, private readonly random: () => number = Math.random) {
    this.initialMs = opts.initialMs ?? 800;
    this.maxMs = opts.maxMs ?? 30_000;
    this.factor = opts.factor ?? 2;
    this.jitter = opts.jitter ?? 1;
    this.resetAfterMs = opts.resetAfterMs ?? 120_000;
  }

  /** The delay before the next attempt. */
  next(): number {
    const t = this.now();
    if (this.current === 0 || t - this.lastAt > this.resetAfterMs) this.current = this.initialMs;
    else this.current = Math.min(this.maxMs, this.current * this.factor);
    this.lastAt = t;
    return Math.min(this.maxMs, this.current) + this.random() * this.jitter * Math.min(this.maxMs, this.current);
  }

  reset(): void {
    this.current = 0;
  }
}
