/**
 * Runs the CLI in-process for tests: captured stdout/stderr, an environment and a clock of the
 * test's own. The output is also written to the process streams, where the leak scan reads it.
 */

import { SecretsManagerClient, type SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import type { HandlerEntry } from '../../src/cli/handlers.ts';
import { runCli } from '../../src/cli/main.ts';
import type { Env } from '../../src/core/config.ts';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON (for --output json). */
  json<T = Record<string, unknown>>(): T;
}

export interface CliRunOptions {
  readonly env?: Env;
  readonly now?: () => Date;
  readonly handlers?: Record<string, HandlerEntry>;
  readonly signal?: AbortSignal;
  /** Called with each stdout chunk as it is written (to react to a line, e.g. the endpoint's URL). */
  readonly onStdout?: (chunk: string) => void;
}

export async function cli(argv: readonly string[], options: CliRunOptions = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    stdout: {
      write: (chunk: string) => {
        stdout += chunk;
        process.stdout.write(chunk);
        options.onStdout?.(chunk);
        return true;
      },
    },
    stderr: {
      write: (chunk: string) => {
        stderr += chunk;
        process.stderr.write(chunk);
        return true;
      },
    },
    env: options.env ?? {},
    ...(options.now ? { now: options.now } : {}),
    ...(options.handlers ? { handlers: options.handlers } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return {
    code,
    stdout,
    stderr,
    json<T>() {
      return JSON.parse(stdout) as T;
    },
  };
}

/** A clock tests move forward by hand; the endpoint and the CLI share it. */
export class TestClock {
  #now: number;

  constructor(start = '2030-01-01T00:00:00Z') {
    this.#now = Date.parse(start);
  }

  now = (): Date => new Date(this.#now);

  advance(ms: number): void {
    this.#now += ms;
  }

  advanceDays(days: number): void {
    this.advance(days * 86_400_000);
  }
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;

/** A `local-endpoint` command running in-process until `stop()`. */
export interface RunningCliEndpoint {
  /** The URL it printed ("listening on …"). */
  readonly endpoint: string;
  /** Everything it printed to stdout so far. */
  printed(): string;
  /** A real AWS SDK client for it (dummy credentials; `config` adds e.g. maxAttempts). */
  client(config?: Partial<SecretsManagerClientConfig>): SecretsManagerClient;
  /** Stops it (as Ctrl-C would) and returns how it ended; calling it again returns the same end. */
  stop(): Promise<CliRun>;
}

/**
 * Runs `local-endpoint` with `argv` (after the command name) until it prints the URL it listens
 * on; fails with its stderr if it ends before that.
 *
 * @example
 * ```ts
 * const running = await startCliEndpoint(['--port', '0']);
 * const client = running.client();
 * expect((await running.stop()).code).toBe(0);
 * ```
 */
export async function startCliEndpoint(
  argv: readonly string[],
  options: Omit<CliRunOptions, 'signal' | 'onStdout'> = {},
): Promise<RunningCliEndpoint> {
  const stop = new AbortController();
  let printed = '';
  let announced: (url: string) => void = () => {};
  const listening = new Promise<string>((resolve) => {
    announced = resolve;
  });
  const running = cli(['local-endpoint', ...argv], {
    ...options,
    signal: stop.signal,
    onStdout: (chunk) => {
      printed += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(printed);
      if (match) announced(match[1]!);
    },
  });
  const endpoint = await Promise.race([
    listening,
    running.then((run) => {
      throw new Error(`local-endpoint ended (exit ${run.code}) before listening: ${run.stderr}`);
    }),
  ]);
  return {
    endpoint,
    printed: () => printed,
    client: (config = {}) =>
      new SecretsManagerClient({
        endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'not-checked' },
        ...config,
      }),
    stop: () => {
      stop.abort();
      return running;
    },
  };
}
