/**
 * Runs a built Lambda zip as deployed: unzipped into a folder of its own and run by a fresh Node 22
 * process that sees only the environment variables Lambda would give it (the Secrets Manager
 * endpoint through `AWS_ENDPOINT_URL_SECRETS_MANAGER`), never the test process's modules.
 */
import { type ChildProcess, execFile, fork } from 'node:child_process';
import { mkdir, readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { RotationEvent, RotationHandler } from '../../../src/core/event.ts';

const execFileAsync = promisify(execFile);

const RUNNER = fileURLToPath(new URL('./lambda-runner.mjs', import.meta.url));

/** The invocation timeout handed to the function's context (Lambda's default for rotation set-ups is 30 s). */
const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Unzips a Lambda zip into `intoDir` with the `unzip` CLI and checks it holds `index.mjs` and the
 * chunks it loads on first use, nothing else.
 *
 * @example
 * ```ts
 * const dir = await unpackLambda('dist/lambda/random-secret.zip', '/tmp/random-secret');
 * ```
 */
export async function unpackLambda(zipPath: string, intoDir: string): Promise<string> {
  await mkdir(intoDir, { recursive: true });
  await execFileAsync('unzip', ['-q', '-o', zipPath, '-d', intoDir]);
  const files = (await readdir(intoDir)).sort();
  if (!files.includes('index.mjs') || files.some((file) => !/^[\w-]+\.mjs$/.test(file))) {
    throw new Error(`${zipPath} should hold index.mjs and its chunks only, holds: ${files.join(', ')}`);
  }
  return intoDir;
}

/** What {@link lambdaEnvironment} needs. */
export interface LambdaEnvironmentOptions {
  /** The local Secrets Manager endpoint's URL. */
  readonly endpoint: string;
  readonly functionName: string;
  /** The unpacked code's folder (Lambda's LAMBDA_TASK_ROOT). */
  readonly taskRoot: string;
  readonly region?: string;
  /** The function's own settings (adapter and engine variables). */
  readonly settings?: Readonly<Record<string, string>>;
}

/**
 * The complete environment of a deployed function: what the Lambda runtime sets (region, dummy
 * credentials, function name, task root, time zone) plus the function's settings. Nothing is
 * inherited from the test process.
 *
 * @example
 * ```ts
 * lambdaEnvironment({ endpoint: sm.endpoint, functionName: 'rotator', taskRoot: dir, settings: { PASSWORD_LENGTH: '40' } });
 * ```
 */
export function lambdaEnvironment(options: LambdaEnvironmentOptions): Record<string, string> {
  const region = options.region ?? 'us-east-1';
  return {
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: 'AKIDLOCALTESTONLY',
    AWS_SECRET_ACCESS_KEY: 'local-test-secret-access-key',
    AWS_SESSION_TOKEN: 'local-test-session-token',
    AWS_LAMBDA_FUNCTION_NAME: options.functionName,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    LAMBDA_TASK_ROOT: options.taskRoot,
    TZ: ':UTC',
    AWS_ENDPOINT_URL_SECRETS_MANAGER: options.endpoint,
    ...options.settings,
  };
}

/** The function's init phase failed: handler creation threw (e.g. a bad environment variable). */
export class DeployedInitError extends Error {
  /** What the process printed. */
  readonly output: string;

  constructor(name: string, message: string, output: string) {
    super(`init failed: ${name}: ${message}`);
    this.name = 'DeployedInitError';
    this.output = output;
  }
}

/** A running deployed function. */
export interface DeployedLambda {
  /** Milliseconds from spawning the process until `handler` was imported and ready. */
  readonly coldStartMs: number;
  /** Milliseconds the import itself took, measured inside the process. */
  readonly initMs: number;
  /** The function process's id. */
  readonly pid: number;
  /** Invokes the function for one event; rejects with the function's error (name and message kept). */
  readonly handler: RotationHandler;
  /** Everything the process printed so far (stdout and stderr interleaved). */
  output(): string;
  /** The process's peak resident set size so far, in kilobytes. */
  maxRssKb(): Promise<number>;
  /** CPU time the process has used so far (all threads, user and system), in milliseconds. */
  cpuMs(): Promise<number>;
  /**
   * Peak and current resident set size, and the heap left after a full garbage collection (only
   * when the process was started with `--expose-gc` in `execArgv`), in kilobytes; with
   * `heapSnapshot`, a V8 heap snapshot of that heap is written to the path; with `reduce`, V8's
   * memory-reducing collection runs after those figures, for {@link DeployedMemory.keptRssKb}.
   */
  memory(options?: { readonly heapSnapshot?: string; readonly reduce?: boolean }): Promise<DeployedMemory>;
  /** Ends the process. */
  close(): Promise<void>;
}

/** What {@link DeployedLambda.memory} reports, in kilobytes. */
export interface DeployedMemory {
  readonly maxRssKb: number;
  readonly rssKb: number;
  /** Heap used after `gc()`; undefined without `--expose-gc`. */
  readonly heapAfterGcKb: number | undefined;
  /** V8's heap as reserved (used or not), and memory of buffers outside it. */
  readonly heapTotalKb: number;
  readonly externalKb: number;
  /** V8's young generation as sized so far: it grows with what survives collections, up to the flag. */
  readonly youngGenerationKb: number;
  /**
   * With `reduce` (and `--expose-gc`): resident set and heap after the collection V8 runs under memory
   * pressure, which shrinks the young generation and returns empty pages, leaving what the function holds.
   */
  readonly keptRssKb: number | undefined;
  readonly keptHeapKb: number | undefined;
}

/**
 * The Node flags the Lambda runtime starts a 128 MB function with (its heap is sized from the
 * memory setting), for tests and benchmarks that must hold in that size.
 */
export const LAMBDA_128MB_EXEC_ARGV: readonly string[] = [
  '--max-semi-space-size=6',
  '--max-old-space-size=116',
];

/** Options of {@link startDeployedLambda}. */
export interface StartDeployedLambdaOptions {
  /** The unpacked zip's folder. */
  readonly dir: string;
  /** The whole environment of the process (see {@link lambdaEnvironment}). */
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
  /** Extra Node flags for the function's process, e.g. {@link LAMBDA_128MB_EXEC_ARGV} or `--expose-gc`. */
  readonly execArgv?: readonly string[];
}

type RunnerMessage =
  | { type: 'ready'; initMs: number }
  | { type: 'init-error'; error: { name: string; message: string } }
  | { type: 'result'; id: number; ok: boolean; error?: { name: string; message: string } }
  | {
      type: 'stats';
      id: number;
      maxRssKb: number;
      rssKb: number;
      heapAfterGcKb: number | null;
      heapTotalKb: number;
      externalKb: number;
      youngGenerationKb: number;
      keptRssKb: number | null;
      keptHeapKb: number | null;
    }
  | { type: 'cpu'; id: number; cpuMicros: number };

/**
 * Starts a fresh Node process (the same Node 22 binary as the tests) on an unpacked zip and waits
 * for its init phase. Rejects with {@link DeployedInitError} when the handler cannot be created.
 *
 * @example
 * ```ts
 * const fn = await startDeployedLambda({ dir, env: lambdaEnvironment({ endpoint: sm.endpoint, functionName: 'r', taskRoot: dir }) });
 * const result = await rotateSecret({ client: sm.client(), secretId, handler: fn.handler });
 * await fn.close();
 * ```
 */
export async function startDeployedLambda(options: StartDeployedLambdaOptions): Promise<DeployedLambda> {
  const started = performance.now();
  const child: ChildProcess = fork(RUNNER, [], {
    cwd: options.dir,
    env: { ...options.env },
    execPath: process.execPath,
    execArgv: [...(options.execArgv ?? [])],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'json',
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });

  let nextId = 1;
  const waiting = new Map<
    number,
    { resolve: (message: RunnerMessage) => void; reject: (error: Error) => void }
  >();
  let exited: Error | undefined;
  const exitedPromise = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code, signal) => {
    exited = new Error(`the function's process exited (code ${code}, signal ${signal})`);
    for (const entry of waiting.values()) entry.reject(exited);
    waiting.clear();
  });
  child.on('message', (message: RunnerMessage) => {
    if (message.type === 'result' || message.type === 'stats' || message.type === 'cpu') {
      waiting.get(message.id)?.resolve(message);
      waiting.delete(message.id);
    }
  });

  const ready = await new Promise<RunnerMessage>((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) =>
      reject(new Error(`the function's process exited during init (code ${code}): ${output}`)),
    );
    child.once('error', reject);
  });
  const coldStartMs = performance.now() - started;
  if (ready.type === 'init-error') {
    await exitedPromise;
    throw new DeployedInitError(ready.error.name, ready.error.message, output);
  }
  if (ready.type !== 'ready') throw new Error(`unexpected first message from the function: ${ready.type}`);

  const request = (message: Record<string, unknown>): Promise<RunnerMessage> => {
    if (exited) return Promise.reject(exited);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      child.send({ ...message, id });
    });
  };

  const handler: RotationHandler = async (event: RotationEvent) => {
    const answer = await request({
      type: 'invoke',
      event,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
    if (answer.type === 'result' && !answer.ok) {
      const error = new Error(answer.error?.message ?? 'unknown error');
      error.name = answer.error?.name ?? 'Error';
      throw error;
    }
  };

  return {
    coldStartMs,
    initMs: ready.initMs,
    pid: child.pid ?? -1,
    handler,
    output: () => output,
    maxRssKb: async () => {
      const answer = await request({ type: 'stats' });
      return answer.type === 'stats' ? answer.maxRssKb : Number.NaN;
    },
    cpuMs: async () => {
      const answer = await request({ type: 'cpu' });
      return answer.type === 'cpu' ? answer.cpuMicros / 1000 : Number.NaN;
    },
    memory: async (options = {}) => {
      const answer = await request({
        type: 'stats',
        collect: true,
        heapSnapshot: options.heapSnapshot,
        reduce: options.reduce === true,
      });
      if (answer.type !== 'stats') throw new Error('the function did not answer a stats request');
      return {
        maxRssKb: answer.maxRssKb,
        rssKb: answer.rssKb,
        heapAfterGcKb: answer.heapAfterGcKb ?? undefined,
        heapTotalKb: answer.heapTotalKb,
        externalKb: answer.externalKb,
        youngGenerationKb: answer.youngGenerationKb,
        keptRssKb: answer.keptRssKb ?? undefined,
        keptHeapKb: answer.keptHeapKb ?? undefined,
      };
    },
    close: async () => {
      if (!exited && child.connected) child.disconnect();
      await exitedPromise;
    },
  };
}
