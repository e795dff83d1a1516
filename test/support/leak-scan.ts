/**
 * The secret-leak scan, loaded by vitest before every test file (vitest.config.ts `setupFiles`).
 *
 * It captures everything written to stdout and stderr and every console call during each test.
 * Tests register the secret values they use with {@link trackSecrets}; after the test, if any of
 * them appears anywhere in the captured output, the test fails. Values also stay registered for the
 * rest of the file, so a leak in a later test or an `afterAll` is caught too.
 */
import { afterAll, afterEach, beforeEach, expect } from 'vitest';

const tracked = new Set<string>();
let captured: string[] = [];
let leaksFound = 0;

/**
 * Registers secret values (passwords, keys, secret JSON) this test uses; the test fails if any of
 * them is printed. Values shorter than 6 characters are ignored (too likely to match by chance).
 *
 * @example
 * ```ts
 * trackSecrets(password, JSON.stringify(secret));
 * ```
 */
export function trackSecrets(...values: Array<string | undefined | null>): void {
  for (const value of values) if (value && value.length >= 6) tracked.add(value);
}

/**
 * The output captured so far in the current test (for tests that assert on log lines).
 *
 * @example
 * ```ts
 * expect(capturedOutput()).toContain('"tls":"verified"');
 * ```
 */
export function capturedOutput(): string {
  return captured.join('');
}

/**
 * Total leaks found in this test file so far (the fault suite prints it).
 *
 * @example
 * ```ts
 * console.info(`leaks found: ${leaksFoundSoFar()}`);
 * ```
 */
export function leaksFoundSoFar(): number {
  return leaksFound;
}

function chunkToString(chunk: unknown): string {
  if (typeof chunk === 'string') return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk).toString('utf8');
  return String(chunk);
}

const stdoutWrite = process.stdout.write.bind(process.stdout);
const stderrWrite = process.stderr.write.bind(process.stderr);
process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
  captured.push(chunkToString(chunk));
  return (stdoutWrite as (...args: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stdout.write;
process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => {
  captured.push(chunkToString(chunk));
  return (stderrWrite as (...args: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stderr.write;
for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
  const original = console[method].bind(console);
  console[method] = (...args: unknown[]) => {
    captured.push(args.map((arg) => (typeof arg === 'string' ? arg : safeInspect(arg))).join(' '));
    original(...args);
  };
}

function safeInspect(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}\n${value.stack ?? ''}`;
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

function scan(): string[] {
  const output = captured.join('');
  return [...tracked].filter((secret) => output.includes(secret));
}

beforeEach(() => {
  captured = [];
});

afterEach(() => {
  const leaked = scan();
  captured = [];
  if (leaked.length > 0) {
    leaksFound += leaked.length;
    // Name how many and how long, never the values themselves.
    expect.fail(
      `secret leak: ${leaked.length} tracked secret value(s) (lengths ${leaked.map((s) => s.length).join(', ')}) appeared in captured output`,
    );
  }
});

afterAll(() => {
  const leaked = scan();
  if (leaked.length > 0) {
    leaksFound += leaked.length;
    throw new Error(
      `secret leak after the last test: ${leaked.length} tracked secret value(s) appeared in output`,
    );
  }
});
