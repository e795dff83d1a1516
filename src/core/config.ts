import { ConfigurationError } from './errors.ts';

/** The environment as the library reads it: tests hand in their own, bad values are named. */
export type Env = Readonly<Record<string, string | undefined>>;

// The only place in the library that touches `process.env`.
export function processEnv(): Env {
  return process.env;
}

/** A variable's value, trimmed; `undefined` when unset or empty. */
export function envString(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

const TRUE_WORDS = new Set(['true', '1', 'y', 'yes']);
const FALSE_WORDS = new Set(['false', '0', 'n', 'no']);

/** true/1/y/yes or false/0/n/no; anything else is an error naming the variable, never a silent `false`. */
export function envBoolean(env: Env, name: string, defaultValue: boolean): boolean {
  const raw = envString(env, name);
  if (raw === undefined) return defaultValue;
  const word = raw.toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  throw new ConfigurationError(name, `must be true/1/y/yes or false/0/n/no, got "${raw}"`);
}

export function envInteger(
  env: Env,
  name: string,
  bounds: { default: number; min: number; max: number },
): number {
  const raw = envString(env, name);
  if (raw === undefined) return bounds.default;
  const value = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < bounds.min || value > bounds.max) {
    throw new ConfigurationError(
      name,
      `must be a whole number from ${bounds.min} to ${bounds.max}, got "${raw}"`,
    );
  }
  return value;
}

/** A comma-separated list; empty entries dropped. `undefined` when unset. */
export function envList(env: Env, name: string): string[] | undefined {
  const raw = envString(env, name);
  if (raw === undefined) return undefined;
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

export function envChoice<const T extends string>(
  env: Env,
  name: string,
  choices: readonly T[],
  defaultValue: T,
): T {
  const raw = envString(env, name);
  if (raw === undefined) return defaultValue;
  const found = choices.find((choice) => choice === raw.toLowerCase());
  if (found === undefined) {
    throw new ConfigurationError(name, `must be one of ${choices.join(', ')}, got "${raw}"`);
  }
  return found;
}

/** `AWS_ENDPOINT_URL_SECRETS_MANAGER`, else `SECRETS_MANAGER_ENDPOINT` (AWS's Python templates). */
export function secretsManagerEndpoint(env: Env): string | undefined {
  const endpoint =
    envString(env, 'AWS_ENDPOINT_URL_SECRETS_MANAGER') ?? envString(env, 'SECRETS_MANAGER_ENDPOINT');
  if (endpoint === undefined) return undefined;
  try {
    const url = new URL(endpoint);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
  } catch {
    const name = envString(env, 'AWS_ENDPOINT_URL_SECRETS_MANAGER')
      ? 'AWS_ENDPOINT_URL_SECRETS_MANAGER'
      : 'SECRETS_MANAGER_ENDPOINT';
    throw new ConfigurationError(name, `must be an http:// or https:// URL, got "${endpoint}"`);
  }
  return endpoint;
}
