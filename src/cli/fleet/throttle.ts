/**
 * Adaptive concurrency for `rotate --all`: at most `window` rotations in flight, the window halved
 * whenever Secrets Manager answers ThrottlingException and widened by one after a window's worth
 * of rotations finish without one (additive increase, multiplicative decrease), and each throttled
 * call retried after an exponential back-off with full jitter.
 */
import { errorCode } from '../../core/stages.ts';

/** The error codes the service uses to say "too many requests". */
const THROTTLING_CODES = new Set(['ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded']);

/**
 * Whether `error` is the service refusing a request for its rate.
 *
 * @example
 * ```ts
 * if (isThrottling(error)) await backOff();
 * ```
 */
export function isThrottling(error: unknown): boolean {
  return THROTTLING_CODES.has(errorCode(error));
}

/**
 * Options of {@link AdaptiveThrottle}.
 *
 * @example
 * ```ts
 * const options: AdaptiveThrottleOptions = { maxConcurrency: 25 };
 * ```
 */
export interface AdaptiveThrottleOptions {
  /** The most rotations in flight (`--concurrency`); the window starts here. */
  readonly maxConcurrency: number;
  /** First back-off after a throttled call, in ms (doubles per retry). Default 200. */
  readonly baseDelayMs?: number;
  /** Longest back-off, in ms. Default 10 000. */
  readonly maxDelayMs?: number;
  /** Retries of one throttled call before giving up. Default 12. */
  readonly maxRetries?: number;
  /** Random source for the jitter (tests pass a fixed one). */
  readonly random?: () => number;
  /** Stops waiting (Ctrl-C). */
  readonly signal?: AbortSignal | undefined;
}

/**
 * The throttled call gave up after its retries.
 *
 * @example
 * ```ts
 * if (error instanceof StillThrottledError) console.log(error.retries);
 * ```
 */
export class StillThrottledError extends Error {
  readonly retries: number;

  constructor(operation: string, retries: number, cause: unknown) {
    super(`${operation} was still throttled after ${retries} retries`, { cause });
    this.name = 'StillThrottledError';
    this.retries = retries;
  }
}

/**
 * The concurrency window and the throttling back-off shared by every rotation of one run.
 *
 * @example
 * ```ts
 * const throttle = new AdaptiveThrottle({ maxConcurrency: 25 });
 * await throttle.slot(async () => {
 *   await throttle.call('RotateSecret', () => client.send(command));
 * });
 * ```
 */
export class AdaptiveThrottle {
  readonly maxConcurrency: number;
  /** ThrottlingException answers met so far. */
  throttled = 0;
  /** The smallest window the run came down to. */
  lowestWindow: number;
  #window: number;
  #inFlight = 0;
  #calmFinishes = 0;
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

  /** Rotations allowed in flight now. */
  get window(): number {
    return this.#window;
  }

  /** Runs `task` once a slot in the window is free. */
  async slot<T>(task: () => Promise<T>): Promise<T> {
    while (this.#inFlight >= this.#window) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.#inFlight += 1;
    try {
      return await task();
    } finally {
      this.#inFlight -= 1;
      this.#calmFinishes += 1;
      if (this.#calmFinishes >= this.#window && this.#window < this.maxConcurrency) {
        this.#window += 1;
        this.#calmFinishes = 0;
      }
      this.#wake();
    }
  }

  /**
   * Sends one request; on throttling, narrows the window, waits and tries again (the request must
   * be idempotent: RotateSecret with its ClientRequestToken, a read).
   */
  async call<T>(operation: string, send: () => Promise<T>): Promise<T> {
    for (let retry = 0; ; retry++) {
      try {
        return await send();
      } catch (error) {
        if (!isThrottling(error)) throw error;
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
    this.#calmFinishes = 0;
    this.#window = Math.max(1, Math.floor(this.#window / 2));
    this.lowestWindow = Math.min(this.lowestWindow, this.#window);
  }

  // Woken waiters re-check the window themselves, in arrival order; those over it queue again.
  #wake(): void {
    const woken = this.#waiting.splice(0, Math.max(0, this.#window - this.#inFlight));
    for (const resolve of woken) resolve();
  }
}

/**
 * Waits `ms`, or less when `signal` aborts.
 *
 * @example
 * ```ts
 * await sleep(250, controller.signal);
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
