/**
 * The secret-leak scan, loaded by vitest before every test file (vitest.config.ts `setupFiles`).
 *
 * It captures everything written to stdout and stderr and every console call during each test.
 * Tests register the secret values they use with {@link trackSecrets}; after the test, if any of
 * them appears anywhere in the captured output, the test fails. Values also stay registered for the
 * rest of the file, so a leak in a later test or an `afterAll` is caught too.
 *
 * Raw stdout/stderr writes (the JSON log lines and EMF metrics of the code under test) are kept
 * out of the terminal unless the test fails, when they are printed with tracked values masked;
 * `SHOW_TEST_OUTPUT=1` prints them always. Console calls made by tests pass through as usual.
 */
import { afterAll, afterEach, beforeEach, expect, onTestFailed } from 'vitest';

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

const stderrWrite = process.stderr.write.bind(process.stderr) as (chunk: string) => boolean;
const showAll = process.env.SHOW_TEST_OUTPUT === '1';
let rawWrites: string[] = [];
for (const stream of [process.stdout, process.stderr]) {
  const original = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    const text = chunkToString(chunk);
    captured.push(text);
    if (showAll) return original(chunk, ...rest);
    rawWrites.push(text);
    const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
    callback?.();
    return true;
  }) as typeof stream.write;
}

function mask(text: string): string {
  let result = text;
  for (const secret of tracked) result = result.split(secret).join('[TRACKED SECRET]');
  return result;
}
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
  rawWrites = [];
  onTestFailed(() => {
    if (rawWrites.length > 0)
      stderrWrite(`--- output of the failed test ---\n${mask(rawWrites.join(''))}\n---\n`);
  });
});

afterEach(() => {
  const leaked = scan();
  captured = [];
  rawWrites = [];
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
