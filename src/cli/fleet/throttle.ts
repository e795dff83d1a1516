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

/** Worth one more try: a connection reset (a keep-alive socket the server just closed), a timeout, a 5xx. */
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

// A throttled call waits 200 ms doubling per retry (at most 10 s, jittered), 12 retries at most.
const BASE_DELAY_MS = 200;
const MAX_DELAY_MS = 10_000;
const MAX_RETRIES = 12;

export class StillThrottledError extends Error {
  constructor(operation: string, retries: number, cause: unknown) {
    super(`${operation} was still throttled after ${retries} retries`, { cause });
    this.name = 'StillThrottledError';
  }
}

/** The concurrency window and the throttling back-off shared by every rotation of one run. */
export class AdaptiveThrottle {
  /** The most rotations in flight (`--concurrency`); the window starts here. */
  readonly maxConcurrency: number;
  readonly #signal: AbortSignal;
  throttled = 0;
  /** Rotations in flight at most, now. */
  window: number;
  lowestWindow: number;
  #inFlight = 0;
  #lastThrottle = Number.NEGATIVE_INFINITY;
  #lastDecrease = Number.NEGATIVE_INFINITY;
  readonly #waiting: Array<() => void> = [];

  constructor(maxConcurrency: number, signal: AbortSignal) {
    this.maxConcurrency = maxConcurrency;
    this.window = maxConcurrency;
    this.lowestWindow = maxConcurrency;
    this.#signal = signal;
  }

  async slot<T>(task: () => Promise<T>): Promise<T> {
    while (this.#inFlight >= this.window) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.#inFlight += 1;
    try {
      return await task();
    } finally {
      this.#inFlight -= 1;
      // Widen by one per rotation finished while the service has not throttled for a while: the
      // window regains its size within a few rounds, and the next throttle halves it again.
      if (performance.now() - this.#lastThrottle >= CALM_MS && this.window < this.maxConcurrency) {
        this.window += 1;
      }
      this.#wake();
    }
  }

  /** Sends one idempotent request, retrying it on throttling (narrowing the window) and on transient errors. */
  async call<T>(operation: string, send: () => Promise<T>): Promise<T> {
    let transient = 0;
    for (let retry = 0; ; retry++) {
      try {
        return await send();
      } catch (error) {
        if (!isThrottling(error)) {
          // A reset connection says nothing about the rate: retry without narrowing the window.
          if (isTransient(error) && ++transient < TRANSIENT_TRIES && !this.#signal.aborted) {
            await sleep(50 * transient, this.#signal);
            retry -= 1;
            continue;
          }
          throw error;
        }
        this.#onThrottled();
        if (retry >= MAX_RETRIES || this.#signal.aborted) {
          throw new StillThrottledError(operation, retry, error);
        }
        const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** retry);
        await sleep(Math.round(ceiling * (0.5 + Math.random() / 2)), this.#signal);
      }
    }
  }

  #onThrottled(): void {
    const now = performance.now();
    this.throttled += 1;
    this.#lastThrottle = now;
    // Requests in flight together are refused together: halve once per burst, not once per answer.
    if (now - this.#lastDecrease < DECREASE_GAP_MS) return;
    this.#lastDecrease = now;
    this.window = Math.max(1, Math.floor(this.window / 2));
    this.lowestWindow = Math.min(this.lowestWindow, this.window);
  }

  // Woken waiters re-check the window themselves, in arrival order; those over it queue again.
  #wake(): void {
    const woken = this.#waiting.splice(0, Math.max(0, this.window - this.#inFlight));
    for (const resolve of woken) resolve();
  }
}
