/**
 * Retrying forever with exponential backoff and jitter, and a breaker: after
 * `threshold` failures in a row (of any caller) it reports itself open until a
 * call succeeds. The sink retries every MinIO call through one of these, so a
 * MinIO outage stops consumption (back-pressure) instead of dropping data.
 * @module
 */

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Failures in a row that open the breaker. */
  threshold: number;
  /** Told of every failed attempt. */
  onRetry?(): void;
  /** Told when the breaker opens or closes. */
  onBreaker?(open: boolean): void;
  /** Runs before each wait (the sink heartbeats its consumer group). */
  beforeWait?(): Promise<void>;
}

export interface RetryOptions {
  /** An error to give up with instead of trying again, checked before each attempt. */
  abandon?(): Error | undefined;
  /** Give up after this many attempts (default: never). */
  maxAttempts?(): number;
}

export class Backoff {
  #failuresInRow = 0;
  readonly #o: BackoffOptions;

  constructor(options: BackoffOptions) {
    this.#o = options;
  }

  get open(): boolean {
    return this.#failuresInRow >= this.#o.threshold;
  }

  async retry<T>(what: string, fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
    let attempt = 0;
    while (true) {
      const abandon = options.abandon?.();
      if (abandon) throw abandon;
      try {
        const value = await fn();
        if (this.#failuresInRow > 0) {
          this.#failuresInRow = 0;
          this.#o.onBreaker?.(false);
        }
        return value;
      } catch (error) {
        attempt++;
        this.#failuresInRow++;
        this.#o.onRetry?.();
        if (this.open) this.#o.onBreaker?.(true);
        if (attempt >= (options.maxAttempts?.() ?? Infinity)) {
          throw new Error(`${what} failed ${attempt} times`, { cause: error });
        }
        const base = Math.min(this.#o.maxMs, this.#o.baseMs * 2 ** Math.min(attempt - 1, 10));
        await this.#o.beforeWait?.().catch(() => {});
        await new Promise((r) => setTimeout(r, base * (0.5 + Math.random())));
      }
    }
  }
}
