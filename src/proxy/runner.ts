// Bounded-frequency runner (upstream pkg/proxy/runner/bounded_frequency_runner.go), event-loop style.
//
// - run() queues one request; calls while one is queued coalesce.
// - At least minIntervalMs passes between the end of one requested run and the start of the next. A
//   periodic run (no request pending when it started) does not delay the next requested one: a change
//   that arrives just after a periodic resync is programmed at once instead of up to minInterval later.
//   Upstream gets the same from its runner's burst of 2 (burstSyncs) on a 1/minInterval token bucket.
// - The function runs at least every maxIntervalMs even without requests.
// - A failed run is retried: upstream retries after a fixed retryInterval (= syncPeriod); we retry with
//   exponential backoff starting at min(1 s, retryMaxMs) and capped at retryMaxMs, so a transient
//   failure is repaired in about a second instead of a whole sync period.
// - Never two runs at once; a throwing function never escapes (it counts as a failure).

import { createLogger, type Logger } from '../log/logger.js';

export interface RunnerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

type RealHandle = { immediate: NodeJS.Immediate } | { timeout: NodeJS.Timeout };

export const realClock: RunnerClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms): RealHandle => {
    // A run due now (a change, no min-sync-period wait) starts after the pending I/O callbacks
    // rather than at the next timer tick: setTimeout(0) waits at least 1 ms, often 2.
    // The runner alone must not keep the process alive; servers and sources do.
    if (ms <= 0) return { immediate: setImmediate(fn).unref() };
    return { timeout: setTimeout(fn, ms).unref() };
  },
  clearTimeout: (h) => {
    const r = h as RealHandle;
    if ('immediate' in r) clearImmediate(r.immediate);
    else clearTimeout(r.timeout);
  },
};

export interface RunnerOptions {
  readonly minIntervalMs: number;
  readonly maxIntervalMs: number;
  /** Backoff cap after failures (upstream retryInterval). */
  readonly retryMaxMs: number;
  readonly clock?: RunnerClock;
  readonly logger?: Logger;
}

export class BoundedFrequencyRunner {
  private readonly clock: RunnerClock;
  private readonly log: Logger;
  private pending = false;
  private running: Promise<void> | null = null;
  private timer: unknown = null;
  private started = false;
  private stopped = false;
  /** End time of the last run (start time of the loop before any run). */
  private lastEnd = 0;
  private hasRun = false;
  /** End time of the last run that served a request (minInterval counts from it). */
  private lastRequestedEnd = 0;
  private hasRequestedRun = false;
  private retryAt: number | null = null;
  private retryDelayMs = 0;
  private consecutiveFailures = 0;

  constructor(
    readonly name: string,
    private readonly fn: () => Promise<void>,
    private readonly opts: RunnerOptions,
  ) {
    if (opts.maxIntervalMs < opts.minIntervalMs) {
      throw new Error(`${name}: maxInterval (${opts.maxIntervalMs} ms) must be >= minInterval (${opts.minIntervalMs} ms)`);
    }
    this.clock = opts.clock ?? realClock;
    this.log = opts.logger ?? createLogger('runner');
  }

  /** Start the loop. Requests made before start() are remembered and run once started. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.lastEnd = this.clock.now();
    this.schedule();
  }

  /** Ask for a run as soon as the minimum interval allows. */
  run(): void {
    this.pending = true;
    if (this.started) this.schedule();
  }

  /** Failures in a row (0 after a success). */
  get failures(): number {
    return this.consecutiveFailures;
  }

  /** Stop scheduling and wait for a run in progress to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    if (this.running) await this.running;
  }

  /** When the next run is due, or null when nothing is due (never: maxInterval always applies). */
  private nextDue(): number {
    if (this.pending) {
      const earliestRequested = this.hasRequestedRun ? this.lastRequestedEnd + this.opts.minIntervalMs : this.lastEnd;
      return Math.max(earliestRequested, this.clock.now());
    }
    const earliest = this.hasRun ? this.lastEnd + this.opts.minIntervalMs : this.lastEnd;
    let due = this.lastEnd + this.opts.maxIntervalMs;
    if (this.retryAt !== null) due = Math.min(due, this.retryAt);
    return Math.max(earliest, due);
  }

  private schedule(): void {
    if (this.stopped || this.running) return;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    const delay = Math.max(0, this.nextDue() - this.clock.now());
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.fire();
    }, delay);
  }

  private fire(): void {
    if (this.stopped || this.running) return;
    const requested = this.pending;
    this.pending = false;
    this.running = this.invoke().finally(() => {
      this.running = null;
      this.lastEnd = this.clock.now();
      this.hasRun = true;
      if (requested) {
        this.lastRequestedEnd = this.lastEnd;
        this.hasRequestedRun = true;
      }
      this.schedule();
    });
  }

  private async invoke(): Promise<void> {
    try {
      await this.fn();
      this.consecutiveFailures = 0;
      this.retryAt = null;
      this.retryDelayMs = 0;
    } catch (err) {
      this.consecutiveFailures++;
      const first = Math.min(1000, this.opts.retryMaxMs);
      this.retryDelayMs = this.retryDelayMs === 0 ? first : Math.min(this.retryDelayMs * 2, this.opts.retryMaxMs);
      this.retryAt = this.clock.now() + this.retryDelayMs;
      this.log.error('Run failed, will retry', {
        name: this.name,
        err: err instanceof Error ? err.message : String(err),
        retryInMs: this.retryDelayMs,
        failures: this.consecutiveFailures,
      });
    }
  }
}
