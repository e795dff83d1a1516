// Per-operation rates so fleet tools meet the service's quotas in tests.

/** Requests per second per operation; `A+B` keys share one rate, as the service's combined quotas do. */
export type RateLimits = Readonly<Record<string, number>>;

export const THROTTLING_MESSAGE = 'Rate exceeded';

const OPERATION = /^[A-Z][A-Za-z]{1,63}$/;
const MAX_RATE = 1_000_000;

export function checkRateLimits(limits: RateLimits, known: (operation: string) => boolean): void {
  const seen = new Set<string>();
  for (const [key, rate] of Object.entries(limits)) {
    for (const part of key.split('+')) {
      if (!OPERATION.test(part) || !known(part)) {
        throw new TypeError(
          `rate limit: "${part}" is not an operation of the local endpoint; name one such as RotateSecret, GetSecretValue, PutSecretValue`,
        );
      }
      if (seen.has(part)) throw new TypeError(`rate limit: ${part} has two rates; give each operation one`);
      seen.add(part);
    }
    if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0 || rate > MAX_RATE) {
      throw new TypeError(
        `rate limit of ${key} must be a number of requests per second above 0 and at most ${MAX_RATE}, got ${String(rate)}`,
      );
    }
  }
}

/** Parses `--rate-limit`: `Operation=rate[,OperationA+OperationB=rate…]`. */
export function parseRateLimits(text: string): Record<string, number> {
  const limits: Record<string, number> = {};
  const parts = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  if (parts.length === 0) {
    throw new Error(
      '--rate-limit expects Operation=rate[,Operation=rate…], e.g. RotateSecret=50,GetSecretValue=100',
    );
  }
  for (const part of parts) {
    const match = /^([A-Za-z]+(?:\+[A-Za-z]+)*)\s*=\s*(\d+(?:\.\d+)?)$/.exec(part);
    if (!match) {
      throw new Error(
        `--rate-limit: "${part}" is not Operation=rate (requests per second), e.g. RotateSecret=50`,
      );
    }
    const operation = match[1]!;
    const rate = Number(match[2]);
    if (rate <= 0 || rate > MAX_RATE) {
      throw new Error(
        `--rate-limit: the rate of ${operation} must be above 0 and at most ${MAX_RATE}, got ${match[2]}`,
      );
    }
    for (const name of operation.split('+')) {
      if (Object.keys(limits).some((key) => key.split('+').includes(name))) {
        throw new Error(`--rate-limit names ${name} twice; give each operation one rate`);
      }
    }
    limits[operation] = rate;
  }
  return limits;
}

/** Token buckets of one second's worth of requests: short bursts pass, a sustained excess is throttled. */
export class RateLimiter {
  readonly #buckets = new Map<string, { rate: number; capacity: number; tokens: number; at: number }>();
  readonly #now: () => number;

  constructor(limits: RateLimits, now: () => number = () => performance.now()) {
    this.#now = now;
    const at = now();
    for (const [key, rate] of Object.entries(limits)) {
      const capacity = Math.max(1, rate);
      // Operations of a combined key share one bucket object.
      const bucket = { rate, capacity, tokens: capacity, at };
      for (const operation of key.split('+')) this.#buckets.set(operation, bucket);
    }
  }

  take(operation: string): boolean {
    const bucket = this.#buckets.get(operation);
    if (!bucket) return true;
    const now = this.#now();
    bucket.tokens = Math.min(bucket.capacity, bucket.tokens + ((now - bucket.at) / 1000) * bucket.rate);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
