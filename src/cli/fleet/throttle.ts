// Adaptive concurrency for `rotate --all`: the window halves once per burst of ThrottlingException,
// widens after a calm second, and throttled calls retry with jittered exponential back-off.
import { errorCode } from '../../core/secrets-manager.ts';
import { sleep } from '../../core/sleep.ts';

const THROTTLING_CODES = new Set(['ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded']);

export function isThrottling(error: unknown): boolean {
  return THROTTLING_CODES.has(errorCode(error));
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'TimeoutError',
  'RequestTimeout',
  'InternalServiceError',
  'InternalFailure',
  'ServiceUnavailable',
]);

/**
 * Whether `error` is a transient failure worth one more try: a connection reset (a keep-alive
 * socket the server just closed), a timeout, or the service's own 5xx.
 */
function isTransient(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 3 && current && typeof current === 'object'; depth++) {
    const candidate = current as { code?: unknown; $metadata?: { httpStatusCode?: number }; cause?: unknown };
    if (typeof candidate.code === 'string' && TRANSIENT_CODES.has(candidate.code)) return true;
    const status = candidate.$metadata?.httpStatusCode;
    if (typeof status === 'number' && status >= 500) return true;
    current = candidate.cause;
  }
  return TRANSIENT_CODES.has(errorCode(error));
}

/** How long without a throttled answer before the window widens again. */
const CALM_MS = 1_000;

/** Throttled answers closer together than this narrow the window once. */
const DECREASE_GAP_MS = 500;

const TRANSIENT_TRIES = 4;

interface AdaptiveThrottleOptions {
  /** The most rotations in flight (`--concurrency`); the window starts here. */
  readonly maxConcurrency: number;
  /** Doubles per retry. */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly maxRetries?: number;
  /** For the jitter (tests pass a fixed one). */
  readonly random?: () => number;
  readonly signal?: AbortSignal | undefined;
}

export class StillThrottledError extends Error {
  readonly retries: number;

  constructor(operation: string, retries: number, cause: unknown) {
    super(`${operation} was still throttled after ${retries} retries`, { cause });
    this.name = 'StillThrottledError';
    this.retries = retries;
  }
}

/** The concurrency window and the throttling back-off shared by every rotation of one run. */
export class AdaptiveThrottle {
  readonly maxConcurrency: number;
  throttled = 0;
  lowestWindow: number;
  #window: number;
  #inFlight = 0;
  #lastThrottle = Number.NEGATIVE_INFINITY;
  #lastDecrease = Number.NEGATIVE_INFINITY;
  readonly #waiting: Array<() => void> = [];
  readonly #options: Required<Omit<AdaptiveThrottleOptions, 'signal'>> & { signal?: AbortSignal | undefined };

  constructor(options: AdaptiveThrottleOptions) {
    if (!Number.isInteger(options.maxConcurrency) || options.maxConcurrency < 1) {
      throw new RangeError(`maxConcurrency must be a whole number ≥ 1, got ${options.maxConcurrency}`);
    }
    this.maxConcurrency = options.maxConcurrency;
    this.#window = options.maxConcurrency;
    this.lowestWindow = options.maxConcurrency;
    this.#options = {
      baseDelayMs: 200,
      maxDelayMs: 10_000,
      maxRetries: 12,
      random: Math.random,
      ...options,
    };
  }

  get window(): number {
    return this.#window;
  }

  async slot<T>(task: () => Promise<T>): Promise<T> {
    while (this.#inFlight >= this.#window) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.#inFlight += 1;
    try {
      return await task();
    } finally {
      this.#inFlight -= 1;
      // Widen by one per rotation finished while the service has not throttled for a while: the
      // window regains its size within a few rounds, and the next throttle halves it again.
      if (performance.now() - this.#lastThrottle >= CALM_MS && this.#window < this.maxConcurrency) {
        this.#window += 1;
      }
      this.#wake();
    }
  }

  /**
   * Sends one request; on throttling, narrows the window, waits and tries again; on a transient
   * network error, tries again at once a few times (the request must be idempotent: RotateSecret
   * with its ClientRequestToken, a read).
   */
  async call<T>(operation: string, send: () => Promise<T>): Promise<T> {
    let transient = 0;
    for (let retry = 0; ; retry++) {
      try {
        return await send();
      } catch (error) {
        if (!isThrottling(error)) {
          // A reset connection says nothing about the rate: retry without narrowing the window.
          if (isTransient(error) && ++transient < TRANSIENT_TRIES && !this.#options.signal?.aborted) {
            await sleep(50 * transient, this.#options.signal);
            retry -= 1;
            continue;
          }
          throw error;
        }
        this.#onThrottled();
        if (retry >= this.#options.maxRetries || this.#options.signal?.aborted) {
          throw new StillThrottledError(operation, retry, error);
        }
        const ceiling = Math.min(this.#options.maxDelayMs, this.#options.baseDelayMs * 2 ** retry);
        await sleep(Math.round(ceiling * (0.5 + this.#options.random() / 2)), this.#options.signal);
      }
    }
  }

  #onThrottled(): void {
    this.throttled += 1;
    this.#lastThrottle = performance.now();
    // Requests in flight together are refused together: halve once per burst, not once per answer.
    const now = performance.now();
    if (now - this.#lastDecrease < DECREASE_GAP_MS) return;
    this.#lastDecrease = now;
    this.#window = Math.max(1, Math.floor(this.#window / 2));
    this.lowestWindow = Math.min(this.lowestWindow, this.#window);
  }

  // Woken waiters re-check the window themselves, in arrival order; those over it queue again.
  #wake(): void {
    const woken = this.#waiting.splice(0, Math.max(0, this.#window - this.#inFlight));
    for (const resolve of woken) resolve();
  }
}
